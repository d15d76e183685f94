"""The review step of the registration form (入力内容の確認, courses.views.register): a valid form shows every
answer in words and where messages will go, carries the answers as hidden fields, registers only on
「この内容で申し込む」 (validating them again), and 「修正する」 brings back the form with every value kept."""

import html
import re

import pytest
from django.urls import reverse
from django.utils import translation

from courses.models import Participant, Registration
from partners.models import Ward
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def url(session, lang="ja") -> str:
    return ("/en" if lang == "en" else "") + f"/sessions/{session.pk}/register/"


def form_data(**overrides) -> dict:
    """The form as a browser posts it from the form page (no step: the review comes next)."""
    data = {"booking_for": "self", "name": "川崎 花子", "kana": "かわさき はなこ", "phone": "090-1234-5678",
            "email": "", "age_band": "declined", "ward": "outside", "device": Participant.Device.ANDROID,
            "accessibility_needs": "車いす\n補聴器", "consent": "on", "notify_by": "call",
            "booker_name": "", "booker_relationship": "", "booker_phone": "", "booker_email": ""}
    return {key: value for key, value in (data | overrides).items() if value is not None}


def hidden_fields(page: str) -> dict:
    """What the review page's form sends back: its hidden fields."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        if 'type="hidden"' in tag and "csrfmiddlewaretoken" not in tag:
            name = re.search(r'name="([^"]*)"', tag).group(1)
            value = re.search(r'value="([^"]*)"', tag)
            fields[name] = html.unescape(value.group(1)) if value else ""
    return fields


def review(client, session, lang="ja", **overrides):
    response = client.post(url(session, lang), form_data(**overrides))
    assert response.status_code == 200
    return response.content.decode()


def test_a_valid_form_shows_the_review_and_records_nothing(client, site):
    session = factories.session()

    page = review(client, session)

    assert not Registration.objects.exists() and not Participant.objects.exists()
    assert f"<title>入力内容の確認: {session.course.title}" in page
    assert re.search(r'<h1 id="review" tabindex="-1" autofocus>入力内容の確認</h1>', page)
    assert "まだ申し込みは完了していません" in page
    # Each answer in words, as it will be recorded.
    for words in ("自分が受講する", "川崎 花子", "カワサキ ハナコ", "090-1234-5678", "答えたくない", "市外", "Android",
                  "車いす<br>補聴器", "同意します"):
        assert words in page, words
    # The class: its title, when and where.
    assert session.course.title in page and session.venue.name in page
    assert 'name="step" value="register"' in page and "この内容で申し込む" in page
    assert 'name="step" value="edit"' in page and "修正する" in page
    assert 'formaction="#registration-form"' in page


def test_the_review_names_the_ward_in_words(client, site):
    session = factories.session()
    ward = Ward.objects.order_by("sort_order").first()
    page = review(client, session, ward=str(ward.pk), age_band="75-79")
    assert f"<dd>{ward.name}</dd>" in page
    with translation.override("ja"):
        assert f"<dd>{Participant.AgeBand.AGE_75_79.label}</dd>" in page


def test_in_english_it_is_check_your_answers(client, site):
    session = factories.session()
    page = review(client, session, lang="en", name="Maria Garcia", kana="")
    assert "<title>Check your answers:" in page
    assert ">Check your answers</h1>" in page
    assert "Register with these answers" in page and "Change your answers" in page
    assert "Prefer not to say" in page and "Outside the city" in page


@pytest.mark.parametrize(("overrides", "says"), [
    ({"email": "hanako@example.jp", "notify_by": "email"}, "hanako@example.jp にメールでお送りします"),
    ({"email": "hanako@example.jp", "notify_by": "email"}, "急ぎのご連絡は 090-1234-5678 にお電話します"),
    ({}, "メールアドレスがないため、受付の確認や変更のお知らせは、職員から 090-1234-5678 にお電話します"),
    ({"booking_for": "other", "name": "川崎 トメ", "kana": "かわさき とめ", "phone": "", "booker_name": "川崎 花子",
      "booker_relationship": "娘", "booker_email": "hanako@example.jp", "notify_by": "email"},
     "お申し込みをされる川崎 花子さんにご連絡します"),
])
def test_the_review_says_where_messages_will_go(client, site, overrides, says):
    """As courses.recipients decides for the saved registration: the person's e-mail, else a call to their phone,
    else the booker."""
    session = factories.session()
    assert says in review(client, session, **overrides)


def test_a_full_class_says_it_is_the_waiting_list(client, site):
    session = factories.session(capacity=1)
    factories.registration(session_obj=session)
    page = review(client, session)
    assert "この内容でキャンセル待ちに申し込む" in page
    assert "この日程は満席です。今お申し込みいただくとキャンセル待ちになります。" in page


def test_registering_from_the_review_records_exactly_the_answers(client, site):
    session = factories.session()
    page = review(client, session, name="\u202e川崎\u200b 花子")

    carried = hidden_fields(page)
    response = client.post(url(session), carried | {"step": "register"})

    assert response.status_code == 302
    registration = Registration.objects.get()
    person = registration.participant
    assert (person.name, person.kana, person.phone) == ("川崎 花子", "カワサキ ハナコ", "09012345678")
    assert (person.age_band, person.residence, person.ward) == ("", Participant.Residence.OUTSIDE, None)
    assert person.accessibility_needs.replace("\r\n", "\n") == "車いす\n補聴器"
    assert response["Location"] == registration.get_manage_url()


def test_a_double_click_on_the_final_button_registers_once(client, site):
    session = factories.session()
    carried = hidden_fields(review(client, session)) | {"step": "register"}

    first = client.post(url(session), carried)
    second = client.post(url(session), carried)

    assert first.status_code == second.status_code == 302
    assert second["Location"] == reverse("courses:already_registered")
    assert Registration.objects.count() == 1


def test_the_final_post_is_validated_again(client, site):
    """The review page is never trusted: a changed hidden field is refused like a bad form."""
    session = factories.session()
    carried = hidden_fields(review(client, session)) | {"step": "register"}

    response = client.post(url(session), carried | {"ward": "999999", "consent": ""})

    assert response.status_code == 400
    body = response.content.decode()
    assert "<title>エラー：" in body and 'id="form-errors"' in body
    assert not Registration.objects.exists()


def test_change_brings_back_the_form_with_every_value_kept(client, site):
    session = factories.session()
    answers = {"booking_for": "other", "name": "川崎 トメ", "kana": "かわさき とめ", "phone": "", "email": "",
               "age_band": "85+", "ward": "declined", "device": Participant.Device.IPHONE,
               "accessibility_needs": "補聴器", "booker_name": "川崎 花子", "booker_relationship": "娘",
               "booker_phone": "080-9999-8888", "booker_email": "hanako@example.jp"}
    carried = hidden_fields(review(client, session, **answers))

    response = client.post(url(session), carried | {"step": "edit"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "<title>エラー" not in page and 'id="form-errors"' not in page
    assert re.search(r'<input type="radio" name="booking_for" value="other"[^>]*checked', page)
    assert re.search(r'<input type="checkbox" name="consent"[^>]*checked', page)
    for name in ("name", "kana", "booker_name", "booker_relationship", "booker_phone", "booker_email"):
        assert re.search(rf'name="{name}" value="{re.escape(answers[name])}"', page), name
    for name in ("age_band", "ward", "device"):
        assert re.search(rf'<option value="{re.escape(answers[name])}" selected>', page), name
    assert "補聴器</textarea>" in page
    assert 'id="registration-form"' in page
    assert not Registration.objects.exists()


def test_the_review_is_refused_when_the_class_has_closed_meanwhile(client, site):
    session = factories.session()
    carried = hidden_fields(review(client, session))
    session.status, session.cancellation_reason = session.Status.CANCELLED, "講師の急病のため"
    session.save()

    response = client.post(url(session), carried | {"step": "register"})

    assert response.status_code == 400
    assert not Registration.objects.exists()
