import os
import shutil

import pytest
from django.db import connection

pytest_plugins = ["tests.fake_sendgrid"]


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests on SQLite, and browser tests where Chromium is absent.

    CI sets DEKIRU_REQUIRE_BROWSER=1 so that a missing browser fails the run instead of skipping it, and
    DEKIRU_URL_WALKS_ON=postgres so that the URL walks (which test permissions and isolation, not the database, and
    are the slowest tests) run once, on PostgreSQL, to keep CI within its time; `make test` alone runs them everywhere.
    """
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    has_chromium = shutil.which(os.environ.get("DEKIRU_CHROMIUM", "/usr/bin/chromium")) is not None
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://…"))
        if "url_walk" in item.keywords and not on_postgres and os.environ.get("DEKIRU_URL_WALKS_ON") == "postgres":
            item.add_marker(pytest.mark.skip(reason="URL walks run on PostgreSQL in CI (DEKIRU_URL_WALKS_ON)"))
        if "e2e" in item.keywords and not has_chromium:
            if os.environ.get("DEKIRU_REQUIRE_BROWSER") == "1":
                raise pytest.UsageError("Browser tests are required (DEKIRU_REQUIRE_BROWSER=1), Chromium is missing.")
            item.add_marker(pytest.mark.skip(reason="Chromium not found at /usr/bin/chromium"))


@pytest.fixture
def site(db):
    """The page tree every deployment has: home, course index, city course group, privacy page, wards."""
    from provision.services import ensure_site

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


@pytest.fixture(autouse=True)
def _rows_of_data_migrations(request):
    """A transactional test empties every table when it ends, data loaded by migrations included. Put back the
    outreach app's (the can-do items and consultation topics) before each database test that may follow one."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None and not {"db", "transactional_db"} & set(request.fixturenames):
        return
    request.getfixturevalue("_django_db_helper")
    import importlib

    from django.apps import apps

    from outreach.models import ConsultationTopic, SkillItem

    if not SkillItem.objects.exists():
        importlib.import_module("outreach.migrations.0002_load_skill_items").load(apps, None)
    if not ConsultationTopic.objects.exists():
        importlib.import_module("outreach.migrations.0004_load_consultation_topics").load(apps, None)
