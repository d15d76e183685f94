"""Outgoing LINE messages through the LINE Messaging API (push and reply): the only code in Dekiru that talks to LINE.

Beside cms.mail (e-mail through SendGrid) and cms.sms (Twilio), and classified the same way for cms.sending.try_send:
a `TransientLineError` (429 rate limit, 5xx, timeouts, network trouble: try again later, never sooner than a
Retry-After) or a `PermanentLineError` (400: an invalid user id or one that blocked the account; 401/403: a bad
token; 429 "You have reached your monthly limit": the channel is spent for the month, `quota`). Both subclass
cms.mail's errors, so the one send policy decides retries for every channel; the outbox falls back to the next
channel on a permanent error.

Idempotency: every push carries `X-Line-Retry-Key` (a UUID the caller derives from what it sends, courses.outbox).
LINE remembers an accepted key for 24 hours and answers a repeated one with 409 and the original request's
`x-line-accepted-request-id`: that is a success here (the message went out once), never a second message.

Settings: DEKIRU_LINE_CHANNEL_ACCESS_TOKEN (the channel's long-lived access token), DEKIRU_LINE_CHANNEL_SECRET (for
the webhook's X-Line-Signature, courses.line_linking), DEKIRU_LINE_BOT_BASIC_ID (the account's "@xxxx" id, for
add-friend links), DEKIRU_LINE_TIMEOUT (seconds, default 10), DEKIRU_LINE_API_BASE (default https://api.line.me;
tests point it at their fake server). DEKIRU_LINE_BACKEND: "api" (the default when the access token is set),
"console" (the default without a token whenever e-mail goes to the console, as in `make demo`: each message is
printed to the terminal) or "off" (otherwise: `available()` is False and residents who chose LINE get the next
channel). Logs never carry user ids in full, texts or the token.
"""

import itertools
import json
import logging
import math
import sys
import threading

import urllib3
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
)

from cms.mail import PermanentMailError, TransientMailError, parse_retry_after

logger = logging.getLogger(__name__)

LINE_API = "https://api.line.me"
MAX_MESSAGES = 5  # message objects per push or reply (the spec's maxItems)
MAX_TEXT = 5000  # characters in one text message (LINE's documented limit)
_REASON_MAX = 500
# LINE's answer when the plan's monthly message quota is used up: HTTP 429, like a rate limit, but waiting minutes
# will not help until the next month.
MONTHLY_LIMIT = "monthly limit"


class TransientLineError(TransientMailError):
    """Worth retrying later (429 rate limit, 5xx, timeout, network); `maybe_sent` and `retry_after` as in cms.mail."""


class PermanentLineError(PermanentMailError):
    """Retrying will not help on this channel: `quota` when the monthly limit is reached, `bad_recipient` when LINE
    refused the user id (invalid, or not a friend of the account any more)."""

    def __init__(self, reason: str, *, status_code: int | None = None, quota: bool = False,
                 bad_recipient: bool = False):
        super().__init__(reason, status_code=status_code)
        self.quota = quota
        self.bad_recipient = bad_recipient


def _setting(name: str, default=None):
    return getattr(settings, name, default)


def access_token() -> str:
    return _setting("DEKIRU_LINE_CHANNEL_ACCESS_TOKEN", "") or ""


def channel_secret() -> str:
    """The channel secret, for checking the webhook's X-Line-Signature ("" when not configured)."""
    return _setting("DEKIRU_LINE_CHANNEL_SECRET", "") or ""


def basic_id() -> str:
    """The official account's basic id ("@abc1234"), for add-friend links; "" when not configured."""
    return _setting("DEKIRU_LINE_BOT_BASIC_ID", "") or ""


def backend() -> str:
    """"api", "console" or "off" (see the module's docstring)."""
    chosen = _setting("DEKIRU_LINE_BACKEND", None)
    if chosen:
        return chosen
    if access_token():
        return "api"
    if str(_setting("EMAIL_BACKEND", "")).endswith("console.EmailBackend"):
        return "console"
    return "off"


def available() -> bool:
    """Whether LINE messages can be sent at all: a resident's LINE choice falls back to the next channel when not."""
    return backend() in ("api", "console")


def mask(user_id: str) -> str:
    """A LINE user id for logs and reasons: "U1234…cdef", never the whole id."""
    return f"{user_id[:5]}…{user_id[-4:]}" if len(user_id) > 12 else "…"


def text_messages(texts: list[str]) -> list[TextMessage]:
    if not 1 <= len(texts) <= MAX_MESSAGES:
        raise ValueError(f"a LINE push carries 1 to {MAX_MESSAGES} messages, not {len(texts)}")
    return [TextMessage(text=text[:MAX_TEXT]) for text in texts]


class LineSender:
    """Pushes (and replies) through the official line-bot-sdk v3 client; reuse one sender for many messages (one
    pooled HTTP connection)."""

    def __init__(self, *, token: str | None = None, base_url: str | None = None, timeout: float | None = None):
        self.token = token or access_token()
        if not self.token:
            raise ImproperlyConfigured("LINE needs DEKIRU_LINE_CHANNEL_ACCESS_TOKEN.")
        self.timeout = float(timeout if timeout is not None else _setting("DEKIRU_LINE_TIMEOUT", 10))
        if not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise ImproperlyConfigured("DEKIRU_LINE_TIMEOUT must be a positive number of seconds.")
        configuration = Configuration(host=(base_url or _setting("DEKIRU_LINE_API_BASE", "") or LINE_API).rstrip("/"),
                                      access_token=self.token)
        # No retries inside urllib3: the outbox decides (with backoff, and the retry key makes a retry safe).
        configuration.retries = False
        self.api_client = ApiClient(configuration)
        self.api = MessagingApi(self.api_client)

    def push(self, to: str, texts: list[str], *, retry_key: str) -> str:
        """Push `texts` (1-5 text messages) to the LINE user `to`; LINE's request id (x-line-request-id, or on a
        409 for a key already accepted, x-line-accepted-request-id). Raises TransientLineError / PermanentLineError."""
        request = PushMessageRequest(to=to, messages=text_messages(texts))
        try:
            response = self.api.push_message_with_http_info(request, x_line_retry_key=retry_key,
                                                            _request_timeout=(self.timeout, self.timeout))
        except ApiException as exc:
            if exc.status == 409:
                accepted = _header(exc.headers, "x-line-accepted-request-id")
                logger.info("line push already accepted under this retry key (request %s)", accepted)
                return accepted or _header(exc.headers, "x-line-request-id")
            raise self._api_error(exc, to=to) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._network_error(exc) from exc
        request_id = _header(response.headers, "x-line-request-id")
        logger.info("line accepted push to %s (request %s)", mask(to), request_id)
        return request_id

    def reply(self, reply_token: str, texts: list[str]) -> None:
        """Answer a webhook event with `texts` (free of charge, valid once, shortly after the event)."""
        request = ReplyMessageRequest(reply_token=reply_token, messages=text_messages(texts))
        try:
            self.api.reply_message_with_http_info(request, _request_timeout=(self.timeout, self.timeout))
        except ApiException as exc:
            raise self._api_error(exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._network_error(exc) from exc

    def close(self) -> None:
        self.api_client.close()
        self.api_client.rest_client.pool_manager.clear()

    def _api_error(self, exc: ApiException, *, to: str = "") -> Exception:
        status = int(exc.status or 0)
        message = _error_message(exc.body)
        reason = self._redact(f"{status}: {message or exc.reason or 'HTTP error'}", to=to)
        if status == 429 and MONTHLY_LIMIT in message.lower():
            logger.warning("line refused push: the monthly message limit is reached")
            return PermanentLineError(reason, status_code=status, quota=True)
        if status in (0, 408, 429) or status >= 500:
            retry_after = parse_retry_after(_header(exc.headers, "retry-after") or None)
            logger.warning("line request failed, will retry (status %s)", status)
            return TransientLineError(reason, status_code=status, retry_after=retry_after)
        logger.warning("line rejected the request (status %s)", status)
        return PermanentLineError(reason, status_code=status, bad_recipient=status == 400 and bool(to))

    def _network_error(self, exc: urllib3.exceptions.HTTPError) -> TransientLineError:
        # A read timeout, or the connection dropped once the request was written: LINE may have accepted it (a retry
        # under the same key is then answered 409, not sent again).
        if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
            maybe_sent, reason = False, "could not connect to LINE in time"
        elif isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            maybe_sent, reason = True, f"no answer from LINE within {self.timeout:g} s"
        elif isinstance(exc, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError):
            maybe_sent, reason = False, "could not connect to LINE"
        elif isinstance(exc, urllib3.exceptions.ProtocolError):
            maybe_sent, reason = True, "connection to LINE lost before the answer"
        else:
            maybe_sent, reason = False, f"network error talking to LINE ({type(exc).__name__})"
        logger.warning("line request failed, will retry (%s)", reason)
        return TransientLineError(self._redact(reason), maybe_sent=maybe_sent)

    def _redact(self, text: str, *, to: str = "") -> str:
        text = text.replace(self.token, "[access token]")
        if to:
            text = text.replace(to, mask(to))
        return text[:_REASON_MAX]


def _header(headers, name: str) -> str:
    if not headers:
        return ""
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return ""


def _error_message(body) -> str:
    """LINE's error body {"message": …, "details": [{"message", "property"}]} as one line."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body or "")
    except ValueError:
        return str(body or "")[:200]
    if not isinstance(data, dict):
        return ""
    parts = [str(data.get("message") or "")]
    for detail in data.get("details") or ():
        if isinstance(detail, dict):
            parts.append(f"{detail.get('property', '')}: {detail.get('message', '')}".strip(": "))
    return "; ".join(part for part in parts if part)


class ConsoleSender:
    """`make demo` without LINE: prints each message to the terminal, like Django's console e-mail backend."""

    _ids = itertools.count(1)
    _lock = threading.Lock()

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def push(self, to: str, texts: list[str], *, retry_key: str) -> str:
        text_messages(texts)
        with self._lock:
            request_id = f"console-{next(self._ids)}"
            self.stream.write(f"---------- LINE to {mask(to)} ({request_id}) ----------\n"
                              + "\n\n".join(texts) + f"\n{'-' * 60}\n")
            self.stream.flush()
        return request_id

    def reply(self, reply_token: str, texts: list[str]) -> None:
        text_messages(texts)
        with self._lock:
            self.stream.write("---------- LINE reply ----------\n" + "\n\n".join(texts) + f"\n{'-' * 60}\n")
            self.stream.flush()

    def close(self) -> None:
        pass


def get_sender():
    """The sender for the configured backend; raises PermanentLineError when LINE is off (the outbox checks
    `available()` first and falls back)."""
    chosen = backend()
    if chosen == "api":
        return LineSender()
    if chosen == "console":
        return ConsoleSender()
    raise PermanentLineError("LINE is not configured (no channel access token)")
