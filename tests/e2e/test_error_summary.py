"""After a failed submit on a phone, the person lands on the error summary — without JavaScript (the form posts to
"#form-errors") and with it (the summary also takes the focus) — the title says there is an error, every message
links to its field and every value typed is kept."""

import pytest

from tests import factories
from tests.e2e.conftest import PHONE

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]


def submit_half_filled(page, live_server, session):
    page.goto(f"{live_server.url}/sessions/{session.pk}/register/")
    page.fill("#id_name", "川崎 花子")
    page.fill("#id_kana", "カワサキ ハナコ")
    page.fill("#id_phone", "090-1234-5678")
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")


def check_landing(page):
    assert page.url.endswith("#form-errors")
    assert page.title().startswith("エラー：")
    box = page.locator("#form-errors").bounding_box()
    assert box is not None and -2 <= box["y"] < PHONE["height"] / 2, box  # in view, at the top: no scrolling
    links = page.locator("#form-errors a")
    assert links.count() >= 3  # age, where you live, the privacy policy
    for i in range(links.count()):
        target = links.nth(i).get_attribute("href")
        assert page.locator(target).count() == 1, target
    assert page.input_value("#id_name") == "川崎 花子"
    assert page.input_value("#id_phone") == "090-1234-5678"


def test_without_javascript_the_answer_opens_at_the_summary(live_server, phone_page, site):
    session = factories.session()
    submit_half_filled(phone_page, live_server, session)
    check_landing(phone_page)


def test_with_javascript_the_summary_also_takes_the_focus(live_server, open_page, site):
    session = factories.session()
    page = open_page(viewport=PHONE)
    submit_half_filled(page, live_server, session)
    check_landing(page)
    assert page.evaluate("document.activeElement.id") == "form-errors"
