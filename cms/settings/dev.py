"""Local development: debug on, console e-mail, a fixed throwaway secret key."""

from .base import *

DEBUG = True
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
ALLOWED_HOSTS = ["*"]
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

# The demo's administrator signs in with the password shown by `make demo`; DEKIRU_2FA_IN_DEV=1 asks for two-factor
# set-up as production does (DEKIRU_2FA_REQUIRED_ROLES, default the city administrator, and superusers).
if os.environ.get("DEKIRU_2FA_IN_DEV", "") not in {"1", "true", "yes", "on"}:
    DEKIRU_2FA_REQUIRED_ROLES = []
    DEKIRU_2FA_REQUIRE_SUPERUSERS = False
