"""What residents read: every message kind in Japanese and English, large type, the personal calendar file, and the
booker told when the person attending has no contact of their own (courses.emails)."""

import re
from datetime import timedelta

import icalendar
import pytest
from django.utils import timezone
from wagtail import hooks

from courses import emails, outbox
from courses.models import OutgoingMessage, Registration
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Kind, Status = OutgoingMessage.Kind, Registration.Status

# The state each kind of message is about.
STATES = {
    Kind.CONFIRMED: Status.CONFIRMED,
    Kind.WAITLISTED: Status.WAITLISTED,
    Kind.PROMOTED: Status.CONFIRMED,
    Kind.REMINDER: Status.CONFIRMED,
    Kind.CANCELLED_BY_RESIDENT: Status.CANCELLED,
    Kind.SESSION_CANCELLED: Status.CONFIRMED,
    Kind.SESSION_MOVED: Status.CONFIRMED,
    Kind.AFTER_SESSION: Status.ATTENDED,
    Kind.RESENT: Status.CONFIRMED,
    Kind.FOLLOW_UP: Status.ATTENDED,
}

# A phrase each message must say, in Japanese and in English.
SAYS = {
    Kind.CONFIRMED: ("お席を確保しました", "Your place is booked"),
    Kind.WAITLISTED: ("キャンセル待ちの1番目です", "You are number 1 on the waiting list"),
    Kind.PROMOTED: ("キャンセル待ちから繰り上がり", "a seat has become free"),
    Kind.REMINDER: ("講座が近づきましたので", "This is a reminder"),
    Kind.CANCELLED_BY_RESIDENT: ("お申し込みを取り消しました", "has been cancelled"),
    Kind.SESSION_CANCELLED: ("中止になりました", "has been cancelled"),
    Kind.SESSION_MOVED: ("変更前", "Before:"),
    Kind.AFTER_SESSION: ("ご参加いただき、ありがとうございました", "Thank you for coming"),
    Kind.RESENT: ("もう一度", "once more"),
    Kind.FOLLOW_UP: ("約1か月前に", "About a month ago"),
}

SUBJECT_STARTS = {
    Kind.CONFIRMED: "【申込完了】", Kind.WAITLISTED: "【キャンセル待ち】", Kind.PROMOTED: "【お席をご用意しました】",
    Kind.REMINDER: "【開催のお知らせ】", Kind.CANCELLED_BY_RESIDENT: "【申込の取り消し】",
    Kind.SESSION_CANCELLED: "【中止のお知らせ】", Kind.SESSION_MOVED: "【日時・会場の変更】",
    Kind.AFTER_SESSION: "【ご参加ありがとうございました】", Kind.RESENT: "【申込内容の再送】",
    Kind.FOLLOW_UP: "【その後のご様子をお聞かせください】",
}


def message_for(kind, *, language="ja", email="taro@example.jp", **participant_fields) -> OutgoingMessage:
    """A saved message of `kind` about a registration in the state that kind is about."""
    past = kind == Kind.AFTER_SESSION
    session = factories.session(starts_in=timedelta(days=-1) if past else timedelta(days=3))
    participant_fields.setdefault("phone", "")
    participant = factories.participant(email=email, language=language, **participant_fields)
    registration = factories.registration(session_obj=session, participant=participant, status=STATES[kind])
    context = {}
    if kind == Kind.SESSION_CANCELLED:
        session.status, session.cancellation_reason = session.Status.CANCELLED, "講師の体調不良のため"
        session.save()
        context = {"reason": session.cancellation_reason}
    if kind == Kind.SESSION_MOVED:
        old_start, old_end = session.starts_at, session.ends_at
        session.starts_at += timedelta(days=1)
        session.ends_at += timedelta(days=1)
        session.save()
        context = {"changes": {"starts_at": [old_start.isoformat(), session.starts_at.isoformat()],
                               "ends_at": [old_end.isoformat(), session.ends_at.isoformat()]}}
    if kind == Kind.REMINDER:
        context = {"starts_at": outbox.local_iso(session.starts_at)}
    message = outbox.build_message(kind, registration, context=context)
    message.save()
    return OutgoingMessage.objects.select_related(*outbox._RELATED).get(pk=message.pk)


def visible_text(html: str) -> str:
    html = re.sub(r"<head>.*?</head>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def english_words(text: str) -> list[str]:
    """Latin words left in a Japanese text, links aside."""
    text = re.sub(r"https?://\S+", "", text)
    return re.findall(r"[A-Za-z]{3,}", text)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_renders_in_japanese(site, kind):
    message = message_for(kind)
    rendered = emails.render(message)
    course = message.session.course

    assert rendered.subject.startswith(SUBJECT_STARTS[kind])
    assert course.title in rendered.subject
    assert "\n" not in rendered.subject
    assert SAYS[kind][0] in rendered.text
    assert SAYS[kind][0] in visible_text(rendered.html)
    assert rendered.text.startswith(f"{message.to_name} 様")
    # Nothing left in English: the subject, the text and what the HTML shows are all translated.
    assert english_words(rendered.subject) == []
    assert english_words(rendered.text) == [], rendered.text
    assert english_words(visible_text(rendered.html)) == []
    assert "<html lang=\"ja\">" in rendered.html


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_renders_in_english(site, kind):
    message = message_for(kind, language="en")
    rendered = emails.render(message)
    course = message.session.course

    assert course.title_en in rendered.subject
    assert SAYS[kind][1] in rendered.text
    assert SAYS[kind][1] in visible_text(rendered.html)
    assert rendered.text.startswith(f"Dear {message.to_name},")
    assert not re.search(r"[ぁ-んァ-ヶ]", rendered.subject.replace(course.title_en, "")), rendered.subject
    assert "<html lang=\"en\">" in rendered.html


def test_dates_are_written_the_japanese_way(site):
    message = message_for(Kind.CONFIRMED)
    session = message.registration.session
    session.starts_at = timezone.make_aware(timezone.datetime(2027, 1, 5, 10, 0))
    session.ends_at = timezone.make_aware(timezone.datetime(2027, 1, 5, 11, 30))
    session.save()
    rendered = emails.render(message, now=session.starts_at - timedelta(days=2))
    assert "2027年1月5日（火） 10:00〜11:30" in rendered.text
    assert "2027年1月5日（火）" in rendered.subject

    message.language = "en"
    assert "Tue 5 January 2027, 10:00–11:30" in emails.render(message, now=session.starts_at - timedelta(days=2)).text


def test_html_uses_large_type_and_no_images(site):
    for kind in Kind:
        html = emails.render(message_for(kind)).html
        sizes = [int(size) for size in re.findall(r"font-size:(\d+)px", html)]
        assert sizes and min(sizes) >= 18, kind
        assert "font-size:20px" in html
        assert "<img" not in html


def test_plain_text_is_not_html_escaped(site):
    message = message_for(Kind.CONFIRMED)
    course = message.session.course
    course.title = "LINE & 写真 <入門>"
    course.save_revision().publish()
    message.refresh_from_db()
    text = emails.render(OutgoingMessage.objects.select_related(*outbox._RELATED).get(pk=message.pk)).text
    assert "LINE & 写真 <入門>" in text
    assert "&amp;" not in text


def test_confirmation_carries_the_personal_calendar_file_with_the_cancel_link(site):
    message = message_for(Kind.CONFIRMED)
    registration = message.registration
    rendered = emails.render(message)

    [attachment] = calendar_files(rendered)
    assert attachment.filename == f"dekiru-session-{registration.session_id}.ics"
    assert attachment.mimetype == "text/calendar"
    calendar = icalendar.Calendar.from_ical(attachment.content)
    [event] = calendar.walk("VEVENT")
    cancel_url = "http://127.0.0.1:8000" + registration.get_cancel_url()
    assert cancel_url in str(event["DESCRIPTION"])
    assert cancel_url in rendered.text and cancel_url in rendered.html
    # Nothing about the person in the calendar file.
    content = attachment.content.decode()
    assert registration.participant.name not in content and "taro@example.jp" not in content
    assert event["DTSTART"].dt == registration.session.starts_at


@pytest.mark.parametrize("kind", [Kind.PROMOTED, Kind.SESSION_MOVED, Kind.RESENT])
def test_a_seat_and_a_new_time_come_with_the_calendar_file(site, kind):
    message = message_for(kind)
    [attachment] = calendar_files(emails.render(message))
    assert attachment.filename == f"dekiru-session-{message.session_id}.ics"


@pytest.mark.parametrize("kind", [Kind.WAITLISTED, Kind.CANCELLED_BY_RESIDENT, Kind.SESSION_CANCELLED,
                                  Kind.AFTER_SESSION, Kind.REMINDER])
def test_no_calendar_file_without_a_seat_to_add(site, kind):
    assert calendar_files(emails.render(message_for(kind))) == []


def calendar_files(rendered):
    """The calendar attachments (a message that brings someone to the door also carries the check-in QR,
    tests/courses/test_checkin_email.py)."""
    return [attachment for attachment in rendered.attachments if attachment.mimetype == "text/calendar"]


def test_session_moved_says_what_changed(site):
    message = message_for(Kind.SESSION_MOVED)
    session = message.registration.session
    before = emails.when(session.starts_at - timedelta(days=1), session.ends_at - timedelta(days=1))
    after = emails.when(session.starts_at, session.ends_at)
    text = emails.render(message).text
    assert f"変更前：{before}" in text
    assert f"変更後：{after}" in text


def test_moving_to_another_venue_names_both(site):
    message = message_for(Kind.SESSION_MOVED)
    session = message.registration.session
    old_venue = session.venue
    session.venue = factories.venue(name="中原市民館")
    session.save()
    message.context = {"changes": {"venue": [old_venue.pk, session.venue.pk]}}
    text = emails.render(message).text
    assert f"変更前：{old_venue.name}" in text and "変更後：中原市民館" in text


def test_the_booker_hears_when_the_person_has_no_contact(site):
    session = factories.session()
    parent = factories.participant(name="川崎 トメ", phone="", email="")
    registration = factories.registration(session_obj=session, participant=parent, booker_name="川崎 花子",
                                          booker_email="hanako@example.jp", booked_by="family")
    message = outbox.build_message(Kind.CONFIRMED, registration)
    assert (message.to_email, message.to_name, message.to_booker) == ("hanako@example.jp", "川崎 花子", True)
    text = emails.render(message).text
    assert text.startswith("川崎 花子 様")
    assert "川崎 トメ様の代わりにお申し込みいただいた講座について" in text


def test_a_waitlisted_person_is_told_their_current_position(site):
    session = factories.session(capacity=0)
    first = factories.registration(session_obj=session, status=Status.WAITLISTED)
    second = factories.registration(session_obj=session, status=Status.WAITLISTED,
                                    participant=factories.participant(email="second@example.jp"))
    message = outbox.build_message(Kind.WAITLISTED, second)
    assert "キャンセル待ちの2番目です" in emails.render(message).text
    first.status, first.waitlist_position = Status.CANCELLED, None
    first.save()
    assert "キャンセル待ちの1番目です" in emails.render(message).text


def test_a_call_list_text_has_no_links_to_read_out(site):
    message = message_for(Kind.CONFIRMED, email="", phone="09012345678")
    assert message.channel == OutgoingMessage.Channel.PHONE
    text = outbox.text_to_read(message)
    assert "http" not in text
    assert "お電話でお知らせください" in text
    assert message.session.course.title in text


def test_after_session_has_a_slot_for_follow_up_links(site):
    def self_assessment(message, context):
        if message.kind == Kind.AFTER_SESSION:
            context["followup_links"].append({"label": "できることチェック", "url": "https://example.jp/check"})

    with hooks.register_temporarily("construct_message_context", self_assessment):
        rendered = emails.render(message_for(Kind.AFTER_SESSION))
    assert "できることチェック\nhttps://example.jp/check" in rendered.text
    assert 'href="https://example.jp/check"' in rendered.html


def test_enquiry_phone_from_the_site_settings(site):
    from cms.models import SiteSettings

    site_settings = SiteSettings.for_site(site)
    site_settings.phone_number = "044-200-0000"
    site_settings.phone_hours = "平日 9:00〜17:00"
    site_settings.save()
    rendered = emails.render(message_for(Kind.REMINDER))
    assert "お問い合わせ：044-200-0000（平日 9:00〜17:00）" in rendered.text
    assert "044-200-0000" in rendered.html
