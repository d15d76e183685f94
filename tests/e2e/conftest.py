"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium), never a downloaded browser."""

import os

import pytest

CHROMIUM = os.environ.get("DEKIRU_CHROMIUM", "/usr/bin/chromium")
# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make around it are
# ordinary synchronous calls, so Django's async-safety guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


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
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  java_script_enabled=False, locale="ja-JP")
    page = context.new_page()
    yield page
    context.close()
