"""Overload: when a popular class opens and the app servers cannot keep up, a resident's registration gets a short,
translated 「ただいま混み合っています」 answer within a bounded wait, with Retry-After, and the page re-rendered from
what they typed — never an error page, a lost form or a twenty-second wait.

Two signs that a request should not wait any longer:

- It queued too long before a worker took it. The front proxy stamps each request with the time it arrived
  (nginx: ``proxy_set_header X-Request-Start "t=${msec}";``, deploy/nginx/dekiru.conf); a request that waited
  longer than ``DEKIRU_OVERLOAD_QUEUE_SECONDS`` (default 8) is answered at once without touching the database.
  The header is believed only from a proxy in DEKIRU_TRUSTED_PROXIES (cms.ratelimit), like X-Forwarded-For.
- It would wait too long for the session's row lock (hundreds of residents booking the same session one after
  another). ``bounded_lock_wait()`` sets PostgreSQL's ``lock_timeout`` for the transaction
  (``DEKIRU_OVERLOAD_LOCK_WAIT_MS``, default 3000); a lock not granted in time, like SQLite's "database is locked",
  raises `Busy`. Nothing has been written then: the transaction rolls back whole.

The answer is HTTP 503 with ``Retry-After: DEKIRU_OVERLOAD_RETRY_AFTER`` (default 10 s). The rate limit counts
are kept in the shared cache (cms.ratelimit), so they stay right across servers.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from cms.ratelimit import from_trusted_proxy

logger = logging.getLogger(__name__)

# PostgreSQL's SQLSTATE for a lock not granted within lock_timeout (lock_not_available).
LOCK_NOT_AVAILABLE = "55P03"

MESSAGE = _("We are very busy right now. Nothing has been registered yet, and everything you entered is kept below: "
            "please wait a few seconds and press the button again.")


class Busy(Exception):
    """The request could not be served within the bounded wait; nothing was written."""


def queue_seconds() -> float:
    return float(getattr(settings, "DEKIRU_OVERLOAD_QUEUE_SECONDS", 8))


def lock_wait_ms() -> int:
    return int(getattr(settings, "DEKIRU_OVERLOAD_LOCK_WAIT_MS", 3000))


def retry_after() -> int:
    return int(getattr(settings, "DEKIRU_OVERLOAD_RETRY_AFTER", 10))


def _arrival(value: str) -> float | None:
    """X-Request-Start as nginx (t=<seconds.millis>) or other proxies (t=<microseconds>, bare milliseconds) send it:
    the arrival time in seconds since the epoch, or None when it cannot be read."""
    value = value.strip()
    if value.startswith("t="):
        value = value[2:]
    try:
        stamp = float(value)
    except ValueError:
        return None
    if stamp != stamp or stamp <= 0:  # NaN, zero, negative
        return None
    for scale in (1, 1e3, 1e6):  # seconds, milliseconds, microseconds: the first that is a plausible epoch
        if stamp / scale < 1e10:
            return stamp / scale
    return None


def queued_for(request: HttpRequest, *, now: float | None = None) -> float | None:
    """How long the request waited between the front proxy and this worker, in seconds; None when unknown (no
    header, not from a trusted proxy, unreadable)."""
    header = request.META.get("HTTP_X_REQUEST_START")
    if not header:
        return None
    if not from_trusted_proxy(request):
        return None
    arrived = _arrival(header)
    if arrived is None:
        return None
    return max(0.0, (now if now is not None else time.time()) - arrived)


def queued_too_long(request: HttpRequest, *, now: float | None = None) -> bool:
    waited = queued_for(request, now=now)
    if waited is not None and waited > queue_seconds():
        logger.warning("overload: %s %s waited %.1f s in the queue; answered busy", request.method,
                       request.path, waited)
        return True
    return False


@contextmanager
def bounded_lock_wait() -> Iterator[None]:
    """Inside a transaction: wait at most DEKIRU_OVERLOAD_LOCK_WAIT_MS for row locks (PostgreSQL's lock_timeout,
    for this transaction only), and turn a lock not granted in time — or SQLite's "database is locked" — into
    `Busy`. The caller's transaction then rolls back: nothing is written."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{lock_wait_ms()}ms"])
    try:
        yield
    except OperationalError as exc:
        cause = exc.__cause__
        if getattr(cause, "sqlstate", None) == LOCK_NOT_AVAILABLE or "database is locked" in str(exc):
            logger.warning("overload: a row lock was not granted within %s ms; answered busy", lock_wait_ms())
            raise Busy() from exc
        raise


def busy(response: HttpResponse) -> HttpResponse:
    """Mark a re-rendered page as the busy answer: 503 with Retry-After, never cached."""
    response.status_code = 503
    response["Retry-After"] = str(retry_after())
    response["Cache-Control"] = "no-store"
    return response
