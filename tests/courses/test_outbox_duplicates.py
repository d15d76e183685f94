"""The duplicate windows of the outbox (courses.outbox's docstring): a SendGrid answer slower than SENDGRID_TIMEOUT,
or a worker lost while sending, may make a message go out twice. It must never be silent: every request carries the
outbox row in `custom_args`, the attempt is recorded as "may have been sent", a later success keeps that note, and
staff see it (and can filter on it) in the message log."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone, translation

from courses import outbox
from courses.models import OutgoingMessage
from partners.services import add_membership
from tests import factories
from tests.courses.test_outbox import register

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = OutgoingMessage.Status


def later(**delta):
    return timezone.now() + timedelta(**delta)


def custom_args(request: dict) -> dict:
    [personalization] = request["body"]["personalizations"]
    return personalization["custom_args"]


def test_every_request_carries_the_outbox_row_in_custom_args(site, fake_sendgrid):
    register(factories.session())
    message = OutgoingMessage.objects.get()
    assert outbox.send_due_messages() == {Status.SENT: 1}
    assert custom_args(fake_sendgrid.last_message) == {
        "dekiru_outbox_id": str(message.pk), "dekiru_key": message.key, "dekiru_attempt": "1"}


def test_an_answer_after_the_timeout_is_noted_and_the_note_survives_the_successful_retry(site, fake_sendgrid,
                                                                                       settings):
    """The issue's reproduction: SendGrid accepts the message but answers after the timeout; the worker retries and
    the resident gets it twice. The second copy is now traceable and the log keeps saying so."""
    settings.SENDGRID_TIMEOUT = 0.5
    register(factories.session())
    message = OutgoingMessage.objects.get()
    fake_sendgrid.stall_next(1.5)

    assert outbox.send_due_messages() == {Status.PENDING: 1}
    fake_sendgrid.wait_for(1)  # SendGrid accepted it after the worker gave up: the first copy went out
    message.refresh_from_db()
    assert message.uncertain_attempts == 1 and message.possibly_duplicate
    assert "no answer from SendGrid within 0.5 s" in message.uncertain_note
    assert "すでに送信されている可能性があります" in message.uncertain_note

    assert outbox.send_due_messages(now=later(days=1)) == {Status.SENT: 1}
    message.refresh_from_db()
    assert message.status == Status.SENT and message.last_error == ""
    assert message.uncertain_attempts == 1, "a later success never clears the note"
    assert "no answer from SendGrid" in message.uncertain_note
    first, second = fake_sendgrid.messages
    assert custom_args(first)["dekiru_outbox_id"] == custom_args(second)["dekiru_outbox_id"] == str(message.pk)
    assert (custom_args(first)["dekiru_attempt"], custom_args(second)["dekiru_attempt"]) == ("1", "2")
    assert OutgoingMessage.objects.possibly_duplicate().get() == message


def test_a_failure_before_the_request_left_is_not_noted(site, fake_sendgrid):
    """503 (SendGrid refused it) and a refused connection mean nothing went out: retried without a note."""
    register(factories.session())
    fake_sendgrid.fail_next(503)
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    message = OutgoingMessage.objects.get()
    assert message.uncertain_attempts == 0 and message.uncertain_note == ""

    fake_sendgrid.stop()  # connection refused
    assert outbox.send_due_messages(now=later(days=1)) == {Status.PENDING: 1}
    message.refresh_from_db()
    assert message.attempts == 2 and message.uncertain_attempts == 0


def test_a_connection_dropped_before_the_answer_is_noted(site, fake_sendgrid):
    register(factories.session())
    fake_sendgrid.close_next()
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    assert OutgoingMessage.objects.get().uncertain_attempts == 1


def test_giving_up_after_uncertain_attempts_keeps_the_note(site, fake_sendgrid, settings):
    settings.DEKIRU_MAIL_MAX_ATTEMPTS = 2
    settings.SENDGRID_TIMEOUT = 0.3
    register(factories.session())
    fake_sendgrid.stall_next(0.8, times=2)
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    assert outbox.send_due_messages(now=later(days=1)) == {Status.FAILED: 1}
    message = OutgoingMessage.objects.get()
    assert message.uncertain_attempts == 2 and message.status == Status.FAILED
    # Staff's "send again" starts a fresh count of attempts, not of uncertain ones.
    assert outbox.retry(message)
    message.refresh_from_db()
    assert (message.attempts, message.uncertain_attempts) == (0, 2)


def test_the_sweepers_lost_lease_is_noted_and_survives_the_success(site, fake_sendgrid, settings):
    settings.DEKIRU_MAIL_LEASE_SECONDS = 300
    register(factories.session())
    now = timezone.now()
    assert outbox.claim(worker_id="dies-while-sending", now=now) is not None
    assert outbox.sweep(now=now + timedelta(seconds=301)).released == 1
    message = OutgoingMessage.objects.get()
    assert message.uncertain_attempts == 1 and "処理が止まりました" in message.uncertain_note

    assert outbox.send_due_messages(now=now + timedelta(seconds=302)) == {Status.SENT: 1}
    message.refresh_from_db()
    assert (message.status, message.last_error, message.uncertain_attempts) == (Status.SENT, "", 1)
    assert "処理が止まりました" in message.uncertain_note


def test_staff_see_which_messages_may_have_gone_twice(client, site, fake_sendgrid, settings):
    settings.SENDGRID_TIMEOUT = 0.3
    session = factories.session()
    register(session, 1)
    register(session, 2)
    doubtful = OutgoingMessage.objects.get(to_email="resident1@example.jp")
    fake_sendgrid.stall_next(0.8)
    assert outbox.send_message(doubtful.pk) == Status.PENDING
    assert outbox.send_due_messages(now=later(days=1)) == {Status.SENT: 2}

    officer = get_user_model().objects.create_user("officer", password="pw")
    officer.groups.add(Group.objects.get(name="City programme officer"))
    client.force_login(officer)
    with translation.override("ja"):
        flag = "2回届いた可能性あり"
        body = client.get("/admin/messages/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
        assert body.count('class="message-uncertain ') == 1
        assert flag in body and "1回の試行が、記録されないまま届いている可能性があります。" in body
        assert "resident1@example.jp" in body and "resident2@example.jp" in body

        filtered = client.get("/admin/messages/?possibly_duplicate=on").content.decode()
        assert "resident1@example.jp" in filtered and "resident2@example.jp" not in filtered


def test_partner_staff_see_the_flag_too(client, site, fake_sendgrid, settings):
    settings.SENDGRID_TIMEOUT = 0.3
    partner = factories.partner()
    register(factories.session(organiser=partner))
    fake_sendgrid.stall_next(0.8)
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    manager = get_user_model().objects.create_user("manager", password="pw")
    manager.groups.add(Group.objects.get(name="Partner manager"))
    add_membership(partner=partner, user=manager, role="manager")
    client.force_login(manager)
    body = client.get("/admin/messages/?possibly_duplicate=on").content.decode()
    assert body.count('class="message-uncertain ') == 1
    assert "resident1@example.jp" not in body
