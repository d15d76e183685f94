"""Outgoing e-mail through SendGrid's v3 Mail Send API: the only code in Dekiru that talks to SendGrid.

`SendGridBackend` is an ordinary Django e-mail backend (settings.EMAIL_BACKEND = "cms.mail.SendGridBackend"). It turns
each EmailMessage into a Mail Send request with the `sendgrid` client and raises `TransientMailError` (worth retrying:
429, 5xx, timeouts, network trouble) or `PermanentMailError` (any other 4xx: a bad address, a bad key, too large) so
the outbox can tell a retry from a give-up. Logs never carry addresses, subjects or the API key.

SendGrid has no idempotency key. A message may carry `custom_args` (a dict of short strings, e.g. the outbox row's
id): they travel on the request's personalization (the spec types the top-level `custom_args` as a string, the
personalization's as an object) and come back in SendGrid's event webhook and activity feed, so a message sent
twice can be traced to its row. A failure after the request was written (no answer within the timeout, the
connection dropped before the answer) is a `TransientMailError` with `maybe_sent`: SendGrid may have accepted it.

Connection reuse: the sendgrid client's python_http_client opens a new urllib opener for every request, and urllib
sends `Connection: close`, so each message would cost a TCP (and TLS) handshake. The backend keeps the official
client to build each request (URL, headers, JSON body) and sends it through `_PooledClient`, a python_http_client
Client whose `_make_request` (the library's own seam for replacing the transport) goes through one urllib3
connection pool per backend instance, kept alive between messages until `close()`. A backend is used by one thread
at a time (courses.outbox_pool gives each thread its own).
"""

import base64
import json
import logging
import math
import mimetypes
from datetime import UTC, datetime
from email.header import Header as EncodedHeader
from email.header import decode_header, make_header
from email.message import Message
from email.mime.base import MIMEBase
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime
from http.client import HTTPException
from socket import gaierror

import urllib3
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from python_http_client import Client as HttpClient
from python_http_client.exceptions import HTTPError as SendGridHTTPError
from python_http_client.exceptions import err_dict as http_errors
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    ApiKeyIncludedException,
    Attachment,
    Bcc,
    Cc,
    Content,
    CustomArg,
    From,
    Header,
    Mail,
    Personalization,
    ReplyTo,
    Subject,
    To,
)

logger = logging.getLogger(__name__)

# SendGrid refuses to let a request set these (they are built from the structured fields or by SendGrid itself).
RESERVED_HEADERS = frozenset({
    "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding",
    "to", "from", "subject", "reply-to", "cc", "bcc",
})
# SendGrid wants text/plain first, then text/html, then anything else.
_CONTENT_ORDER = {"text/plain": 0, "text/html": 1}
_REASON_MAX = 500


class _DropClientDebug(logging.Filter):
    """python_http_client logs each request's headers (the API key) and payload (addresses, bodies) at DEBUG:
    never let those records out, whatever DJANGO_LOG_LEVEL says."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_client_logger = logging.getLogger("python_http_client.client")
if not any(isinstance(f, _DropClientDebug) for f in _client_logger.filters):
    _client_logger.addFilter(_DropClientDebug())


class MailError(Exception):
    """Sending failed. `reason` is short and safe to show staff: a status code and SendGrid's own error messages, or
    the kind of network failure. It never contains the API key."""

    def __init__(self, reason: str, *, status_code: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class TransientMailError(MailError):
    """Worth retrying later: rate limited (429), SendGrid trouble (5xx), a timeout or a network failure.
    `retry_after` is SendGrid's Retry-After in seconds when it sent one. `maybe_sent`: the request had been sent
    when it failed (no answer in time, connection dropped before the answer), so SendGrid may have accepted the
    message; a retry may deliver it a second time."""

    def __init__(self, reason: str, *, status_code: int | None = None, retry_after: float | None = None,
                 maybe_sent: bool = False):
        super().__init__(reason, status_code=status_code)
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


class PermanentMailError(MailError):
    """Retrying will not help: SendGrid rejected the request (400, 401/403 bad key, 413 too large...), or the message
    cannot be expressed as a Mail Send request."""


class SendGridBackend(BaseEmailBackend):
    """Django e-mail backend for SendGrid's v3 Mail Send API, one HTTPS request per message.

    With fail_silently=False, send_messages() raises TransientMailError / PermanentMailError on the first failure.
    On success each sent message gets `sendgrid_message_id` (SendGrid's X-Message-Id, or "" if absent).
    """

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        api_key: str | None = None,
        host: str | None = None,
        timeout: float | None = None,
        **kwargs,
    ):
        super().__init__(fail_silently=fail_silently, **kwargs)
        self._pool: urllib3.PoolManager | None = None
        self._sendgrid: SendGridAPIClient | None = None
        self.api_key = api_key or settings.SENDGRID_API_KEY
        self.host = (host or settings.SENDGRID_API_HOST).rstrip("/")
        self.timeout = float(timeout if timeout is not None else settings.SENDGRID_TIMEOUT)
        if not self.api_key:
            raise ImproperlyConfigured("SendGridBackend needs SENDGRID_API_KEY.")
        # python_http_client treats a falsy timeout as "wait forever".
        if not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise ImproperlyConfigured("SENDGRID_TIMEOUT must be a positive number of seconds.")

    def open(self) -> bool:
        """Make the connection pool (kept alive between messages); True when it is new."""
        if self._pool is not None:
            return False
        self._pool = urllib3.PoolManager(num_pools=2, maxsize=1, retries=False)
        return True

    def close(self) -> None:
        """Close the kept-alive connection. The outbox's drain calls it at the end; a backend that is never closed
        lets urllib3 close its connection when the pool is garbage collected."""
        pool, self._pool, self._sendgrid = self._pool, None, None
        if pool is not None:
            pool.clear()

    def send_messages(self, email_messages) -> int:
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            try:
                self._send(message)
            except MailError:
                if not self.fail_silently:
                    raise
            else:
                sent += 1
        return sent

    def _client(self) -> SendGridAPIClient:
        """The official client, made once per backend, sending through this backend's pool (opened if need be)."""
        self.open()
        if self._sendgrid is None:
            client = SendGridAPIClient(api_key=self.api_key, host=self.host)
            plain = client.client
            # SendGridAPIClient builds its python_http_client.Client without a timeout; ours has one (a stalled
            # connection must not block the worker), and the per-path clients it derives (client.mail.send) keep it.
            client.client = _PooledClient(host=plain.host, request_headers=plain.request_headers,
                                          version=plain._version, timeout=self.timeout, pool=self._pool)
            self._sendgrid = client
        return self._sendgrid

    def _send(self, message: EmailMessage) -> None:
        request_body = build_mail(message).get()
        try:
            response = self._client().send(request_body)
        except SendGridHTTPError as exc:
            raise self._http_error(exc) from exc
        except (HTTPException, OSError, urllib3.exceptions.HTTPError) as exc:
            raise self._network_error(exc) from exc
        message_id = response.headers.get("X-Message-Id", "") or ""
        message.sendgrid_message_id = message_id
        logger.info("sendgrid accepted message (X-Message-Id=%s)", message_id)

    def _http_error(self, exc: SendGridHTTPError) -> MailError:
        status = int(exc.status_code)
        reason = self._redact(f"{status}: {_error_messages(exc.body) or exc.reason or 'HTTP error'}")
        if status in (408, 429) or not 400 <= status < 500:
            headers = exc.headers
            retry_after = parse_retry_after(headers.get("Retry-After") if headers is not None else None)
            logger.warning("sendgrid request failed, will retry (status %s)", status)
            return TransientMailError(reason, status_code=status, retry_after=retry_after)
        logger.warning("sendgrid rejected message (status %s)", status)
        return PermanentMailError(reason, status_code=status)

    def _network_error(self, exc: BaseException) -> TransientMailError:
        # urllib3 tells a failure to connect (NewConnectionError, a connect timeout: nothing was sent) from a failure
        # while waiting for the answer (a read timeout, the connection dropped: the request was sent by then).
        sent_by_then = isinstance(exc, urllib3.exceptions.ReadTimeoutError | urllib3.exceptions.ProtocolError
                                  | HTTPException | ConnectionError | TimeoutError)
        connecting = isinstance(exc, urllib3.exceptions.ConnectTimeoutError)  # NewConnectionError included
        maybe_sent = sent_by_then and not connecting
        cause = exc.__cause__ if isinstance(exc, urllib3.exceptions.NewConnectionError) else exc
        if isinstance(exc, urllib3.exceptions.ProtocolError) and len(exc.args) > 1:
            cause = exc.args[1]  # ProtocolError("Connection aborted.", RemoteDisconnected(...))
        if isinstance(exc, urllib3.exceptions.NameResolutionError) or isinstance(cause, gaierror):
            kind, reason = "DNS", "SendGrid's host name did not resolve"
        elif isinstance(cause, ConnectionRefusedError):
            kind, reason = "connection refused", "connection to SendGrid refused"
        elif isinstance(exc, urllib3.exceptions.TimeoutError) or isinstance(cause, TimeoutError):
            kind, reason = "timeout", f"no answer from SendGrid within {self.timeout:g} s"
        elif isinstance(cause, HTTPException | ConnectionError) or isinstance(exc, urllib3.exceptions.ProtocolError):
            kind, reason = "connection lost", f"connection to SendGrid lost ({type(cause).__name__})"
        else:
            kind, reason = "network", f"network error talking to SendGrid ({type(cause).__name__}: {cause})"
        logger.warning("sendgrid request failed, will retry (%s%s)", kind,
                       ", after the request was sent" if maybe_sent else "")
        return TransientMailError(self._redact(reason)[:_REASON_MAX], maybe_sent=maybe_sent)

    def _redact(self, text: str) -> str:
        return text.replace(self.api_key, "[API key]")[:_REASON_MAX]


class _PooledClient(HttpClient):
    """python_http_client's Client (what SendGridAPIClient builds requests with) sending over a shared urllib3 pool
    with keep-alive instead of a new urllib opener (and connection) per request. The per-path clients it derives
    (client.mail.send) share the pool. Answers and errors keep python_http_client's shapes (a Response with
    status_code / body / headers; its HTTPError subclasses for 4xx and 5xx), so the backend reads them as before."""

    def __init__(self, *args, pool: urllib3.PoolManager, **kwargs):
        super().__init__(*args, **kwargs)
        self._pool = pool

    def _build_client(self, name=None):
        url_path = self._url_path + [name] if name else self._url_path
        return _PooledClient(host=self.host, version=self._version, request_headers=self.request_headers,
                             url_path=url_path, append_slash=self.append_slash, timeout=self.timeout, pool=self._pool)

    def _make_request(self, opener, request, timeout=None):
        timeout = timeout or self.timeout
        # No retries, no redirects: the outbox decides retries (a POST repeated here could send a message twice).
        response = self._pool.urlopen(
            request.get_method(), request.full_url, body=request.data, headers=dict(request.header_items()),
            timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False, redirect=False,
            preload_content=True)
        if response.status >= 400:
            error = http_errors.get(response.status, SendGridHTTPError)
            raise error(response.status, response.reason, response.data, response.headers)
        return _PooledResponse(response)


class _PooledResponse:
    """A urllib3 response as python_http_client.Response reads a urllib one (getcode, read, info)."""

    def __init__(self, response: urllib3.BaseHTTPResponse):
        self._response = response

    def getcode(self) -> int:
        return self._response.status

    def read(self) -> bytes:
        return self._response.data

    def info(self):
        return self._response.headers


def build_mail(message: EmailMessage) -> Mail:
    """The Mail Send request for a Django EmailMessage / EmailMultiAlternatives, as a sendgrid `Mail` helper."""
    extra = {str(name).lower(): (str(name), str(value)) for name, value in message.extra_headers.items()}
    mail = Mail()

    # Like Django's own message(): a From / Reply-To in extra_headers wins over from_email / reply_to.
    sender = _addresses([extra["from"][1] if "from" in extra else message.from_email])
    if not sender:
        raise PermanentMailError("the message has no sender address")
    mail.from_email = _email(From, *sender[0])

    personalization = Personalization()
    seen: set[str] = set()  # SendGrid rejects an address that appears twice across to, cc and bcc
    for kind, values in ((To, message.to), (Cc, message.cc), (Bcc, message.bcc)):
        for name, address in _addresses(values):
            if address.lower() in seen:
                continue
            seen.add(address.lower())
            recipient = _email(kind, name, address)
            {To: personalization.add_to, Cc: personalization.add_cc, Bcc: personalization.add_bcc}[kind](recipient)
    if not personalization.tos:
        raise PermanentMailError("SendGrid needs at least one To recipient (cc/bcc alone are not accepted)")
    for name, value in (getattr(message, "custom_args", None) or {}).items():
        personalization.add_custom_arg(CustomArg(str(name), str(value)))
    mail.add_personalization(personalization)

    reply_to = _addresses([extra["reply-to"][1]] if "reply-to" in extra else message.reply_to)
    if len(reply_to) == 1:
        mail.reply_to = _email(ReplyTo, *reply_to[0])
    elif reply_to:
        mail.reply_to_list = [_email(ReplyTo, name, address) for name, address in reply_to]

    mail.subject = Subject(str(message.subject))

    parts = []
    if message.body:
        parts.append((f"text/{message.content_subtype}", str(message.body)))
    for content, mimetype in getattr(message, "alternatives", ()):
        if isinstance(content, bytes):
            content = content.decode()
        if content:
            parts.append((mimetype.split(";")[0].strip().lower(), str(content)))
    parts.sort(key=lambda part: _CONTENT_ORDER.get(part[0], 2))  # stable: alternatives keep their order
    try:
        for mimetype, value in parts:
            mail.add_content(Content(mimetype, value))
    except ApiKeyIncludedException:
        raise PermanentMailError("the message body looks like it contains a SendGrid API key") from None

    # Mail.add_attachment() inserts at the front of the list: add them backwards to keep the message's order.
    for attachment in reversed([_attachment(item) for item in message.attachments]):
        mail.add_attachment(attachment)

    for lowered, (name, value) in extra.items():
        if lowered in RESERVED_HEADERS:
            continue
        if "\n" in value or "\r" in value:
            raise PermanentMailError(f"header {name} contains a line break")
        mail.add_header(Header(name, _encode_header_value(value)))
    return mail


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _error_messages(body: bytes | str | None) -> str:
    """SendGrid's error body {"errors": [{"message": ..., "field": ...}]} as "message; message"."""
    if not body:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return ""
    messages = [str(error["message"]) for error in errors if isinstance(error, dict) and error.get("message")]
    return "; ".join(messages)


def _addresses(values) -> list[tuple[str, str]]:
    """(name, address) pairs from Django's address strings, e.g. "山田 太郎 <taro@example.jp>". A string that does not
    parse is passed on as the address, for SendGrid to reject, rather than silently dropped."""
    pairs = []
    for value in values or ():
        value = str(value).strip()
        if not value:
            continue
        parsed = [(name, address) for name, address in getaddresses([value]) if address]
        if not parsed:
            parsed = [("", value)]
        for name, address in parsed:
            if "=?" in name:  # an RFC 2047 encoded display name
                name = str(make_header(decode_header(name)))
            pairs.append((name, address))
    return pairs


def _email(kind, name: str, address: str):
    # Set the fields directly: the helpers' constructors re-parse a lone address and turn one without "@" into a name.
    email = kind()
    email.email = address
    if name:
        email.name = name
    return email


def _attachment(item) -> Attachment:
    if isinstance(item, MIMEBase):
        return _mime_attachment(item)
    filename, content, mimetype = item
    if isinstance(filename, tuple):  # Django accepts RFC 2231 (charset, language, filename)
        filename = filename[2]
    mimetype = mimetype or (filename and mimetypes.guess_type(filename)[0]) or "application/octet-stream"
    if isinstance(content, EmailMessage):  # message/rfc822
        content = content.message().as_bytes()
    elif isinstance(content, Message):
        content = content.as_bytes()
    elif isinstance(content, str):
        content = content.encode()
    return Attachment(_b64(content), filename or _default_filename(mimetype), mimetype)


def _mime_attachment(part: MIMEBase) -> Attachment:
    mimetype = part.get_content_type()
    params = [(key, value) for key, value in part.get_params(header="content-type")[1:] if key.lower() != "name"]
    file_type = mimetype + "".join(f"; {key}={_param(value)}" for key, value in params)
    if part.is_multipart():
        payload = part.get_payload()
        if mimetype != "message/rfc822" or not payload:
            raise PermanentMailError(f"cannot send a {mimetype} attachment through SendGrid")
        content = payload[0].as_bytes()
    else:
        content = part.get_payload(decode=True) or b""
    attachment = Attachment(_b64(content), part.get_filename() or _default_filename(mimetype), file_type)
    content_id = part.get("Content-ID")
    if content_id or part.get_content_disposition() == "inline":
        attachment.disposition = "inline"
        if content_id:
            attachment.content_id = str(content_id).strip().strip("<>")
    return attachment


def _b64(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def _param(value) -> str:
    value = collapse_rfc2231_value(value)
    return f'"{value}"' if any(char in value for char in ' ()<>@,;:\\"/[]?=') else value


def _default_filename(mimetype: str) -> str:
    return "attachment" + (mimetypes.guess_extension(mimetype.split(";")[0].strip()) or ".bin")


def _encode_header_value(value: str) -> str:
    """SendGrid passes header values through as they are: non-ASCII must arrive RFC 2047 encoded."""
    if value.isascii():
        return value
    return " ".join(line.strip() for line in EncodedHeader(value, "utf-8").encode().splitlines())
