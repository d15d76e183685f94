import os
import shutil

import pytest
from django.db import connection

from tests import clock

# The fake providers' fixtures (fake_sendgrid, fake_twilio, fake_line), for every test module.
pytest_plugins = ["tests.fake_sendgrid", "tests.fake_twilio", "tests.fake_line"]


def pytest_addoption(parser):
    parser.addoption("--clock-offset-days", type=int, default=0, metavar="N",
                     help="run with the clock N days ahead of the real date (time-machine, ticking), to show that "
                          "no test depends on today's date; CI runs the tests marked clock with 365 (make test-clock)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Start the offset clock before anything else of the run (in the main process and, since each pytest-xdist
    worker configures itself with the same options, in every worker), and hand it on to the processes that tests
    start through the environment (tests/clock.py)."""
    days = config.getoption("clock_offset_days")
    if days:
        clock.start_offset(days)
        os.environ[clock.ENV] = str(days)
    else:
        os.environ.pop(clock.ENV, None)  # a stray variable must not move the clock of the processes tests start


def pytest_unconfigure(config):
    if config.getoption("clock_offset_days"):
        clock.stop_offset()
        os.environ.pop(clock.ENV, None)


def pytest_report_header(config):
    days = config.getoption("clock_offset_days")
    if days:
        from datetime import datetime

        return f"clock: {days} days ahead of the real date (now {datetime.now().astimezone():%Y-%m-%d %H:%M %Z})"


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests on SQLite, and browser tests where Chromium is absent.

    CI sets DEKIRU_REQUIRE_BROWSER=1 so that a missing browser fails the run instead of skipping it, and runs each
    of the two slowest families once, to keep CI within its time: DEKIRU_URL_WALKS_ON=postgres (the URL walks test
    permissions and isolation, not the database) and DEKIRU_BROWSER_TESTS_ON=sqlite (the browser tests drive pages
    whose database work the rest of the suite covers on both; on SQLite they run with the clock a year ahead).
    `make test` alone runs both everywhere.
    """
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    has_chromium = shutil.which(os.environ.get("DEKIRU_CHROMIUM", "/usr/bin/chromium")) is not None
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://…"))
        if "url_walk" in item.keywords and not on_postgres and os.environ.get("DEKIRU_URL_WALKS_ON") == "postgres":
            item.add_marker(pytest.mark.skip(reason="URL walks run on PostgreSQL in CI (DEKIRU_URL_WALKS_ON)"))
        browsers_on = os.environ.get("DEKIRU_BROWSER_TESTS_ON")
        if "e2e" in item.keywords and browsers_on and browsers_on != ("postgres" if on_postgres else "sqlite"):
            item.add_marker(pytest.mark.skip(reason=f"browser tests run on {browsers_on} (DEKIRU_BROWSER_TESTS_ON)"))
            continue
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

    from outreach.models import ConsultationTopic, FollowUpTask, SkillItem

    if not SkillItem.objects.exists():
        importlib.import_module("outreach.migrations.0002_load_skill_items").load(apps, None)
    if not ConsultationTopic.objects.exists():
        importlib.import_module("outreach.migrations.0004_load_consultation_topics").load(apps, None)
    if not FollowUpTask.objects.exists():
        importlib.import_module("outreach.migrations.0009_follow_up").load(apps, None)
