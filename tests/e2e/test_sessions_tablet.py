"""A partner manager runs their sessions from a 10-inch tablet (800 × 1280) in Chromium: creates a session,
changes its capacity, and cancels it with a reason, in the Wagtail admin, with JavaScript on as staff use it.
The pages must not scroll sideways."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from wagtail.users.models import UserProfile

from cms import roles
from courses.models import Session
from partners.models import PartnerMembership
from partners.services import add_membership
from tests import factories
from tests.e2e.conftest import admin_login
from tests.e2e.test_roster_tablet import OVERFLOW, TABLET_PORTRAIT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]


def manager(partner):
    importlib.import_module("cms.migrations.0003_roles").create_roles(apps)
    for name in ("0005_message_permissions", "0007_session_staff_permissions"):
        importlib.import_module(f"cms.migrations.{name}").grant(apps, None)
    user = get_user_model().objects.create_user(username="manager", password="runs-the-classes-1")
    user.groups.add(Group.objects.get(name=roles.PARTNER_MANAGER))
    add_membership(partner=partner, user=user, role=PartnerMembership.Role.MANAGER)
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


def test_a_manager_creates_changes_and_cancels_a_session_on_a_tablet(live_server, browser, site):
    partner = factories.partner()
    course = factories.course(owner=partner, title="はじめてのLINE", title_en="LINE for beginners")
    venue = factories.venue(partner=partner, name="中原市民館")
    other = factories.partner()
    factories.course(owner=other, title="よその講座")  # never offered to this manager
    manager(partner)
    day = timezone.localdate() + timedelta(days=10)

    context = browser.new_context(viewport=TABLET_PORTRAIT, locale="ja-JP", has_touch=True)
    context.set_default_timeout(15000)
    page = context.new_page()
    sideways = []
    try:
        admin_login(page, live_server, "manager", "runs-the-classes-1")

        page.goto(live_server.url + "/admin/sessions/new/")
        if not page.evaluate(OVERFLOW):
            sideways.append("new session")
        options = page.locator("#id_course option").all_inner_texts()
        assert any("はじめてのLINE" in text or "LINE for beginners" in text for text in options)
        assert not any("よその講座" in text for text in options)
        page.select_option("#id_course", str(course.pk))
        page.fill("#id_date", day.isoformat())
        page.fill("#id_start_time", "10:00")
        page.fill("#id_end_time", "11:30")
        page.select_option("#id_venue", str(venue.pk))
        page.fill("#id_capacity", "12")
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state()
        session = Session.objects.get(course=course)
        assert (session.capacity, session.organiser, session.venue) == (12, partner, venue)
        assert timezone.localtime(session.starts_at).date() == day

        page.goto(f"{live_server.url}/admin/sessions/")
        if not page.evaluate(OVERFLOW):
            sideways.append("sessions list")
        assert "中原市民館" in page.locator("main").inner_text()

        page.goto(f"{live_server.url}/admin/sessions/edit/{session.pk}/")
        if not page.evaluate(OVERFLOW):
            sideways.append("edit session")
        page.fill("#id_capacity", "8")
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state()
        session.refresh_from_db()
        assert session.capacity == 8

        page.goto(f"{live_server.url}/admin/sessions/cancel/{session.pk}/")
        if not page.evaluate(OVERFLOW):
            sideways.append("cancel session")
        page.fill("#id_reason", "会場の設備点検のため")
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state()
        session.refresh_from_db()
        assert session.is_cancelled and session.cancellation_reason == "会場の設備点検のため"
    finally:
        context.close()
    assert not sideways, f"scrolls sideways on a tablet: {sideways}"
