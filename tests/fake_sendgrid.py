"""A fake SendGrid v3 Mail Send API over real HTTP, for the tests and the benchmarks.

    with FakeSendGrid() as server:          # 127.0.0.1, an ephemeral port, a daemon thread
        ... settings.SENDGRID_API_HOST = server.url ...
        server.messages                     # every accepted request: {"body", "headers", "message_id"}

It validates every request body against SendGrid's own OpenAPI schema of POST /v3/mail/send (shared/sendgrid/
tsg_mail_v3.json, or $DEKIRU_SENDGRID_SPEC), plus the rules the schema leaves out and Dekiru's own content rules,
answers 400 in SendGrid's error shape to a body SendGrid would reject, and keeps it in `server.invalid`.
Failures on demand: fail_next(), stall_next(), close_next(), down()/up().

In pytest, the `fake_sendgrid` fixture (registered for the whole suite in tests/conftest.py) points the SendGrid
backend at a fresh server and fails the test at teardown if any request body was invalid.
"""

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.fake_provider import FakeProvider

SEND_PATH = "/v3/mail/send"
FAKE_API_KEY = "SG.test-key"
_SPEC_URI = "urn:dekiru:sendgrid:tsg_mail_v3"
_REQUEST_SCHEMA_POINTER = "#/components/requestBodies/PostMailSend/content/application~1json/schema"
_RESERVED_HEADERS = frozenset({
    "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding",
    "to", "from", "subject", "reply-to", "cc", "bcc",
})
_DEFAULT_ERROR_MESSAGES = {
    400: "Bad Request",
    401: "Permission denied, wrong credentials",
    403: "You are not authorized to access Mail Send.",
    404: "Not Found",
    413: "The JSON payload you have included in your request is too large.",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


def spec_path() -> Path:
    """SendGrid's OpenAPI spec: $DEKIRU_SENDGRID_SPEC, else shared/sendgrid/ next to the repository."""
    override = os.environ.get("DEKIRU_SENDGRID_SPEC")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "sendgrid" / "tsg_mail_v3.json"


@cache
def request_validator() -> Draft202012Validator:
    """A validator for the request body of POST /v3/mail/send, compiled once. OpenAPI 3.1 schemas are JSON Schema
    2020-12; the registry holds the whole spec so its "#/components/schemas/..." references resolve."""
    path = spec_path()
    if not path.is_file():
        raise FileNotFoundError(f"SendGrid's OpenAPI spec not found at {path}; set DEKIRU_SENDGRID_SPEC")
    spec = json.loads(path.read_text(encoding="utf-8"))
    registry = Registry().with_resource(_SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
    schema = {"$ref": _SPEC_URI + _REQUEST_SCHEMA_POINTER}
    return Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate_mail_send(body: Any) -> list[tuple[str, str | None]]:
    """Every reason SendGrid (or Dekiru's own rules) would reject this request body, as (message, field) pairs."""
    errors = [
        (_short(error.message), ".".join(str(part) for part in error.absolute_path) or None)
        for error in request_validator().iter_errors(body)
    ]
    if not isinstance(body, dict):
        return errors or [("The request body must be a JSON object.", None)]
    return errors + _rules_beyond_schema(body)


def _rules_beyond_schema(body: dict) -> list[tuple[str, str | None]]:
    errors = []

    def error(message, field=None):
        errors.append((message, field))

    # What SendGrid enforces and its schema leaves out (shared/sendgrid/README.md).
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        error("The personalizations field is required and must have at least one personalization.",
              "personalizations")
        personalizations = []
    if not body.get("content") and not body.get("template_id"):
        error("Unless a valid template_id is provided, the content parameter is required.", "content")

    # Dekiru's own rules, all of which SendGrid also applies in some form.
    sender = body.get("from")
    if not isinstance(sender, dict) or not sender.get("email"):
        error("The from object must be provided for every email send. It is an object that requires the email "
              "parameter, but may also contain a name parameter.", "from.email")
    for index, personalization in enumerate(personalizations):
        if not isinstance(personalization, dict):
            continue
        field = f"personalizations.{index}"
        tos = personalization.get("to")
        if not isinstance(tos, list) or not any(isinstance(to, dict) and to.get("email") for to in tos):
            error("The to array is required for all personalization objects, and must have at least one email "
                  "object with a valid email address.", f"{field}.to")
        if not body.get("subject") and not personalization.get("subject") and not body.get("template_id"):
            error("The subject is required. You can get around this requirement if you use a template with a subject "
                  "defined or if every personalization has a subject defined.", "subject")
        seen = set()
        for kind in ("to", "cc", "bcc"):
            for recipient in personalization.get(kind) or ():
                address = recipient.get("email", "").lower() if isinstance(recipient, dict) else ""
                if address and address in seen:
                    error("Each email address in the personalization block should be unique between to, cc, and "
                          f"bcc. We found a duplicate in the {field}.{kind} field.", f"{field}.{kind}")
                seen.add(address)
    if body.get("reply_to") and body.get("reply_to_list"):
        error("The reply_to and reply_to_list fields cannot both be set.", "reply_to_list")

    content = body.get("content")
    if isinstance(content, list) and content:
        types = [str(part.get("type", "")).lower() if isinstance(part, dict) else "" for part in content]
        if types[0] != "text/plain":
            error("Dekiru sends a text/plain body first in every message.", "content.0.type")
        if "text/html" in types and types.index("text/html") != 1:
            error("If present, text/plain must be first, followed by text/html, followed by any other content.",
                  "content")
        if types.count("text/plain") > 1 or types.count("text/html") > 1:
            error("If present, text/plain and text/html may only be provided once.", "content")

    for index, attachment in enumerate(body.get("attachments") or ()):
        if not isinstance(attachment, dict):
            continue
        field = f"attachments.{index}"
        if not attachment.get("filename"):
            error("The attachment filename parameter is required.", f"{field}.filename")
        if not attachment.get("type"):
            error("Dekiru gives every attachment a MIME type.", f"{field}.type")
        try:
            base64.b64decode(str(attachment.get("content", "")), validate=True)
        except (binascii.Error, ValueError):
            error("The attachment content must be base64 encoded.", f"{field}.content")

    headers = body.get("headers")
    if isinstance(headers, dict):
        for name, value in headers.items():
            if name.lower() in _RESERVED_HEADERS:
                error(f"The header {name} is reserved and cannot be set.", f"headers.{name}")
            if not isinstance(value, str):
                error("Invalid type. Expected: string, given: " + type(value).__name__ + ".", f"headers.{name}")
            elif not value.isascii() or "\n" in value or "\r" in value:
                error("Header values must be ASCII on one line (RFC 2047 encode anything else).", f"headers.{name}")
    return errors


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_body(*messages: str | tuple[str, str | None]) -> bytes:
    """A SendGrid-shaped error body: {"errors": [{"message": ..., "field": ..., "help": null}]}."""
    errors = []
    for item in messages:
        message, field = item if isinstance(item, tuple) else (item, None)
        errors.append({"message": message, "field": field, "help": None})
    return json.dumps({"errors": errors}).encode()


@dataclass(frozen=True)
class FakeAttachment:
    filename: str | None
    type: str | None
    content: bytes
    disposition: str | None = None
    content_id: str | None = None


@dataclass(frozen=True)
class _Plan:
    action: str  # "fail", "stall" or "close"
    status: int = 0
    retry_after: str | None = None
    body: bytes | None = None
    seconds: float = 0.0


class FakeSendGrid(FakeProvider):
    """POST /v3/mail/send on 127.0.0.1 (anything else: 404), recording what it accepted.

    Thread-safe: the server answers each connection in its own thread, and records under a lock.
    `messages` holds every accepted request as {"body": <parsed JSON>, "headers": {...}, "message_id": str}; `invalid`
    every body SendGrid would reject as (body, [error messages]). A stalled request that is finally answered 202 is
    recorded too, like SendGrid accepting a message whose client had already given up. The server, the request and
    connection counts are tests/fake_provider.py's.
    """

    name = "fake-sendgrid"
    recorded = "messages"

    def __init__(self, *, api_key: str | None = None, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host=host, port=port)
        self.api_key = api_key  # None: any "Bearer <something>" is accepted
        self.messages: list[dict] = []
        self.invalid: list[tuple[Any, list[str]]] = []
        self._down: str | None = None  # None when up, else the Retry-After to send ("" for none)

    def _prepare(self) -> None:
        request_validator()  # fail fast on a missing spec, and compile once before the first request

    # -- planned failures --------------------------------------------------------------------------------------
    def fail_next(self, status: int, *, times: int = 1, retry_after: float | str | None = None,
                  body: dict | list | str | bytes | None = None) -> None:
        """Answer the next `times` requests with `status` (and Retry-After, and `body` if given; by default a
        SendGrid-shaped error). Planned answers are used in the order they were planned."""
        if body is None:
            raw = error_body(_DEFAULT_ERROR_MESSAGES.get(status, "Error"))
        elif isinstance(body, dict | list):
            raw = json.dumps(body).encode()
        else:
            raw = body.encode() if isinstance(body, str) else body
        plan = _Plan("fail", status=status, retry_after=None if retry_after is None else str(retry_after), body=raw)
        self._plan(plan, times)

    def stall_next(self, seconds: float, *, times: int = 1) -> None:
        """Wait `seconds` before answering the next `times` requests (then answer as usual)."""
        self._plan(_Plan("stall", seconds=seconds), times)

    def close_next(self, times: int = 1) -> None:
        """Read the next `times` requests and close the connection without answering."""
        self._plan(_Plan("close"), times)

    def down(self, *, retry_after: float | str | None = None) -> None:
        """An outage: every request gets 503 until up(). Planned answers wait until then."""
        with self._lock:
            self._down = "" if retry_after is None else str(retry_after)

    def up(self) -> None:
        with self._lock:
            self._down = None

    @property
    def is_down(self) -> bool:
        return self._down is not None

    # -- what it received ----------------------------------------------------------------------------------------
    @property
    def last_message(self) -> dict:
        with self._lock:
            return self.messages[-1]

    def sent_to(self, email: str) -> list[dict]:
        """Accepted messages with `email` among the to, cc or bcc of a personalization (case-insensitive)."""
        email = email.lower()
        with self._lock:
            messages = list(self.messages)
        return [message for message in messages if email in _recipients(message["body"])]

    @staticmethod
    def attachments(message: dict) -> list[FakeAttachment]:
        """The attachments of a recorded message (or of a bare request body), decoded."""
        body = message.get("body", message)
        return [
            FakeAttachment(filename=item.get("filename"), type=item.get("type"),
                           content=base64.b64decode(item.get("content", "")),
                           disposition=item.get("disposition"), content_id=item.get("content_id"))
            for item in body.get("attachments") or ()
        ]

    def clear_invalid(self) -> list[tuple[Any, list[str]]]:
        """Forget (and return) the invalid bodies, for tests that post them on purpose."""
        with self._lock:
            invalid = list(self.invalid)
            self.invalid.clear()
        return invalid

    def reset(self) -> None:
        """Forget everything received and planned; come back up."""
        with self._lock:
            self.messages.clear()
            self.invalid.clear()
            self._plans.clear()
            self._down = None
        self.reset_counts()

    # -- the request handler's side ------------------------------------------------------------------------------
    def _handle(self, handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        if handler.command != "POST" or handler.path.split("?", 1)[0] != SEND_PATH:
            return _respond(handler, 404, error_body("Not Found"))

        status, answer, body = self._judge(handler, raw)

        with self._lock:
            if self._down is not None:
                plan = _Plan("fail", status=503, retry_after=self._down or None,
                             body=error_body(_DEFAULT_ERROR_MESSAGES[503]))
            else:
                plan = self._plans.popleft() if self._plans else None
        if plan is not None and plan.action == "stall":
            if self._stall(handler, plan.seconds):
                return
            plan = None
        if plan is not None and plan.action == "close":
            handler.close_connection = True
            return
        if plan is not None:
            headers = [("Retry-After", plan.retry_after)] if plan.retry_after is not None else []
            return _respond(handler, plan.status, plan.body, headers)
        if status != 202:
            return _respond(handler, status, answer)
        message_id = secrets.token_urlsafe(16)  # 22 characters, like SendGrid's
        with self._lock:
            self.messages.append({"body": body, "headers": dict(handler.headers.items()), "message_id": message_id})
        _respond(handler, 202, b"", [("X-Message-Id", message_id)])

    def _judge(self, handler, raw: bytes) -> tuple[int, bytes, Any]:
        """What SendGrid would answer, if nothing went wrong on its side: (status, body, parsed request body)."""
        authorization = handler.headers.get("Authorization", "")
        key = authorization[len("Bearer "):].strip() if authorization.startswith("Bearer ") else ""
        if not key or key == "None" or (self.api_key is not None and key != self.api_key):
            return 401, error_body(_DEFAULT_ERROR_MESSAGES[401]), None
        content_type = handler.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return 415, error_body("Content-Type should be application/json."), None
        try:
            body = json.loads(raw)
        except ValueError:
            self._record_invalid(raw, ["The request body is not valid JSON."])
            return 400, error_body(("Bad Request", None)), None
        errors = validate_mail_send(body)
        if errors:
            self._record_invalid(body, [message if field is None else f"{field}: {message}"
                                        for message, field in errors])
            return 400, error_body(*errors), body
        return 202, b"", body

    def _record_invalid(self, body: Any, messages: list[str]) -> None:
        with self._lock:
            self.invalid.append((body, messages))


def _recipients(body: dict) -> set[str]:
    return {
        recipient.get("email", "").lower()
        for personalization in body.get("personalizations") or ()
        for kind in ("to", "cc", "bcc")
        for recipient in personalization.get(kind) or ()
    }


def _respond(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"",
             headers: list[tuple[str, str]] = ()) -> None:
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    if body:
        handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if body:
        handler.wfile.write(body)


@pytest.fixture
def fake_sendgrid(settings):
    """A fresh FakeSendGrid with Django's SendGrid backend pointed at it (2-second timeout). The test fails at teardown
    if any request body was one SendGrid would reject; tests that post invalid bodies on purpose call
    `fake_sendgrid.clear_invalid()`."""
    server = FakeSendGrid(api_key=FAKE_API_KEY).start()
    # pytest-django installs the locmem backend before the test; the settings fixture overrides it for this test.
    settings.EMAIL_BACKEND = "cms.mail.SendGridBackend"
    settings.SENDGRID_API_KEY = FAKE_API_KEY
    settings.SENDGRID_API_HOST = server.url
    settings.SENDGRID_TIMEOUT = 2
    try:
        yield server
    finally:
        server.stop()
    if server.invalid:
        problems = "\n".join(f"  request {index + 1}: " + "; ".join(messages)
                             for index, (_body, messages) in enumerate(server.invalid))
        pytest.fail(f"The fake SendGrid received request bodies SendGrid would reject:\n{problems}", pytrace=False)
