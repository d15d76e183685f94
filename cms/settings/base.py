"""Settings shared by every environment.

Secure by default (DEBUG off, no secret key fallback): dev.py and test.py relax what they need.
Everything that differs between deployments is read from the environment.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

PROJECT_DIR = Path(__file__).resolve().parent.parent
BASE_DIR = PROJECT_DIR.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "cms",
    "courses",
    "partners",
    "outreach",
    "provision",
    "wagtail.contrib.settings",
    "wagtail.contrib.routable_page",
    "wagtail.contrib.redirects",
    "wagtail.embeds",
    "wagtail.sites",
    "cms.user_roles_apps.DekiruUsersAppConfig",  # Wagtail's users app, with each user's role (cms.user_roles_admin)
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_filters",
    "django_tasks",
    "django_tasks_db",
    "import_export",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common: picks the language from the URL prefix (/en/…), Japanese otherwise.
    "django.middleware.locale.LocaleMiddleware",
    # A NUL in the address is a 400 (in the visitor's language) before any view passes it to PostgreSQL, which
    # refuses NULs: a 500.
    "cms.middleware.reject_nul_characters",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Whole public pages for anonymous visitors from the shared cache (cms.page_cache). A hit skips everything below
    # (sign-in, rate limits, two-factor, messages, furigana, the view); it comes after the language, the common
    # middleware and CSRF (a hit puts the visitor's own token into the page's forms), inside the security headers
    # and the CSP (added to hits as to fresh pages; WhiteNoise serves static files before it in production).
    "cms.page_cache.PageCacheMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Partner staff are kept out of admin reports that cannot be scoped to their partner.
    "partners.middleware.CityOnlyAdminPagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # An admin page the person's role may not open answers 403 saying why, not a trip back to the admin home.
    "cms.admin_refusals.explain_admin_refusals",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
    # Readings of kanji (<ruby>) on Japanese public pages, for a person who turned furigana on (cms.display).
    "cms.furigana.FuriganaMiddleware",
]

ROOT_URLCONF = "cms.urls"
WSGI_APPLICATION = "cms.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # Wagtail's `settings`, primed from the page frame's memo (one cache read, not five queries).
                "cms.page_frame.settings",
                "cms.display.context",
            ],
        },
    },
]

# SQLite is the embedded default for a local run; CI and production set DATABASE_URL to PostgreSQL.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take SQLite's write lock when the transaction starts, so two requests booking
    # the same seat serialise instead of failing with "database is locked" on upgrade; WAL lets readers
    # go on meanwhile. (select_for_update() is a no-op on SQLite: the database lock does its job.)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    # Give up on an unreachable server after a few seconds instead of the operating system's minutes, so that a
    # request (and the readiness probe, cms.health) fails fast and the load balancer takes the server out.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5")))
else:
    raise ImproperlyConfigured("Dekiru supports SQLite (local runs) and PostgreSQL (CI and production).")
# The test runner's database, when not test_<name>: lets two checkouts test against one PostgreSQL server.
if os.environ.get("DATABASE_TEST_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["DATABASE_TEST_NAME"]}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "cms.User"

# The database cache is shared by every app server without another service; REDIS_URL switches to Redis.
if os.environ.get("REDIS_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": os.environ["REDIS_URL"]}}
else:
    # MAX_ENTRIES: the calendar feeds cache one fragment per session and language (5,000 upcoming sessions ×
    # 2 languages); Django's default of 300 would evict them and rebuild a whole feed after one change.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                          "LOCATION": "dekiru_cache", "OPTIONS": {"MAX_ENTRIES": 50_000}}}

# Staff sign-ins are the only sessions (residents have no account). They live in the database, which every app
# server shares, so any server can answer any request: no local state. With Redis they are read from the cache and
# still written through to the database (a Redis restart signs nobody out).
SESSION_ENGINE = ("django.contrib.sessions.backends.cached_db" if os.environ.get("REDIS_URL")
                  else "django.contrib.sessions.backends.db")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Japanese by default; English is the second language, served under /en/.
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True
WAGTAIL_I18N_ENABLED = False  # one page tree; course pages carry their own optional English fields
WAGTAILADMIN_PERMITTED_LANGUAGES = LANGUAGES

STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STATIC_URL = "/static/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Uploaded media (images, documents) go to local disk by default; with several app servers they must be shared, so
# DEKIRU_S3_BUCKET switches to an S3-compatible object store (django-storages, the optional `s3` extra). Without
# access keys boto3 finds credentials itself (AWS_* variables, an instance role).
DEKIRU_S3_BUCKET = os.environ.get("DEKIRU_S3_BUCKET", "")
if DEKIRU_S3_BUCKET:
    _s3 = {
        "bucket_name": DEKIRU_S3_BUCKET,
        "endpoint_url": os.environ.get("DEKIRU_S3_ENDPOINT_URL") or None,
        "region_name": os.environ.get("DEKIRU_S3_REGION") or None,
        "custom_domain": os.environ.get("DEKIRU_S3_CUSTOM_DOMAIN") or None,
        "location": os.environ.get("DEKIRU_S3_PREFIX", ""),
        "addressing_style": os.environ.get("DEKIRU_S3_ADDRESSING_STYLE") or None,
        "signature_version": "s3v4",  # signed URLs: SigV2 is retired on AWS and absent from many S3-compatible stores
        # Signed, expiring URLs by default: the bucket stays private. Turn off for a public bucket behind a CDN.
        "querystring_auth": env_bool("DEKIRU_S3_QUERYSTRING_AUTH", True),
        # Two uploads with the same name never replace each other's file.
        "file_overwrite": False,
    }
    if os.environ.get("DEKIRU_S3_ACCESS_KEY_ID"):
        _s3["access_key"] = os.environ["DEKIRU_S3_ACCESS_KEY_ID"]
        _s3["secret_key"] = os.environ.get("DEKIRU_S3_SECRET_ACCESS_KEY", "")
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _s3}

# Wagtail's page editor posts many fields for StreamField-heavy pages.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

WAGTAIL_SITE_NAME = "Dekiru"
WAGTAILADMIN_BASE_URL = os.environ.get("DEKIRU_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
WAGTAILDOCS_EXTENSIONS = ["csv", "docx", "odt", "pdf", "pptx", "txt", "xlsx"]

# E-mail goes out through SendGrid (cms.mail.SendGridBackend, the only code that talks to SendGrid) when an API key
# is set, and to the console otherwise. Messages are never sent inside a web request: see courses.outbox.
SENDGRID_API_KEY = os.environ.get("SENDGRID_API_KEY", "")
# SendGrid's Event Webhook verification key (courses.delivery_events): empty = the delivery-report endpoint is off.
SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY = os.environ.get("SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY", "")
SENDGRID_API_HOST = os.environ.get("SENDGRID_API_HOST", "https://api.sendgrid.com").rstrip("/")
SENDGRID_TIMEOUT = float(os.environ.get("SENDGRID_TIMEOUT", "10"))  # seconds; the client's own default is none
EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND",
    "cms.mail.SendGridBackend" if SENDGRID_API_KEY else "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEKIRU_FROM_EMAIL", "Dekiru <no-reply@example.jp>")

# Background work (django-tasks). Wagtail's own tasks stay immediate; the outgoing mail queue is in the database and
# is worked by `python manage.py db_worker --queue-name mail` (see the README).
TASKS = {
    "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
    "mail": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["mail"]},
}

# --- Dekiru's own settings -----------------------------------------------------------------------------
# Version of the privacy policy a resident consents to when registering; recorded with each consent.
DEKIRU_PRIVACY_POLICY_VERSION = os.environ.get("DEKIRU_PRIVACY_POLICY_VERSION", "2026-04")
# Contact data is deleted or anonymised this many months after the participant's last session.
DEKIRU_RETENTION_MONTHS = int(os.environ.get("DEKIRU_RETENTION_MONTHS", "13"))
# Reminders go out this long before a session; the thanks for sessions that ended within the window (courses.outbox).
DEKIRU_REMINDER_LEAD_HOURS = int(os.environ.get("DEKIRU_REMINDER_LEAD_HOURS", "24"))
# A seat from the waiting list less than this before the start is also put on the staff call list (courses.outbox).
DEKIRU_LATE_PROMOTION_CALL_HOURS = int(os.environ.get("DEKIRU_LATE_PROMOTION_CALL_HOURS", "24"))
DEKIRU_AFTER_SESSION_WINDOW_HOURS = int(os.environ.get("DEKIRU_AFTER_SESSION_WINDOW_HOURS", "48"))
# The outbox worker: how long a claimed message is held (far above SENDGRID_TIMEOUT), how often a message is tried,
# and the exponential backoff between tries (courses.outbox docstring).
DEKIRU_MAIL_LEASE_SECONDS = int(os.environ.get("DEKIRU_MAIL_LEASE_SECONDS", "300"))
DEKIRU_MAIL_MAX_ATTEMPTS = int(os.environ.get("DEKIRU_MAIL_MAX_ATTEMPTS", "10"))
DEKIRU_MAIL_RETRY_BASE_SECONDS = int(os.environ.get("DEKIRU_MAIL_RETRY_BASE_SECONDS", "60"))
DEKIRU_MAIL_RETRY_CAP_SECONDS = int(os.environ.get("DEKIRU_MAIL_RETRY_CAP_SECONDS", str(6 * 60 * 60)))
# A resident asking for their confirmation again gets at most one e-mail per this many minutes.
DEKIRU_RESEND_INTERVAL_MINUTES = int(os.environ.get("DEKIRU_RESEND_INTERVAL_MINUTES", "10"))
# Outreach: dashboard summaries older than this are ignored (computed from raw rows instead); published figures based
# on fewer people than the threshold are suppressed; the "after" self-assessment link works this many days.
DEKIRU_OUTREACH_SUMMARY_MAX_AGE_MINUTES = int(os.environ.get("DEKIRU_OUTREACH_SUMMARY_MAX_AGE_MINUTES", "60"))
DEKIRU_SUPPRESSION_THRESHOLD = int(os.environ.get("DEKIRU_SUPPRESSION_THRESHOLD", "10"))
DEKIRU_SELF_ASSESSMENT_POST_DAYS = int(os.environ.get("DEKIRU_SELF_ASSESSMENT_POST_DAYS", "60"))

# Settings that the modules read with their own defaults (getattr, the default documented beside it and in
# docs/deployment.md): taken from the environment when set there. A value that is not of the right type stops the
# start-up with the setting's name.
_FROM_ENVIRONMENT = {
    # The outbox worker (courses.outbox_pool)
    "DEKIRU_OUTBOX_THREADS": int,
    "DEKIRU_OUTBOX_PROCESSES": int,
    # SMS (cms.sms)
    "DEKIRU_SMS_BACKEND": str, "DEKIRU_TWILIO_ACCOUNT_SID": str, "DEKIRU_TWILIO_AUTH_TOKEN": str,
    "DEKIRU_TWILIO_FROM": str, "DEKIRU_TWILIO_TIMEOUT": float, "DEKIRU_TWILIO_BASE_URL": str,
    "DEKIRU_TWILIO_STATUS_CALLBACK": "flag",
    # LINE (cms.line)
    "DEKIRU_LINE_BACKEND": str, "DEKIRU_LINE_CHANNEL_ACCESS_TOKEN": str, "DEKIRU_LINE_CHANNEL_SECRET": str,
    "DEKIRU_LINE_BOT_BASIC_ID": str, "DEKIRU_LINE_TIMEOUT": float, "DEKIRU_LINE_API_BASE": str,
    "DEKIRU_LINE_CODE_HOURS": int,
    # Pages and feeds
    "DEKIRU_STAFFING_WARNING_DAYS": int, "DEKIRU_PUBLIC_FEED_MONTHS": int, "DEKIRU_LISTING_COUNT_LIMIT": int,
    "DEKIRU_COURSE_PAGE_SESSIONS": int,
    # Whole public pages cached for anonymous visitors (cms.page_cache): at most this many seconds, 0 = off
    "DEKIRU_PAGE_CACHE_SECONDS": int,
    # Overload (cms.overload)
    "DEKIRU_OVERLOAD_QUEUE_SECONDS": float, "DEKIRU_OVERLOAD_LOCK_WAIT_MS": int, "DEKIRU_OVERLOAD_RETRY_AFTER": int,
    # Monthly budgets of the paid channels (courses.channel_budget): unset or 0 = no cap
    "DEKIRU_SMS_MONTHLY_BUDGET_YEN": int, "DEKIRU_SMS_YEN_PER_SEGMENT": float, "DEKIRU_LINE_MONTHLY_QUOTA": int,
    "DEKIRU_CHANNEL_BUDGET_WARN_SHARE": float,
    # The follow-up a month after attending (outreach.followups)
    "DEKIRU_FOLLOW_UP_DAYS": int, "DEKIRU_FOLLOW_UP_WINDOW_DAYS": int, "DEKIRU_FOLLOW_UP_LINK_DAYS": int,
    # Planning (outreach.planning)
    "DEKIRU_PLANNING_MIN_HISTORY": int, "DEKIRU_PLANNING_SESSIONS_PER_INSTRUCTOR": int,
    "DEKIRU_PLANNING_SOLVER_SECONDS": float,
}
def _flag(value: str) -> bool:
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not one of 1/0, true/false, yes/no, on/off")


for _name, _type in _FROM_ENVIRONMENT.items():
    if os.environ.get(_name, "") != "":
        try:
            globals()[_name] = (_flag if _type == "flag" else _type)(os.environ[_name])
        except ValueError as _error:
            raise ImproperlyConfigured(f"{_name}: {_error}") from None

# Heartbeats (cms.heartbeats): each periodic job counts as late when its last run is older than this many minutes
# (about two missed runs of the crontab in docs/operations.md). None: reported, never late by itself — the mail
# worker is idle when nothing is due, so it is judged by the outbox instead. DEKIRU_HEARTBEAT_MAX_AGE_MINUTES
# overrides some, e.g. "send_reminders=90,purge_personal_data=off".
DEKIRU_HEARTBEATS = {
    "mail_worker": None,
    "send_reminders": 60,
    "queue_follow_ups": 3 * 60,
    "sweep_outbox": 20,
    "refresh_outreach_summaries_recent": 60,
    "refresh_outreach_summaries": 26 * 60,
    "purge_personal_data": 26 * 60,
}
for _name, _minutes in (item.split("=", 1) for item in env_list("DEKIRU_HEARTBEAT_MAX_AGE_MINUTES") if "=" in item):
    DEKIRU_HEARTBEATS[_name.strip()] = None if _minutes.strip().lower() in {"", "0", "off", "none"} else int(_minutes)
# Readiness warns when e-mails wait longer than this past their sending time (the worker is down or too slow).
DEKIRU_OUTBOX_OVERDUE_MINUTES = int(os.environ.get("DEKIRU_OUTBOX_OVERDUE_MINUTES", "15"))
# The readiness probe's query gives up after this long (PostgreSQL statement_timeout).
DEKIRU_READINESS_DB_TIMEOUT_SECONDS = float(os.environ.get("DEKIRU_READINESS_DB_TIMEOUT_SECONDS", "2"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
    # Wagtail and django-tasks log every page save and task at INFO; our own apps' events stay visible.
    "loggers": {
        **{name: {"level": os.environ.get("DEKIRU_LOG_LEVEL", "INFO")}
           for name in ("courses", "partners", "outreach", "cms")},
        # Its DEBUG records carry the API key and whole messages (cms.mail also filters them out).
        "python_http_client": {"level": "INFO"},
    },
}

# Security hardening (content security policy, rate limits, login lockout, two-factor authentication).
from cms.settings import security as _security  # noqa: E402

_security.apply(globals())
