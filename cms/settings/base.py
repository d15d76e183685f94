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
    "wagtail.contrib.settings",
    "wagtail.contrib.routable_page",
    "wagtail.contrib.redirects",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
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
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Partner staff are kept out of admin reports that cannot be scoped to their partner.
    "partners.middleware.CityOnlyAdminPagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
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
                "wagtail.contrib.settings.context_processors.settings",
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
elif not DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    raise ImproperlyConfigured("Dekiru supports SQLite (local runs) and PostgreSQL (CI and production).")

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

# Wagtail's page editor posts many fields for StreamField-heavy pages.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

WAGTAIL_SITE_NAME = "Dekiru"
WAGTAILADMIN_BASE_URL = os.environ.get("DEKIRU_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
WAGTAILDOCS_EXTENSIONS = ["csv", "docx", "odt", "pdf", "pptx", "txt", "xlsx"]

# E-mail goes out through SendGrid (cms.mail.SendGridBackend, the only code that talks to SendGrid) when an API key
# is set, and to the console otherwise. Messages are never sent inside a web request: see courses.outbox.
SENDGRID_API_KEY = os.environ.get("SENDGRID_API_KEY", "")
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
