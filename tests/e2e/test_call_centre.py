"""A call-centre operator, in Chromium: logs in to the Wagtail admin, finds a caller by the phone number as it
was typed (full-width digits and dashes), and moves their booking to another date."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from wagtail.users.models import UserProfile

from cms import roles
from courses.models import Registration
from tests import factories
from tests.e2e.conftest import DESKTOP

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]


def operator():
    # Transactional tests flush the database, groups from data migrations included: recreate the roles.
    importlib.import_module("cms.migrations.0003_roles").create_roles(apps)
    user = get_user_model().objects.create_user(username="operator", password="call-centre-1")
    user.groups.add(Group.objects.get(name=roles.CALL_CENTRE_OPERATOR))
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"  # stable labels for the test, whatever the Japanese catalogue says
    profile.save()
    return user


def test_operator_finds_a_caller_by_phone_and_moves_the_booking(live_server, browser, site):
    course = factories.course(title="LINEで家族とつながろう")
    booked_session = factories.session(course_page=course, capacity=1)
    later = factories.session(course_page=course, starts_in=timedelta(days=21))
    person = factories.participant(name="中原 春子", kana="ナカハラ ハルコ", phone="09012345678")
    booking = factories.registration(session_obj=booked_session, participant=person)
    waiting = factories.registration(session_obj=booked_session, status=Registration.Status.WAITLISTED,
                                     waitlist_position=1,
                                     participant=factories.participant(name="高津 次郎", kana="タカツ ジロウ"))
    user = operator()

    context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    page = context.new_page()
    try:
        page.goto(live_server.url + "/admin/login/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", "call-centre-1")
        page.locator("form button[type=submit]").first.click()
        page.wait_for_url(live_server.url + "/admin/")

        # The sidebar offers the call centre to an operator.
        page.get_by_role("button", name="Call centre").click()
        page.get_by_role("link", name="Find a booking").click()
        page.wait_for_url(live_server.url + "/admin/call-centre/")

        page.get_by_label("Phone number, name, kana or e-mail").fill("０９０－１２３４－５６７８")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name="中原 春子").click()
        page.get_by_role("link", name="Move").click()

        page.locator(f"label[for=to-session-{later.pk}]").click()
        page.get_by_role("button", name="Move the booking").click()
        assert "The booking was moved." in page.locator(".messages").inner_text()
    finally:
        context.close()

    booking.refresh_from_db()
    waiting.refresh_from_db()
    moved = later.registrations.get(participant=person)
    assert booking.status == Registration.Status.CANCELLED
    assert (moved.status, moved.created_by) == (Registration.Status.CONFIRMED, user)
    assert waiting.status == Registration.Status.CONFIRMED  # the freed seat went to the waiting list
