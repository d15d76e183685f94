"""Reminders the day before and thanks after a session: queued by the periodic job (`manage.py send_reminders`) once
per registration and start time, re-planned when a session moves, skipped when it no longer makes sense."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from courses import outbox, services
from courses.models import OutgoingMessage, Registration
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Kind, Status = OutgoingMessage.Kind, OutgoingMessage.Status
RegStatus = Registration.Status


def booked(session, n=1, status=RegStatus.CONFIRMED, **participant_fields) -> Registration:
    """A registration made days ago (so the reminder window opened after it)."""
    participant_fields.setdefault("email", f"resident{n}@example.jp")
    registration = factories.registration(session_obj=session, status=status,
                                          participant=factories.participant(**participant_fields))
    if status == RegStatus.CONFIRMED:
        Registration.objects.filter(pk=registration.pk).update(confirmed_at=timezone.now() - timedelta(days=10))
    return registration


def reminders():
    return OutgoingMessage.objects.filter(kind=Kind.REMINDER)


def test_a_reminder_is_queued_within_the_lead_time_once(site):
    soon = factories.session(starts_in=timedelta(hours=20))
    registration = booked(soon)
    booked(factories.session(starts_in=timedelta(hours=30)), 2)  # not yet

    assert outbox.queue_reminders() == 1
    assert outbox.queue_reminders() == 0, "queued once however often the job runs"
    message = reminders().get()
    start = timezone.localtime(soon.starts_at).isoformat(timespec="minutes")
    assert message.key == f"reminder:reg={registration.pk}:start={start}"
    assert message.context == {"starts_at": start}
    assert message.registration == registration and message.status == Status.PENDING


def test_the_lead_time_is_a_setting(site, settings):
    settings.DEKIRU_REMINDER_LEAD_HOURS = 48
    booked(factories.session(starts_in=timedelta(hours=30)))
    assert outbox.queue_reminders() == 1


def test_no_reminder_for_waiting_cancelled_or_past_registrations_or_cancelled_sessions(site):
    session = factories.session(starts_in=timedelta(hours=20), capacity=1)
    booked(session, 1, status=RegStatus.WAITLISTED)
    booked(session, 2, status=RegStatus.CANCELLED)
    called_off = factories.session(starts_in=timedelta(hours=20), status="cancelled", cancellation_reason="台風")
    booked(called_off, 3)
    started = factories.session(starts_in=timedelta(minutes=-10))
    booked(started, 4)
    assert outbox.queue_reminders() == 0


def test_someone_who_booked_inside_the_lead_time_already_has_the_details(site):
    session = factories.session(starts_in=timedelta(hours=20))
    services.register(session=session, participant=services.ParticipantDetails(
        name="川崎 花子", kana="カワサキ ハナコ", email="hanako@example.jp", consent=True))
    assert outbox.queue_reminders() == 0


def test_the_reminder_says_where_when_and_what_to_bring(site, fake_sendgrid):
    session = factories.session(starts_in=timedelta(hours=20))
    booked(session)
    outbox.queue_reminders()
    assert outbox.send_due_messages() == {Status.SENT: 1}
    [sent] = fake_sendgrid.sent_to("resident1@example.jp")
    text = sent["body"]["content"][0]["value"]
    assert sent["body"]["subject"].startswith("【開催のお知らせ】")
    assert session.venue.name in text and session.venue.address in text
    assert "持ち物\nお持ちのスマートフォン" in text
    assert "講座が近づきましたので" in text


def test_a_moved_session_is_reminded_again_for_the_new_time(site, fake_sendgrid):
    session = factories.session(starts_in=timedelta(hours=20))
    registration = booked(session)
    outbox.queue_reminders()
    old = reminders().get()

    # Moved later, still within the lead time: the old reminder is withdrawn, the new time gets one at once.
    new_start = session.starts_at + timedelta(hours=2)
    services.move_session(session=session, starts_at=new_start, ends_at=new_start + timedelta(hours=2))
    old.refresh_from_db()
    assert old.status == Status.CANCELLED
    new = reminders().get(status=Status.PENDING)
    assert new.key == f"reminder:reg={registration.pk}:start={outbox.local_iso(new_start)}"

    # Moved beyond the lead time: nothing until the job runs when the new time comes within reach.
    later_start = session.starts_at + timedelta(days=3)
    services.move_session(session=session, starts_at=later_start, ends_at=later_start + timedelta(hours=2))
    assert not reminders().filter(status=Status.PENDING).exists()
    assert outbox.queue_reminders() == 0
    assert outbox.queue_reminders(now=later_start - timedelta(hours=10)) == 1
    assert reminders().filter(status=Status.PENDING).get().context == {"starts_at": outbox.local_iso(later_start)}


def test_a_reminder_for_an_old_start_time_is_not_sent(site, fake_sendgrid):
    """Checked again at send time, whatever withdrew it or not."""
    session = factories.session(starts_in=timedelta(hours=20))
    booked(session)
    outbox.queue_reminders()
    session.starts_at += timedelta(hours=1)
    session.ends_at += timedelta(hours=1)
    session.save()
    assert outbox.send_due_messages() == {Status.CANCELLED: 1}
    assert reminders().get().last_error == "送信しませんでした：開催回の日時が変わりました。"
    assert fake_sendgrid.request_count == 0


def test_a_reminder_for_a_registration_cancelled_meanwhile_is_not_sent(site, fake_sendgrid):
    session = factories.session(starts_in=timedelta(hours=20))
    registration = booked(session)
    outbox.queue_reminders()
    services.cancel_registration(registration=registration)
    assert reminders().get().status == Status.CANCELLED
    assert outbox.send_due_messages() == {Status.SENT: 1}  # the cancellation, not the reminder
    [sent] = fake_sendgrid.sent_to("resident1@example.jp")
    assert sent["body"]["subject"].startswith("【申込の取り消し】")


def test_a_cancelled_session_withdraws_its_reminders(site):
    session = factories.session(starts_in=timedelta(hours=20))
    booked(session)
    outbox.queue_reminders()
    services.cancel_session(session=session, reason="講師の急病のため")
    assert reminders().get().status == Status.CANCELLED


def test_phone_only_residents_are_reminded_through_the_call_list(site):
    booked(factories.session(starts_in=timedelta(hours=20)), email="", phone="09011112222")
    outbox.queue_reminders()
    message = reminders().get()
    assert (message.channel, message.status) == (OutgoingMessage.Channel.PHONE, Status.TO_CALL)
    assert "日時と会場をご確認ください" in outbox.text_to_read(message)


def test_thanks_after_the_session_for_those_who_attended(site, fake_sendgrid):
    ended = factories.session(starts_in=timedelta(hours=-3))
    attended = booked(ended, 1, status=RegStatus.ATTENDED)
    booked(ended, 2, status=RegStatus.NO_SHOW)
    booked(ended, 3, status=RegStatus.CONFIRMED)  # attendance not marked yet
    long_ago = factories.session(starts_in=timedelta(days=-10))
    booked(long_ago, 4, status=RegStatus.ATTENDED)
    booked(factories.session(starts_in=timedelta(minutes=-30)), 5, status=RegStatus.ATTENDED)  # still running

    assert outbox.queue_after_session() == 1
    assert outbox.queue_after_session() == 0
    message = OutgoingMessage.objects.get(kind=Kind.AFTER_SESSION)
    assert message.key == f"after_session:reg={attended.pk}"
    assert outbox.send_due_messages() == {Status.SENT: 1}
    [sent] = fake_sendgrid.sent_to("resident1@example.jp")
    assert sent["body"]["subject"].startswith("【ご参加ありがとうございました】")


def test_the_periodic_command(site):
    booked(factories.session(starts_in=timedelta(hours=20)), 1)
    booked(factories.session(starts_in=timedelta(hours=-3)), 2, status=RegStatus.ATTENDED)
    out = StringIO()
    call_command("send_reminders", stdout=out)
    assert out.getvalue().strip() == "Queued 1 reminder(s) and 1 thank-you message(s)."
    out = StringIO()
    call_command("send_reminders", stdout=out)
    assert out.getvalue().strip() == "Queued 0 reminder(s) and 0 thank-you message(s)."


def test_the_sweep_and_send_commands(site, fake_sendgrid):
    booked(factories.session(starts_in=timedelta(hours=20)))
    call_command("send_reminders", stdout=StringIO())
    out = StringIO()
    call_command("sweep_outbox", stdout=out)
    assert out.getvalue().startswith("Released 0, failed 0, withdrew 0 call(s); 0 overdue")
    out = StringIO()
    call_command("send_outbox", stdout=out)
    assert out.getvalue().strip() == "Outbox: sent 1."
    assert len(fake_sendgrid.messages) == 1
