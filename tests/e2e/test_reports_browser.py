"""The annual report in Chromium, printed: on paper (print media, A4) the Wagtail sidebar, header, filter form and
buttons are gone, the report's own title (municipality, fiscal year, date of generation) is at the top, the chart
images have loaded, and the text is black on white. Without JavaScript the page still shows everything and says
how to print; with it, a Print button appears. Skipped where Chromium is absent (tests/conftest.py)."""

import datetime as dt
import os

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from courses.models import Registration, Session
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

SCREENSHOTS = os.environ.get("DEKIRU_SCREENSHOTS")
FY = 2024
PASSWORD = "reports-print-1"


@pytest.fixture
def officer(site):
    from cms.models import MunicipalitySettings

    settings = MunicipalitySettings.load()
    settings.name, settings.name_en = "川崎市", "Kawasaki City"
    settings.save()
    partner = factories.partner(name="NPO法人あおば", name_en="Aoba")
    ward = factories.ward()
    for day in (10, 17):
        session = factories.session(organiser=partner)
        starts = timezone.make_aware(dt.datetime(FY, 5, day, 10))
        Session.objects.filter(pk=session.pk).update(starts_at=starts, ends_at=starts + dt.timedelta(hours=2))
        for band in ("70-74", "80-84", "40-49"):
            factories.registration(session_obj=session, participant=factories.participant(age_band=band, ward=ward),
                                   status=Registration.Status.ATTENDED)
    # Transactional tests flush the roles' data migrations: a superuser has every permission and is city staff.
    user = get_user_model().objects.create_superuser("officer", "officer@example.jp", PASSWORD)
    from wagtail.users.models import UserProfile

    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


def log_in(context, live_server):
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "officer")
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(live_server.url + "/admin/")
    return page


VISIBLE = "(selector) => [...document.querySelectorAll(selector)].some(e => e.getClientRects().length > 0)"
IMAGES_LOADED = """() => [...document.querySelectorAll('.report img')]
    .every(img => img.complete && img.naturalWidth > 0)"""


def test_annual_report_prints_on_a4_without_the_admin_furniture(browser, live_server, officer):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    try:
        page = log_in(context, live_server)
        page.goto(f"{live_server.url}/admin/outreach/reports/annual/?fiscal_year={FY}")
        assert page.locator("[data-report-print]").is_visible()  # the Print button, once the script has run
        assert page.evaluate(VISIBLE, "#wagtail-sidebar")
        page.wait_for_function(IMAGES_LOADED)
        assert page.locator(".report img").count() >= 2  # monthly trend, age band × ward

        page.emulate_media(media="print")
        for selector in ("#wagtail-sidebar", ".w-slim-header", ".report-controls", ".report-actions",
                         ".report .button"):
            assert not page.evaluate(VISIBLE, selector), f"{selector} is printed"
        title = page.locator(".report-title")
        assert title.is_visible()
        assert "Kawasaki City" in title.inner_text() and f"FY{FY}" in title.inner_text()
        assert "Generated on" in title.inner_text()
        colours = page.evaluate("""() => { const s = getComputedStyle(document.querySelector('.report td'));
            return [s.color, getComputedStyle(document.body).backgroundColor]; }""")
        assert colours == ["rgb(0, 0, 0)", "rgb(255, 255, 255)"]
        if SCREENSHOTS:
            os.makedirs(SCREENSHOTS, exist_ok=True)
            page.screenshot(path=os.path.join(SCREENSHOTS, "annual-report-print.png"), full_page=True)
            # Chromium's print to PDF (what "Save as PDF" gives). Not in the default run: page.pdf() takes no
            # timeout and has been seen to hang on a loaded machine.
            with open(os.path.join(SCREENSHOTS, "annual-report.pdf"), "wb") as file:
                file.write(page.pdf(format="A4", print_background=False))
    finally:
        context.close()


def test_annual_report_without_javascript_says_how_to_print(browser, live_server, officer):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", java_script_enabled=False)
    try:
        page = log_in(context, live_server)
        page.goto(f"{live_server.url}/admin/outreach/reports/annual/?fiscal_year={FY}")
        assert not page.locator("[data-report-print]").is_visible()
        assert "Print command" in page.locator(".report-actions").inner_text()
        assert "Kawasaki City" in page.locator(".report-title").inner_text()
    finally:
        context.close()
