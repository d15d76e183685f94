"""The outbox (courses.outbox): queued with the change it reports, sent by a worker through the real SendGrid backend
to the fake SendGrid server, retried, never lost and never sent twice."""

from datetime import timedelta

import icalendar
import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django_tasks_db.models import DBTaskResult

from courses import outbox, services
from courses.models import OutgoingMessage, Registration
from courses.notifications import Event, notify
from courses.services import BookerDetails, ParticipantDetails
from tests import factories
from tests.courses.test_emails import message_for

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Kind, Status, Channel = OutgoingMessage.Kind, OutgoingMessage.Status, OutgoingMessage.Channel


def person(n: int = 1, **fields) -> ParticipantDetails:
    fields.setdefault("email", f"resident{n}@example.jp")
    fields.setdefault("phone", "")
    return ParticipantDetails(name=f"川崎 太郎{n}", kana="カワサキ タロウ", age_band="70-74", consent=True, **fields)


def register(session, n: int = 1, **fields) -> Registration:
    return services.register(session=session, participant=person(n, **fields)).registration


def later(**delta):
    return timezone.now() + timedelta(**delta)


def the_message(**filters) -> OutgoingMessage:
    return OutgoingMessage.objects.get(**filters)


# --- Queueing ---------------------------------------------------------------------------------------------------


def test_registering_queues_the_confirmation_and_a_task_but_sends_nothing(site, fake_sendgrid,
                                                                          django_capture_on_commit_callbacks):
    session = factories.session()
    with django_capture_on_commit_callbacks(execute=True):
        registration = register(session)

    message = the_message()
    assert (message.kind, message.status, message.channel) == (Kind.CONFIRMED, Status.PENDING, Channel.EMAIL)
    assert message.key == f"confirmed:reg={registration.pk}"
    assert (message.registration, message.session, message.to_email) == (
        registration, session, "resident1@example.jp")
    assert fake_sendgrid.request_count == 0, "nothing is sent inside the request"
    [task] = DBTaskResult.objects.all()
    assert (task.task_path, task.backend_name, task.queue_name) == ("courses.tasks.send_message_task", "mail", "mail")
    assert task.args_kwargs["args"] == [message.pk]


def test_a_rolled_back_registration_leaves_no_message_and_no_task(site, django_capture_on_commit_callbacks):
    session = factories.session()
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        register(session)
        raise RuntimeError
    assert callbacks == []
    assert not OutgoingMessage.objects.exists()


def test_asking_twice_queues_once(site):
    registration = factories.registration(session_obj=factories.session(),
                                          participant=factories.participant(email="taro@example.jp"))
    notify(Event.REGISTRATION_CONFIRMED, registration=registration, session=registration.session)
    notify(Event.REGISTRATION_CONFIRMED, registration=registration, session=registration.session)
    assert OutgoingMessage.objects.filter(kind=Kind.CONFIRMED).count() == 1
    assert outbox.queue_messages([outbox.build_message(Kind.CONFIRMED, registration)]) == 0


def test_a_repeated_booking_resends_at_most_once_per_ten_minutes(site, fake_sendgrid):
    session = factories.session()
    registration = register(session)
    register(session)
    assert not OutgoingMessage.objects.filter(kind=Kind.RESENT).exists(), "the confirmation is still waiting"

    outbox.send_due_messages()
    register(session)
    register(session)
    register(session)
    resent = the_message(kind=Kind.RESENT)
    assert resent.key.startswith(f"resent:reg={registration.pk}:t=")

    # Eleven minutes later (as if: the key's time bucket is an earlier one too).
    eleven_minutes_ago = later(minutes=-11)
    bucket = int(eleven_minutes_ago.timestamp() // 600)
    OutgoingMessage.objects.filter(pk=resent.pk).update(created_at=eleven_minutes_ago,
                                                        key=f"resent:reg={registration.pk}:t={bucket}")
    register(session)
    assert OutgoingMessage.objects.filter(kind=Kind.RESENT).count() == 2
    outbox.send_due_messages()
    assert len(fake_sendgrid.sent_to("resident1@example.jp")) == 3


def test_nobody_to_tell_queues_nothing(site):
    registration = factories.registration(session_obj=factories.session(),
                                          participant=factories.participant(email="", phone=""))
    notify(Event.REGISTRATION_CONFIRMED, registration=registration, session=registration.session)
    assert not OutgoingMessage.objects.exists()


def test_nothing_is_queued_while_suppressed(site):
    session = factories.session()
    with outbox.suppressed():
        register(session)
    assert Registration.objects.count() == 1
    assert not OutgoingMessage.objects.exists()
    register(session, 2)
    assert OutgoingMessage.objects.count() == 1


# --- Sending through SendGrid -----------------------------------------------------------------------------------


def test_the_worker_sends_the_confirmation_through_sendgrid(site, fake_sendgrid):
    session = factories.session()
    registration = register(session)

    assert outbox.send_due_messages() == {Status.SENT: 1}
    message = the_message()
    [sent] = fake_sendgrid.sent_to("resident1@example.jp")
    body = sent["body"]
    assert message.status == Status.SENT and message.attempts == 1
    assert message.sendgrid_message_id == sent["message_id"]
    assert message.sent_at is not None and message.lease_expires_at is None and message.claimed_by == ""
    assert body["subject"] == message.subject and message.subject.startswith("【申込完了】")
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert message.body_text == body["content"][0]["value"]
    attachment, qr = fake_sendgrid.attachments(sent)
    assert (attachment.filename, attachment.type) == (f"dekiru-session-{session.pk}.ics", "text/calendar")
    assert (qr.filename, qr.type) == (f"checkin-{message.registration.reference}.png", "image/png")
    [event] = icalendar.Calendar.from_ical(attachment.content).walk("VEVENT")
    assert registration.get_cancel_url() in str(event["DESCRIPTION"])
    assert outbox.send_due_messages() == {}, "sent once"


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_of_message_goes_out_through_sendgrid(site, fake_sendgrid, kind):
    message = message_for(kind)
    assert outbox.send_due_messages() == {Status.SENT: 1}
    [sent] = fake_sendgrid.messages
    message.refresh_from_db()
    assert sent["body"]["subject"] == message.subject
    assert sent["body"]["personalizations"][0]["to"] == [{"email": message.to_email}]


def test_transient_failures_are_retried_then_sent(site, fake_sendgrid):
    register(factories.session())
    fake_sendgrid.fail_next(500, times=2)
    now = timezone.now()

    assert outbox.send_due_messages(now=now) == {Status.PENDING: 1}
    message = the_message()
    assert message.attempts == 1 and message.last_error.startswith("500")
    assert now < message.next_attempt_at <= now + timedelta(seconds=60)
    assert outbox.send_due_messages(now=now) == {}, "not due again yet"

    assert outbox.send_due_messages(now=message.next_attempt_at) == {Status.PENDING: 1}
    message.refresh_from_db()
    assert message.attempts == 2
    assert outbox.send_due_messages(now=message.next_attempt_at) == {Status.SENT: 1}
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == (Status.SENT, 3, "")
    assert fake_sendgrid.request_count == 3 and len(fake_sendgrid.messages) == 1


def test_a_retry_is_deferred_as_a_task_for_its_time(site, fake_sendgrid, django_capture_on_commit_callbacks):
    register(factories.session())
    fake_sendgrid.fail_next(503)
    with django_capture_on_commit_callbacks(execute=True):
        outbox.send_due_messages()
    message = the_message()
    # The registration's own task, written with the message in the booking's transaction, and the retry's,
    # deferred to its time.
    tasks = DBTaskResult.objects.filter(task_path="courses.tasks.send_message_task")
    assert tasks.count() == 2
    task = tasks.get(run_after=message.next_attempt_at)
    assert task.args_kwargs["args"] == [message.pk]


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap(settings):
    settings.DEKIRU_MAIL_RETRY_BASE_SECONDS = 60
    settings.DEKIRU_MAIL_RETRY_CAP_SECONDS = 6 * 3600
    for attempts, ceiling in [(1, 60), (2, 120), (5, 960), (12, 6 * 3600)]:
        delays = [outbox.retry_delay(attempts) for _ in range(200)]
        assert all(1 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling / 2, "full jitter spreads over the whole range"
    assert outbox.retry_delay(1, retry_after=900) >= 900


def test_rate_limiting_honours_retry_after(site, fake_sendgrid):
    register(factories.session())
    fake_sendgrid.fail_next(429, retry_after=900)
    now = timezone.now()
    assert outbox.send_due_messages(now=now) == {Status.PENDING: 1}
    message = the_message()
    assert message.next_attempt_at >= now + timedelta(seconds=900)
    assert message.last_error.startswith("429")


def test_a_timeout_is_a_transient_failure(site, fake_sendgrid):
    register(factories.session())
    fake_sendgrid.stall_next(4)  # longer than SENDGRID_TIMEOUT (2 s)
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    assert "no answer from SendGrid" in the_message().last_error


def test_a_permanent_failure_is_marked_failed_with_the_reason_and_staff_can_retry(site, fake_sendgrid):
    register(factories.session())
    fake_sendgrid.fail_next(400)
    assert outbox.send_due_messages(now=later(days=1)) == {Status.FAILED: 1}
    message = the_message()
    assert message.status == Status.FAILED and message.last_error.startswith("400")
    assert outbox.send_due_messages(now=later(days=2)) == {}

    assert outbox.retry(message)
    assert not outbox.retry(message), "only a failed message can be retried"
    assert outbox.send_due_messages() == {Status.SENT: 1}
    assert len(fake_sendgrid.messages) == 1


def test_gives_up_after_the_maximum_number_of_attempts(site, fake_sendgrid, settings):
    settings.DEKIRU_MAIL_MAX_ATTEMPTS = 3
    register(factories.session())
    fake_sendgrid.down()
    when = timezone.now()
    for expected in (Status.PENDING, Status.PENDING, Status.FAILED):
        with translation.override("en"):  # the worker's thread was left in English by an English message
            assert outbox.send_due_messages(now=when) == {expected: 1}
        when = the_message().next_attempt_at
    message = the_message()
    assert message.attempts == 3
    assert message.last_error.startswith("3回試みましたが、送信できませんでした：503")


def test_sendgrid_down_during_registration(site, client, fake_sendgrid):
    """The registration is committed and the page answers at once; the message waits and goes out later."""
    session = factories.session()
    fake_sendgrid.down()
    fake_sendgrid.stall_next(10)
    response = client.post(f"/sessions/{session.pk}/register/", {
        "name": "川崎 花子", "kana": "カワサキ ハナコ", "email": "hanako@example.jp", "age_band": "70-74",
        "ward": "declined", "consent": "on", "notify_by": "email", "step": "register"})
    assert response.status_code == 302
    registration = Registration.objects.get()
    assert registration.status == Registration.Status.CONFIRMED
    assert fake_sendgrid.request_count == 0
    message = the_message()
    assert message.status == Status.PENDING

    assert outbox.send_due_messages() == {Status.PENDING: 1}
    fake_sendgrid.up()
    fake_sendgrid.reset()
    assert outbox.send_due_messages(now=later(hours=7)) == {Status.SENT: 1}
    assert len(fake_sendgrid.sent_to("hanako@example.jp")) == 1


# --- Claims, leases and the sweeper -----------------------------------------------------------------------------


def test_a_claimed_message_is_not_taken_by_another_worker(site):
    register(factories.session())
    first = outbox.claim(worker_id="worker-a")
    assert first is not None and first.status == Status.SENDING and first.claimed_by == "worker-a"
    assert outbox.claim(worker_id="worker-b") is None
    assert outbox.send_message(first.pk, worker_id="worker-b") is None


def test_a_worker_killed_after_claiming_delivers_once_after_the_lease_expires(site, fake_sendgrid, settings):
    settings.DEKIRU_MAIL_LEASE_SECONDS = 300
    register(factories.session())
    now = timezone.now()
    claimed = outbox.claim(worker_id="dies-now", now=now)  # ... and never sends
    assert outbox.send_due_messages(now=now) == {}

    assert outbox.sweep(now=now + timedelta(seconds=299)).released == 0, "the lease still holds"
    result = outbox.sweep(now=now + timedelta(seconds=301))
    assert result.released == 1
    message = the_message()
    assert (message.status, message.claimed_by, message.attempts) == (Status.PENDING, "", 1)

    assert outbox.send_due_messages(now=now + timedelta(seconds=302)) == {Status.SENT: 1}
    assert len(fake_sendgrid.messages) == 1
    # The dead worker, had it come back, could not overwrite what the new one recorded.
    assert not outbox._release(claimed, "dies-now", status=Status.PENDING)
    assert the_message().status == Status.SENT
    assert outbox.send_due_messages(now=now + timedelta(hours=1)) == {}
    assert len(fake_sendgrid.messages) == 1


def test_a_message_whose_worker_keeps_dying_ends_failed(site, settings):
    settings.DEKIRU_MAIL_MAX_ATTEMPTS = 2
    register(factories.session())
    now = timezone.now()
    for step in range(2):
        outbox.claim(worker_id=f"dies-{step}", now=now)
        now += timedelta(hours=1)
        outbox.sweep(now=now)
    message = the_message()
    assert (message.status, message.attempts) == (Status.FAILED, 2)


def test_the_sweeper_enqueues_a_drain_when_due_messages_wait_too_long(site, fake_sendgrid):
    register(factories.session())
    assert not outbox.sweep().drain_enqueued, "just queued: its own task will send it"
    OutgoingMessage.objects.update(next_attempt_at=later(minutes=-10))
    result = outbox.sweep()
    assert result.overdue == 1 and result.drain_enqueued
    task = DBTaskResult.objects.get(task_path="courses.tasks.send_due_messages_task")
    assert task.task.call(*task.args_kwargs["args"], **task.args_kwargs["kwargs"]) == {Status.SENT: 1}
    assert len(fake_sendgrid.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_the_db_worker_sends_what_a_registration_queued(site, fake_sendgrid):
    """The whole path: the registration commits, its task is in the database queue, `db_worker` runs it."""
    from django.core.management import call_command

    session = factories.session()
    register(session)
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    call_command("db_worker", "--backend", "mail", "--queue-name", "mail", "--batch", "--no-startup-delay",
                 "--no-reload", verbosity=0)
    assert the_message().status == Status.SENT
    assert len(fake_sendgrid.sent_to("resident1@example.jp")) == 1
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


# --- Messages that no longer make sense --------------------------------------------------------------------------


def test_no_email_for_a_cancelled_registration(site, fake_sendgrid):
    session = factories.session()
    registration = register(session)
    services.cancel_registration(registration=registration)
    confirmed = the_message(kind=Kind.CONFIRMED)
    assert confirmed.status == Status.CANCELLED
    assert confirmed.last_error == "送信しませんでした：申込が取り消されました。"

    assert outbox.send_due_messages() == {Status.SENT: 1}
    [sent] = fake_sendgrid.sent_to("resident1@example.jp")
    assert sent["body"]["subject"].startswith("【申込の取り消し】")


def test_a_registration_cancelled_after_queueing_is_checked_again_at_send_time(site, fake_sendgrid):
    registration = register(factories.session())
    Registration.objects.filter(pk=registration.pk).update(status=Registration.Status.CANCELLED)
    assert outbox.send_due_messages() == {Status.CANCELLED: 1}
    assert fake_sendgrid.request_count == 0
    assert "取り消されました" in the_message().last_error


def test_a_message_delayed_past_the_start_is_not_sent(site, fake_sendgrid):
    session = factories.session(starts_in=timedelta(hours=3))
    register(session)
    assert outbox.send_due_messages(now=later(hours=4)) == {Status.CANCELLED: 1}
    assert fake_sendgrid.request_count == 0


def test_a_promotion_replaces_the_unsent_waiting_list_message(site, fake_sendgrid):
    session = factories.session(capacity=1)
    seated = register(session, 1)
    waiting = register(session, 2)
    services.cancel_registration(registration=seated)
    assert the_message(registration=waiting, kind=Kind.WAITLISTED).status == Status.CANCELLED
    assert the_message(registration=waiting, kind=Kind.PROMOTED).status == Status.PENDING
    outbox.send_due_messages()
    [promoted] = fake_sendgrid.sent_to("resident2@example.jp")
    assert promoted["body"]["subject"].startswith("【お席をご用意しました】")
    assert [a.type for a in fake_sendgrid.attachments(promoted)] == ["text/calendar", "image/png"]


def test_a_cancelled_session_tells_everyone_registered_or_waiting(site, fake_sendgrid):
    session = factories.session(capacity=2)
    for n in range(3):
        register(session, n)
    phone_only = register(session, 9, email="", phone="090-1234-5678")
    services.cancel_session(session=session, reason="会場の設備点検のため")

    assert set(OutgoingMessage.objects.filter(kind__in=[Kind.CONFIRMED, Kind.WAITLISTED])
               .values_list("status", flat=True)) == {Status.CANCELLED}
    told = OutgoingMessage.objects.filter(kind=Kind.SESSION_CANCELLED)
    assert told.count() == 4
    assert told.get(registration=phone_only).status == Status.TO_CALL
    assert outbox.send_due_messages() == {Status.SENT: 3}
    for n in range(3):
        [sent] = fake_sendgrid.sent_to(f"resident{n}@example.jp")
        assert "会場の設備点検のため" in sent["body"]["content"][0]["value"]


def test_a_moved_session_tells_everyone_with_a_new_calendar_file(site, fake_sendgrid):
    session = factories.session(capacity=1)
    register(session, 1)
    register(session, 2)
    outbox.send_due_messages()
    fake_sendgrid.reset()
    new_start = session.starts_at + timedelta(days=1)
    services.move_session(session=session, starts_at=new_start, ends_at=new_start + timedelta(hours=2))

    assert outbox.send_due_messages() == {Status.SENT: 2}
    [seated] = fake_sendgrid.sent_to("resident1@example.jp")
    assert seated["body"]["subject"].startswith("【日時・会場の変更】")
    assert "変更前：" in seated["body"]["content"][0]["value"]
    attachment, _qr = fake_sendgrid.attachments(seated)
    [event] = icalendar.Calendar.from_ical(attachment.content).walk("VEVENT")
    assert event["DTSTART"].dt == new_start and event["SEQUENCE"] == 1
    [waiting] = fake_sendgrid.sent_to("resident2@example.jp")
    assert fake_sendgrid.attachments(waiting) == [], "no calendar file without a seat"
    assert "引き続き、キャンセル待ちの1番目です。" in waiting["body"]["content"][0]["value"]


def test_a_second_move_before_the_first_was_sent_is_told_once_from_the_original_time(site):
    session = factories.session()
    registration = register(session)
    original = session.starts_at
    for days in (1, 2):
        start = original + timedelta(days=days)
        services.move_session(session=session, starts_at=start, ends_at=start + timedelta(hours=2))
    moved = OutgoingMessage.objects.filter(registration=registration, kind=Kind.SESSION_MOVED)
    assert [m.status for m in moved.order_by("pk")] == [Status.CANCELLED, Status.PENDING]
    latest = moved.get(status=Status.PENDING)
    assert latest.key == f"session_moved:reg={registration.pk}:seq=2"
    before, after = latest.context["changes"]["starts_at"]
    assert (before, after) == (original.isoformat(), (original + timedelta(days=2)).isoformat())


def test_a_capacity_change_alone_tells_only_those_it_promotes(site):
    session = factories.session(capacity=1)
    register(session, 1)
    waiting = register(session, 2)
    services.move_session(session=session, capacity=2)
    assert not OutgoingMessage.objects.filter(kind=Kind.SESSION_MOVED).exists()
    assert the_message(kind=Kind.PROMOTED).registration == waiting


def test_a_booking_moved_by_staff_is_confirmed_with_where_it_came_from(site, fake_sendgrid):
    old, new = factories.session(), factories.session(starts_in=timedelta(days=14))
    registration = register(old)
    services.move_registration(registration=registration, to_session=new)
    assert the_message(registration=registration).status == Status.CANCELLED
    outbox.send_due_messages()
    [sent] = fake_sendgrid.sent_to("resident1@example.jp")
    assert "ご依頼により" in sent["body"]["content"][0]["value"]


# --- Family bookings and the call list --------------------------------------------------------------------------


def test_the_booker_gets_the_message_when_the_person_has_no_contact(site, fake_sendgrid):
    session = factories.session()
    services.register(session=session, participant=ParticipantDetails(name="川崎 トメ", kana="カワサキ トメ"),
                      booked_by=Registration.BookedBy.FAMILY,
                      booker=BookerDetails(name="川崎 花子", relationship="娘", email="hanako@example.jp"))
    outbox.send_due_messages()
    [sent] = fake_sendgrid.sent_to("hanako@example.jp")
    assert "川崎 トメ様の代わりにお申し込みいただいた講座について" in sent["body"]["content"][0]["value"]
    assert the_message().to_booker


def test_a_resident_with_only_a_phone_is_put_on_the_call_list(site, fake_sendgrid):
    session = factories.session()
    register(session, email="", phone="090-1234-5678")
    message = the_message()
    assert (message.channel, message.status, message.to_phone) == (Channel.PHONE, Status.TO_CALL, "09012345678")
    assert message.masked_recipient == "090-****-5678"
    assert list(OutgoingMessage.objects.call_list()) == [message]
    assert outbox.send_due_messages() == {}
    assert fake_sendgrid.request_count == 0

    text = outbox.text_to_read(message)
    assert "お席を確保しました" in text and session.course.title in text
    staff = get_user_model().objects.create_user(username="callcentre", password="x")
    assert outbox.mark_called(message, staff)
    assert not outbox.mark_called(message, staff), "already called"
    message.refresh_from_db()
    assert (message.status, message.called_by, message.body_text) == (Status.CALLED, staff, text)
    assert message.sent_at is not None
    assert not OutgoingMessage.objects.call_list().exists()


def test_the_sweeper_withdraws_call_list_entries_overtaken_by_events(site):
    registration = register(factories.session(), email="", phone="090-1234-5678")
    Registration.objects.filter(pk=registration.pk).update(status=Registration.Status.CANCELLED)
    assert outbox.sweep().calls_withdrawn == 1
    assert the_message().status == Status.CANCELLED


# --- Personal data ------------------------------------------------------------------------------------------------


def test_recipients_are_masked_and_can_be_forgotten(site, fake_sendgrid):
    register(factories.session(), email="taro.yamada@example.jp")
    outbox.send_due_messages()
    message = the_message()
    assert message.masked_recipient == "ta***@example.jp"
    assert "taro" not in str(message)
    assert outbox.forget_recipients(OutgoingMessage.objects.all()) == 1
    message.refresh_from_db()
    assert (message.to_email, message.to_name, message.body_text, message.context) == ("", "", "", {})
    assert message.status == Status.SENT


# --- Cost in the request ------------------------------------------------------------------------------------------


def cancel_session_queries(n: int, django_capture_on_commit_callbacks) -> int:
    session = factories.session(capacity=n)
    for i in range(n):
        factories.registration(session_obj=session, participant=factories.participant(email=f"p{n}-{i}@example.jp"))
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        services.cancel_session(session=session, reason="台風のため")
    assert OutgoingMessage.objects.filter(session=session, kind=Kind.SESSION_CANCELLED).count() == n
    return len(queries)


def test_cancelling_a_session_queues_everyone_in_a_constant_number_of_queries(site,
                                                                              django_capture_on_commit_callbacks):
    cancel_session_queries(3, django_capture_on_commit_callbacks)  # warm the per-process caches (content types)
    few = cancel_session_queries(3, django_capture_on_commit_callbacks)
    many = cancel_session_queries(25, django_capture_on_commit_callbacks)  # one INSERT on SQLite too (999 parameters)
    assert many == few, "queueing must not render or query per person in the request"
    assert DBTaskResult.objects.filter(task_path="courses.tasks.send_messages_task").count() == 3  # one each


def test_a_resident_erased_while_their_message_is_being_sent_stays_erased(site, fake_sendgrid):
    """courses.retention clears a message's recipient and text; a worker that was sending it at that moment
    records the outcome without writing the text back."""
    from courses.retention import anonymise

    registration = register(factories.session())
    claimed = outbox.claim(worker_id="worker-a")
    anonymise([registration.participant_id], now=timezone.now())
    assert outbox.deliver(claimed, worker_id="worker-a") == Status.SENT  # it was already on its way
    message = OutgoingMessage.objects.get(pk=claimed.pk)
    assert message.status == Status.SENT
    assert (message.to_email, message.subject, message.body_text) == ("", "", "")


def test_a_sent_message_keeps_its_text_for_the_log(site, fake_sendgrid):
    register(factories.session())
    outbox.send_due_messages()
    message = OutgoingMessage.objects.get()
    assert message.status == Status.SENT and message.subject and message.body_text
