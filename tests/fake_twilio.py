"""A fake Twilio REST API (2010-04-01 Messages) over real HTTP, for the tests: the official `twilio` client is pointed
at it (cms.sms, DEKIRU_TWILIO_BASE_URL) and every request it receives is validated against Twilio's own OpenAPI
spec (shared/twilio/twilio_api_v2010.json, or $DEKIRU_TWILIO_SPEC) with openapi-core.

    with FakeTwilio() as server:            # 127.0.0.1, an ephemeral port, a daemon thread
        server.messages                     # every accepted SMS: {"form": {...}, "sid": "SM…"}

The threaded server and its request and connection counts are tests/fake_provider.py's. Failures on demand, like
tests/fake_sendgrid.py: fail_next(status, code=…) (429, 5xx, 400 with Twilio's error code,
e.g. 21211 "invalid number"), stall_next(seconds) (answers after the client's timeout: the SMS is accepted all the
same), close_next(). Numbers in `invalid_numbers` are refused with 21211, as Twilio refuses a number that is not one.
The `fake_twilio` fixture configures cms.sms for it and fails the test at teardown if any request was invalid.
"""

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers

from tests.fake_provider import FakeProvider

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
FROM_NUMBER = "+815012345678"
TWILIO_HOST = "https://api.twilio.com"


def spec_path() -> Path:
    override = os.environ.get("DEKIRU_TWILIO_SPEC")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "twilio" / "twilio_api_v2010.json"


@cache
def openapi() -> OpenAPI:
    """Twilio's spec, loaded once (1.8 MB)."""
    path = spec_path()
    if not path.is_file():
        raise FileNotFoundError(f"Twilio's OpenAPI spec not found at {path}; set DEKIRU_TWILIO_SPEC")
    return OpenAPI.from_dict(json.loads(path.read_text(encoding="utf-8")))


@dataclass
class _SpecRequest:
    """A received request as openapi-core's Request protocol sees it, at Twilio's own host (the spec's server)."""

    method: str
    path: str
    body: bytes
    content_type: str
    parameters: RequestParameters
    host_url: str = TWILIO_HOST

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self.path


def validate(method: str, path: str, headers: dict, body: bytes) -> list[str]:
    """Every reason Twilio's spec gives to reject this request ([] when valid)."""
    return _spec_problems(method, path, headers, body) + _callback_problems(body)


_CALLBACKS = ("StatusCallback", "SmsStatusCallback")


def _callback_problems(body: bytes) -> list[str]:
    """The spec types StatusCallback `format: uri` (openapi-core does not check formats) and its description adds:
    "URL must contain a valid hostname and underscores are not allowed"."""
    form = parse_qs((body or b"").decode("utf-8", "replace"), keep_blank_values=True)
    problems = []
    for name in _CALLBACKS:
        for value in form.get(name, ()):
            parts = urlsplit(value)
            host = parts.hostname or ""
            if parts.scheme not in ("http", "https") or "." not in host or "_" in host or " " in value:
                problems.append(f"{name} is not a valid callback URL: {value!r}")
    return problems


def _spec_problems(method: str, path: str, headers: dict, body: bytes) -> list[str]:
    request = _SpecRequest(method=method.lower(), path=path.split("?", 1)[0], body=body or None,
                           content_type=headers.get("content-type", "").lower(),
                           parameters=RequestParameters(header=Headers(list(headers.items()))))
    try:
        openapi().validate_request(request)
    except Exception as exc:  # openapi-core raises one error, with the schema errors as its causes
        details = [str(exc)]
        for cause in getattr(exc, "schema_errors", None) or getattr(exc.__cause__, "schema_errors", None) or ():
            details.append(getattr(cause, "message", str(cause)))
        if exc.__cause__ is not None:
            details.append(str(exc.__cause__))
        return details
    return []


@dataclass(frozen=True)
class _Plan:
    action: str  # "fail", "stall" or "close"
    status: int = 0
    code: int | None = None
    seconds: float = 0.0


class FakeTwilio(FakeProvider):
    """POST /2010-04-01/Accounts/<sid>/Messages.json on 127.0.0.1; the server, the request and connection counts are
    tests/fake_provider.py's."""

    name = "fake-twilio"
    recorded = "messages"

    def __init__(self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN):
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict] = []
        self.invalid: list[tuple[str, list[str]]] = []
        self.invalid_numbers: set[str] = set()

    def _prepare(self) -> None:
        openapi()

    # -- planned failures --------------------------------------------------------------------------------------
    def fail_next(self, status: int, *, code: int | None = None, times: int = 1) -> None:
        self._plan(_Plan("fail", status=status, code=code), times)

    def stall_next(self, seconds: float, *, times: int = 1) -> None:
        """Answer the next requests only after `seconds` (then accept them as usual)."""
        self._plan(_Plan("stall", seconds=seconds), times)

    def close_next(self, times: int = 1) -> None:
        self._plan(_Plan("close"), times)

    def sent_to(self, number: str) -> list[dict]:
        with self._lock:
            return [message for message in self.messages if message["form"].get("To") == number]

    # -- the handler's side ------------------------------------------------------------------------------------
    def _handle(self, handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in handler.headers.items()}
        path = handler.path.split("?", 1)[0]
        expected = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if handler.command != "POST" or path != expected:
            return _error(handler, 404, 20404, "The requested resource was not found")
        if headers.get("authorization") != "Basic " + base64.b64encode(
                f"{self.account_sid}:{self.auth_token}".encode()).decode():
            return _error(handler, 401, 20003, "Authenticate")
        problems = validate(handler.command, handler.path, headers, raw)
        form = {name: values[-1] for name, values in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
        if not form.get("From") and not form.get("MessagingServiceSid"):
            problems.append("A 'From' phone number or a MessagingServiceSid is required.")
        if not form.get("Body") and not form.get("MediaUrl") and not form.get("ContentSid"):
            problems.append("A message body is required.")
        if problems:
            with self._lock:
                self.invalid.append((raw.decode("utf-8", "replace"), problems))
            return _error(handler, 400, 21601, "; ".join(problems)[:300])

        plan = self._next_plan()
        if plan is not None and plan.action == "stall":
            if self._stall(handler, plan.seconds):
                return
            plan = None
        if plan is not None and plan.action == "close":
            handler.close_connection = True
            return
        if plan is not None:
            return _error(handler, plan.status, plan.code, "planned failure")
        if form["To"] in self.invalid_numbers or not form["To"].startswith("+"):
            return _error(handler, 400, 21211, f"The 'To' number {form['To']} is not a valid phone number.")
        sid = "SM" + secrets.token_hex(16)
        with self._lock:
            self.messages.append({"form": form, "sid": sid, "headers": headers})
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        resource = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": form["Body"],
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "0",
            "num_segments": "1", "price": None, "price_unit": "JPY", "sid": sid, "status": "queued",
            "subresource_uris": {"media": f"{expected[:-5]}/{sid}/Media.json"}, "to": form["To"],
            "uri": f"{expected[:-5]}/{sid}.json",
        }
        _respond(handler, 201, json.dumps(resource).encode())


def _error(handler, status: int, code: int | None, message: str) -> None:
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
    _respond(handler, status, json.dumps(body).encode())


def _respond(handler, status: int, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def fake_twilio(settings):
    """A fresh FakeTwilio with cms.sms pointed at it (1-second timeout). Fails the test at teardown if any request
    was one Twilio's spec rejects (a plugin of tests/conftest.py: every test module has it)."""
    yield from serving(settings)


def serving(settings):
    """The fake_twilio fixture's body."""
    server = FakeTwilio().start()
    settings.DEKIRU_SMS_BACKEND = "twilio"
    settings.DEKIRU_TWILIO_ACCOUNT_SID = server.account_sid
    settings.DEKIRU_TWILIO_AUTH_TOKEN = server.auth_token
    settings.DEKIRU_TWILIO_FROM = FROM_NUMBER
    settings.DEKIRU_TWILIO_BASE_URL = server.url
    settings.DEKIRU_TWILIO_TIMEOUT = 1
    try:
        yield server
    finally:
        server.stop()
    if server.invalid:
        problems = "\n".join(f"  {body}: " + "; ".join(messages) for body, messages in server.invalid)
        pytest.fail(f"The fake Twilio received requests Twilio's spec rejects:\n{problems}", pytrace=False)
