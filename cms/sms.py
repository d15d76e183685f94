"""Outgoing SMS through Twilio's Messages API (2010-04-01): the only code in Dekiru that talks to Twilio.

Beside cms.mail (e-mail through SendGrid), and classified the same way for cms.sending.try_send: a
`TransientSmsError` (429, 5xx, timeouts, network trouble: try again later) or a `PermanentSmsError` (an invalid or
unreachable number, a landline, a bad request: give up on this channel; the outbox falls back to the next one).
Both subclass cms.mail's errors, so the one send policy decides retries for every channel.

Settings: DEKIRU_TWILIO_ACCOUNT_SID, DEKIRU_TWILIO_AUTH_TOKEN, DEKIRU_TWILIO_FROM (the sending number, E.164, or a
Messaging Service SID "MG…"), DEKIRU_TWILIO_TIMEOUT (seconds, default 10), DEKIRU_TWILIO_BASE_URL (tests and
proxies: where https://api.twilio.com is reached instead), DEKIRU_TWILIO_STATUS_CALLBACK (default on: every SMS asks
Twilio to report its delivery to <DEKIRU_BASE_URL>/hooks/twilio/status, courses.delivery_events; off by itself
when the site's address is a local one Twilio cannot reach). Without the three credentials the channel is off
(`available()` is False and residents who chose SMS get the next channel), except where DEKIRU_SMS_BACKEND is
"console" (by default whenever e-mail goes to the console, as in `make demo`): each SMS is printed to the terminal.
Logs never carry numbers, texts or the token.
"""

import itertools
import logging
import math
import sys
import threading

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from cms.mail import PermanentMailError, TransientMailError
from cms.sending import absolute, base_url

logger = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
# Where Twilio posts an SMS's delivery reports (courses.delivery_urls serves it), under the site's address.
STATUS_CALLBACK_PATH = "/hooks/twilio/status"
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "0.0.0.0")
_REASON_MAX = 500

# Twilio error codes that say this number cannot get an SMS from us: invalid number (21211), not a mobile number
# (21614), unreachable / blocked / opted out (21612, 21408, 21610, 30003-30006). The outbox moves the message to
# the resident's next channel.
BAD_NUMBER_CODES = frozenset({21211, 21214, 21217, 21401, 21407, 21408, 21421, 21612, 21614, 21610,
                              30003, 30004, 30005, 30006})


class TransientSmsError(TransientMailError):
    """Worth retrying later (429, 5xx, timeout, network); `maybe_sent` as in cms.mail."""


class PermanentSmsError(PermanentMailError):
    """Retrying will not help; `code` is Twilio's error code when it gave one, `bad_number` when the number itself
    cannot receive our SMS."""

    def __init__(self, reason: str, *, status_code: int | None = None, code: int | None = None):
        super().__init__(reason, status_code=status_code)
        self.code = code
        self.bad_number = code in BAD_NUMBER_CODES


def _setting(name: str, default=None):
    return getattr(settings, name, default)


def credentials() -> tuple[str, str, str]:
    return (_setting("DEKIRU_TWILIO_ACCOUNT_SID", "") or "", _setting("DEKIRU_TWILIO_AUTH_TOKEN", "") or "",
            _setting("DEKIRU_TWILIO_FROM", "") or "")


def backend() -> str:
    """"twilio", "console" or "off" (see the module's docstring)."""
    chosen = _setting("DEKIRU_SMS_BACKEND", None)
    if chosen:
        return chosen
    if all(credentials()):
        return "twilio"
    if str(_setting("EMAIL_BACKEND", "")).endswith("console.EmailBackend"):
        return "console"
    return "off"


def available() -> bool:
    """Whether SMS can be sent at all: a resident's SMS choice falls back to the next channel when it cannot."""
    return backend() in ("twilio", "console")


def e164(number: str) -> str:
    """A Japanese number as Dekiru stores it (digits, 09012345678) in E.164 (+819012345678); already +… stays."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.strip().startswith("+"):
        return "+" + digits
    if digits.startswith("0"):
        return "+81" + digits[1:]
    return "+" + digits


def status_callback_url() -> str:
    """The StatusCallback every SMS carries: Twilio posts the delivery report there. "" when it is switched off
    (DEKIRU_TWILIO_STATUS_CALLBACK) or the site's address is local (the demo, a developer's machine): Twilio could
    not reach it, and its spec wants a real hostname."""
    if not _setting("DEKIRU_TWILIO_STATUS_CALLBACK", True):
        return ""
    address = base_url()
    host = address.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0] if "://" in address else ""
    if not host or host in _LOCAL_HOSTS or "_" in host:
        return ""
    return absolute(STATUS_CALLBACK_PATH)


class _RoutedHttpClient(TwilioHttpClient):
    """The twilio client's own HTTP client (requests, one pooled session) sending to `base_url` instead of
    api.twilio.com: the fake server in tests, or a proxy."""

    def __init__(self, *, base_url: str | None, timeout: float):
        super().__init__(timeout=timeout, pool_connections=True)
        self.base_url = (base_url or "").rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API):]
        return super().request(method, url, *args, **kwargs)


class TwilioSender:
    """Sends one SMS per call through the official client; reuse one sender for many (one connection pool)."""

    def __init__(self, *, account_sid: str | None = None, auth_token: str | None = None, from_: str | None = None,
                 base_url: str | None = None, timeout: float | None = None):
        sid, token, sender = credentials()
        self.account_sid = account_sid or sid
        self.auth_token = auth_token or token
        self.from_ = from_ or sender
        if not (self.account_sid and self.auth_token and self.from_):
            raise ImproperlyConfigured("SMS needs DEKIRU_TWILIO_ACCOUNT_SID, DEKIRU_TWILIO_AUTH_TOKEN and "
                                       "DEKIRU_TWILIO_FROM.")
        self.timeout = float(timeout if timeout is not None else _setting("DEKIRU_TWILIO_TIMEOUT", 10))
        if not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise ImproperlyConfigured("DEKIRU_TWILIO_TIMEOUT must be a positive number of seconds.")
        self.http_client = _RoutedHttpClient(base_url=base_url or _setting("DEKIRU_TWILIO_BASE_URL", ""),
                                             timeout=self.timeout)
        self.client = Client(self.account_sid, self.auth_token, http_client=self.http_client)

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> str:
        """Send `body` to `to`; Twilio's message SID. Raises TransientSmsError / PermanentSmsError. Twilio reports
        the delivery to `status_callback` (by default `status_callback_url()`; "" for none)."""
        options = {"to": e164(to), "body": body}
        if status_callback is None:
            status_callback = status_callback_url()
        if self.from_.startswith("MG"):
            options["messaging_service_sid"] = self.from_
        else:
            options["from_"] = self.from_
        if status_callback:
            options["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**options)
        except TwilioRestException as exc:
            raise self._rest_error(exc) from exc
        except requests.exceptions.RequestException as exc:
            raise self._network_error(exc) from exc
        except TwilioException as exc:
            raise TransientSmsError(self._redact(f"Twilio client error: {exc}")) from exc
        logger.info("twilio accepted SMS (sid=%s)", message.sid)
        return message.sid or ""

    def close(self) -> None:
        if self.http_client.session is not None:
            self.http_client.session.close()

    def _rest_error(self, exc: TwilioRestException) -> Exception:
        status = int(exc.status)
        code = exc.code
        reason = self._redact(f"{status}{f' ({code})' if code else ''}: {exc.msg or 'HTTP error'}")
        if status in (408, 429) or status >= 500:
            logger.warning("twilio request failed, will retry (status %s)", status)
            return TransientSmsError(reason, status_code=status)
        logger.warning("twilio rejected SMS (status %s, code %s)", status, code)
        return PermanentSmsError(reason, status_code=status, code=code)

    def _network_error(self, exc: requests.exceptions.RequestException) -> TransientSmsError:
        # A read timeout, or the connection dropped once the request was written: Twilio may have accepted it.
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            maybe_sent, reason = False, "could not connect to Twilio in time"
        elif isinstance(exc, requests.exceptions.ReadTimeout):
            maybe_sent, reason = True, f"no answer from Twilio within {self.timeout:g} s"
        elif isinstance(exc, requests.exceptions.ConnectionError) and "aborted" in str(exc).lower():
            maybe_sent, reason = True, "connection to Twilio lost before the answer"
        elif isinstance(exc, requests.exceptions.ConnectionError):
            maybe_sent, reason = False, "could not connect to Twilio"
        else:
            maybe_sent, reason = False, f"network error talking to Twilio ({type(exc).__name__})"
        logger.warning("twilio request failed, will retry (%s)", reason)
        return TransientSmsError(self._redact(reason), maybe_sent=maybe_sent)

    def _redact(self, text: str) -> str:
        return text.replace(self.auth_token, "[auth token]")[:_REASON_MAX]


class ConsoleSender:
    """`make demo` without Twilio: prints each SMS to the terminal, like Django's console e-mail backend."""

    _ids = itertools.count(1)
    _lock = threading.Lock()

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> str:
        with self._lock:
            sid = f"console-{next(self._ids)}"
            self.stream.write(f"---------- SMS to {e164(to)} ({sid}) ----------\n{body}\n{'-' * 60}\n")
            self.stream.flush()
        return sid

    def close(self) -> None:
        pass


def get_sender():
    """The sender for the configured backend; raises PermanentSmsError when SMS is off (the outbox checks
    `available()` first and falls back)."""
    chosen = backend()
    if chosen == "twilio":
        return TwilioSender()
    if chosen == "console":
        return ConsoleSender()
    raise PermanentSmsError("SMS is not configured (no Twilio credentials)")
