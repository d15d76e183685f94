"""The registration form's 「お知らせの受け取り方」: starts empty, an answer is required, and the server refuses a
choice the contact details do not allow (the page lists every choice: without script it cannot narrow them)."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from courses.forms import RegistrationForm
from courses.models import Participant
from tests import factories
from tests.courses.test_call_centre import logged_in
from tests.courses.test_registration_review import form_data

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def form(**overrides) -> RegistrationForm:
    data = form_data(**({"age_band": Participant.AgeBand.AGE_70_74} | overrides))
    return RegistrationForm(data)


@pytest.fixture(autouse=True)
def japanese():
    with translation.override("ja"):
        yield


def test_an_answer_is_required(site):
    bound = form(notify_by=None)
    assert not bound.is_valid()
    assert bound.errors["notify_by"] == ["お知らせの受け取り方を選んでください。"]


def test_email_needs_an_address(site):
    bound = form(notify_by="email", email="")
    assert not bound.is_valid()
    assert "メールアドレスが書かれていません" in bound.errors["notify_by"][0]
    assert form(notify_by="email", email="hanako@example.jp").is_valid()


@pytest.mark.parametrize("phone", ["044-200-0000", "050-1234-5678", "0120-123-456"])
def test_sms_only_to_a_mobile_number(site, phone):
    bound = form(notify_by="sms", phone=phone, sms_consent="on")
    assert not bound.is_valid()
    assert bound.errors["notify_by"] == [
        "SMSは070・080・090で始まる携帯電話の番号にだけ送れます。携帯電話の番号を書くか、ほかの受け取り方を選んでください。"]


def test_sms_needs_consent(site):
    bound = form(notify_by="sms", phone="080-1234-5678")
    assert not bound.is_valid()
    assert bound.errors["sms_consent"] == ["SMSの受け取りに同意するか、ほかの受け取り方を選んでください。"]
    bound = form(notify_by="sms", phone="080-1234-5678", sms_consent="on")
    assert bound.is_valid(), bound.errors
    assert bound.notify_choice() == ("sms", True)
    assert ("お知らせの受け取り方", "この携帯電話へのSMS") in bound.answers()


def test_a_call_needs_a_phone_number(site):
    bound = form(notify_by="call", phone="", email="hanako@example.jp")
    assert not bound.is_valid()
    assert "電話番号が書かれていません" in bound.errors["notify_by"][0]


def test_the_bookers_contact_counts_when_the_person_has_none(site):
    """A family member who books for someone without contact details receives the messages: their number counts."""
    data = {"booking_for": "other", "phone": "", "email": "", "booker_name": "川崎 一郎", "booker_relationship": "息子",
            "booker_phone": "090-9999-8888", "notify_by": "sms", "sms_consent": "on"}
    bound = form(**data)
    assert bound.is_valid(), bound.errors
    assert bound.recipient().is_booker and bound.notify_choice() == ("sms", True)
    assert not form(**(data | {"booker_phone": "044-200-0000"})).is_valid()


def test_consent_without_sms_is_not_recorded(site):
    bound = form(notify_by="call", sms_consent="on")
    assert bound.is_valid()
    assert bound.notify_choice() == ("call", False)


def test_the_page_asks_with_nothing_chosen_and_the_review_says_where_sms_go(site, client):
    session = factories.session()
    page = client.get(f"/sessions/{session.pk}/register/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    radios = re.findall(r'<input[^>]*name="notify_by"[^>]*>', page)
    assert len(radios) == 3 and not any("checked" in radio for radio in radios)
    assert "お知らせの受け取り方" in page

    review = client.post(f"/sessions/{session.pk}/register/",
                         form_data(notify_by="sms", phone="090-1234-5678", sms_consent="on"),
                         HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "090-1234-5678 にSMSでお送りします" in review



def test_the_phone_booking_asks_the_same_question_with_nothing_chosen(site, client):
    session = factories.session()
    logged_in(client, language="ja")
    page = client.get(reverse("call_centre:book", args=[session.pk])).content.decode()
    radios = re.findall(r'<input[^>]*name="notify_by"[^>]*>', page)
    assert len(radios) == 3 and not any("checked" in radio for radio in radios)
    assert "お知らせの受け取り方" in page
