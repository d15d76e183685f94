"""LINE webhook requests for tests, built as LINE sends them (../shared/line/webhook.yml, LINE's published OpenAPI
description of the webhook): every body is validated against the spec's CallbackRequest before it is sent, and
signed as LINE signs it (X-Line-Signature: base64 of the HMAC-SHA256 of the raw body with the channel secret)."""

import base64
import functools
import hashlib
import hmac
import itertools
import json
import secrets
from pathlib import Path

from django.conf import settings

SPEC = Path(settings.BASE_DIR).parent / "shared" / "line" / "webhook.yml"
BOT_ID = "U" + "b" * 32
_ids = itertools.count(1)


def user_id(n: int = 1) -> str:
    return f"U{n:032x}"


def event_id() -> str:
    """A ULID, as LINE's webhookEventId: 26 characters of Crockford base32."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "01J" + "".join(secrets.choice(alphabet) for _ in range(23))


def _event(kind: str, *, user: str, redelivery: bool = False, webhook_event_id: str | None = None,
           **extra) -> dict:
    return {"type": kind, "mode": "active", "timestamp": 1_780_000_000_000 + next(_ids),
            "source": {"type": "user", "userId": user}, "webhookEventId": webhook_event_id or event_id(),
            "deliveryContext": {"isRedelivery": redelivery}, **extra}


def text_message(text: str, *, user: str = user_id(), **kwargs) -> dict:
    return _event("message", user=user, replyToken=secrets.token_hex(16),
                  message={"type": "text", "id": str(next(_ids) + 10**17), "text": text,
                           "quoteToken": secrets.token_urlsafe(24)}, **kwargs)


def sticker_message(*, user: str = user_id(), **kwargs) -> dict:
    return _event("message", user=user, replyToken=secrets.token_hex(16),
                  message={"type": "sticker", "id": str(next(_ids) + 10**17), "packageId": "446",
                           "stickerId": "1988", "stickerResourceType": "STATIC", "quoteToken": "q"}, **kwargs)


def follow(*, user: str = user_id(), **kwargs) -> dict:
    return _event("follow", user=user, replyToken=secrets.token_hex(16), follow={"isUnblocked": False}, **kwargs)


def unfollow(*, user: str = user_id(), **kwargs) -> dict:
    return _event("unfollow", user=user, **kwargs)


def postback(*, user: str = user_id(), **kwargs) -> dict:
    return _event("postback", user=user, replyToken=secrets.token_hex(16), postback={"data": "x=1"}, **kwargs)


@functools.cache
def _openapi():
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(SPEC))


def validate(body: bytes) -> None:
    """Raise if `body` is not a CallbackRequest as webhook.yml describes it."""
    from openapi_core.testing import MockRequest

    _openapi().validate_request(MockRequest("https://example.com", "post", "/callback", data=body,
                                            content_type="application/json"))


def body_of(*events: dict) -> bytes:
    body = json.dumps({"destination": BOT_ID, "events": list(events)}, ensure_ascii=False).encode()
    validate(body)
    return body


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def post(client, body: bytes, *, secret: str | None = None, signature: str | None = None):
    """POST `body` to /line/webhook, signed with `secret` (or with the given `signature`, or unsigned when both
    are None)."""
    headers = {}
    if signature is None and secret is not None:
        signature = sign(body, secret)
    if signature is not None:
        headers["HTTP_X_LINE_SIGNATURE"] = signature
    return client.post("/line/webhook", body, content_type="application/json", **headers)
