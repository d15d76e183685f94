"""Linking a resident's LINE to their booking (courses.line_linking): one-time codes, the offer on the booking page,
e-mail and slip, the signed and replay-safe webhook (requests built from LINE's webhook.yml, tests/line_webhook.py),
the form's LINE choice, and the privacy rules (purge, export, partner staff never see a LINE id)."""

import datetime as dt
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone, translation

from cms import line
from courses import data_requests, line_linking, retention
from courses.forms import RegistrationForm
from courses.models import (
    LineLinkCode,
    LineWebhookEvent,
    OutgoingMessage,
    Participant,
    Registration,
    UndeliverableContact,
)
from partners.services import add_membership
from tests import factories
from tests import fake_line as fake_line_module
from tests import line_webhook as wh
from tests.courses.test_registration_review import form_data

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

SECRET = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
USER = wh.user_id(7)
Status, Channel = OutgoingMessage.Status, OutgoingMessage.Channel


class Recorder:
    """Stands in for cms.line's sender: records the replies."""

    def __init__(self):
        self.replies = []
        self.closed = 0

    def reply(self, reply_token, texts):
        line.text_messages(texts)  # what cms.line would refuse, refused here too
        self.replies.append((reply_token, texts))

    def push(self, to, texts, *, retry_key):
        raise AssertionError("the webhook never pushes")

    def close(self):
        self.closed += 1


@pytest.fixture
def line_on(settings, monkeypatch):
    settings.DEKIRU_LINE_CHANNEL_SECRET = SECRET
    settings.DEKIRU_LINE_BOT_BASIC_ID = "@dekiru"
    settings.DEKIRU_LINE_BACKEND = "console"
    recorder = Recorder()
    monkeypatch.setattr(line, "get_sender", lambda: recorder)
    cache.clear()
    return recorder


@pytest.fixture
def booking(site):
    session = factories.session()
    person = factories.participant(email="hanako@example.jp", language="ja")
    return factories.registration(session_obj=session, participant=person, notify_by="email")


def send(client, *events, secret=SECRET):
    return wh.post(client, wh.body_of(*events), secret=secret)


def replies(recorder) -> list[str]:
    return [text for _token, texts in recorder.replies for text in texts]


# --- Codes ------------------------------------------------------------------------------------------------------

def test_a_code_is_six_digits_unique_and_expires(booking, settings):
    settings.DEKIRU_LINE_CODE_HOURS = 48
    now = timezone.now()
    codes = {line_linking.new_code(booking, for_booker=False, now=now).code for _ in range(50)}
    assert len(codes) == 50 and all(re.fullmatch(r"\d{6}", code) for code in codes)
    code = LineLinkCode.objects.get(code=codes.pop())
    assert code.expires_at == now + dt.timedelta(hours=48) and code.used_at is None


def test_the_same_code_is_shown_until_half_its_time_is_gone(booking):
    now = timezone.now()
    first = line_linking.current_code(booking, for_booker=False, now=now)
    assert line_linking.current_code(booking, for_booker=False, now=now + dt.timedelta(hours=30)) == first
    later = line_linking.current_code(booking, for_booker=False, now=now + dt.timedelta(hours=40))
    assert later != first


@pytest.mark.parametrize(("text", "code"), [
    ("123456", "123456"), ("１２３４５６", "123456"), ("123 456", "123456"), ("123-456", "123456"),
    ("LINE連携コード：123456", "123456"), ("コード 12345", ""), ("ありがとう", None), ("1234567", ""),
    ("\x00" * 10 + "654321", "654321"), ("9" * 10_000, ""),
])
def test_codes_are_read_as_residents_type_them(text, code):
    assert line_linking.parse_code(text) == code


# --- The offer --------------------------------------------------------------------------------------------------

def test_no_offer_while_line_is_off(booking, client):
    assert line_linking.offer_for(booking) is None
    page = client.get(booking.get_manage_url()).content.decode()
    assert "line.me" not in page and not LineLinkCode.objects.exists()


def test_the_booking_page_offers_line_with_a_code_and_a_one_tap_link(booking, client, line_on):
    with translation.override("ja"):
        page = client.get(booking.get_manage_url(), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    code = LineLinkCode.objects.get(registration=booking)
    assert not code.for_booker
    assert "LINEで受け取る" in page
    assert f"{code.code[:3]} {code.code[3:]}" in page
    assert "https://line.me/R/ti/p/%40dekiru" in page
    assert "https://line.me/R/oaMessage/%40dekiru/?" in page and code.code in page
    # The page again: the same code, no new row.
    client.get(booking.get_manage_url())
    assert LineLinkCode.objects.filter(registration=booking).count() == 1


def test_the_offer_is_for_the_booker_when_messages_go_to_them(site, line_on):
    person = factories.participant(phone="", email="")
    booking = factories.registration(session_obj=factories.session(), participant=person, booked_by="family",
                                     booker_name="川崎 一郎", booker_phone="09099998888")
    offer = line_linking.offer_for(booking)
    assert offer.to_booker and LineLinkCode.objects.get(code=offer.code).for_booker


def test_the_confirmation_email_and_the_slip_carry_the_offer(booking, line_on):
    from courses import emails

    message = OutgoingMessage.objects.create(key="confirmed:t", kind="confirmed", registration=booking,
                                             session=booking.session, to_email="hanako@example.jp", language="ja")
    rendered = emails.render(message)
    code = LineLinkCode.objects.get(registration=booking).code
    assert code[:3] + " " + code[3:] in rendered.text and "oaMessage/%40dekiru" in rendered.html
    assert "LINEで受け取る" in rendered.text

    from django.template.loader import render_to_string

    with translation.override("ja"):
        slip = render_to_string("courses/slip.html", {"registration": booking, "session": booking.session,
                                                      "course": booking.session.course})
    assert "data:image/svg+xml" in slip and code[:3] + " " + code[3:] in slip and "@dekiru" in slip


def test_a_linked_booking_is_not_offered_a_code_again(booking, client, line_on):
    Participant.objects.filter(pk=booking.participant_id).update(line_user_id=USER)
    booking.refresh_from_db()
    assert not line_linking.offer_for(booking).linked  # linked, but this booking goes by e-mail: a code to switch
    LineLinkCode.objects.all().delete()
    Registration.objects.filter(pk=booking.pk).update(notify_by="line")
    booking.refresh_from_db()
    assert line_linking.offer_for(booking).linked
    page = client.get(booking.get_manage_url()).content.decode()
    assert "LINEの登録が済んでいます" in page and not LineLinkCode.objects.exists()
    assert USER not in page  # the id itself is never shown


# --- The webhook: signature and body ----------------------------------------------------------------------------

def test_a_valid_signature_is_accepted_and_a_bad_or_missing_one_refused(booking, client, line_on):
    code = line_linking.new_code(booking, for_booker=False)
    body = wh.body_of(wh.text_message(code.code, user=USER))
    assert wh.post(client, body, signature=wh.sign(body, "another secret")).status_code == 400
    assert wh.post(client, body).status_code == 400
    assert wh.post(client, body, signature="").status_code == 400
    assert wh.post(client, body, signature="ä" * 50).status_code == 400
    assert not LineWebhookEvent.objects.exists() and line_on.replies == []
    booking.participant.refresh_from_db()
    assert booking.participant.line_user_id == ""
    assert wh.post(client, body, secret=SECRET).status_code == 200
    booking.participant.refresh_from_db()
    assert booking.participant.line_user_id == USER


def test_without_a_channel_secret_nothing_is_accepted(booking, client, line_on, settings):
    settings.DEKIRU_LINE_CHANNEL_SECRET = ""
    body = wh.body_of(wh.follow(user=USER))
    assert wh.post(client, body, secret="").status_code == 400
    assert client.get("/line/webhook").status_code == 405


def test_a_verification_request_with_no_events_is_answered(client, line_on, site):
    assert send(client).status_code == 200


@pytest.mark.parametrize("body", [
    b"", b"not json", b"\x00\x00\x00", b'{"events": "x"}', b'{"destination": "x"}', b"[]", b'{"events": [1]}',
    b'{"events": [{"type": "message"}]}', '{"events": [{"type": "message", "text": "\u0000"}]}'.encode(),
    b'{"events": [{"type":"follow","webhookEventId":"\\u0000","source":{"type":"user","userId":"\\u0000"}}]}',
    b"\xff\xfe", b"{" * 5000, json.dumps({"destination": "U" + "0" * 32, "events": [
        {"type": "message", "webhookEventId": "A" * 500, "deliveryContext": {"isRedelivery": False},
         "timestamp": 1, "mode": "active", "source": {"type": "user", "userId": "U" + "1" * 32},
         "replyToken": "r", "message": {"type": "text", "id": "1", "text": "1" * 100_000, "quoteToken": "q"}}]}
    ).encode(),
])
def test_junk_signed_bodies_never_fail_the_server(body, client, line_on, site):
    response = wh.post(client, body, secret=SECRET)
    assert response.status_code in (200, 400)
    assert all("\x00" not in event_id for event_id in LineWebhookEvent.objects.values_list("event_id", flat=True))


def test_a_huge_body_is_refused_unread(client, line_on, site):
    body = b'{"events": [], "x": "' + b"a" * (line_linking.MAX_BODY + 10) + b'"}'
    assert wh.post(client, body, secret=SECRET).status_code == 413


# --- Events -----------------------------------------------------------------------------------------------------

def test_a_code_links_the_resident_and_moves_waiting_messages(booking, client, line_on):
    waiting = OutgoingMessage.objects.create(key="reminder:t", kind="reminder", registration=booking,
                                             session=booking.session, to_email="hanako@example.jp")
    called = OutgoingMessage.objects.create(key="promoted:t", kind="promoted", registration=booking,
                                            session=booking.session, channel=Channel.PHONE, status=Status.TO_CALL,
                                            to_phone="09012345678")
    uncertain = OutgoingMessage.objects.create(key="resent:t", kind="resent", registration=booking,
                                               session=booking.session, to_email="hanako@example.jp",
                                               uncertain_attempts=1)
    sent = OutgoingMessage.objects.create(key="confirmed:t", kind="confirmed", registration=booking,
                                          session=booking.session, status=Status.SENT, sent_at=timezone.now())
    code = line_linking.new_code(booking, for_booker=False)
    assert send(client, wh.text_message(f"LINE連携コード：{code.code}", user=USER)).status_code == 200

    booking.refresh_from_db()
    person = booking.participant
    assert person.line_user_id == USER and person.line_linked_at is not None
    assert booking.notify_by == Registration.NotifyBy.LINE and booking.booker_line_user_id == ""
    code.refresh_from_db()
    assert code.used_at is not None
    for message in (waiting, called):
        message.refresh_from_db()
        assert (message.channel, message.status, message.to_line) == (Channel.LINE, Status.PENDING, USER)
    for message, channel in ((uncertain, Channel.EMAIL), (sent, Channel.EMAIL)):
        message.refresh_from_db()
        assert message.channel == channel and message.to_line == ""
    [text] = replies(line_on)
    assert "LINEの登録ができました" in text and booking.reference_display in text
    assert str(booking.session.course.title) in text and line_on.closed == 1


def test_the_reply_is_in_the_residents_language(site, client, line_on):
    person = factories.participant(email="maria@example.jp", language="en")
    booking = factories.registration(session_obj=factories.session(), participant=person)
    code = line_linking.new_code(booking, for_booker=False)
    send(client, wh.text_message(code.code, user=USER))
    [text] = replies(line_on)
    assert text.startswith("Your LINE is now linked.") and booking.reference_display in text


def test_a_code_for_the_booker_links_the_booker_only(site, client, line_on):
    person = factories.participant(phone="", email="")
    booking = factories.registration(session_obj=factories.session(), participant=person, booked_by="family",
                                     booker_name="川崎 一郎", booker_email="ichiro@example.jp")
    mine = OutgoingMessage.objects.create(key="reminder:b", kind="reminder", registration=booking,
                                          session=booking.session, to_email="ichiro@example.jp", to_booker=True)
    code = line_linking.new_code(booking, for_booker=True)
    send(client, wh.text_message(code.code, user=USER))
    booking.refresh_from_db()
    assert booking.booker_line_user_id == USER and booking.participant.line_user_id == ""
    mine.refresh_from_db()
    assert mine.channel == Channel.LINE and mine.to_line == USER
    assert "次回のお申し込み" not in replies(line_on)[0]  # the booker's link serves this booking only


def test_the_residents_link_serves_their_later_bookings(booking, client, line_on):
    send(client, wh.text_message(line_linking.new_code(booking, for_booker=False).code, user=USER))
    later = factories.registration(session_obj=factories.session(), participant=booking.participant)
    later = Registration.objects.select_related("participant").get(pk=later.pk)
    assert later.participant.line_user_id == USER
    # Chosen on the next booking, LINE needs no new code: the outbox sends by LINE at once.
    later.notify_by = Registration.NotifyBy.LINE
    assert line_linking.offer_for(later).linked
    from courses import outbox
    from courses.recipients import recipient_for

    assert outbox.channel_for(later, recipient_for(later)) == Channel.LINE


@pytest.mark.parametrize("case", ["unknown", "expired", "used", "short"])
def test_a_wrong_code_gets_help_and_links_nothing(booking, client, line_on, case):
    now = timezone.now()
    code = line_linking.new_code(booking, for_booker=False)
    text = {"unknown": f"{(int(code.code) + 1) % 10**6:06d}", "expired": code.code, "used": code.code,
            "short": "12345"}[case]
    if case == "expired":
        LineLinkCode.objects.filter(pk=code.pk).update(expires_at=now - dt.timedelta(seconds=1))
    if case == "used":
        LineLinkCode.objects.filter(pk=code.pk).update(used_at=now)
    assert send(client, wh.text_message(text, user=USER)).status_code == 200
    booking.participant.refresh_from_db()
    assert booking.participant.line_user_id == ""
    ja, en = replies(line_on)
    assert "コードを使えませんでした" in ja and "could not use this code" in en
    assert booking.reference_display not in ja + en and booking.participant.name not in ja + en


def test_guessing_codes_is_stopped(booking, client, line_on):
    code = line_linking.new_code(booking, for_booker=False)
    wrong = f"{(int(code.code) + 1) % 10**6:06d}"
    for _ in range(line_linking.FAILURE_LIMIT):
        send(client, wh.text_message(wrong, user=USER))
    line_on.replies.clear()
    send(client, wh.text_message(code.code, user=USER))
    booking.participant.refresh_from_db()
    assert booking.participant.line_user_id == "" and "1時間" in replies(line_on)[0]
    # Another LINE account is not held up.
    send(client, wh.text_message(code.code, user=wh.user_id(8)))
    booking.participant.refresh_from_db()
    assert booking.participant.line_user_id == wh.user_id(8)


def test_a_chat_without_a_code_gets_the_help(client, line_on, site):
    send(client, wh.text_message("こんにちは", user=USER))
    ja, en = replies(line_on)
    assert "6桁のコード" in ja and "6-digit code" in en


def test_follow_gets_a_greeting_asking_for_the_code(client, line_on, site):
    send(client, wh.follow(user=USER))
    ja, en = replies(line_on)
    assert "友だち追加" in ja and "6桁のコード" in ja and "code" in en


def test_unfollow_clears_the_link_everywhere(booking, client, line_on):
    other = factories.registration(session_obj=factories.session(), participant=factories.participant(),
                                   booked_by="family", booker_name="A", booker_line_user_id=USER)
    Participant.objects.filter(pk=booking.participant_id).update(line_user_id=USER, line_linked_at=timezone.now())
    keep = factories.participant(line_user_id=wh.user_id(9))
    send(client, wh.unfollow(user=USER))
    booking.participant.refresh_from_db()
    other.refresh_from_db()
    keep.refresh_from_db()
    assert (booking.participant.line_user_id, booking.participant.line_linked_at) == ("", None)
    assert other.booker_line_user_id == "" and keep.line_user_id == wh.user_id(9)
    assert line_on.replies == []


def test_other_events_are_ignored(booking, client, line_on):
    Participant.objects.filter(pk=booking.participant_id).update(line_user_id=USER)
    assert send(client, wh.postback(user=USER), wh.sticker_message(user=USER)).status_code == 200
    assert line_on.replies == [] and LineWebhookEvent.objects.count() == 2


def test_a_replayed_or_redelivered_event_is_handled_once(booking, client, line_on):
    code = line_linking.new_code(booking, for_booker=False)
    event = wh.text_message(code.code, user=USER)
    body = wh.body_of(event)
    assert wh.post(client, body, secret=SECRET).status_code == 200
    Participant.objects.filter(pk=booking.participant_id).update(line_user_id="")
    assert wh.post(client, body, secret=SECRET).status_code == 200  # the same request again
    again = dict(event, deliveryContext={"isRedelivery": True})
    assert send(client, again).status_code == 200
    booking.participant.refresh_from_db()
    assert booking.participant.line_user_id == "" and len(line_on.replies) == 1
    # A redelivery of an event never received before is handled.
    send(client, wh.follow(user=USER, redelivery=True))
    assert len(line_on.replies) == 2


def test_a_failing_reply_still_answers_200(booking, client, line_on, monkeypatch):
    def broken(token, texts):
        raise line.TransientLineError("503: down")

    monkeypatch.setattr(line_on, "reply", broken)
    code = line_linking.new_code(booking, for_booker=False)
    assert send(client, wh.text_message(code.code, user=USER)).status_code == 200
    booking.participant.refresh_from_db()
    assert booking.participant.line_user_id == USER


def test_the_webhook_query_count_is_pinned(booking, client, line_on, django_assert_num_queries):
    OutgoingMessage.objects.create(key="reminder:q", kind="reminder", registration=booking, session=booking.session,
                                   to_email="hanako@example.jp")
    code = line_linking.new_code(booking, for_booker=False)
    body = wh.body_of(wh.text_message(code.code, user=USER))
    # Two savepoints (the event's transaction, the event row) and their releases; the event row, the failure counter
    # (the cache), the code under lock, its use, the participant, the registration, the waiting messages (found,
    # moved, the due ones).
    with django_assert_num_queries(13):
        assert wh.post(client, body, secret=SECRET).status_code == 200
    body = wh.body_of(wh.follow(user=USER), wh.follow(user=USER))
    with django_assert_num_queries(10):  # per event: two savepoints, their releases, the event row
        assert wh.post(client, body, secret=SECRET).status_code == 200


# --- The form ---------------------------------------------------------------------------------------------------

def _choices(form) -> list[str]:
    return [value for value, _label in form.fields["notify_by"].choices]


def test_the_form_offers_line_only_when_line_is_set_up(site, settings):
    settings.DEKIRU_LINE_BACKEND = "off"
    assert "line" not in _choices(RegistrationForm())
    bound = RegistrationForm(form_data(notify_by="line", age_band=Participant.AgeBand.AGE_70_74))
    assert not bound.is_valid() and "notify_by" in bound.errors
    settings.DEKIRU_LINE_BACKEND = "console"
    settings.DEKIRU_LINE_BOT_BASIC_ID = "@dekiru"
    assert _choices(RegistrationForm()) == ["email", "line", "sms", "call"]
    bound = RegistrationForm(form_data(notify_by="line", age_band=Participant.AgeBand.AGE_70_74))
    assert bound.is_valid(), bound.errors
    assert bound.notify_choice() == ("line", False)
    with translation.override("ja"):
        assert ("お知らせの受け取り方", "LINE") in bound.answers()


def test_the_registration_page_and_the_phone_booking_list_line(site, client, line_on):
    from tests.courses.test_call_centre import logged_in

    session = factories.session()
    page = client.get(f"/sessions/{session.pk}/register/").content.decode()
    radios = re.findall(r'<input[^>]*name="notify_by"[^>]*>', page)
    assert len(radios) == 4 and 'value="line"' in page and not any("checked" in radio for radio in radios)
    logged_in(client, language="ja")
    page = client.get(reverse("call_centre:book", args=[session.pk])).content.decode()
    assert 'value="line"' in page


def test_booking_with_line_then_linking(site, client, line_on):
    session = factories.session()
    client.post(f"/sessions/{session.pk}/register/",
                form_data(notify_by="line", email="hanako@example.jp", step="register"))
    booking = Registration.objects.get(session=session)
    assert booking.notify_by == "line"
    page = client.get(booking.get_manage_url()).content.decode()
    assert "LINEでの受け取りを選ばれました" in page
    code = LineLinkCode.objects.get(registration=booking)
    send(client, wh.text_message(code.code, user=USER))
    page = client.get(booking.get_manage_url()).content.decode()
    assert "変更のお知らせをLINEでお送りします" in page and "LINEの登録が済んでいます" in page


# --- Privacy ----------------------------------------------------------------------------------------------------

def test_the_purge_erases_line_ids_and_old_line_records(site):
    now = timezone.now()
    old_session = factories.session(starts_in=-dt.timedelta(days=800))
    person = factories.participant(line_user_id=USER, line_linked_at=now, email="gone@example.jp")
    booking = factories.registration(session_obj=old_session, participant=person, booker_line_user_id=wh.user_id(2))
    LineLinkCode.objects.create(code="111111", registration=booking, expires_at=now + dt.timedelta(days=1))
    kept = factories.registration(session_obj=factories.session(),
                                  participant=factories.participant(email="kept@example.jp"))
    fresh = LineLinkCode.objects.create(code="222222", registration=kept, expires_at=now + dt.timedelta(days=1))
    LineLinkCode.objects.create(code="333333", registration=kept, expires_at=now - dt.timedelta(days=8))
    LineLinkCode.objects.create(code="444444", registration=kept, expires_at=now + dt.timedelta(days=1),
                                used_at=now - dt.timedelta(days=8))
    recent = LineWebhookEvent.objects.create(event_id="recent", received_at=now - dt.timedelta(days=1))
    LineWebhookEvent.objects.create(event_id="old", received_at=now - dt.timedelta(days=8))
    UndeliverableContact.objects.create(kind="email", address="gone@example.jp")
    UndeliverableContact.objects.create(kind="email", address="kept@example.jp")
    UndeliverableContact.objects.create(kind="phone", address=kept.participant.phone)
    UndeliverableContact.objects.create(kind="phone", address="0440000000")

    result = retention.purge_personal_data(now=now)

    person.refresh_from_db()
    booking.refresh_from_db()
    assert result.anonymised == 1
    assert (person.line_user_id, person.line_linked_at, booking.booker_line_user_id) == ("", None, "")
    assert list(LineLinkCode.objects.all()) == [fresh]
    assert list(LineWebhookEvent.objects.all()) == [recent]
    assert set(UndeliverableContact.objects.values_list("address", flat=True)) == {
        "kept@example.jp", kept.participant.phone}
    assert result.line_records == 3 and result.undeliverable_contacts == 2


def test_the_export_lists_line_ids(site):
    person = factories.participant(line_user_id=USER, line_linked_at=timezone.now())
    booking = factories.registration(session_obj=factories.session(), participant=person,
                                     booker_line_user_id=wh.user_id(2), notify_by="line")
    OutgoingMessage.objects.create(key="x", kind="confirmed", registration=booking, session=booking.session,
                                   channel=Channel.LINE, to_line=USER)
    data = data_requests.export_data(person)
    assert data["participant"]["line_user_id"] == USER and data["participant"]["line_linked_at"]
    assert data["registrations"][0]["booker_line_user_id"] == wh.user_id(2)
    assert data["registrations"][0]["notify_by"] == "LINE"
    assert data["messages"][0]["to_line"] == USER
    assert USER.encode() in data_requests.to_csv(data)


def test_partner_staff_never_see_a_line_id(site, client):
    partner = factories.partner()
    session = factories.session(organiser=partner)
    person = factories.participant(line_user_id=USER, line_linked_at=timezone.now())
    booking = factories.registration(session_obj=session, participant=person, booker_line_user_id=wh.user_id(2))
    OutgoingMessage.objects.create(key="x", kind="confirmed", registration=booking, session=session,
                                   channel=Channel.LINE, to_line=USER, status=Status.FAILED)
    user = get_user_model().objects.create_user("manager", password="pw")
    user.groups.add(Group.objects.get(name="Partner manager"))
    add_membership(partner=partner, user=user, role="manager")
    client.force_login(user)
    pages = [reverse("roster:session", args=[session.pk]), "/admin/messages/",
             f"/admin/messages/?session={session.pk}"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert USER not in body and wh.user_id(2) not in body and USER[:12] not in body, url
    for field in ("line_user_id", "line_linked_at"):
        assert not Participant._meta.get_field(field).editable
    assert not Registration._meta.get_field("booker_line_user_id").editable


# --- Through the fake LINE server (the official client, every request validated against messaging-api.yml) -------

@pytest.fixture
def fake_line(settings, site):
    cache.clear()
    yield from fake_line_module.serving(settings)


def test_replies_go_through_the_official_client_to_a_spec_checked_server(booking, client, fake_line):
    code = line_linking.new_code(booking, for_booker=False)
    body = wh.body_of(wh.follow(user=USER), wh.text_message(f"LINE連携コード：{code.code}", user=USER))
    assert wh.post(client, body, secret=fake_line_module.CHANNEL_SECRET).status_code == 200
    greeting, linked = fake_line.replies
    assert [m["type"] for m in greeting["body"]["messages"]] == ["text", "text"]
    assert "LINEの登録ができました" in linked["body"]["messages"][0]["text"]
    booking.participant.refresh_from_db()
    assert booking.participant.line_user_id == USER
    # LINE down: the link stands, the answer is still 200.
    fake_line.fail_next(500)
    other = factories.registration(session_obj=factories.session(), participant=factories.participant())
    code = line_linking.new_code(other, for_booker=False)
    assert send(client, wh.text_message(code.code, user=wh.user_id(3)),
                secret=fake_line_module.CHANNEL_SECRET).status_code == 200
    other.participant.refresh_from_db()
    assert other.participant.line_user_id == wh.user_id(3)
