"""The Content-Security-Policy in a real browser (Chromium, JavaScript on): the Wagtail admin works under its policy
(sign in, dashboards, the page editor with its live preview, a snippet and a session form saved) and the public
site under the strict one (browse, register), without a single violation reported by the browser."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone, translation
from wagtail.users.models import UserProfile

from courses.models import Registration, Topic
from tests import factories
from tests.e2e.conftest import DESKTOP, PHONE, admin_login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

PASSWORD = "csp-admin-password-1"

# Reports every violation to the console, where the listener below collects it with the browser's own messages
# ("Refused to execute inline script because it violates the following Content Security Policy directive…").
REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", event => console.error(
    `Content Security Policy violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"} ` +
    `at ${event.documentURI}`));"""


class Violations(list):
    def check(self, where: str) -> None:
        assert not self, f"CSP violations ({where}):\n" + "\n".join(self)


def watched_page(browser, *, viewport: dict, locale: str = "en-GB"):
    context = browser.new_context(viewport=viewport, locale=locale, java_script_enabled=True)
    context.set_default_timeout(30000)  # the first admin page and the dashboard's charts are built on request
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    violations = Violations()
    page.on("console", lambda message: violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text else None)
    return page, violations


@pytest.fixture
def admin(site):
    user = get_user_model().objects.create_superuser(username="city", password=PASSWORD, email="city@example.jp")
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


def save(page) -> None:
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()


def test_the_admin_works_under_its_policy(live_server, browser, admin):
    course = factories.course(title="はじめてのLINE", title_en="LINE for beginners")
    session = factories.session(course_page=course, capacity=10)
    starts = timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=7)
    session.starts_at, session.ends_at = starts, starts + timedelta(hours=2)  # a time of day the form can show
    session.save()
    page, violations = watched_page(browser, viewport=DESKTOP)
    try:
        admin_login(page, live_server, "city", PASSWORD)
        page.wait_for_load_state("networkidle")
        violations.check("sign in and the admin home")

        page.goto(live_server.url + "/admin/outreach/dashboard/")
        page.wait_for_load_state("networkidle")
        assert page.locator("main").count()
        violations.check("the outreach dashboard")

        # A snippet form.
        page.goto(live_server.url + "/admin/snippets/courses/topic/add/")
        page.fill("#id_name", "防災アプリ")
        page.fill("#id_name_en", "Disaster apps")
        page.fill("#id_slug", "disaster-apps")
        save(page)
        assert Topic.objects.filter(slug="disaster-apps", name_en="Disaster apps").exists()
        violations.check("adding a topic")

        # A session form (the project's own admin view).
        page.goto(f"{live_server.url}/admin/sessions/edit/{session.pk}/")
        page.fill("#id_capacity", "14")
        save(page)
        session.refresh_from_db()
        assert session.capacity == 14
        violations.check("editing a session")

        # The page editor (StreamField, rich text, side panels) and its live preview, an admin page in a frame.
        page.goto(f"{live_server.url}/admin/pages/{course.pk}/edit/")
        page.locator('[data-side-panel-toggle="preview"]').click()
        preview = page.frame_locator("iframe.w-preview__iframe").last
        assert preview.locator("h1").inner_text() in ("はじめてのLINE", "LINE for beginners")
        page.fill("#id_summary", "ゆっくり、何度でも。")
        page.get_by_role("button", name="Save draft").click()
        page.wait_for_load_state("networkidle")
        course.refresh_from_db()
        assert course.has_unpublished_changes
        assert course.get_latest_revision().as_object().summary == "ゆっくり、何度でも。"
        violations.check("the page editor and its preview")

        # Staff see the public site with Wagtail's user bar: the public policy must allow its files.
        with translation.override("ja"):
            course_url = live_server.url + "/en" + course.url
        page.goto(course_url)
        page.wait_for_load_state("networkidle")
        assert page.locator("wagtail-userbar").count() == 1
        violations.check("the public site with the user bar")
    finally:
        page.context.close()


def test_the_public_site_works_under_the_strict_policy(live_server, browser, site):
    session = factories.session(capacity=5, starts_in=timedelta(days=6))
    page, violations = watched_page(browser, viewport=PHONE, locale="ja-JP")
    try:
        response = page.goto(live_server.url + "/")
        policy = response.header_value("content-security-policy")
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        with translation.override("ja"):
            page.goto(live_server.url + session.course.url)
        page.locator(".session").get_by_role("link", name=re.compile("申し込む|申込")).first.click()
        page.fill("#id_name", "川崎 花子")
        page.fill("#id_kana", "かわさき はなこ")
        page.fill("#id_phone", "090-1234-5678")
        page.select_option("#id_age_band", "75-79")
        page.select_option("#id_ward", "declined")
        page.check("#id_consent")
        page.check("input[name=notify_by][value=call]")
        page.click("main form button[type=submit]")
        page.click("main form button[name=step][value=register]")  # the review page (入力内容の確認)
        page.wait_for_load_state("networkidle")

        registration = Registration.objects.get(session=session)
        # (the browser keeps the form's "#form-errors" on the address it is redirected to)
        assert page.url.split("#")[0].endswith(registration.get_manage_url())
        assert registration.created_at <= timezone.now()
        page.goto(live_server.url + "/classes/")
        page.goto(live_server.url + "/en/calendar/")
        violations.check("browsing and registering")
    finally:
        page.context.close()


def test_the_server_error_page_keeps_its_style_under_the_strict_policy(browser):
    """500.html is served without a request (so without a nonce): its style attribute is allowed by its hash."""
    from csp.utils import build_policy
    from django.template.loader import render_to_string

    page, violations = watched_page(browser, viewport=PHONE, locale="ja-JP")
    try:
        page.route("http://dekiru.test/**", lambda route: route.fulfill(
            status=500, body=render_to_string("500.html"), content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": build_policy()}))
        page.goto("http://dekiru.test/broken/")
        assert page.evaluate("getComputedStyle(document.body).fontSize") == "20px"  # 1.25rem
        violations.check("the server error page")
    finally:
        page.context.close()
