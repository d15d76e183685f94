"""Check-in by code: the QR a resident brings (on the confirmation page, in the messages, on the printed slip), and
what happens when staff scan it, or type the booking reference, on the roster at the door.

The code is "DK1.<booking reference>.<signature>", e.g. DK1.38041279.7QXK3M2VD5H4TB6A: the reference says which
booking (no database id), the signature (an HMAC of the registration's id, reference and random link key under
SECRET_KEY, with a salt of its own, truncated to 80 bits in base 32) makes it unguessable: knowing a reference, or
someone else's code, does not give a valid code. Only upper-case letters, digits and "." so the QR uses its compact
alphanumeric mode. No timestamp: the code never expires (cancellation and the session are checked when it is
scanned) and does not depend on anyone's clock. Rotating the registration's `token_key` revokes it, together with
the personal link (courses.tokens).

`check_in` is what the roster calls, for a scanned code or a typed reference alike: it marks the person attended
through courses.attendance (the one place the rules, the row locks and the audit entries live, so the server is
the source of truth) and says in words who was marked for which session, or why not. Scanning twice is harmless.
"""

import base64
import functools
import re
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime

import segno
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from wagtail.models import ModelLogEntry

from courses import attendance, privacy, references
from courses.models import Registration, Session, waitlist_rank
from partners import permissions

SALT = "dekiru.courses.checkin"
PREFIX = "DK1"
SIGNATURE_BYTES = 10  # 80 bits, 16 characters of base 32
_CODE = re.compile(rf"^{PREFIX}\.(\d{{{references.LENGTH}}})\.([A-Z2-7]{{16}})$")

Status = Registration.Status


def _signature(registration: Registration) -> str:
    value = f"{registration.pk}:{registration.reference}:{registration.token_key}"
    digest = salted_hmac(SALT, value, algorithm="sha256").digest()[:SIGNATURE_BYTES]
    return base64.b32encode(digest).decode("ascii")


def make_code(registration: Registration) -> str:
    """The check-in code of a booking: the same every time (no expiry, no clock)."""
    return f"{PREFIX}.{registration.reference}.{_signature(registration)}"


def parse_code(text: str) -> str | None:
    """The booking reference a well-formed code names (its signature is checked against the registration by
    `registration_for_code`), else None."""
    match = _CODE.match((text or "").strip().upper())
    return match.group(1) if match else None


def registration_for_code(text: str, queryset=None) -> Registration | None:
    """The registration whose code `text` is, or None: malformed, unknown reference, or a signature that is not
    this registration's (tampered with, or made up)."""
    reference = parse_code(text)
    if reference is None:
        return None
    registration = (queryset if queryset is not None else Registration.objects).filter(reference=reference).first()
    if registration is None or not constant_time_compare(_signature(registration), text.strip().upper()[-16:]):
        return None
    return registration


def qr(registration: Registration):
    """The segno QR code of the booking's check-in code (error correction M: a crumpled slip still reads)."""
    return _qr(make_code(registration))


@functools.lru_cache(maxsize=1024)
def _qr(code: str):
    # Encoding is most of a QR's cost (segno tries the eight masks in pure Python): a worker sending a booking's
    # confirmation, then its reminder, encodes it once. Keyed by the code, so a rotated token_key is a new entry.
    return segno.make(code, error="m", micro=False)


def qr_svg_data_uri(registration: Registration) -> str:
    """The QR as an SVG data: URI, for an <img> on the resident's page and on the slip (allowed by the public
    CSP's img-src data:, and read by the PDF renderer without any fetch)."""
    return qr(registration).svg_data_uri(scale=8, border=4, dark="#000", light="#fff")


def qr_png(registration: Registration, *, scale: int = 10) -> bytes:
    """The QR as PNG bytes, for an e-mail attachment or inline image (about 370 × 370 px at scale 10): black on
    white, 1 bit per pixel, a quiet zone of 4 modules, the same pixels as segno's own PNG writer makes."""
    return png_1bit(qr(registration).matrix, scale=scale, border=4)


def png_1bit(matrix, *, scale: int, border: int) -> bytes:
    """A QR matrix (rows of 0/1 modules, 1 dark) as a greyscale PNG of bit depth 1, each module `scale` × `scale`
    pixels, with `border` light modules around. Each pixel row is built as one integer instead of bit by bit (segno's
    writer packs every pixel in Python, a third of the time of an e-mail with a QR code)."""
    size = (len(matrix) + 2 * border) * scale
    padding = "0" * (-size % 8)  # a row is whole bytes
    light = "1" * scale  # greyscale, bit depth 1: 1 is white
    quiet = light * border
    rows = []
    blank = b"\0" + int(light * (len(matrix) + 2 * border) + padding, 2).to_bytes((size + 7) // 8, "big")
    rows.extend([blank] * (border * scale))
    for modules in matrix:
        bits = quiet + "".join("0" * scale if module else light for module in modules) + quiet + padding
        rows.extend([b"\0" + int(bits, 2).to_bytes((size + 7) // 8, "big")] * scale)  # filter type 0: none
    rows.extend([blank] * (border * scale))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)  # bit depth 1, greyscale, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
            + chunk(b"IEND", b""))


# --- At the door --------------------------------------------------------------------------------------------------


class Kind:
    """What a check-in did. MARKED and ALREADY mean the person is checked in now; the rest changed nothing."""

    MARKED = "marked"
    ALREADY = "already_marked"
    OTHER_SESSION = "other_session"
    CANCELLED = "cancelled"
    WAITLISTED = "waitlisted"
    OTHER_PARTNER = "other_partner"
    UNKNOWN = "unknown"
    REFUSED = "refused"  # attendance closed, session cancelled: courses.attendance said why


@dataclass
class Outcome:
    kind: str
    message: str
    registration: Registration | None = None
    marked_at: datetime | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the person is checked in now (marked by this scan or before)."""
        return self.kind in (Kind.MARKED, Kind.ALREADY)


def _who(registration: Registration, user) -> str:
    """The person as the roster names them: the name, or the booking's number for those who may not see names."""
    if not privacy.can_see_names(user):
        return privacy.masked_person(registration)
    return registration.participant.name or str(registration.participant)


def session_label(session: Session) -> str:
    """A session in words: the class and its local date and time."""
    return f"{session.course.display_title()}, {timezone.localtime(session.starts_at):%Y-%m-%d %H:%M}"


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def _marked_at(registration: Registration) -> datetime:
    """When the person was marked attended (or added as a walk-in): its audit entry, else the row's last change."""
    entry = (ModelLogEntry.objects.filter(content_type__app_label="courses", content_type__model="registration",
                                          object_id=str(registration.pk),
                                          action__in=("courses.registration.attended",
                                                      "courses.registration.walk_in_added"))
             .order_by("-timestamp").values_list("timestamp", flat=True).first())
    return entry or registration.updated_at


def _find(text: str) -> tuple[Registration | None, str]:
    """The registration a scanned code or a typed reference names, or (None, why not)."""
    queryset = Registration.objects.select_related("participant", "session", "session__course")
    text = (text or "").strip()
    if text.upper().startswith(f"{PREFIX}."):
        registration = registration_for_code(text, queryset)
        return registration, "" if registration else _("This code is not a Dekiru booking code, or it was changed. "
                                                       "Type the booking reference instead.")
    digits = references.digits_of(text)
    if not references.looks_like_reference(text):
        return None, _("Type the 8-digit booking reference (for example 3804-1279), or scan the code.")
    if not references.has_valid_check_digit(digits):
        return None, _("%(reference)s is not a booking reference: please check the digits.") % {
            "reference": references.format_reference(digits)}
    registration = queryset.filter(reference=digits).first()
    return registration, "" if registration else _("No booking has the reference %(reference)s.") % {
        "reference": references.format_reference(digits)}


def check_in(code_or_reference: str, session: Session, user) -> Outcome:
    """Check a person in at `session` (already loaded through the user's partner scope) by their code or booking
    reference, as `user`. Marks attended through courses.attendance.mark_attendance (row locks, audit entry); a
    no-show mark made earlier becomes attended. Never raises for bad input: the Outcome says what happened.

    Refused, changing nothing: an unknown or altered code; another partner's booking (said without any detail of
    it: partner staff see only their own partner's data); a booking for another session (which one is said),
    unless the same person also holds a booking for this one, which is then used; a cancelled booking; the
    waiting list (staff give a seat on the roster when there is room); attendance closed or the session
    cancelled. A person already marked attended is told so, with when: scanning twice is harmless."""
    registration, why_not = _find(code_or_reference)
    if registration is None:
        return Outcome(Kind.UNKNOWN, why_not)
    notes = []
    if registration.session_id != session.pk:
        if not permissions.scope(Session.objects.filter(pk=registration.session_id), user).exists():
            return Outcome(Kind.OTHER_PARTNER, _("This booking is for a class of another organiser: not checked "
                                                 "in here."))
        here = (session.registrations.filter(participant_id=registration.participant_id,
                                             status__in=Registration.ACTIVE)
                .select_related("participant", "session", "session__course").first())
        if here is None:
            what = (_("%(name)s is booked for another session: %(session)s. Not checked in.")
                    if registration.status != Status.CANCELLED else
                    _("%(name)s had a booking (cancelled) for another session: %(session)s. Not checked in."))
            return Outcome(Kind.OTHER_SESSION, what % {"name": _who(registration, user),
                                                       "session": session_label(registration.session)},
                           registration=registration)
        notes.append(_("(The code was for another session, %(session)s; their booking for this one was used.)")
                     % {"session": session_label(registration.session)})
        registration = here
    who = _who(registration, user)
    if registration.status == Status.CANCELLED:
        when = _local(registration.cancelled_at) if registration.cancelled_at else "-"
        return Outcome(Kind.CANCELLED, _("%(name)s cancelled this booking (%(date)s). Not checked in: add them as "
                                         "a walk-in if there is room.") % {"name": who, "date": when},
                       registration=registration)
    if registration.status == Status.WAITLISTED:
        return Outcome(Kind.WAITLISTED, _("%(name)s is on the waiting list (no. %(rank)s), without a seat. Not "
                                          "checked in: if there is room, give them a seat on the roster.")
                       % {"name": who, "rank": waitlist_rank(registration)}, registration=registration)
    if registration.status == Status.ATTENDED:
        marked_at = _marked_at(registration)
        return Outcome(Kind.ALREADY, " ".join([_("%(name)s was already checked in for %(session)s at %(time)s. "
                                                 "Nothing changed.") % {
            "name": who, "session": session_label(session), "time": _local(marked_at)}, *notes]),
            registration=registration, marked_at=marked_at, notes=notes)
    try:
        marked = attendance.mark_attendance(registration=registration, attended=True, actor=user)
    except attendance.AttendanceError as exc:
        return Outcome(Kind.REFUSED, f"{who}: {exc.message}", registration=registration)
    marked.participant = registration.participant
    return Outcome(Kind.MARKED, " ".join([_("%(name)s: checked in for %(session)s.") % {
        "name": who, "session": session_label(session)}, *notes]), registration=marked,
        marked_at=marked.updated_at, notes=notes)
