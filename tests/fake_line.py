"""A fake LINE Messaging API (push and reply) over real HTTP, for the tests: the official `line-bot-sdk` v3 client is
pointed at it (cms.line, DEKIRU_LINE_API_BASE) and every request it receives is validated against LINE's own OpenAPI
spec (shared/line/messaging-api.yml, or $DEKIRU_LINE_SPEC) with openapi-core: the path, the Bearer token, the
X-Line-Retry-Key header (a UUID) and the body.

    with FakeLine() as server:              # 127.0.0.1, an ephemeral port, a daemon thread
        server.pushes                       # every accepted push: {"body", "headers", "request_id", "retry_key"}

It behaves as LINE does where Dekiru depends on it: a retry key already accepted (within 24 hours) is answered 409
with the original request's id in `x-line-accepted-request-id` and nothing is sent again; a user id that is not one
(or is in `unknown_users`: never followed, or blocked the account) is refused with 400. The threaded server and its
request and connection counts are tests/fake_provider.py's, as for tests/fake_twilio.py. Failures on demand:
fail_next(status, message=…, retry_after=…) (429 rate limit or "You have reached your monthly limit.", 5xx),
stall_next(seconds) (the push is accepted at once but answered only after `seconds`: after the client's timeout),
close_next(). The `fake_line` fixture configures
cms.line for it and fails the test at teardown if any request was invalid.
"""

import json
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers

from tests.fake_provider import FakeProvider

ACCESS_TOKEN = "test-line-channel-access-token-0123456789"
CHANNEL_SECRET = "0123456789abcdef0123456789abcdef"
BASIC_ID = "@dekiru-test"
LINE_HOST = "https://api.line.me"
PUSH_PATH = "/v2/bot/message/push"
REPLY_PATH = "/v2/bot/message/reply"
MONTHLY_LIMIT = "You have reached your monthly limit."
USER_ID = re.compile(r"U[0-9a-f]{32}")
UUID_HEX = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TEXT_MAX = 5000


def user_id(n: int = 1) -> str:
    """A LINE user id of the right shape ("U" and 32 hex digits)."""
    return "U" + f"{n:032x}"


def spec_path() -> Path:
    override = os.environ.get("DEKIRU_LINE_SPEC")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "line" / "messaging-api.yml"


@cache
def openapi() -> OpenAPI:
    path = spec_path()
    if not path.is_file():
        raise FileNotFoundError(f"LINE's OpenAPI spec not found at {path}; set DEKIRU_LINE_SPEC")
    # LINE's published spec is taken as valid (checking the spec itself takes seconds); requests are what is checked.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return OpenAPI.from_dict(yaml.load(path.read_text(encoding="utf-8"), Loader=loader),
                             config=Config(spec_validator_cls=None))


@dataclass
class _SpecRequest:
    """A received request as openapi-core's Request protocol sees it, at LINE's own host (the spec's server)."""

    method: str
    path: str
    body: bytes
    content_type: str
    parameters: RequestParameters
    host_url: str = LINE_HOST

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self.path


def validate(method: str, path: str, headers: dict, body: bytes) -> list[str]:
    """Every reason LINE's spec (and LINE's documented rules the spec leaves out) gives to reject this request."""
    request = _SpecRequest(method=method.lower(), path=path.split("?", 1)[0], body=body or None,
                           content_type=headers.get("content-type", "").lower(),
                           parameters=RequestParameters(header=Headers(list(headers.items()))))
    problems = []
    try:
        openapi().validate_request(request)
    except Exception as exc:  # openapi-core raises one error, with the schema errors as its causes
        problems.append(str(exc))
        for cause in getattr(exc, "schema_errors", None) or getattr(exc.__cause__, "schema_errors", None) or ():
            problems.append(getattr(cause, "message", str(cause)))
        if exc.__cause__ is not None:
            problems.append(str(exc.__cause__))
    key = headers.get("x-line-retry-key")
    if key is not None and not UUID_HEX.fullmatch(key):
        problems.append(f"X-Line-Retry-Key is not a UUID in hexadecimal format: {key!r}")
    try:
        data = json.loads(body or b"")
    except ValueError:
        return problems or ["The request body is not JSON."]
    for message in (data.get("messages") or []) if isinstance(data, dict) else []:
        if isinstance(message, dict) and message.get("type") == "text":
            text = message.get("text")
            if not isinstance(text, str) or not text.strip():
                problems.append("A text message needs a text.")
            elif len(text) > TEXT_MAX:
                problems.append(f"A text message is at most {TEXT_MAX} characters.")
    return problems


@dataclass(frozen=True)
class _Plan:
    action: str  # "fail", "stall" or "close"
    status: int = 0
    message: str = ""
    retry_after: str | None = None
    seconds: float = 0.0


class FakeLine(FakeProvider):
    """LINE's push and reply endpoints on 127.0.0.1; the server, the request and connection counts are
    tests/fake_provider.py's."""

    name = "fake-line"
    recorded = "pushes"

    def __init__(self, *, access_token: str = ACCESS_TOKEN):
        super().__init__()
        self.access_token = access_token
        self.pushes: list[dict] = []
        self.replies: list[dict] = []
        # Every request received, valid or not: {"path", "headers", "body", "peer"} (peer: the client's address and
        # port, the same for requests over one reused connection).
        self.requests: list[dict] = []
        self.invalid: list[tuple[str, list[str]]] = []
        self.unknown_users: set[str] = set()
        self.accepted_keys: dict[str, str] = {}  # X-Line-Retry-Key → the request id that accepted it

    def _prepare(self) -> None:
        openapi()

    # -- planned failures --------------------------------------------------------------------------------------
    def fail_next(self, status: int, *, message: str = "", retry_after: str | None = None, times: int = 1) -> None:
        self._plan(_Plan("fail", status=status, message=message, retry_after=retry_after), times)

    def stall_next(self, seconds: float, *, times: int = 1) -> None:
        """Accept the next pushes but answer only after `seconds`."""
        self._plan(_Plan("stall", seconds=seconds), times)

    def close_next(self, times: int = 1) -> None:
        self._plan(_Plan("close"), times)

    def sent_to(self, user: str) -> list[dict]:
        with self._lock:
            return [push for push in self.pushes if push["body"].get("to") == user]

    # -- the handler's side ------------------------------------------------------------------------------------
    def _handle(self, handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in handler.headers.items()}
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": raw, "peer": handler.client_address})
        if handler.command != "POST" or path not in (PUSH_PATH, REPLY_PATH):
            return _error(handler, 404, "Not found")
        if headers.get("authorization") != f"Bearer {self.access_token}":
            return _error(handler, 401, "Authentication failed. Confirm that the access token in the authorization "
                                        "header is valid.")
        problems = validate(handler.command, handler.path, headers, raw)
        if problems:
            with self._lock:
                self.invalid.append((raw.decode("utf-8", "replace"), problems))
            return _error(handler, 400, "; ".join(problems)[:300])
        body = json.loads(raw)
        key = headers.get("x-line-retry-key")

        plan = self._next_plan()
        with self._lock:
            accepted = self.accepted_keys.get(key) if key else None
        if plan is not None and plan.action == "close":
            handler.close_connection = True
            return
        if plan is not None and plan.action == "fail":
            extra = {"Retry-After": plan.retry_after} if plan.retry_after is not None else {}
            return _error(handler, plan.status, plan.message or "planned failure", headers=extra)
        if accepted is not None:
            # As LINE: a retry key already accepted is not sent again; 409 names the request that accepted it.
            return _error(handler, 409, "The retry key is already accepted",
                          headers={"x-line-accepted-request-id": accepted})
        if path == PUSH_PATH:
            to = body["to"]
            if not USER_ID.fullmatch(to):
                return _error(handler, 400, "The property, 'to', in the request body is invalid (line: -, column: -)")
            if to in self.unknown_users:
                return _error(handler, 400, "Failed to send messages")
        request_id = str(uuid.uuid4())
        record = {"body": body, "headers": headers, "request_id": request_id, "retry_key": key}
        with self._lock:
            (self.pushes if path == PUSH_PATH else self.replies).append(record)
            if key:
                self.accepted_keys[key] = request_id
        if plan is not None and plan.action == "stall" and self._stall(handler, plan.seconds):
            return
        sent = [{"id": str(secrets.randbelow(10 ** 17)), "quoteToken": secrets.token_urlsafe(16)}
                for _message in body["messages"]]
        _respond(handler, 200, json.dumps({"sentMessages": sent}).encode(), headers={"x-line-request-id": request_id})


def _error(handler, status: int, message: str, *, headers: dict | None = None) -> None:
    _respond(handler, status, json.dumps({"message": message}).encode(),
             headers={"x-line-request-id": str(uuid.uuid4()), **(headers or {})})


def _respond(handler, status: int, body: bytes, *, headers: dict | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def fake_line(settings):
    """A fresh FakeLine with cms.line pointed at it (1-second timeout). Fails the test at teardown if any request was
    one LINE's spec rejects."""
    yield from serving(settings)


def serving(settings):
    """The fake_line fixture's body."""
    server = FakeLine().start()
    settings.DEKIRU_LINE_BACKEND = "api"
    settings.DEKIRU_LINE_CHANNEL_ACCESS_TOKEN = server.access_token
    settings.DEKIRU_LINE_CHANNEL_SECRET = CHANNEL_SECRET
    settings.DEKIRU_LINE_BOT_BASIC_ID = BASIC_ID
    settings.DEKIRU_LINE_API_BASE = server.url
    settings.DEKIRU_LINE_TIMEOUT = 1
    try:
        yield server
    finally:
        server.stop()
    if server.invalid:
        problems = "\n".join(f"  {body}: " + "; ".join(messages) for body, messages in server.invalid)
        pytest.fail(f"The fake LINE server received requests LINE's spec rejects:\n{problems}", pytrace=False)
