"""LINE in the outbox: a resident who linked LINE gets every kind of message by LINE, pushed through the official
line-bot-sdk client to the fake LINE server (every request checked against LINE's OpenAPI spec) under a retry key
derived from the row; a refused user id or the monthly limit falls back to the next channel, 429 and 5xx are retried,
a retry of a push LINE already accepted is answered 409 and recorded as sent once; undeliverable contacts are passed
over when the channel is chosen, with one query per batch."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cms import line
from courses import channel_budget, line_texts, outbox
from courses.models import OutgoingMessage, Registration, UndeliverableContact
from courses.notifications import Event, notify
from tests import factories
from tests.fake_line import user_id

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Kind, Status, Channel = OutgoingMessage.Kind, OutgoingMessage.Status, OutgoingMessage.Channel
NotifyBy = Registration.NotifyBy
RegStatus = Registration.Status
LINE_ID = user_id(7)


@pytest.fixture(autouse=True)
def _no_caps():
    channel_budget.reset_cache()
    yield
    channel_budget.reset_cache()


def later(**delta):
    return timezone.now() + timedelta(**delta)


def booking(*, notify_by=NotifyBy.LINE, line_id=LINE_ID, email="", phone="09012345678", consent=False, session=None,
            language="ja", **fields):
    participant = factories.participant(phone=phone, email=email, line_user_id=line_id, language=language,
                                        line_linked_at=timezone.now() if line_id else None)
    registration = factories.registration(
        session_obj=session or factories.session(), participant=participant, notify_by=notify_by,
        sms_consented_at=timezone.now() if consent else None, **fields)
    notify(Event.REGISTRATION_CONFIRMED, registration=registration, session=registration.session)
    return registration


def rows(registration):
    return list(OutgoingMessage.objects.filter(registration=registration).order_by("pk"))


# --- Choosing the channel ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("notify_by", "line_id", "email", "phone", "consent", "expected"), [
    (NotifyBy.LINE, LINE_ID, "a@example.jp", "09012345678", True, Channel.LINE),
    (NotifyBy.LINE, "", "a@example.jp", "09012345678", True, Channel.EMAIL),  # not linked (yet): e-mail
    (NotifyBy.LINE, "", "", "09012345678", True, Channel.SMS),
    (NotifyBy.LINE, "", "", "09012345678", False, Channel.PHONE),
    (NotifyBy.EMAIL, LINE_ID, "a@example.jp", "", False, Channel.EMAIL),
    (NotifyBy.SMS, LINE_ID, "", "09012345678", True, Channel.SMS),
    (NotifyBy.SMS, LINE_ID, "", "09012345678", False, Channel.LINE),  # no SMS consent: LINE before the call list
    (NotifyBy.CALL, LINE_ID, "", "09012345678", True, Channel.PHONE),
    (None, LINE_ID, "", "0441234567", False, Channel.LINE),  # a landline and LINE: LINE
    (None, LINE_ID, "", "09012345678", True, Channel.LINE),  # LINE comes before SMS in the fallback order
])
def test_the_channel_follows_the_choice_in_the_stated_order(site, fake_line, fake_twilio, notify_by, line_id, email,
                                                             phone, consent, expected):
    registration = booking(notify_by=notify_by, line_id=line_id, email=email, phone=phone, consent=consent)
    [message] = rows(registration)
    assert message.channel == expected
    assert message.to_line == (LINE_ID if expected == Channel.LINE else "")


def test_the_booker_who_linked_line_gets_the_messages_by_line(site, fake_line):
    participant = factories.participant(phone="", email="")
    registration = factories.registration(
        session_obj=factories.session(), participant=participant, notify_by=NotifyBy.LINE,
        booker_name="川崎 一郎", booker_phone="0441234567", booker_line_user_id=user_id(9))
    notify(Event.REGISTRATION_CONFIRMED, registration=registration, session=registration.session)
    [message] = rows(registration)
    assert (message.channel, message.to_line, message.to_booker) == (Channel.LINE, user_id(9), True)


def test_without_a_token_line_is_off_and_the_next_channel_takes_it(site, settings):
    settings.DEKIRU_LINE_BACKEND = None
    settings.DEKIRU_LINE_CHANNEL_ACCESS_TOKEN = ""
    settings.EMAIL_BACKEND = "cms.mail.SendGridBackend"
    assert not line.available()
    registration = booking(email="a@example.jp")
    assert rows(registration)[0].channel == Channel.EMAIL


def test_the_demo_prints_line_messages_in_the_terminal(site, settings, capsys):
    settings.DEKIRU_LINE_BACKEND = None
    settings.DEKIRU_LINE_CHANNEL_ACCESS_TOKEN = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    registration = booking()
    assert outbox.send_due_messages() == {Status.SENT: 1}
    out = capsys.readouterr().out
    assert "LINE to U0000…0007" in out and registration.reference_display in out
    assert LINE_ID not in out, "the whole user id is never printed"


def test_a_line_quota_reached_sends_by_the_next_channel(site, fake_line, settings):
    settings.DEKIRU_LINE_MONTHLY_QUOTA = 1
    first = booking(email="a@example.jp")
    assert outbox.send_due_messages() == {Status.SENT: 1}
    channel_budget.reset_cache()
    second = booking(email="b@example.jp")
    assert rows(first)[0].channel == Channel.LINE
    assert rows(second)[0].channel == Channel.EMAIL


# --- Sending ---------------------------------------------------------------------------------------------------

KIND_STATES = {
    Kind.CONFIRMED: RegStatus.CONFIRMED, Kind.WAITLISTED: RegStatus.WAITLISTED, Kind.PROMOTED: RegStatus.CONFIRMED,
    Kind.REMINDER: RegStatus.CONFIRMED, Kind.CANCELLED_BY_RESIDENT: RegStatus.CANCELLED,
    Kind.SESSION_CANCELLED: RegStatus.CONFIRMED, Kind.SESSION_MOVED: RegStatus.CONFIRMED,
    Kind.AFTER_SESSION: RegStatus.ATTENDED, Kind.RESENT: RegStatus.CONFIRMED, Kind.FOLLOW_UP: RegStatus.ATTENDED,
}
HEADLINES = {
    Kind.CONFIRMED: ("予約を受け付けました", "Your booking is confirmed"),
    Kind.WAITLISTED: ("キャンセル待ちの1番目", "number 1 on the waiting list"),
    Kind.PROMOTED: ("席が空き", "A seat has become free"),
    Kind.REMINDER: ("教室のご案内", "A reminder"),
    Kind.CANCELLED_BY_RESIDENT: ("取り消しました", "has been cancelled"),
    Kind.SESSION_CANCELLED: ("中止になりました", "this class has been cancelled"),
    Kind.SESSION_MOVED: ("変更になりました", "Your class has changed"),
    Kind.AFTER_SESSION: ("ありがとうございました", "Thank you for coming"),
    Kind.RESENT: ("ご予約の内容", "details of your booking"),
    Kind.FOLLOW_UP: ("1か月", "a month since your class"),
}


def line_message(kind, *, language="ja"):
    """A queued LINE message of `kind` about a registration in the state that kind is about."""
    past = kind in (Kind.AFTER_SESSION, Kind.FOLLOW_UP)
    session = factories.session(starts_in=timedelta(days=-1) if past else timedelta(days=3))
    participant = factories.participant(email="", phone="0441234567", line_user_id=LINE_ID, language=language)
    registration = factories.registration(session_obj=session, participant=participant, status=KIND_STATES[kind],
                                          notify_by=NotifyBy.LINE)
    context = {}
    if kind == Kind.SESSION_CANCELLED:
        session.status, session.cancellation_reason = session.Status.CANCELLED, "講師の体調不良のため"
        session.save()
        context = {"reason": session.cancellation_reason}
    if kind == Kind.REMINDER:
        context = {"starts_at": outbox.local_iso(session.starts_at)}
    if kind == Kind.FOLLOW_UP:
        context = {"follow_up_url": "/follow-up/abc123/"}
    message = outbox.build_message(kind, registration, context=context)
    assert message.channel == Channel.LINE
    outbox.queue_messages([message])
    return registration


@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_of_message_goes_out_by_line(site, fake_line, kind, language):
    registration = line_message(kind, language=language)
    assert outbox.send_due_messages() == {Status.SENT: 1}
    [push] = fake_line.sent_to(LINE_ID)
    [text] = [message["text"] for message in push["body"]["messages"]]
    assert HEADLINES[kind][language == "en"] in text
    assert text.startswith("【できる】" if language == "ja" else "[Dekiru]")
    if kind not in (Kind.AFTER_SESSION, Kind.FOLLOW_UP):
        assert registration.reference_display in text
    if kind == Kind.FOLLOW_UP:
        assert text.endswith("/follow-up/abc123/") and "://" in text
    elif kind != Kind.AFTER_SESSION:
        assert f"/s/{registration.pk}-{registration.token_key}/" in text
    message = OutgoingMessage.objects.get()
    assert (message.status, message.channel, message.units) == (Status.SENT, Channel.LINE, 1)
    assert message.provider_message_id == push["request_id"]
    assert message.body_text == text
    assert push["retry_key"] == outbox.line_retry_key(message)
    assert push["headers"]["authorization"] == f"Bearer {fake_line.access_token}"


def test_the_retry_key_is_stable_for_a_row_and_differs_between_rows(site, fake_line):
    first, second = booking(), booking(line_id=user_id(8))
    a, b = rows(first)[0], rows(second)[0]
    assert outbox.line_retry_key(a) == outbox.line_retry_key(OutgoingMessage.objects.get(pk=a.pk))
    assert outbox.line_retry_key(a) != outbox.line_retry_key(b)
    assert uuid.UUID(outbox.line_retry_key(a)).version == 5
    fake_line.fail_next(500)
    assert outbox.send_due_messages() == {Status.PENDING: 1, Status.SENT: 1}
    assert outbox.send_due_messages(now=later(days=1)) == {Status.SENT: 1}
    keys = [request["headers"]["x-line-retry-key"] for request in fake_line.requests]
    assert len(keys) == 3 and len(set(keys)) == 2, "the retry carried the failed attempt's key"


def test_a_timeout_then_a_retry_is_answered_409_and_recorded_sent_once(site, fake_line):
    booking()
    fake_line.stall_next(2)  # DEKIRU_LINE_TIMEOUT is 1 s: LINE accepts the push, the answer comes too late
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    message = OutgoingMessage.objects.get()
    assert message.uncertain_attempts == 1 and "no answer from LINE within 1 s" in message.uncertain_note
    fake_line.wait_for(1)
    assert outbox.send_due_messages(now=later(days=1)) == {Status.SENT: 1}
    assert len(fake_line.pushes) == 1, "LINE sent it once: the retry was refused as a repeat (409)"
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == (Status.SENT, 2, "")
    assert message.provider_message_id == fake_line.pushes[0]["request_id"], "the accepted request's id"
    assert message.uncertain_attempts == 1 and "no answer from LINE" in message.uncertain_note, "the note stays"


def test_a_connection_lost_before_the_answer_is_retried_under_the_same_key(site, fake_line):
    booking()
    fake_line.close_next()
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    assert outbox.send_due_messages(now=later(days=1)) == {Status.SENT: 1}
    assert len(fake_line.pushes) == 1


@pytest.mark.parametrize(("email", "phone", "consent", "expected"), [
    ("hanako@example.jp", "09012345678", True, Channel.EMAIL),
    ("", "09012345678", True, Channel.SMS),
    ("", "09012345678", False, Channel.PHONE),
    ("", "0441234567", True, Channel.PHONE),
])
def test_a_refused_user_id_falls_back(site, fake_line, fake_twilio, fake_sendgrid, email, phone, consent, expected):
    fake_line.unknown_users.add(LINE_ID)  # never followed, or blocked the account
    registration = booking(email="", phone=phone, consent=consent)
    Registration.objects.filter(pk=registration.pk).update(notify_by=NotifyBy.LINE)
    OutgoingMessage.objects.filter(registration=registration).update(to_email=email)
    outcomes = outbox.send_due_messages()
    pushed, fallback = rows(registration)
    assert (pushed.channel, pushed.status) == (Channel.LINE, Status.FAILED)
    assert pushed.last_error.startswith("400") and LINE_ID not in pushed.last_error
    assert (fallback.channel, fallback.fallback_of, fallback.key) == (expected, pushed, f"{pushed.key}:via={expected}")
    assert fallback.to_line == ""
    if expected == Channel.PHONE:
        assert outcomes == {Status.FAILED: 1} and fallback.status == Status.TO_CALL
    else:
        assert outcomes == {Status.FAILED: 1, Status.SENT: 1} and fallback.status == Status.SENT
    assert outbox.retry(pushed) is False, "it continued on another channel"


def test_the_monthly_limit_falls_back_at_once(site, fake_line, fake_sendgrid):
    fake_line.fail_next(429, message=line.MONTHLY_LIMIT.join(["You have reached your ", "."]))
    registration = booking(email="hanako@example.jp")
    Registration.objects.filter(pk=registration.pk).update(notify_by=NotifyBy.LINE)
    assert outbox.send_due_messages() == {Status.FAILED: 1, Status.SENT: 1}
    pushed, email = rows(registration)
    assert pushed.channel == Channel.LINE and "monthly limit" in pushed.last_error and pushed.attempts == 1
    assert (email.channel, email.status) == (Channel.EMAIL, Status.SENT)


def test_a_rate_limit_is_retried_with_backoff_and_retry_after(site, fake_line):
    booking()
    fake_line.fail_next(429, message="Too many requests", retry_after="120")
    now = timezone.now()
    assert outbox.send_due_messages(now=now) == {Status.PENDING: 1}
    message = OutgoingMessage.objects.get()
    assert message.last_error.startswith("429") and message.uncertain_attempts == 0
    assert message.next_attempt_at >= now + timedelta(seconds=120), "never sooner than Retry-After"
    assert outbox.send_due_messages(now=now + timedelta(seconds=60)) == {}, "not due yet"
    fake_line.fail_next(429, message="Too many requests")
    assert outbox.send_due_messages(now=message.next_attempt_at) == {Status.PENDING: 1}
    message.refresh_from_db()
    assert message.attempts == 2
    assert outbox.send_due_messages(now=later(days=1)) == {Status.SENT: 1}
    assert len(fake_line.pushes) == 1


def test_giving_up_on_line_falls_back(site, fake_line, settings):
    settings.DEKIRU_MAIL_MAX_ATTEMPTS = 2
    fake_line.fail_next(500, times=2)
    registration = booking()
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    assert outbox.send_due_messages(now=later(days=1)) == {Status.FAILED: 1}
    assert [(m.channel, m.status) for m in rows(registration)] == [
        (Channel.LINE, Status.FAILED), (Channel.PHONE, Status.TO_CALL)]


def test_a_worker_killed_after_the_push_does_not_send_it_twice(site, fake_line, settings):
    """The worker pushed (LINE accepted) and died before recording it: the sweeper puts the row back, the next
    worker pushes under the same retry key, LINE answers 409, and the row is recorded as sent, once."""
    settings.DEKIRU_MAIL_LEASE_SECONDS = 300
    booking()
    now = timezone.now()
    message = outbox.claim(worker_id="dies-while-sending", now=now)
    sender = line.get_sender()
    try:
        sender.push(message.to_line, line_texts.render_line(message), retry_key=outbox.line_retry_key(message))
    finally:
        sender.close()
    assert outbox.sweep(now=now + timedelta(seconds=301)).released == 1
    assert outbox.send_due_messages(now=now + timedelta(seconds=302)) == {Status.SENT: 1}
    assert len(fake_line.pushes) == 1 and len(fake_line.requests) == 2
    message.refresh_from_db()
    assert (message.status, message.uncertain_attempts) == (Status.SENT, 1)
    assert message.provider_message_id == fake_line.pushes[0]["request_id"]


def test_staff_retry_of_a_failed_line_message(site, fake_line):
    """A LINE row that failed without continuing on another channel (e.g. its lease was taken away meanwhile) can be
    sent again by staff, under the same retry key."""
    registration = booking()
    [message] = rows(registration)
    OutgoingMessage.objects.filter(pk=message.pk).update(status=Status.FAILED, attempts=3, last_error="500: x")
    assert outbox.retry(message) is True
    assert outbox.send_due_messages() == {Status.SENT: 1}
    assert fake_line.pushes[0]["retry_key"] == outbox.line_retry_key(message)


def test_retention_erasing_the_line_id_while_sending_keeps_it_erased(site, fake_line):
    booking()
    message = outbox.claim(worker_id="w")
    OutgoingMessage.objects.filter(pk=message.pk).update(**OutgoingMessage.FORGET)
    assert outbox.deliver(message, worker_id="w") == Status.SENT
    message.refresh_from_db()
    assert (message.to_line, message.body_text) == ("", "")


# --- Undeliverable contacts ---------------------------------------------------------------------------------------


def test_an_undeliverable_address_gets_no_email_and_a_number_no_sms(site, fake_line, fake_twilio):
    UndeliverableContact.objects.create(kind=UndeliverableContact.Kind.EMAIL, address="Bounced@example.jp")
    UndeliverableContact.objects.create(kind=UndeliverableContact.Kind.PHONE, address="+819011112222")
    by_line = booking(notify_by=NotifyBy.EMAIL, email="bounced@example.jp")
    by_sms = booking(notify_by=NotifyBy.EMAIL, email="bounced@example.jp", line_id="", phone="09033334444",
                     consent=True)
    by_call = booking(notify_by=NotifyBy.SMS, email="", line_id="", phone="09011112222", consent=True)
    assert [rows(r)[0].channel for r in (by_line, by_sms, by_call)] == [Channel.LINE, Channel.SMS, Channel.PHONE]


def test_undeliverable_contacts_are_looked_up_once_per_batch(site, fake_line, settings):
    UndeliverableContact.objects.create(kind=UndeliverableContact.Kind.EMAIL, address="gone@example.jp")
    session = factories.session(starts_in=timedelta(hours=12))
    for n in range(6):
        participant = factories.participant(email="gone@example.jp" if n % 2 else f"p{n}@example.jp",
                                            line_user_id=user_id(n + 20) if n % 2 else "")
        factories.registration(session_obj=session, participant=participant, notify_by=NotifyBy.EMAIL,
                               confirmed_at=timezone.now() - timedelta(days=3))
    with CaptureQueriesContext(connection) as queries:
        assert outbox.queue_reminders() == 6
    lookups = [q["sql"] for q in queries.captured_queries if "undeliverablecontact" in q["sql"].lower()]
    assert len(lookups) == 1
    channels = sorted(OutgoingMessage.objects.values_list("channel", flat=True))
    assert channels == [Channel.EMAIL] * 3 + [Channel.LINE] * 3


def test_a_fallback_passes_over_an_undeliverable_address(site, fake_line):
    UndeliverableContact.objects.create(kind=UndeliverableContact.Kind.EMAIL, address="gone@example.jp")
    fake_line.unknown_users.add(LINE_ID)
    registration = booking(email="gone@example.jp")
    assert outbox.send_due_messages() == {Status.FAILED: 1}
    assert [m.channel for m in rows(registration)] == [Channel.LINE, Channel.PHONE]


# --- Figures --------------------------------------------------------------------------------------------------------


def test_a_drain_of_line_messages_reuses_one_client_and_a_pinned_number_of_queries(site, fake_line,
                                                                                  django_assert_num_queries):
    session = factories.session()
    for n in range(5):
        participant = factories.participant(email="", phone="0441234567", line_user_id=user_id(n + 40))
        factories.registration(session_obj=session, participant=participant, notify_by=NotifyBy.LINE)
    outbox.queue_messages(outbox.build_message(Kind.CONFIRMED, r) for r in session.registrations.all()
                          .select_related("participant"))
    # One batch claims the 5 (the conditional UPDATE … RETURNING, then the rows with their relations) = 2; per
    # message the one UPDATE recording the outcome = 5; and the last, empty claim (the UPDATE taking nothing) = 1.
    with django_assert_num_queries(2 + 5 + 1):
        assert outbox.send_due_messages() == {Status.SENT: 5}
    assert len(fake_line.pushes) == 5
    assert len({request["peer"] for request in fake_line.requests}) == 1, "one connection, reused"


def test_sms_records_its_segments_as_units(site, fake_twilio):
    booking(notify_by=NotifyBy.SMS, line_id="", consent=True)
    assert outbox.send_due_messages() == {Status.SENT: 1}
    message = OutgoingMessage.objects.get()
    assert message.channel == Channel.SMS and message.units in (1, 2)
