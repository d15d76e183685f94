"""Tests: fast password hashing, a fixed secret key, locmem e-mail (pytest-django forces it anyway)."""

from .base import *

DEBUG = False
SECRET_KEY = "test-only-secret-key"
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Hashed static names are a deployment concern; tests render templates without collectstatic.
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"

# Rate limits count per client address, and every test client is 127.0.0.1: off, except in the tests of the
# limits themselves (tests/cms/test_ratelimit.py turns them on).
RATELIMIT_ENABLE = False

# Two-factor sign-in is required of no role here, so tests sign staff in with force_login; the tests of two-factor
# itself (tests/cms/test_two_factor.py) turn the requirement on. Someone who has a device must still verify.
DEKIRU_2FA_REQUIRED_ROLES = []
DEKIRU_2FA_REQUIRE_SUPERUSERS = False

# PostgreSQL: a test's commits need not survive a power cut, so none waits for its WAL flush (7.4 ms → 0.9 ms per
# commit on the CI machine: the live-server browser tests, the multi-process races and the test database's set-up
# commit often). Locks, isolation and visibility are unchanged; the server's own settings are untouched.
if DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    DATABASES["default"]["OPTIONS"]["options"] = "-c synchronous_commit=off"

# The page cache (cms.page_cache) is off: tests share the cache, and pages cached in one would be served in another
# (transactional tests commit). tests/cms/test_page_cache.py turns it on.
DEKIRU_PAGE_CACHE_SECONDS = 0
