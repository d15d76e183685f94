"""A ward-office support desk, in Chromium, with the keyboard alone: the first time the cursor starts on the place
(nothing preselected), then the ward, the age band (arrows pick it), where they live (typed), Tab and Space tick the
topics and the outcome, the length is typed, Enter saves; the form comes back with the usual place, cursor on the
age band, with the entry in today's list."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from wagtail.users.models import UserProfile

from cms import roles
from outreach.models import Consultation
from tests.e2e.conftest import DESKTOP, admin_login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]


def desk_user():
    # Transactional tests flush the database, data migrations' rows included: recreate roles and topics.
    importlib.import_module("cms.migrations.0003_roles").create_roles(apps)
    importlib.import_module("cms.migrations.0008_outreach_permissions").grant(apps, None)
    importlib.import_module("outreach.migrations.0004_load_consultation_topics").load(apps, None)
    user = get_user_model().objects.create_user(username="desk", password="support-desk-1")
    user.groups.add(Group.objects.get(name=roles.CALL_CENTRE_OPERATOR))
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"  # stable labels for the test, whatever the Japanese catalogue says
    profile.save()
    return user


def focused(page) -> dict:
    return page.evaluate("() => ({name: document.activeElement.name, value: document.activeElement.value})")


def test_a_consultation_is_recorded_with_the_keyboard_alone(live_server, browser, site):
    desk_user()
    context = browser.new_context(viewport=DESKTOP, locale="ja-JP")
    context.set_default_timeout(10000)
    page = context.new_page()
    try:
        admin_login(page, live_server, "desk", "support-desk-1")
        page.goto(live_server.url + "/admin/outreach/consultations/new/")
        # The first time there is no usual place: nothing is preselected, the cursor starts on the place.
        assert focused(page) == {"name": "place", "value": "ward_office"}
        page.keyboard.press("Space")  # a ward office
        page.keyboard.press("Tab")
        assert focused(page) == {"name": "place_ward", "value": ""}
        page.keyboard.press("ArrowDown")  # the first ward, chosen
        page.keyboard.press("Tab")
        assert focused(page) == {"name": "age_band", "value": "u20"}

        for _step in range(7):  # Under 20 → 70–74: arrows move within the group and pick
            page.keyboard.press("ArrowRight")
        assert focused(page) == {"name": "age_band", "value": "70-74"}
        page.keyboard.press("Tab")  # where they live: typed to "Outside the city"
        assert focused(page) == {"name": "residence_ward", "value": ""}
        page.keyboard.type("Outside")
        assert focused(page) == {"name": "residence_ward", "value": "outside"}
        page.keyboard.press("Tab")
        page.keyboard.press("Space")  # the first topic
        for _step in range(3):
            page.keyboard.press("Tab")
        page.keyboard.press("Space")  # the fourth topic
        for _step in range(8):  # past the other topics to the outcome
            page.keyboard.press("Tab")
        assert focused(page) == {"name": "outcome", "value": "solved"}
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        assert focused(page) == {"name": "duration_minutes", "value": ""}  # no default length
        page.keyboard.type("20")
        with page.expect_navigation():
            page.keyboard.press("Enter")

        assert page.get_by_text("Consultation recorded").is_visible()
        assert focused(page) == {"name": "age_band", "value": "u20"}  # the usual place is now prefilled
        assert page.locator("input[name=topics]:checked").count() == 0
        consultation = Consultation.objects.get()
        assert consultation.age_band == "70-74" and consultation.outcome == "solved"
        assert (consultation.place, consultation.residence, consultation.duration_minutes) == (
            "ward_office", "outside", 20)
        assert sorted(topic.sort_order for topic in consultation.topics.all()) == [10, 40]
        assert page.locator("table[aria-labelledby=today-heading] tbody tr").count() == 1
    finally:
        context.close()
