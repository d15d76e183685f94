"""Two-factor sign-in in a real browser (Chromium), as a city administrator meets it: password, then the set-up
page (QR code and key), a code computed from the key shown on the page as an authenticator app would, the backup
codes, the admin; then a second sign-in asking for the code; all without a Content-Security-Policy violation."""

import base64
import importlib
import re
import time

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django_otp.oath import TOTP
from wagtail.users.models import UserProfile

from cms import roles
from tests.e2e.conftest import DESKTOP

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

PASSWORD = "two-factor-browser-password-1"


def app_code(secret: str, *, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for this key (RFC 6238: SHA-1, 6 digits, 30 s)."""
    key = secret.replace(" ", "")
    key += "=" * (-len(key) % 8)
    totp = TOTP(base64.b32decode(key))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def submit(page, selector: str = "main form button[type=submit]") -> None:
    with page.expect_navigation():
        page.locator(selector).first.click()


def sign_in_with_password(page, base_url: str) -> None:
    page.goto(base_url + "/admin/login/")
    page.fill("#id_username", "city-admin")
    page.fill("#id_password", PASSWORD)
    submit(page, "form button[type=submit]")


def test_a_city_administrator_sets_up_and_then_uses_two_factor(live_server, browser, site, settings):
    settings.DEKIRU_2FA_REQUIRED_ROLES = [roles.CITY_ADMINISTRATOR]
    # The role groups come from a data migration, which an earlier transactional test's flush may have emptied.
    importlib.import_module("cms.migrations.0003_roles").create_roles(django_apps)
    user = get_user_model().objects.create_user("city-admin", "city-admin@example.jp", PASSWORD)
    user.groups.add(Group.objects.get(name=roles.CITY_ADMINISTRATOR))
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()

    context = browser.new_context(viewport=DESKTOP, locale="en-GB", java_script_enabled=True)
    context.set_default_timeout(30000)
    violations = []
    page = context.new_page()
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    try:
        sign_in_with_password(page, live_server.url)
        assert "/admin/two-factor/setup/" in page.url
        assert page.locator(".two-factor-qr svg").is_visible()
        secret = page.locator(".two-factor-secret").inner_text().strip()
        assert re.fullmatch(r"[A-Z2-7 ]+", secret)

        page.fill("#id_code", "000000" if app_code(secret) != "000000" else "111111")
        submit(page)
        assert page.locator(".messages .error", has_text="That code is not right").is_visible()

        page.fill("#id_code", app_code(secret))
        submit(page)
        codes = page.locator("[data-backup-codes] li").all_inner_texts()
        assert len(codes) == 10
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile("continue", re.I)).click()
        assert page.url == live_server.url + "/admin/"
        assert page.locator("#main").is_visible()

        # Next time: password, then the code (the next one the app shows; each code works once).
        context.clear_cookies()
        sign_in_with_password(page, live_server.url)
        assert "/admin/two-factor/verify/" in page.url
        page.fill("#id_code", app_code(secret, steps_ahead=1))
        submit(page)
        assert page.url == live_server.url + "/admin/"
        assert not violations, violations
    finally:
        context.close()
