"""Who hears about a registration: the resident, or the family member or carer who booked for them, and what
their contact details allow (an e-mail address, a mobile number that can receive SMS, a linked LINE account)."""

import re
from dataclasses import dataclass

# Japanese mobile numbers as Dekiru stores them (digits only): 070, 080 or 090 and eight more digits. Only these
# receive SMS; 050 (IP phones) and landlines do not.
MOBILE = re.compile(r"0[789]0\d{8}")


def is_mobile(number: str) -> bool:
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    return bool(MOBILE.fullmatch(digits))


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    phone: str
    is_booker: bool  # True when the person attending has no contact of their own and the booker is told instead
    # The LINE user id linked to whoever is told (courses.line_linking): the resident's own, or the one the booker
    # linked to this booking. "" when none.
    line_user_id: str = ""

    @property
    def mobile(self) -> bool:
        return is_mobile(self.phone)


def recipient_for(registration) -> Recipient | None:
    """Who hears about a registration: the person attending when they have an e-mail address or phone number of
    their own, otherwise the family member or carer who booked for them. None when nobody can be reached. A linked
    LINE account goes with whoever is told: the participant's (Participant.line_user_id), or the booker's
    (Registration.booker_line_user_id). Reads nothing beyond the registration's participant."""
    person = registration.participant
    if person.email or person.phone:
        return Recipient(name=person.name, email=person.email, phone=person.phone, is_booker=False,
                         line_user_id=person.line_user_id or "")
    if registration.booker_email or registration.booker_phone:
        return Recipient(name=registration.booker_name, email=registration.booker_email,
                         phone=registration.booker_phone, is_booker=True,
                         line_user_id=registration.booker_line_user_id or "")
    return None
