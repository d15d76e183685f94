"""Production: everything comes from the environment (docs/deployment.md lists every variable); HTTPS, security
headers, static files through WhiteNoise, real e-mail, optional JSON logs and error reporting."""

import json
import logging
import re
from urllib.parse import urlsplit, urlunsplit

from .base import *

DEBUG = False
if not SECRET_KEY:
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY in the environment.")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Set DJANGO_ALLOWED_HOSTS in the environment (comma-separated host names).")

# Links in e-mails and calendar files carry the public address: DEKIRU_BASE_URL, or else https:// and the first
# allowed host (never the development default, 127.0.0.1).
if not os.environ.get("DEKIRU_BASE_URL"):
    if ALLOWED_HOSTS[0].lstrip(".") in {"", "*"}:
        raise ImproperlyConfigured("Set DEKIRU_BASE_URL in the environment (e.g. https://classes.city.example.jp).")
    WAGTAILADMIN_BASE_URL = f"https://{ALLOWED_HOSTS[0].lstrip('.')}"

# Static files are served by the app servers themselves (WhiteNoise), right after the security middleware so they
# skip the rest of the stack: no separate file server to keep in step with the code. Compressed (gzip) copies and
# hashed file names, so browsers cache them for a year and never keep stale CSS or JavaScript after an upgrade.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "whitenoise.middleware.WhiteNoiseMiddleware")
STORAGES["staticfiles"]["BACKEND"] = "whitenoise.storage.CompressedManifestStaticFilesStorage"

# HTTPS everywhere: the load balancer terminates TLS and sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# Load balancers probe the app servers over plain HTTP: the health endpoints (cms.health) answer instead of
# redirecting to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
# HSTS preloading is a commitment for the whole registrable domain (often the city's own), made by the
# city's web team on the preload list, not by one application: leave it to DJANGO_SECURE_HSTS_PRELOAD.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# E-mail always goes through SendGrid in production (set SENDGRID_API_KEY); without a key the worker keeps the
# messages queued and logs why, rather than printing residents' e-mails to a console nobody reads.
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "cms.mail.SendGridBackend")


# --- Logs ------------------------------------------------------------------------------------------------------
# Signed tokens (cancel links, self-assessment links, private feeds) sit in URL paths, and always contain a colon
# (value:signature); query strings may carry anything; database errors quote the values they reject. None of it
# belongs in a log line or an error report.
_SIGNED_SEGMENT = re.compile(r"(?<=/)[^/]*:[^/]*")
_URL = re.compile(r"https?://[^\s\"'<>]+|(?<![\w.:/])/[^\s\"'<>]*")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def redact_path(url: str) -> str:
    """A URL or path fit for logs: signed path segments replaced by [token], query string and fragment dropped."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, _SIGNED_SEGMENT.sub("[token]", parts.path), "", ""))


def redact_text(text: str) -> str:
    """A log message fit for logs: redact_path on every URL and path ("Not Found: /registrations/…/"), e-mail
    addresses replaced by [email]."""
    return _EMAIL.sub("[email]", _URL.sub(lambda match: redact_path(match.group(0)), text))


class RedactingFormatter(logging.Formatter):
    """The plain-text log line, redacted (redact_text), traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line (time, level, logger, message, exception), for a log collector.

    Only the formatted message and the traceback are written, never the record's extra attributes: Django attaches
    the request to its records, whose headers, cookies and body are not logged. Both are redacted (redact_text)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        status = getattr(record, "status_code", None)
        if isinstance(status, int):
            entry["status"] = status
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


# Plain text (the default) for journalctl and people; DEKIRU_LOG_FORMAT=json for a log collector. Redacted either way.
LOGGING["formatters"] = {
    "text": {"()": "cms.settings.production.RedactingFormatter", "format": "%(levelname)s %(name)s %(message)s"},
    "json": {"()": "cms.settings.production.JsonFormatter"},
}
LOGGING["handlers"]["console"]["formatter"] = "json" if os.environ.get("DEKIRU_LOG_FORMAT", "").lower() == "json" \
    else "text"


# --- Error reports (optional) -----------------------------------------------------------------------------------
# Sentry (or a compatible service) when SENTRY_DSN is set and sentry-sdk is installed (the `sentry` extra).
# No personal data: no user, no cookies, no request bodies or query strings, no local variables of stack frames
# (they hold participants' names), and token-free URLs.
def _dicts(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def scrub_sentry_event(event: dict, hint: dict | None = None) -> dict:
    """Sentry's before_send (and before_send_transaction): remove what may identify a resident or carry a token."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "query_string", "env"):
            request.pop(key, None)
        if isinstance(request.get("url"), str):
            request["url"] = redact_path(request["url"])
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {name: value for name, value in headers.items()
                                  if name.lower() in {"host", "user-agent", "accept-language", "content-type"}}
    event.pop("user", None)
    if isinstance(event.get("transaction"), str):
        event["transaction"] = redact_path(event["transaction"])
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        for key in ("message", "formatted"):
            if isinstance(logentry.get(key), str):
                logentry[key] = redact_text(logentry[key])
        logentry.pop("params", None)
    exceptions = event.get("exception")
    for exception in _dicts(exceptions.get("values") if isinstance(exceptions, dict) else None):
        if isinstance(exception.get("value"), str):
            exception["value"] = redact_text(exception["value"])  # "Key (email)=(…) already exists"
        stacktrace = exception.get("stacktrace")
        for frame in _dicts(stacktrace.get("frames") if isinstance(stacktrace, dict) else None):
            frame.pop("vars", None)
    breadcrumbs = event.get("breadcrumbs")
    for crumb in _dicts(breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs):
        crumb.pop("data", None)
        if isinstance(crumb.get("message"), str):
            crumb["message"] = redact_text(crumb["message"])
    return event


SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    try:
        import sentry_sdk
    except ImportError as exc:
        raise ImproperlyConfigured("SENTRY_DSN is set but sentry-sdk is not installed (pip install "
                                   "'sentry-sdk>=2.20,<3').") from exc
    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        release=os.environ.get("SENTRY_RELEASE") or None,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")),
        before_send=scrub_sentry_event,
        before_send_transaction=scrub_sentry_event,
    )
