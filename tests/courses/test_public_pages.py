"""The public pages a resident uses, through Django's test client: the course page, registering, the
confirmation page and cancelling. Japanese at /, English at /en/."""

import re
from datetime import timedelta
from html import escape

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import override

from cms.templatetags.dekiru import session_when
from courses.models import Participant, Registration, Session
from courses.tokens import SALT, registration_token
from partners.models import Ward
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status

# Queries the course page makes, whatever the number of sessions (measured: 18 = Wagtail's routing and
# view-restriction checks, site settings, topics, the cached site root paths, and three for one page of dates
# (courses.listing: the count, the page's ids, then those sessions with venue, ward, organiser and seat counts).
QUERY_BUDGET = 18


@pytest.fixture(autouse=True)
def _default_language_between_tests():
    """A request to /en/ leaves English active in the thread (LocaleMiddleware never deactivates); start and
    end each test in the default language so `page.url` and `reverse()` here are the unprefixed Japanese URLs."""
    translation.activate("ja")
    yield
    translation.deactivate()


# --- Local helpers -----------------------------------------------------------------------------------------


def page_url(page, lang: str = "ja") -> str:
    """A page's public URL: unprefixed in Japanese, under /en/ in English (whatever language is active)."""
    with override("ja"):
        return ("/en" if lang == "en" else "") + page.url


def register_url(session: Session, *, lang: str = "ja") -> str:
    return ("/en" if lang == "en" else "") + f"/sessions/{session.pk}/register/"


def form_data(**overrides) -> dict:
    """A valid registration form, as a browser posts it."""
    data = {
        "step": "register",  # the review page's 「この内容で申し込む」 (courses.views.register)
        "booking_for": "self",  # the radio button checked by default
        "name": "川崎 花子", "kana": "かわさき はなこ", "phone": "090-1234-5678", "email": "",
        "age_band": Participant.AgeBand.AGE_70_74, "ward": Ward.objects.order_by("sort_order").first().pk,
        "device": Participant.Device.ANDROID, "accessibility_needs": "", "consent": "on", "notify_by": "call",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def person(n: int) -> dict:
    """Form data for the n-th different person."""
    return form_data(name=f"受講 者{n}", phone=f"0900000{n:04d}")


def when(session: Session, lang: str = "ja") -> str:
    with override(lang):
        return session_when(session)


def reload(obj):
    obj.refresh_from_db()
    return obj


def text(response) -> str:
    return response.content.decode()


def nothing_created():
    return not Registration.objects.exists() and not Participant.objects.exists()


def manage_url(registration: Registration, lang: str = "ja") -> str:
    with override(lang):
        return registration.get_manage_url()


def cancel_url(registration: Registration, lang: str = "ja") -> str:
    with override(lang):
        return registration.get_cancel_url()


# --- The course page ----------------------------------------------------------------------------------------


def test_course_page_lists_upcoming_sessions_with_seats_left_or_full_and_waiting(client, site):
    course = factories.course()
    open_session = factories.session(course_page=course, capacity=5, starts_in=timedelta(days=3))
    for _ in range(2):
        factories.registration(session_obj=open_session)
    full_session = factories.session(course_page=course, capacity=1, starts_in=timedelta(days=10))
    factories.registration(session_obj=full_session)
    factories.registration(session_obj=full_session, status=Status.WAITLISTED)
    factories.registration(session_obj=full_session, status=Status.WAITLISTED)
    factories.registration(session_obj=open_session, status=Status.CANCELLED)  # frees its seat
    past_session = factories.session(course_page=course, starts_in=-timedelta(days=2))

    response = client.get(page_url(course))

    assert response.status_code == 200
    html = text(response)
    assert when(open_session) in html
    assert "残り3席" in html
    assert "満席" in html
    assert "キャンセル待ち2人" in html
    assert html.index(when(open_session)) < html.index(when(full_session))
    assert f"sessions/{open_session.pk}/register/" in html
    assert f"sessions/{full_session.pk}/register/" in html
    assert "キャンセル待ちに申し込む" in html
    # The past session is not listed at all.
    assert when(past_session) not in html
    assert f"sessions/{past_session.pk}/register/" not in html
    assert [s.pk for s in response.context["sessions"]] == [open_session.pk, full_session.pk]


def test_course_page_in_english_shows_seats_and_waiting(client, site):
    course = factories.course()
    open_session = factories.session(course_page=course, capacity=5)
    factories.registration(session_obj=open_session)
    full_session = factories.session(course_page=course, capacity=1, starts_in=timedelta(days=9))
    factories.registration(session_obj=full_session)
    factories.registration(session_obj=full_session, status=Status.WAITLISTED)

    html = text(client.get(page_url(course, "en")))

    assert "4 seats left" in html
    assert "Full · 1 person waiting" in html
    assert "Join the waiting list" in html


def test_course_page_without_upcoming_sessions_says_so(client, site):
    course = factories.course()
    factories.session(course_page=course, starts_in=-timedelta(days=1))

    html = text(client.get(page_url(course)))

    assert "今のところ、この講座の開催予定はありません。" in html


def test_course_page_shows_why_a_session_cannot_be_booked(client, site):
    course = factories.course()
    cancelled = factories.session(course_page=course, status=Session.Status.CANCELLED,
                                  cancellation_reason="講師の急病のため")
    closed = factories.session(course_page=course, starts_in=timedelta(days=8),
                               registration_closes_at=timezone.now() - timedelta(hours=1))

    html = text(client.get(page_url(course)))

    assert "中止: 講師の急病のため" in html
    assert "この日程の申込受付は終了しました。" in html
    assert f"sessions/{cancelled.pk}/register/" not in html
    assert f"sessions/{closed.pk}/register/" not in html


def test_japanese_is_the_default_language(client, site):
    course = factories.course(title="スマホで地図を使う講座", summary="地図アプリの使い方を学びます。",
                              title_en="Using maps on your phone", summary_en="Learn to use a map app.")
    factories.session(course_page=course)

    html = text(client.get(page_url(course)))

    assert '<html lang="ja" class=' in html
    assert "スマホで地図を使う講座" in html
    assert "地図アプリの使い方を学びます。" in html
    assert "日程と申込" in html
    assert "申し込む" in html
    assert "Using maps on your phone" not in html
    assert "Dates and registration" not in html


def test_english_under_the_en_prefix(client, site):
    course = factories.course(title="スマホで地図を使う講座", summary="地図アプリの使い方を学びます。",
                              title_en="Using maps on your phone", summary_en="Learn to use a map app.")
    factories.session(course_page=course)

    response = client.get(page_url(course, "en"))

    assert response.status_code == 200
    html = text(response)
    assert '<html lang="en" class=' in html
    assert "Using maps on your phone" in html
    assert "Learn to use a map app." in html
    assert "Dates and registration" in html
    assert ">Register<" in html
    assert "日程と申込" not in html
    assert "地図アプリの使い方を学びます。" not in html


def test_english_falls_back_to_japanese_course_fields_when_empty(client, site):
    course = factories.course(title="はじめてのLINE講座", summary="家族にメッセージを送ります。",
                              title_en="", summary_en="")
    factories.session(course_page=course)

    html = text(client.get(page_url(course, "en")))

    assert '<html lang="en" class=' in html
    assert "はじめてのLINE講座" in html
    assert "家族にメッセージを送ります。" in html
    assert "Dates and registration" in html


def test_language_switcher_is_a_plain_post_form(client, site):
    course = factories.course()

    html = text(client.get(page_url(course)))

    form = re.search(r'<form class="language-switcher" action="([^"]+)" method="post">(.*?)</form>', html, re.S)
    assert form is not None
    assert form.group(1) == "/i18n/setlang/"
    assert 'name="csrfmiddlewaretoken"' in form.group(2)
    assert f'name="next" type="hidden" value="{page_url(course)}"' in form.group(2)
    assert re.search(r'<button type="submit" name="language" value="en"', form.group(2))


def test_language_switcher_posts_switch_languages_without_javascript(client, site):
    course = factories.course()

    to_english = client.post("/i18n/setlang/", {"language": "en", "next": page_url(course)})

    assert to_english.status_code == 302
    assert to_english["Location"] == page_url(course, "en")
    assert client.cookies["django_language"].value == "en"
    english = text(client.get(to_english["Location"]))
    assert '<html lang="en" class=' in english
    assert re.search(r'<button type="submit" name="language" value="ja"', english)


def test_language_switcher_goes_back_to_japanese_from_an_english_page(client, site):
    course = factories.course()
    english = text(client.get(page_url(course, "en")))
    form = re.search(r'<form class="language-switcher" action="([^"]+)" method="post">(.*?)</form>', english, re.S)
    fields = dict(re.findall(r'name="(next|language)" (?:type="hidden" )?value="([^"]*)"', form.group(2)))
    assert fields == {"next": page_url(course, "en"), "language": "ja"}

    to_japanese = client.post(form.group(1), fields)

    assert to_japanese.status_code == 302
    assert to_japanese["Location"] == page_url(course)
    assert '<html lang="ja" class=' in text(client.get(to_japanese["Location"]))



@pytest.mark.parametrize("count", [3, 30])
def test_course_page_query_count_does_not_grow_with_sessions(client, site, django_assert_max_num_queries, count):
    course = factories.course()
    for i in range(count):
        session = factories.session(course_page=course, capacity=2, starts_in=timedelta(days=1 + i))
        factories.registration(session_obj=session)
        if i % 2:
            factories.registration(session_obj=session)
            factories.registration(session_obj=session, status=Status.WAITLISTED)
    client.get(page_url(course))  # warm per-process caches (content types, site root paths)

    with django_assert_max_num_queries(QUERY_BUDGET):
        response = client.get(page_url(course))

    assert len(response.context["sessions"]) == min(count, 20)  # a page of dates (DEKIRU_COURSE_PAGE_SESSIONS)


def test_course_page_query_count_is_the_same_for_3_and_30_sessions(client, site):
    counts = {}
    for count in (3, 30):
        course = factories.course()
        for i in range(count):
            session = factories.session(course_page=course, capacity=1, starts_in=timedelta(days=1 + i))
            factories.registration(session_obj=session)
            factories.registration(session_obj=session, status=Status.WAITLISTED)
        client.get(page_url(course))
        with CaptureQueriesContext(connection) as queries:
            html = text(client.get(page_url(course)))
        assert html.count("キャンセル待ち1人") == min(count, 20)  # a page of dates
        counts[count] = len(queries)

    assert counts[3] == counts[30], counts


# --- The register page --------------------------------------------------------------------------------------


def test_register_page_shows_the_form(client, site):
    session = factories.session(capacity=4)

    response = client.get(register_url(session))

    assert response.status_code == 200
    html = text(response)
    assert "講座に申し込む" in html
    assert "残り4席です。" in html
    for field in ("name", "kana", "phone", "email", "age_band", "ward", "device", "accessibility_needs",
                  "consent"):
        assert f'name="{field}"' in html
    assert '<form method="post" action="#form-errors" id="registration-form" novalidate>' in html


def test_register_page_for_a_full_session_offers_the_waiting_list(client, site):
    session = factories.session(capacity=1)
    factories.registration(session_obj=session)

    html = text(client.get(register_url(session)))

    assert "この日程は満席です。" in html
    assert "今お申し込みいただくとキャンセル待ちになります。" in html  # the review's button: キャンセル待ちに申し込む


def test_register_page_of_another_courses_session_is_404(client, site):
    session = factories.session()
    other_course = factories.course()

    response = client.get(page_url(other_course) + f"sessions/{session.pk}/register/")

    assert response.status_code == 404


def test_valid_post_confirms_and_redirects_to_the_confirmation_page(client, site):
    session = factories.session(capacity=3)

    response = client.post(register_url(session), form_data())

    registration = Registration.objects.get()
    assert registration.status == Status.CONFIRMED
    assert registration.channel == Registration.Channel.WEB
    assert registration.participant.name == "川崎 花子"
    assert registration.participant.kana == "カワサキ ハナコ"
    assert registration.participant.phone == "09012345678"
    assert registration.participant.language == "ja"
    assert registration.participant.consented_at is not None
    assert response.status_code == 302
    assert response["Location"] == manage_url(registration)


def test_confirmation_page_shows_everything_the_resident_needs(client, site):
    session = factories.session(capacity=3, notes="筆記用具をお持ちください。")
    venue = session.venue

    response = client.post(register_url(session), form_data(), follow=True)

    registration = Registration.objects.get()
    assert response.status_code == 200
    html = text(response)
    assert "お申し込みが完了しました" in html
    assert "川崎 花子様のお席を確保しました。" in html
    assert when(session) in html  # date and time
    assert "日時" in html
    assert "会場" in html
    assert venue.name in html
    assert venue.address in html
    assert f'<a href="{escape(venue.map_url)}"' in html
    assert "地図を開く" in html
    assert "持ち物" in html
    assert "お持ちのスマートフォン" in html
    assert "筆記用具をお持ちください。" in html
    assert f'href="{cancel_url(registration)}"' in html
    assert "この申込を取り消す" in html


def test_confirmation_page_in_english(client, site):
    session = factories.session(capacity=3)
    course = session.course
    course.what_to_bring_en = "Your smartphone"
    course.save_revision().publish()

    response = client.post(register_url(session, lang="en"), form_data(), follow=True)

    registration = Registration.objects.get()
    assert registration.participant.language == "en"
    html = text(response)
    assert response.redirect_chain[-1][0] == manage_url(registration, "en")
    assert '<html lang="en" class=' in html
    assert "You are registered" in html
    assert when(session, "en") in html
    assert "Open the map" in html
    assert "Your smartphone" in html
    assert f'href="{cancel_url(registration, "en")}"' in html


def test_full_session_post_waitlists_with_the_position(client, site):
    session = factories.session(capacity=1)
    factories.registration(session_obj=session)
    factories.registration(session_obj=session, status=Status.WAITLISTED)

    response = client.post(register_url(session), form_data(), follow=True)

    registration = Registration.objects.get(participant__name="川崎 花子")
    assert registration.status == Status.WAITLISTED
    html = text(response)
    assert "キャンセル待ちで受け付けました" in html
    assert "キャンセル待ちの2番目です。" in html
    assert f'href="{cancel_url(registration)}"' in html


# --- Invalid input: 400, a specific message, nothing created -------------------------------------------------

INVALID = {
    # case: (form overrides, Japanese message, English message)
    "bad-phone": ({"phone": "12-34"}, "電話番号は、0から始まる10桁か11桁の数字で入力してください。",
                  "Please enter a phone number of 10 or 11 digits, starting with 0."),
    "bad-email": ({"phone": "", "email": "hanako@"}, "メールアドレスを正しく入力してください。",
                  "Please enter a valid e-mail address."),
    "no-contact": ({"phone": "", "email": ""}, "ご連絡のため、メールアドレスか電話番号を入力してください。",
                   "Please give an e-mail address or a phone number so that we can reach you."),
    "no-consent": ({"consent": None}, "申し込むには、「個人情報の取り扱い」に同意してください。",
                   "Please agree to the privacy policy to register."),
    "kana-in-kanji": ({"kana": "川崎 花子"}, "お名前をカタカナかひらがなで入力してください。",
                      "Please write your name in katakana or hiragana."),
    "missing-name": ({"name": ""}, "お名前を入力してください。", "Please enter your name."),
    "blank-name": ({"name": "　 "}, "お名前を入力してください。", "Please enter your name."),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_input_is_refused_in_japanese(client, site, case):
    overrides, japanese, _english = INVALID[case]
    session = factories.session()

    response = client.post(register_url(session), form_data(**overrides))

    assert response.status_code == 400
    html = text(response)
    assert "下の印がついた項目を確かめてください。" in html
    assert escape(japanese) in html
    assert nothing_created()


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_input_is_refused_in_english(client, site, case):
    overrides, _japanese, english = INVALID[case]
    session = factories.session()

    response = client.post(register_url(session, lang="en"), form_data(**overrides))

    assert response.status_code == 400
    html = text(response)
    assert "Please check the items marked below." in html
    assert escape(english) in html
    assert nothing_created()


@pytest.mark.parametrize("name", ["", "　"])
def test_missing_name_gets_its_own_message(client, site, name):
    session = factories.session()

    response = client.post(register_url(session), form_data(name=name))

    assert response.status_code == 400
    assert "お名前を入力してください。" in text(response)


def test_invalid_form_keeps_what_was_typed(client, site):
    session = factories.session()

    html = text(client.post(register_url(session), form_data(phone="12-34", accessibility_needs="補聴器")))

    assert 'value="川崎 花子"' in html
    assert "補聴器" in html


# --- A repeated submission (double click) ---------------------------------------------------------------------


def test_second_identical_post_redirects_to_already_registered_without_the_booking(client, site):
    session = factories.session()
    first = client.post(register_url(session), form_data())
    registration = Registration.objects.get()
    token = first["Location"].split("/")[-2]

    # A double click, typed slightly differently: full-width digits and dashes.
    second = client.post(register_url(session), form_data(phone="０９０－１２３４－５６７８"))

    assert second.status_code == 302
    assert second["Location"] == reverse("courses:already_registered")
    assert Registration.objects.count() == 1
    assert Participant.objects.count() == 1
    page = client.get(second["Location"])
    assert page.status_code == 200
    html = text(page)
    assert "すでにお申し込みいただいています" in html
    assert token not in html
    assert token.split(":")[0] not in html  # not even the signed payload
    assert registration.token_key not in html
    assert "/cancel/" not in html
    assert "/registrations/" + token[:8] not in html
    assert registration_token(registration).split(":")[0] not in html


def test_second_identical_post_in_english(client, site):
    session = factories.session()
    client.post(register_url(session, lang="en"), form_data())

    second = client.post(register_url(session, lang="en"), form_data())

    assert second.status_code == 302
    with override("en"):
        assert second["Location"] == reverse("courses:already_registered")
    assert "You are already registered" in text(client.get(second["Location"]))
    assert Registration.objects.count() == 1


def test_family_members_sharing_a_phone_are_both_registered(client, site):
    session = factories.session()

    client.post(register_url(session), form_data(name="川崎 花子"))
    second = client.post(register_url(session), form_data(name="川崎 太郎", kana="カワサキ タロウ"))

    assert second["Location"] != reverse("courses:already_registered")
    assert Registration.objects.count() == 2


def proxy_booking(**overrides) -> dict:
    """A daughter books for her mother, who has no phone or e-mail of her own."""
    return form_data(booking_for="other", name="川崎 ウメ", kana="カワサキ ウメ", phone="", email="",
                     booker_name="川崎 花子", booker_relationship="娘", booker_phone="080-9999-8888",
                     **overrides)


def test_proxy_booking_for_someone_without_contact(client, site):
    session = factories.session()

    response = client.post(register_url(session), proxy_booking())

    registration = Registration.objects.get()
    assert response.status_code == 302
    assert response["Location"] == manage_url(registration)
    assert (registration.participant.name, registration.participant.phone) == ("川崎 ウメ", "")
    assert (registration.booked_by, registration.booker_name, registration.booker_relationship,
            registration.booker_phone) == (Registration.BookedBy.FAMILY, "川崎 花子", "娘", "08099998888")


def test_double_click_on_a_proxy_booking_books_once(client, site):
    session = factories.session()
    client.post(register_url(session), proxy_booking())

    second = client.post(register_url(session), proxy_booking())

    assert second["Location"] == reverse("courses:already_registered")
    assert Registration.objects.count() == 1
    assert Participant.objects.count() == 1


# --- Sessions that cannot be booked ------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "japanese", "english"), [
    ({"status": Session.Status.CANCELLED, "cancellation_reason": "台風の接近のため"},
     "この日程は中止になりました。", "This session has been cancelled."),
    ({"starts_in": -timedelta(minutes=30)},
     "この日程は、すでに始まっているか終わっています。", "This session has already started or taken place."),
    ({"registration_closes_at": "past"},
     "この日程の申込受付は終了しました。", "Registration for this session has closed."),
    ({"registration_opens_at": "future"},
     "この日程の申込受付は、まだ始まっていません。", "Registration for this session has not opened yet."),
], ids=["cancelled", "past", "closed", "not-open"])
def test_unbookable_session_shows_the_refusal_and_post_creates_nothing(client, site, fields, japanese, english):
    fields = dict(fields)
    if fields.get("registration_closes_at") == "past":
        fields["registration_closes_at"] = timezone.now() - timedelta(minutes=1)
    if fields.get("registration_opens_at") == "future":
        fields["registration_opens_at"] = timezone.now() + timedelta(days=1)
    session = factories.session(**fields)

    page = client.get(register_url(session))
    english_page = client.get(register_url(session, lang="en"))
    post = client.post(register_url(session), form_data())

    assert page.status_code == 200
    assert japanese in text(page)
    assert '<form method="post" action="#form-errors" novalidate>' not in text(page)
    assert english in text(english_page)
    assert post.status_code == 400
    assert japanese in text(post)
    assert nothing_created()


# --- Cancelling -----------------------------------------------------------------------------------------------


def test_cancel_page_asks_for_confirmation(client, site):
    session = factories.session()
    registration = factories.registration(session_obj=session)

    response = client.get(cancel_url(registration))

    assert response.status_code == 200
    html = text(response)
    assert "申込を取り消しますか？" in html
    assert re.search(r'<form method="post">\s*<input type="hidden" name="csrfmiddlewaretoken"', html)
    assert "はい、取り消します" in html
    assert f'href="{manage_url(registration)}"' in html
    assert reload(registration).status == Status.CONFIRMED  # a GET changes nothing


def test_cancel_post_cancels_and_promotes_the_first_waiting(client, site):
    session = factories.session(capacity=1)
    registration = factories.registration(session_obj=session)
    second = factories.registration(session_obj=session, status=Status.WAITLISTED, waitlist_position=2)
    first = factories.registration(session_obj=session, status=Status.WAITLISTED, waitlist_position=1)

    response = client.post(cancel_url(registration), follow=True)

    assert response.redirect_chain == [(manage_url(registration), 302)]
    assert reload(registration).status == Status.CANCELLED
    assert reload(first).status == Status.CONFIRMED
    assert reload(second).status == Status.WAITLISTED
    html = text(response)
    assert "申込を取り消しました。" in html
    assert "申込の取り消し" in html
    assert "この申込は取り消されました。" in html
    assert "この申込を取り消す" not in html  # no cancel link for a cancelled registration

    # Pressing the button again (back button, double click) does nothing harmful.
    again = client.post(cancel_url(registration))

    assert again.status_code in (302, 400)
    if again.status_code == 400:
        assert "この申込は、すでに取り消されています。" in text(again)
    assert reload(registration).status == Status.CANCELLED
    assert reload(first).status == Status.CONFIRMED
    assert reload(second).status == Status.WAITLISTED
    assert session.registrations.filter(status=Status.CONFIRMED).count() == 1


def test_cancel_page_of_a_cancelled_registration_sends_back_to_the_confirmation(client, site):
    session = factories.session()
    registration = factories.registration(session_obj=session, status=Status.CANCELLED)

    response = client.get(cancel_url(registration))

    assert response.status_code == 302
    assert response["Location"] == manage_url(registration)


def test_cancel_after_the_start_is_refused(client, site):
    session = factories.session(starts_in=-timedelta(minutes=10))
    registration = factories.registration(session_obj=session)

    response = client.post(cancel_url(registration))

    assert response.status_code == 400
    assert "この日程は、すでに始まっているか終わっています。" in text(response)
    assert reload(registration).status == Status.CONFIRMED


def test_a_tampered_or_foreign_link_is_404(client, site):
    session = factories.session()
    registration = factories.registration(session_obj=session)
    token = registration_token(registration)
    # Change the signature (not its last character, whose low bits base64 ignores).
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    # Validly signed, but with another key: what someone guessing ids would try.
    wrong_key = signing.Signer(salt=SALT).sign_object([registration.pk, "not-the-key"])

    assert client.get(reverse("courses:registration", args=[tampered])).status_code == 404
    assert client.post(reverse("courses:cancel", args=[tampered])).status_code == 404
    assert client.get(reverse("courses:registration", args=[wrong_key])).status_code == 404
    assert client.post(reverse("courses:cancel", args=[wrong_key])).status_code == 404
    assert reload(registration).status == Status.CONFIRMED


# --- The whole journey ----------------------------------------------------------------------------------------


def test_full_journey_fill_waitlist_cancel_promote(client, site):
    course = factories.course()
    session = factories.session(course_page=course, capacity=2)

    first = client.post(register_url(session), person(1))
    second = client.post(register_url(session), person(2))
    third = client.post(register_url(session), person(3))

    assert [r.status_code for r in (first, second, third)] == [302, 302, 302]
    assert "キャンセル待ちで受け付けました" not in text(client.get(second["Location"]))
    third_page = text(client.get(third["Location"]))
    assert "キャンセル待ちの1番目です。" in third_page
    course_page = text(client.get(page_url(course)))
    assert "満席" in course_page and "キャンセル待ち1人" in course_page

    # The first person cancels through the link on their confirmation page.
    first_page = text(client.get(first["Location"]))
    assert "お申し込みが完了しました" in first_page
    link = re.search(r'href="([^"]+/cancel/)"', first_page).group(1)
    assert "はい、取り消します" in text(client.get(link))
    cancelled = client.post(link)
    assert cancelled.status_code == 302

    statuses = dict(Registration.objects.values_list("participant__name", "status"))
    assert statuses == {"受講 者1": Status.CANCELLED, "受講 者2": Status.CONFIRMED, "受講 者3": Status.CONFIRMED}
    third_page = text(client.get(third["Location"]))
    assert "お申し込みが完了しました" in third_page
    assert "受講 者3様のお席を確保しました。" in third_page
    assert "キャンセル待ちで受け付けました" not in third_page
    course_page = text(client.get(page_url(course)))
    assert "残り" not in course_page and "満席" in course_page
