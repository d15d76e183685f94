"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium), never a downloaded browser."""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("DEKIRU_CHROMIUM", "/usr/bin/chromium")
# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make around it are
# ordinary synchronous calls, so Django's async-safety guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# axe-core from npm (package.json), installed by `make install`.
AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session", autouse=True)
def _live_server_closes_database_connections():
    """The live server answers each browser connection in a thread of its own. With persistent database
    connections (CONN_MAX_AGE, on PostgreSQL) a thread kept alive by the browser's idle keep-alive socket holds its
    database connection to the end of the run, and the test database cannot be dropped. Close it after each
    request instead, as on SQLite."""
    from django.db import connections

    database = connections.settings["default"]
    previous = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = previous


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def phone_page(browser):
    """A phone-sized page with JavaScript off: every public journey must work without it."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  java_script_enabled=False, locale="ja-JP")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def _js_pages(browser):
    pages = {}
    yield pages
    for page in pages.values():
        page.context.close()


@pytest.fixture
def open_page(browser, _js_pages):
    """Pages with JavaScript ON, for checks that run code in the page (axe-core, layout measurements).

    Dekiru's public pages have one small script of their own (it moves the focus to a form's error summary), so
    this mostly enables the checker: what it sees is what a resident without JavaScript sees.
    `open_page(viewport=PHONE, lang="en")` returns a page of that size whose browser prefers that language. One
    page per size and language serves the whole session (a new context per check would cost more than the check);
    its cookies are cleared each time it is handed out."""

    def open_(*, viewport: dict, lang: str = "ja"):
        key = (viewport["width"], viewport["height"], lang)
        page = _js_pages.get(key)
        if page is None or page.is_closed():
            context = browser.new_context(viewport=viewport, is_mobile=viewport["width"] < 600,
                                          java_script_enabled=True, locale="en-GB" if lang == "en" else "ja-JP")
            context.set_default_timeout(15000)  # a missing element fails in seconds, not Playwright's 30
            page = _js_pages[key] = context.new_page()
        page.context.clear_cookies()
        return page

    return open_


@pytest.fixture(scope="session")
def axe_source() -> Path:
    if not AXE_JS.exists():
        message = f"axe-core is not installed ({AXE_JS}): run `make install` (npm ci)"
        if os.environ.get("DEKIRU_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return AXE_JS


def admin_login(page, live_server, username: str, password: str) -> None:
    """Sign in to the Wagtail admin through its login form."""
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(live_server.url + "/admin/")
