"""On a phone (390 px), a person registers and the confirmation page shows the booking reference they can read out
over the phone, "Add to calendar" for their seat, and axe-core finds nothing wrong with the page."""

import re

import pytest

from courses import references
from courses.models import Registration
from tests import factories
from tests.e2e.conftest import PHONE
from tests.e2e.test_accessibility import format_violations, run_axe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]


def register(page, live_server, session, *, lang: str):
    prefix = "/en" if lang == "en" else ""
    page.goto(f"{live_server.url}{prefix}/sessions/{session.pk}/register/")
    page.fill("#id_name", "川崎 花子")
    page.fill("#id_kana", "カワサキ ハナコ")
    page.fill("#id_phone", "090-1234-5678")
    page.select_option("#id_age_band", "75-79")
    page.select_option("#id_ward", "outside")
    page.check("#id_consent")
    page.check("input[name=notify_by][value=call]")
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")
    # A review step (入力内容の確認) may come before the booking is made: confirm it.
    for _step in range(2):
        if "/registrations/" in page.url:
            break
        page.locator("main form button[type=submit]:not([value=edit])").first.click()
        page.wait_for_load_state("load")
    assert "/registrations/" in page.url, (page.url, page.locator("main").inner_text()[:600])


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_confirmation_shows_the_reference_and_passes_axe(live_server, open_page, axe_source, site, lang):
    session = factories.session()
    page = open_page(viewport=PHONE, lang=lang)

    register(page, live_server, session, lang=lang)

    registration = Registration.objects.get(session=session)
    shown = registration.reference_display
    assert re.fullmatch(r"\d{4}-\d{4}", shown) and references.has_valid_check_digit(registration.reference)
    number = page.locator(".booking-reference-number")
    assert number.is_visible()
    assert number.inner_text().strip().startswith(shown)
    box = number.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]  # no sideways scroll
    label = "受付番号" if lang == "ja" else "Booking reference"
    assert label in page.locator("main").inner_text()
    assert page.locator(".add-to-calendar").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    violations = run_axe(page, axe_source)
    assert not violations, format_violations(f"confirmation {lang} {page.url}", violations)
