"""The send policy every e-mail Dekiru sends follows (outbox messages to residents, staff invitations): how a
failure is classified, how long a claim on a message lasts, when to try again and when to give up, and the
absolute links a message carries. Beside cms.mail, the backend that raises the errors classified here.
"""

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

from cms.mail import PermanentMailError, TransientMailError

logger = logging.getLogger(__name__)


def _setting(name: str, default):
    return getattr(settings, name, default)


def lease_time() -> timedelta:
    """How long a worker's claim on a message lasts (DEKIRU_MAIL_LEASE_SECONDS, default 300): far above
    SENDGRID_TIMEOUT, so a claim never expires while its request is still running."""
    return timedelta(seconds=_setting("DEKIRU_MAIL_LEASE_SECONDS", 300))


def max_attempts() -> int:
    return _setting("DEKIRU_MAIL_MAX_ATTEMPTS", 10)


def mail_errors() -> tuple[type[Exception], type[Exception]]:
    """(TransientMailError, PermanentMailError) of cms.mail, the SendGrid backend; cms.sms's SMS errors subclass
    them, so one policy classifies every channel."""
    return TransientMailError, PermanentMailError


@dataclass(frozen=True)
class SendFailure:
    """Why an e-mail was not sent: `permanent` (give up: other 4xx, invalid address) or not (try again later, not
    before `retry_after` seconds if the server said so); `error` is the reason to show staff; `maybe_sent` when it
    may have been delivered all the same (an unexpected error counts as not sent)."""

    permanent: bool
    error: str
    retry_after: float | None = None
    maybe_sent: bool = False  # the request had gone out when it failed: the provider may have accepted it


def error_reason(exc: Exception) -> str:
    return str(getattr(exc, "reason", "") or exc or type(exc).__name__)


def try_send(send: Callable[[], object], *, what: str) -> SendFailure | None:
    """Call `send` (render and send one e-mail) and classify what went wrong, if anything: the one place that
    decides transient from permanent failures for every e-mail Dekiru sends (outbox messages, staff invitations).
    An unexpected error is logged with its traceback and retried, as a bug fixed by a deployment may let it through."""
    transient, permanent = mail_errors()
    try:
        send()
    except permanent as exc:
        logger.warning("%s failed permanently: %s", what, exc)
        return SendFailure(permanent=True, error=error_reason(exc))
    except transient as exc:
        logger.info("%s: transient failure: %s", what, exc)
        return SendFailure(permanent=False, error=error_reason(exc), retry_after=getattr(exc, "retry_after", None),
                           maybe_sent=bool(getattr(exc, "maybe_sent", False)))
    except Exception as exc:
        logger.exception("%s: unexpected error while sending; will retry", what)
        return SendFailure(permanent=False, error=f"{type(exc).__name__}: {exc}")
    return None


def retry_delay(attempts: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds until the next attempt after `attempts` failed ones: exponential backoff with full jitter
    (uniform between 1 s and min(cap, base × 2^(attempts-1))), never sooner than the server's Retry-After."""
    base = _setting("DEKIRU_MAIL_RETRY_BASE_SECONDS", 60)
    cap = _setting("DEKIRU_MAIL_RETRY_CAP_SECONDS", 6 * 60 * 60)
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    delay = (rng or random).uniform(1.0, max(ceiling, 1.0))
    return max(delay, retry_after or 0.0)


def base_url() -> str:
    """Links in messages are absolute, to the configured site address (a worker has no request)."""
    return settings.WAGTAILADMIN_BASE_URL.rstrip("/")


def absolute(path: str) -> str:
    return path if path.startswith(("http://", "https://")) else base_url() + path
