"""The one place the services report what happened, for the messages residents receive.

Every service ends with an explicit call to `notify()` inside its transaction (not a signal), so a
message outbox written here commits or rolls back with the change it reports. The e-mail issue fills it in;
until then it only records the event in the log.
"""

import logging
from dataclasses import dataclass
from enum import StrEnum

logger = logging.getLogger(__name__)


class Event(StrEnum):
    REGISTRATION_CONFIRMED = "registration_confirmed"
    REGISTRATION_WAITLISTED = "registration_waitlisted"
    REGISTRATION_RESENT = "registration_resent"  # a repeated submission: resend to the contact on file
    REGISTRATION_PROMOTED = "registration_promoted"
    REGISTRATION_CANCELLED = "registration_cancelled"
    REGISTRATION_MOVED = "registration_moved"  # moved to another session by staff on the person's behalf
    SESSION_CANCELLED = "session_cancelled"
    SESSION_MOVED = "session_moved"


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    phone: str
    is_booker: bool  # True when the person attending has no contact of their own and the booker is told instead


def recipient_for(registration) -> Recipient | None:
    """Who hears about a registration: the person attending when they have an e-mail address or phone number of
    their own, otherwise the family member or carer who booked for them. None when nobody can be reached."""
    person = registration.participant
    if person.email or person.phone:
        return Recipient(name=person.name, email=person.email, phone=person.phone, is_booker=False)
    if registration.booker_email or registration.booker_phone:
        return Recipient(name=registration.booker_name, email=registration.booker_email,
                         phone=registration.booker_phone, is_booker=True)
    return None


def notify(event: Event, *, registration=None, session=None, **details) -> None:
    logger.debug("dekiru event %s registration=%s session=%s %s", event,
                getattr(registration, "pk", None), getattr(session, "pk", None), details or "")
