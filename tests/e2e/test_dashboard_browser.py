"""The outreach dashboard in Chromium: a city analyst opens it, filters to one ward with the form (a plain GET
form), and every chart image loads (a PNG of 960 px) with its alt text; the figures follow the ward.
Skipped where Chromium is absent (tests/conftest.py)."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from wagtail.users.models import UserProfile

from cms import roles
from courses.models import Registration
from outreach import dashboard, metrics
from outreach.models import KpiTarget
from partners.models import Ward
from tests import factories
from tests.e2e.conftest import DESKTOP, admin_login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

PASSWORD = "dashboard-1"
CHART_IMAGES = "img.dekiru-chart__image"


@pytest.fixture
def analyst(site):
    # Transactional tests flush the database, groups and their permissions included: set the roles up again.
    importlib.import_module("cms.migrations.0008_outreach_permissions").grant(apps, None)
    user = get_user_model().objects.create_user(username="analyst", password=PASSWORD)
    user.groups.add(Group.objects.get(name=roles.CITY_ANALYST))
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


@pytest.fixture
def attendances(site):
    """Four attendances from the first ward and two from the second, at a session held today; a KPI target."""
    first, second = list(Ward.objects.order_by("sort_order", "code")[:2])
    session = factories.session(starts_in=-timedelta(hours=3), duration=timedelta(hours=2))
    for ward, count in ((first, 4), (second, 2)):
        for _ in range(count):
            factories.registration(session_obj=session, status=Registration.Status.ATTENDED,
                                   participant=factories.participant(ward=ward))
    KpiTarget.objects.create(fiscal_year=metrics.fiscal_year_of(timezone.localdate()),
                             metric=KpiTarget.Metric.ATTENDANCES, target=100)
    return first, second


def loaded_images(page) -> list[dict]:
    images = page.locator(CHART_IMAGES)
    for index in range(images.count()):  # lazy images load once they are scrolled to
        images.nth(index).scroll_into_view_if_needed()
    page.wait_for_function(f"""() => [...document.querySelectorAll('{CHART_IMAGES}')]
        .every(image => image.complete)""", timeout=30000)
    return page.eval_on_selector_all(CHART_IMAGES, """images => images.map(image => ({
        src: image.getAttribute('src'), alt: image.alt, width: image.naturalWidth, height: image.naturalHeight}))""")


def attendances_tile(page) -> str:
    return page.locator(".dekiru-tile--attendances dd").inner_text().strip()


def test_analyst_filters_to_a_ward_and_the_charts_load(live_server, open_page, analyst, attendances):
    first, _second = attendances
    page = open_page(viewport=DESKTOP, lang="en")
    page.set_default_timeout(30000)  # charts are drawn on first request
    admin_login(page, live_server, "analyst", PASSWORD)
    page.goto(live_server.url + "/admin/outreach/dashboard/")
    assert attendances_tile(page) == "6"
    images = loaded_images(page)
    assert len(images) == len(dashboard.CHARTS)
    assert all(image["width"] == 960 and image["height"] == 540 and image["alt"] for image in images), images

    page.select_option("#id_ward", value=str(first.pk))
    with page.expect_navigation():
        page.locator("form.dekiru-filters button[type=submit]").click()
    assert f"ward={first.pk}" in page.url
    assert attendances_tile(page) == "4"
    images = loaded_images(page)
    assert all(f"ward={first.pk}" in image["src"] for image in images)
    assert all(image["width"] == 960 and image["alt"] for image in images), images
    ward_alt = next(image["alt"] for image in images if "/attendance-ward.png" in image["src"])
    assert "4 in all" in ward_alt
