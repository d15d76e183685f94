"""お知らせの受け取り方 as the resident types (cms/static/js/notify-choices.js), on a phone (390 px), in Chromium: a
choice the contact details do not allow is disabled with the reason beside it, and enabled again when they do; a
selected choice that becomes impossible is unselected when the field is left, and the live region says so; the
script mirrors the server (normalised numbers, the booker's details when the person gave none); axe finds nothing
in those states; the form still reaches the review page. Without JavaScript every choice stays offered and the
server refuses an impossible one, as before."""

from pathlib import Path

import pytest
from django.core.cache import cache

from cms.normalize import normalize_phone
from courses.recipients import is_mobile
from partners.models import Ward
from tests import factories
from tests.e2e.conftest import PHONE
from tests.e2e.test_accessibility import format_violations, run_axe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

EMAIL, SMS, CALL = ("input[name=notify_by][value=email]", "input[name=notify_by][value=sms]",
                    "input[name=notify_by][value=call]")
REASON = {"ja": {EMAIL: "上でメールアドレスを入力すると選べます。",
                 SMS: "上で携帯電話の番号（070・080・090）を入力すると選べます。",
                 CALL: "上で電話番号を入力すると選べます。"},
          "en": {EMAIL: "Enter an e-mail address above to choose this.",
                 SMS: "Enter a mobile number (070, 080 or 090) above to choose this.",
                 CALL: "Enter a phone number above to choose this."}}
UNSELECTED_EMAIL = {"ja": "メールアドレスがないため、「メール」の選択を外しました。ほかの受け取り方を選んでください。",
                    "en": "E-mail is no longer selected, as no e-mail address is given. Please choose another way."}


def open_form(open_page, live_server, lang="ja"):
    session = factories.session()
    page = open_page(viewport=PHONE, lang=lang)
    page.goto(f"{live_server.url}{'/en' if lang == 'en' else ''}/sessions/{session.pk}/register/")
    page.wait_for_selector("[data-notify-choices] .notify-reason", state="attached")  # the script has run
    return page


def reason(page, radio):
    """The reason shown beside a choice, "" when none is shown."""
    label = page.locator(f"label[for={page.locator(radio).get_attribute('id')}]")
    shown = label.locator(".notify-reason:visible")
    return shown.inner_text() if shown.count() else ""


def offered(page, radio, lang="ja") -> bool:
    """Enabled with no reason, or disabled with the reason shown: never one without the other."""
    enabled = page.locator(radio).is_enabled()
    assert reason(page, radio) == ("" if enabled else REASON[lang][radio]), radio
    return enabled


def status(page) -> str:
    return page.locator("#notify [role=status]").inner_text().strip()


def no_axe_violations(page, axe_source, where):
    violations = run_axe(page, axe_source)
    assert not violations, format_violations(where, violations)


def test_the_choices_follow_the_contact_details_and_the_form_still_reaches_the_review(
        live_server, open_page, axe_source, site):
    page = open_form(open_page, live_server)
    assert not any(offered(page, radio) for radio in (EMAIL, SMS, CALL))  # nothing given yet
    assert page.locator("#notify [role=status]").count() == 1 and status(page) == ""

    page.fill("#id_phone", "044-200-0000")  # a landline: a call, not SMS
    assert offered(page, CALL) and not offered(page, SMS) and not offered(page, EMAIL)
    no_axe_violations(page, axe_source, "landline typed")

    page.fill("#id_phone", "０９０ー１２３４ー５６７８")  # a mobile, typed full-width as an IME gives it
    assert offered(page, SMS) and offered(page, CALL) and not offered(page, EMAIL)

    page.fill("#id_email", "ｈａｎａｋｏ＠example.jp")
    assert offered(page, EMAIL)
    page.check(EMAIL)

    page.fill("#id_email", "")  # still in the field: the choice is kept, its reason shown
    assert page.is_checked(EMAIL) and page.locator(EMAIL).is_enabled()
    assert reason(page, EMAIL) == REASON["ja"][EMAIL]
    page.locator("#id_email").press("Tab")  # the field is left: unselected, and said
    assert not page.is_checked(EMAIL) and not offered(page, EMAIL)
    assert status(page) == UNSELECTED_EMAIL["ja"]
    assert page.locator("#notify [role=status] .notice").is_visible()
    no_axe_violations(page, axe_source, "e-mail unselected")

    page.check(SMS)
    assert status(page) == ""  # a new choice: the old news is gone
    page.check("#id_sms_consent")
    page.fill("#id_name", "川崎 花子")
    page.fill("#id_kana", "カワサキ ハナコ")
    page.select_option("#id_age_band", "70-74")
    page.select_option("#id_ward", str(Ward.objects.order_by("sort_order").first().pk))
    page.check("#id_consent")
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "入力内容の確認", page.url
    assert "090-1234-5678 にSMSでお送りします" in page.content()


def test_a_selected_choice_is_kept_while_the_number_is_corrected(live_server, open_page, site):
    page = open_form(open_page, live_server)
    page.fill("#id_phone", "090-1234-5678")
    page.check(SMS)
    page.locator("#id_phone").press("End")
    page.locator("#id_phone").press("Backspace")  # correcting a digit: SMS stays chosen
    assert page.is_checked(SMS) and reason(page, SMS) == REASON["ja"][SMS]
    page.locator("#id_phone").type("9")
    assert page.is_checked(SMS) and offered(page, SMS)
    page.fill("#id_phone", "044-200-0000")
    page.locator("#id_phone").press("Tab")  # left as a landline: SMS goes, a call stays possible
    assert not page.is_checked(SMS) and not offered(page, SMS) and offered(page, CALL)
    assert "SMS" in status(page)


@pytest.mark.parametrize("typed", ["090-1234-5678", "０８０－１２３４－５６７８", "070 1234 5678", "(090)1234-5678",
                                   "+81 90-1234-5678", "0081-80-1234-5678", "050-1234-5678", "044-200-0000",
                                   "0120-123-456", "090-1234-567", "0901234567８"])
def test_sms_is_offered_exactly_when_the_server_takes_the_number_as_a_mobile(live_server, open_page, site, typed):
    page = open_form(open_page, live_server)
    page.fill("#id_phone", typed)
    assert offered(page, SMS) == is_mobile(normalize_phone(typed)), typed
    assert offered(page, CALL) == bool(normalize_phone(typed))


def test_the_bookers_details_count_when_the_person_gave_none(live_server, open_page, site):
    page = open_form(open_page, live_server)
    page.fill("#id_booker_phone", "080-9999-8888")
    assert not offered(page, SMS)  # booking for oneself: the booker's details do not count
    page.check("input[name=booking_for][value=other]")
    assert offered(page, SMS) and offered(page, CALL) and not offered(page, EMAIL)
    page.fill("#id_email", "tome@example.jp")  # the person gave an address: their details count, not the booker's
    assert offered(page, EMAIL) and not offered(page, SMS) and not offered(page, CALL)


def test_in_english(live_server, open_page, axe_source, site):
    page = open_form(open_page, live_server, lang="en")
    assert not offered(page, EMAIL, "en") and not offered(page, SMS, "en") and not offered(page, CALL, "en")
    page.fill("#id_email", "maria@example.jp")
    page.check(EMAIL)
    page.fill("#id_email", " ")
    page.locator("#id_email").press("Tab")
    assert not page.is_checked(EMAIL) and not offered(page, EMAIL, "en")
    assert status(page) == UNSELECTED_EMAIL["en"]
    no_axe_violations(page, axe_source, "e-mail unselected (en)")


def test_without_javascript_every_choice_is_offered_and_the_server_refuses(live_server, phone_page, site):
    session = factories.session()
    page = phone_page
    page.goto(f"{live_server.url}/sessions/{session.pk}/register/")
    assert all(page.locator(radio).is_enabled() for radio in (EMAIL, SMS, CALL))
    assert page.locator(".notify-reason").count() == 0
    page.fill("#id_name", "川崎 花子")
    page.fill("#id_kana", "カワサキ ハナコ")
    page.fill("#id_phone", "044-200-0000")
    page.select_option("#id_age_band", "70-74")
    page.select_option("#id_ward", "outside")
    page.check("#id_consent")
    page.check(SMS)
    page.check("#id_sms_consent")
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")
    assert "SMSは070・080・090で始まる携帯電話の番号にだけ送れます" in page.locator("#form-errors").inner_text()


def test_line_needs_nothing_typed(live_server, open_page, site, settings):
    """LINE is linked after booking (courses.line_linking): when offered, it is never narrowed."""
    settings.DEKIRU_LINE_CHANNEL_SECRET = "secret"
    settings.DEKIRU_LINE_BOT_BASIC_ID = "@dekiru"
    settings.DEKIRU_LINE_BACKEND = "console"
    cache.clear()
    page = open_form(open_page, live_server)
    line = "input[name=notify_by][value=line]"
    assert page.locator(line).is_enabled() and reason(page, line) == ""
    assert not offered(page, EMAIL) and not offered(page, SMS) and not offered(page, CALL)


def test_the_script_strips_the_same_separators_as_the_server():
    """The one rule the page cannot hand to the script (cms.normalize keeps it private): copied, kept in step."""
    from cms.normalize import _PHONE_SEPARATORS

    script = (Path(__file__).resolve().parents[2] / "cms" / "static" / "js" / "notify-choices.js").read_text()
    assert f"var PHONE_SEPARATORS = /{_PHONE_SEPARATORS.pattern}/g;" in script
