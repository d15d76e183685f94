"""axe-core on the admin pages this version changed, whole pages (Wagtail's chrome included), in Chromium: Wagtail's
users list with each user's role (cms.user_roles_admin), the message log with its delivery column and the month's
use of the paid channels (courses.channel_budget), and the page that says why a page is refused
(cms.admin_refusals)."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from wagtail.users.models import UserProfile

from cms import roles
from tests.e2e.conftest import admin_login
from tests.e2e.test_accessibility import format_violations
from tests.e2e.test_roster_tablet import run_axe_on

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "checks-the-pages-1"


def staff(username: str, role: str):
    importlib.import_module("cms.migrations.0003_roles").create_roles(apps)
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    user.groups.add(Group.objects.get(name=role))
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "ja"
    profile.save()
    return user


def signed_in(browser, live_server, username: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    context.set_default_timeout(15000)
    page = context.new_page()
    admin_login(page, live_server, username, PASSWORD)
    return page


def test_the_users_list_and_the_message_log_for_city_staff(browser, live_server, site, axe_source, settings):
    settings.DEKIRU_SMS_MONTHLY_BUDGET_YEN = 10_000  # the month's use is shown with a budget set
    staff("city-admin", roles.CITY_ADMINISTRATOR)
    staff("analyst", roles.CITY_ANALYST)
    page = signed_in(browser, live_server, "city-admin")
    try:
        page.goto(f"{live_server.url}/admin/users/")
        assert "市の分析担当者" in page.locator("main").inner_text()  # the analyst's role, in Japanese
        violations = run_axe_on(page, axe_source, "body")
        assert not violations, format_violations("users list", violations)

        page.goto(f"{live_server.url}/admin/messages/")
        violations = run_axe_on(page, axe_source, "body")
        assert not violations, format_violations("message log", violations)
    finally:
        page.context.close()


def test_the_refusal_page(browser, live_server, site, axe_source):
    staff("analyst", roles.CITY_ANALYST)
    page = signed_in(browser, live_server, "analyst")
    try:
        response = page.goto(f"{live_server.url}/admin/sessions/new/")
        assert response.status == 403
        violations = run_axe_on(page, axe_source, "body")
        assert not violations, format_violations("refusal page", violations)
    finally:
        page.context.close()
