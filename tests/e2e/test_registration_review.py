"""The review step (入力内容の確認) and the search results on a phone (390 px), in Chromium: fill the form, see the
review, press 「修正する」 and find every value kept, confirm, land on the confirmation page; a Latin name without
kana on /en/; the review page takes the focus; a search opens at its results; axe finds no violations on the error
page, the review page and the results page."""

import pytest

from courses.models import Participant, Registration
from partners.models import Ward
from tests import factories
from tests.e2e.conftest import PHONE
from tests.e2e.test_accessibility import format_violations, run_axe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

TEXT = {"#id_name": "川崎 トメ", "#id_kana": "かわさき とめ", "#id_accessibility_needs": "補聴器を使っています",
        "#id_booker_name": "川崎 花子", "#id_booker_relationship": "娘", "#id_booker_phone": "080-9999-8888",
        "#id_booker_email": "hanako@example.jp"}
SELECTS = {"#id_age_band": "declined", "#id_ward": "outside", "#id_device": Participant.Device.IPHONE.value}


def fill_for_a_parent(page):
    page.check("input[name=booking_for][value=other]")
    for selector, value in TEXT.items():
        page.fill(selector, value)
    for selector, value in SELECTS.items():
        page.select_option(selector, value)
    page.check("#id_consent")
    page.check("input[name=notify_by][value=email]")


def to_review(page):
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() in ("入力内容の確認", "Check your answers"), page.url


def test_review_change_every_value_kept_then_register(live_server, phone_page, site):
    session = factories.session()
    page = phone_page
    page.goto(f"{live_server.url}/sessions/{session.pk}/register/")
    assert page.locator(".add-to-calendar, a[href$='calendar.ics']").count() == 0  # after registering, not here
    fill_for_a_parent(page)

    to_review(page)
    assert page.title().startswith("入力内容の確認")
    answers = page.locator(".review-answers").inner_text()
    for words in ("川崎 トメ", "カワサキ トメ", "答えたくない", "市外", "iPhone", "補聴器を使っています", "川崎 花子",
                  "080-9999-8888"):
        assert words in answers, words
    assert "hanako@example.jp" in page.locator(".review-recipient").inner_text()
    assert session.course.title in page.content()
    assert not Registration.objects.exists()

    page.get_by_role("button", name="修正する").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("#registration-form")
    assert page.locator("h1").inner_text() != "入力内容の確認"
    assert page.is_checked("input[name=booking_for][value=other]")
    assert page.is_checked("#id_consent")
    for selector, value in TEXT.items():
        assert page.input_value(selector) == value, selector
    for selector, value in SELECTS.items():
        assert page.input_value(selector) == value, selector
    assert page.locator("#form-errors").count() == 0

    page.fill("#id_accessibility_needs", "補聴器と大きな文字")
    to_review(page)
    assert "補聴器と大きな文字" in page.locator(".review-answers").inner_text()
    page.get_by_role("button", name="この内容で申し込む").click()
    page.wait_for_load_state("load")

    registration = Registration.objects.get()
    assert page.url.split("#")[0].endswith(registration.get_manage_url())
    assert registration.participant.name == "川崎 トメ"
    assert registration.participant.accessibility_needs == "補聴器と大きな文字"
    assert (registration.booker_name, registration.booker_phone) == ("川崎 花子", "08099998888")


def test_a_latin_name_needs_no_kana_in_english(live_server, phone_page, site):
    session = factories.session()
    page = phone_page
    page.goto(f"{live_server.url}/en/sessions/{session.pk}/register/")
    page.fill("#id_name", "Ｍａｒｉａ\u3000Ｇａｒｃｉａ")
    page.fill("#id_email", "maria@example.jp")
    page.select_option("#id_age_band", "65-69")
    page.select_option("#id_ward", str(Ward.objects.order_by("sort_order").first().pk))
    page.check("#id_consent")
    page.check("input[name=notify_by][value=email]")

    to_review(page)
    assert page.title().startswith("Check your answers")
    assert "Maria Garcia" in page.locator(".review-answers").inner_text()
    page.get_by_role("button", name="Register with these answers").click()
    page.wait_for_load_state("load")

    person = Registration.objects.get().participant
    assert (person.name, person.kana, person.email) == ("Maria Garcia", "", "maria@example.jp")


def test_the_review_heading_takes_the_focus_and_has_no_axe_violations(live_server, open_page, axe_source, site):
    session = factories.session()
    for lang in ("ja", "en"):
        page = open_page(viewport=PHONE, lang=lang)
        page.goto(f"{live_server.url}{'/en' if lang == 'en' else ''}/sessions/{session.pk}/register/")
        fill_for_a_parent(page)
        to_review(page)
        assert page.evaluate("document.activeElement.id") == "review"
        box = page.locator("h1").bounding_box()
        assert box is not None and 0 <= box["y"] < PHONE["height"] / 2, box
        violations = run_axe(page, axe_source)
        assert not violations, format_violations(f"review page ({lang})", violations)


def test_the_error_page_has_no_axe_violations(live_server, open_page, axe_source, site):
    session = factories.session()
    for lang in ("ja", "en"):
        page = open_page(viewport=PHONE, lang=lang)
        page.goto(f"{live_server.url}{'/en' if lang == 'en' else ''}/sessions/{session.pk}/register/")
        page.fill("#id_name", "川崎 花子")  # no kana for a Japanese name, no age, no ward, no consent
        page.click("main form button[type=submit]")
        page.wait_for_load_state("load")
        assert page.locator("#form-errors").count() == 1
        assert page.locator("#id_kana[aria-invalid=true]").count() == 1
        violations = run_axe(page, axe_source)
        assert not violations, format_violations(f"error page ({lang})", violations)


def test_a_search_opens_at_the_results(live_server, open_page, axe_source, site):
    ward = Ward.objects.order_by("sort_order").first()
    for _ in range(3):
        factories.session(venue=factories.venue(ward=ward))
    factories.session()  # elsewhere, perhaps
    for lang in ("ja", "en"):
        page = open_page(viewport=PHONE, lang=lang)
        page.goto(f"{live_server.url}{'/en' if lang == 'en' else ''}/classes/")
        page.select_option("#id_ward", str(ward.pk))
        page.locator("form.filters button[type=submit]").click()
        page.wait_for_load_state("load")

        assert page.url.endswith("#results")
        box = page.locator("#results").bounding_box()
        assert box is not None and -2 <= box["y"] < PHONE["height"] / 2, box  # in view, at the top
        found = page.locator("#results + p[role=status]").inner_text()
        assert page.title().startswith(found.rstrip("。.")), (page.title(), found)
        violations = run_axe(page, axe_source)
        assert not violations, format_violations(f"results page ({lang})", violations)
