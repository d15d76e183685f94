"""The check-in QR travels with the e-mails that bring a resident to the door (confirmation, seat from the waiting
list, reminder, a moved session, a resent confirmation): an attached PNG of the same code the roster scans, and a
line saying what it is. Not for someone on the waiting list, and never on the call list."""

import pytest
from django.utils import translation

from courses import checkin, emails, outbox
from courses.models import OutgoingMessage, Registration
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Kind = OutgoingMessage.Kind


def booked(email="hanako@example.jp", phone="", **fields):
    return factories.registration(session_obj=factories.session(),
                                  participant=factories.participant(email=email, phone=phone), **fields)


def message(kind, registration, channel=OutgoingMessage.Channel.EMAIL):
    built = outbox.build_message(kind, registration)
    built.channel = channel
    built.save()
    return built


def test_the_confirmation_carries_the_check_in_qr_and_says_what_it_is(site):
    registration = booked()
    with translation.override("ja"):
        rendered = emails.render(message(Kind.CONFIRMED, registration))
    [qr] = [a for a in rendered.attachments if a.mimetype == "image/png"]
    assert qr.filename == f"checkin-{registration.reference}.png"
    assert qr.content == checkin.qr_png(registration) and qr.content.startswith(b"\x89PNG")
    assert "受付用のコード" in rendered.text and "受付用のコード" in rendered.html


@pytest.mark.parametrize("kind", [Kind.REMINDER, Kind.PROMOTED, Kind.RESENT])
def test_reminders_and_seats_carry_it_too(site, kind):
    registration = booked()
    rendered = emails.render(message(kind, registration))
    assert any(a.filename.startswith("checkin-") for a in rendered.attachments)


def test_not_while_waiting_nor_for_the_call_list(site):
    waiting = booked("w@example.jp", status=Registration.Status.WAITLISTED)
    rendered = emails.render(message(Kind.WAITLISTED, waiting))
    assert not any(a.filename.startswith("checkin-") for a in rendered.attachments)
    called = booked("", "0441234567")
    rendered = emails.render(message(Kind.CONFIRMED, called, channel=OutgoingMessage.Channel.PHONE))
    assert rendered.attachments == [] and "受付用のコード" not in rendered.text
