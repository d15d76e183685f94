"""Which personal data of participants each staff role sees in the admin: the single source of truth.

The views decide *which rows* a user sees (partner staff: their own partners' sessions, through
partners.permissions.scope and the permission policies); this module decides *which details of those rows*. Every
admin page, export and list that shows a participant asks the functions below, and the server leaves out or masks
what the user may not see (never hidden with CSS).

What counts as what:

- names: the participant's name and name in kana, and the name and relationship of a family member or carer who
  booked on their behalf (the proxy). Without it a person is shown as "Booking no. 123" (`masked_person`);
- contacts: e-mail and phone, the participant's and the proxy's. Without it they are masked
  (`mask_email`: ta***@example.jp, `mask_phone`: 090-****-5678) or left out;
- notes: the free text a participant gives about themself (accessibility needs). Without it, left out.

Age band, ward, device, channel and "booked by" (self / family / staff) are not personal in this sense: they are
what the statistics are made of, and are shown to every role that may open a page.

| Role                   | Names | Contacts                 | Notes | Message log addresses | Call list (own sessions) |
|------------------------|-------|--------------------------|-------|-----------------------|--------------------------|
| City administrator     | yes   | yes                      | yes   | full                  | yes                      |
| City programme officer | yes   | yes                      | yes   | full                  | yes                      |
| Call-centre operator   | yes   | yes                      | yes   | full                  | yes                      |
| City analyst           | no    | no                       | no    | masked                | no (refused)             |
| Partner manager        | yes   | yes (own partners' only) | yes   | masked                | yes                      |
| Partner instructor     | yes   | no                       | yes   | masked                | yes                      |
| Superuser              | yes   | yes                      | yes   | full                  | yes                      |
| Any other user         | no    | no                       | no    | masked                | no                       |

A user in several roles has the rights of each (the union). Partner staff's rights hold within the rows the
views let them see, which are their own partners' only.

Why, role by role:

- City analyst: statistics only. The pages that stay open to analysts because they hold counts (rosters, can-do
  checks of a session, registration and attendance exports) show them no name, kana, proxy or note; the call
  list (names and phone numbers and nothing else) is closed to them. The call centre and the personal-data
  request pages need permissions analysts do not hold.
- Partner instructor: the tablet at the door. Names and kana to greet and mark people, the proxy's name to know
  who booked, accessibility needs to prepare the room. No e-mail or phone: nowhere in the admin shows them.
  The one exception is the call list of their own sessions, kept as it was: instructors were given it to phone
  residents without e-mail (cms/migrations/0005), which cannot be done without the number.
- Partner manager: may see their own participants' contacts (they phone people about a cancellation: the call
  list). The message log stays masked for all partner staff, as before: a delivery log needs no full address.
- City administrator, programme officer and call-centre operator look after residents' records (the call centre,
  personal-data requests): everything.

Exports (courses.resources): for a user without names, the name and kana columns are left out of the
registration and attendance spreadsheets altogether, rather than kept empty, so a blank column is never taken
for missing data. No export holds contacts or notes for any role.

The rights come from the user's roles, read once per request (partners.permissions.role_names, remembered on the
user object, which `request.user` is for the whole request): pages that list many people make no query per row, and
the query is the one partners.permissions.is_city_staff makes anyway, so masking costs no query at all.
"""

import re

from django.utils.translation import gettext as _

from cms import roles
from courses.models import mask_email, mask_phone
from partners.permissions import role_names

NAMES = "names"
CONTACTS = "contacts"
NOTES = "notes"
MESSAGE_ADDRESSES = "message_addresses"
CALL_LIST = "call_list"

EVERYTHING = frozenset({NAMES, CONTACTS, NOTES, MESSAGE_ADDRESSES, CALL_LIST})
ROLE_RIGHTS: dict[str, frozenset[str]] = {
    roles.CITY_ADMINISTRATOR: EVERYTHING,
    roles.CITY_PROGRAMME_OFFICER: EVERYTHING,
    roles.CALL_CENTRE_OPERATOR: EVERYTHING,
    roles.CITY_ANALYST: frozenset(),
    roles.PARTNER_MANAGER: frozenset({NAMES, CONTACTS, NOTES, CALL_LIST}),
    roles.PARTNER_INSTRUCTOR: frozenset({NAMES, NOTES, CALL_LIST}),
}


def rights(user) -> frozenset[str]:
    """What `user` may see, remembered on the user object for the rest of the request (one query at most)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return EVERYTHING
    return frozenset().union(*(ROLE_RIGHTS[name] for name in role_names(user) if name in ROLE_RIGHTS))


def can_see_names(user) -> bool:
    """Names and kana of participants, and the name and relationship of whoever booked for them."""
    return NAMES in rights(user)


def can_see_contacts(user) -> bool:
    """E-mail addresses and phone numbers of participants and of whoever booked for them."""
    return CONTACTS in rights(user)


def can_see_notes(user) -> bool:
    """What participants wrote about themselves (accessibility needs)."""
    return NOTES in rights(user)


def can_see_message_addresses(user) -> bool:
    """Full recipient addresses in the message log (the city roles that look after residents' records)."""
    return MESSAGE_ADDRESSES in rights(user)


def can_use_call_list(user) -> bool:
    """The call list and its calls: names and phone numbers of residents to phone (of the user's own sessions)."""
    return CALL_LIST in rights(user)


def masked_person(registration) -> str:
    """How a person is shown to a user who may not see names: by the booking's number, which names nobody."""
    return _("Booking no. %(number)s") % {"number": registration.pk}


EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE_NUMBER = re.compile(r"(?<!\d)(?:\d[-\s]?){9,10}\d(?!\d)")


def masked_text(text: str) -> str:
    """`text` (an error reported by the mail service, say) with e-mail addresses and phone numbers in it masked."""
    if not text:
        return text
    text = EMAIL_ADDRESS.sub(lambda match: mask_email(match.group()), text)
    return PHONE_NUMBER.sub(lambda match: mask_phone(match.group()), text)
