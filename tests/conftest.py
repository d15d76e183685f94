import os
import shutil

import pytest
from django.db import connection

pytest_plugins = ["tests.fake_sendgrid"]


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests on SQLite, and browser tests where Chromium is absent.

    CI sets DEKIRU_REQUIRE_BROWSER=1 so that a missing browser fails the run instead of skipping it.
    """
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    has_chromium = shutil.which(os.environ.get("DEKIRU_CHROMIUM", "/usr/bin/chromium")) is not None
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://…"))
        if "e2e" in item.keywords and not has_chromium:
            if os.environ.get("DEKIRU_REQUIRE_BROWSER") == "1":
                raise pytest.UsageError("Browser tests are required (DEKIRU_REQUIRE_BROWSER=1), Chromium is missing.")
            item.add_marker(pytest.mark.skip(reason="Chromium not found at /usr/bin/chromium"))


@pytest.fixture
def site(db):
    """The page tree every deployment has: home, course index, city course group, privacy page, wards."""
    from cms.services import ensure_site

    return ensure_site()


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in Japanese: a request to /en/… leaves English active in the thread afterwards, which
    would otherwise leak into the next test's reverse() and page.url."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)
