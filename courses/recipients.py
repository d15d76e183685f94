"""Who hears about a registration: the resident, or the family member or carer who booked for them."""

from dataclasses import dataclass


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
