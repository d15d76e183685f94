"""Answers that feed the city's figures start empty and must be given: age band and where the person lives, each
with an explicit "prefer not to say" (and "outside the city" for the ward), stored as values of their own."""

import re

import pytest
from django.utils import translation

from courses.forms import RegistrationForm
from courses.models import Participant, Registration
from partners.models import Ward
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def form_data(**overrides) -> dict:
    data = {"step": "register",  # the review page's final button; without it a valid form shows the review
            "booking_for": "self", "name": "川崎 花子", "kana": "かわさき はなこ", "phone": "090-1234-5678",
            "email": "", "device": "", "accessibility_needs": "", "consent": "on", "notify_by": "call"}
    return {key: value for key, value in (data | overrides).items() if value is not None}


def selected_options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option value="([^"]*)"[^>]*selected', select)


def test_age_and_ward_start_empty_with_explicit_answers(client, site):
    session = factories.session()
    html = client.get(f"/sessions/{session.pk}/register/").content.decode()

    for name in ("age_band", "ward"):
        first = re.search(rf'<select name="{name}"[^>]*>\s*<option value="([^"]*)"[^>]*>([^<]*)<', html)
        assert first.groups() == ("", "選択してください"), name
        assert selected_options(html, name) in ([], [""]), name  # nothing chosen for the person
    assert '<option value="declined">答えたくない</option>' in html
    assert '<option value="outside">市外</option>' in html


def test_skipping_age_and_ward_is_an_error_and_records_nothing(client, site):
    session = factories.session()

    response = client.post(f"/sessions/{session.pk}/register/", form_data())

    assert response.status_code == 400
    html = response.content.decode()
    assert "年齢を選んでください。" in html
    assert "お住まいの区を選んでください。" in html
    assert not Registration.objects.exists() and not Participant.objects.exists()


def test_the_errors_are_translated_in_english(client, site):
    session = factories.session()
    html = client.post(f"/en/sessions/{session.pk}/register/", form_data()).content.decode()
    assert "Please choose your age, or “Prefer not to say”." in html
    assert "Please choose your ward, “Outside the city” or “Prefer not to say”." in html


@pytest.mark.parametrize(("age", "where", "stored_band", "stored_residence", "has_ward"), [
    ("75-79", "ward", "75-79", Participant.Residence.CITY, True),
    ("declined", "outside", "", Participant.Residence.OUTSIDE, False),
    ("80-84", "declined", "80-84", Participant.Residence.DECLINED, False),
])
def test_each_answer_is_stored_as_itself(client, site, age, where, stored_band, stored_residence, has_ward):
    session = factories.session()
    ward = Ward.objects.order_by("sort_order").first()
    answer = str(ward.pk) if where == "ward" else where

    response = client.post(f"/sessions/{session.pk}/register/", form_data(age_band=age, ward=answer))

    assert response.status_code == 302
    person = Participant.objects.get()
    assert (person.age_band, person.residence) == (stored_band, stored_residence)
    assert person.ward == (ward if has_ward else None)


@pytest.mark.parametrize("answer", ["0", "999999", "99999999999999999999", "city", "-1", "1\x00"])
def test_a_ward_that_is_no_answer_is_refused(answer):
    with translation.override("ja"):
        form = RegistrationForm(data=form_data(age_band="75-79", ward=answer))
        assert not form.is_valid()
        assert "ward" in form.errors


def test_the_phone_booking_form_asks_the_same_questions(site):
    from courses.admin.forms import PhoneBookingForm

    form = PhoneBookingForm(data=form_data(language="ja"))
    assert not form.is_valid()
    assert {"age_band", "ward"} <= set(form.errors)


def test_a_failed_submit_says_error_in_the_title_and_opens_at_the_summary(client, site):
    session = factories.session()
    assert 'action="#form-errors"' in client.get(f"/sessions/{session.pk}/register/").content.decode()

    html = client.post(f"/sessions/{session.pk}/register/", form_data(name="川崎 花子")).content.decode()
    assert "<title>エラー：申し込む" in html
    assert 'id="form-errors"' in html and 'tabindex="-1"' in html
    assert 'value="川崎 花子"' in html  # what was typed is kept
    english = client.post(f"/en/sessions/{session.pk}/register/", form_data()).content.decode()
    assert "<title>Error: Register" in english


def test_the_phone_booking_form_takes_a_latin_name_without_kana(site):
    """Same rule for the call centre (PhoneBookingForm subclasses the form): no review step there, staff read the
    answers back on the phone."""
    from courses.admin.forms import PhoneBookingForm

    form = PhoneBookingForm(data=form_data(name="Ｍａｒｉａ　Ｇａｒｃｉａ", kana="", age_band="65-69", ward="outside",
                                           language="en"))
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["name"], form.cleaned_data["kana"]) == ("Maria Garcia", "")
    japanese = PhoneBookingForm(data=form_data(kana="", age_band="65-69", ward="outside", language="ja"))
    assert not japanese.is_valid() and "kana" in japanese.errors
