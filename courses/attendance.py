"""Attendance: mark who came (attended / no-show), undo a mark, add and remove walk-ins, count the room.

The only place the attendance rules live: the roster at the door, the paper-sheet entry and the spreadsheet import
all call these functions. Like courses.services, each change runs in a transaction, locks the session row and then
the registration row (the same order as the booking services, so the two never deadlock), writes an audit entry,
and raises `AttendanceError` (a `RegistrationError`, with a translated `.message`) when a rule refuses.

When attendance may be taken: from the start of the session's local day (people are checked in at the door before
the start) until 14 days after it ends (paper sheets are entered afterwards); never for a cancelled session.
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cms.audit import acting_user, log
from cms.normalize import normalize_kana, normalize_name
from courses.models import Participant, Registration, Session
from courses.services import RegistrationError, retry_on_reference_collision
from partners.models import Ward

# How long after a session ends its attendance can still be entered (paper sign-in sheets).
ATTENDANCE_GRACE = timedelta(days=14)

Status = Registration.Status

# The audit-log actions these services write, with their labels (registered by courses.wagtail_hooks).
LOG_ACTIONS = {
    "courses.registration.attended": _("Marked as attended"),
    "courses.registration.no_show": _("Marked as a no-show"),
    "courses.registration.attendance_undone": _("Attendance mark undone"),
    "courses.registration.walk_in_added": _("Walk-in added"),
    "courses.registration.walk_in_removed": _("Walk-in removed"),
}


class AttendanceError(RegistrationError):
    message = _("Attendance could not be recorded.")


class AttendanceClosed(AttendanceError):
    message = _("Attendance for this session can be taken from the morning of the session day until 14 days "
                "after it ends.")


class AttendanceSessionCancelled(AttendanceError):
    message = _("This session has been cancelled: there is no attendance to take.")


class NotOnRoster(AttendanceError):
    message = _("Only people with a seat or on the waiting list can be marked.")


class WalkInNotUndoable(AttendanceError):
    message = _("A walk-in cannot be marked as not yet arrived or as a no-show: remove the walk-in instead.")


class WaitlistedNoShow(AttendanceError):
    message = _("People on the waiting list had no seat, so they cannot be marked as a no-show.")


class NotAWalkIn(AttendanceError):
    message = _("Only walk-ins can be removed. Mark a booked person as a no-show instead.")


class WalkInDetailsMissing(AttendanceError):
    message = _("Please choose the walk-in's age band (or “Not given”) and where they live: a ward, “Outside the "
                "city” or “Not given”.")


def attendance_window(session: Session) -> tuple[datetime, datetime]:
    """From midnight (local time) of the session's first day to 14 days after it ends."""
    tz = timezone.get_default_timezone()
    day = timezone.localtime(session.starts_at, tz).date()
    return datetime.combine(day, time.min, tzinfo=tz), session.ends_at + ATTENDANCE_GRACE


def can_take_attendance(session: Session, *, now: datetime | None = None) -> bool:
    """Whether attendance may be marked for `session` at `now`; never for a cancelled session."""
    if session.status == Session.Status.CANCELLED:
        return False
    opens, closes = attendance_window(session)
    return opens <= (now or timezone.now()) <= closes


def _check_window(session: Session, now: datetime | None) -> None:
    if session.status == Session.Status.CANCELLED:
        raise AttendanceSessionCancelled()
    if not can_take_attendance(session, now=now):
        raise AttendanceClosed()


def _lock_session(session_id: int) -> Session:
    # The course comes along for the audit entry's label; only the session row is locked.
    return Session.objects.select_for_update(of=("self",)).select_related("course").get(pk=session_id)


def _lock(registration: Registration) -> tuple[Session, Registration]:
    """Lock the session, then the registration (the booking services' order), and return fresh copies."""
    session = _lock_session(registration.session_id)
    locked = Registration.objects.select_for_update(of=("self",)).select_related("participant").get(pk=registration.pk)
    locked.session = session
    return session, locked


def mark_attendance(*, registration: Registration, attended: bool | None, actor=None,
                    now: datetime | None = None) -> Registration:
    """Mark a person attended (True), a no-show (False), or undo the mark (None: back to confirmed).

    For seated registrations (confirmed, attended, no-show). A waitlisted person who turns up and is let in is
    seated as attended (their waiting-list place is given up; the others keep theirs, since places are ordered,
    not numbered without gaps). Walk-ins can only be removed (`remove_walk_in`), not undone.

    Idempotent: marking what is already marked changes nothing and writes no second audit entry. Two staff
    marking at once are serialised by the row locks; the last mark wins and each sees the current state.
    """
    target = {True: Status.ATTENDED, False: Status.NO_SHOW, None: Status.CONFIRMED}[attended]
    with transaction.atomic():
        session, registration = _lock(registration)
        _check_window(session, now)
        if registration.status not in (*Registration.SEATED, Status.WAITLISTED):
            raise NotOnRoster()
        if registration.channel == Registration.Channel.WALK_IN and target != Status.ATTENDED:
            raise WalkInNotUndoable()
        if registration.status == Status.WAITLISTED and target != Status.ATTENDED:
            if target == Status.NO_SHOW:
                raise WaitlistedNoShow()
            return registration  # undoing a mark that was never made: nothing to do
        if registration.status == target:
            return registration
        previous = registration.status
        fields = ["status", "updated_at"]
        if previous == Status.WAITLISTED:
            registration.waitlist_position = None
            registration.confirmed_at = timezone.now()
            fields += ["waitlist_position", "confirmed_at"]
        registration.status = target
        registration.save(update_fields=fields)
        action = {Status.ATTENDED: "attended", Status.NO_SHOW: "no_show",
                  Status.CONFIRMED: "attendance_undone"}[target]
        log(registration, f"courses.registration.{action}", user=acting_user(actor),
            data={"session": session.pk, "previous_status": previous})
    return registration


def _resolve_ward(ward) -> Ward | None:
    if ward is None or ward == "":
        return None
    if isinstance(ward, Ward):
        return ward
    try:
        return Ward.objects.get(pk=int(ward))
    except (TypeError, ValueError, Ward.DoesNotExist):
        return None


WALK_IN_RESIDENCES = (Participant.Residence.CITY, Participant.Residence.OUTSIDE, Participant.Residence.DECLINED)


@retry_on_reference_collision
def add_walk_in(*, session: Session, age_band: str | None, ward=None, residence: str | None = None, name: str = "",
                kana: str = "", actor=None, now: datetime | None = None) -> Registration:
    """Record someone who came without booking: a new participant (no contact data) attending the session.

    Age band and residence are required (they are what the statistics need), each with an explicit "not given":
    `age_band` is a band or Participant.AgeBand.NOT_GIVEN (""), never None; `residence` is city (with its `ward`),
    outside or declined (without a ward). Without `residence`, a ward means city and no ward is refused. The name
    is optional. Allowed when the session is full: the person is in the room. Counts as attendance.
    """
    ward = _resolve_ward(ward)
    if residence is None and ward is not None:
        residence = Participant.Residence.CITY
    if (age_band not in Participant.AgeBand.values or residence not in WALK_IN_RESIDENCES
            or (ward is not None) != (residence == Participant.Residence.CITY)):
        raise WalkInDetailsMissing()
    with transaction.atomic():
        session = _lock_session(session.pk)
        _check_window(session, now)
        person = Participant.objects.create(name=normalize_name(name), kana=normalize_kana(kana),
                                            age_band=age_band, ward=ward, residence=residence)
        registration = Registration.objects.create(
            session=session, participant=person, status=Status.ATTENDED, channel=Registration.Channel.WALK_IN,
            booked_by=Registration.BookedBy.STAFF, created_by=acting_user(actor), confirmed_at=timezone.now())
        log(registration, "courses.registration.walk_in_added", user=acting_user(actor), data={"session": session.pk})
    return registration


def remove_walk_in(*, registration: Registration, actor=None, now: datetime | None = None) -> None:
    """Undo a walk-in entered by mistake: the registration goes, and the participant too unless they have other
    registrations. Within the attendance window only, like every other change to attendance."""
    with transaction.atomic():
        session, registration = _lock(registration)
        if registration.channel != Registration.Channel.WALK_IN:
            raise NotAWalkIn()
        _check_window(session, now)
        person = registration.participant
        log(registration, "courses.registration.walk_in_removed", user=acting_user(actor),
            data={"session": session.pk, "participant": person.pk})
        registration.delete()
        if not person.registrations.exists():
            person.delete()


def attendance_summary(session: Session) -> dict[str, int]:
    """The room at a glance, in one query: seated people not yet marked (`unmarked`), `attended` (of which
    `walk_ins`), `no_show`, `waitlisted`, and `seated` (everyone holding a seat)."""
    walk_in = Q(registrations__channel=Registration.Channel.WALK_IN)
    counts = Session.objects.filter(pk=session.pk).aggregate(
        unmarked=Count("registrations", filter=Q(registrations__status=Status.CONFIRMED)),
        attended=Count("registrations", filter=Q(registrations__status=Status.ATTENDED)),
        walk_ins=Count("registrations", filter=Q(registrations__status=Status.ATTENDED) & walk_in),
        no_show=Count("registrations", filter=Q(registrations__status=Status.NO_SHOW)),
        waitlisted=Count("registrations", filter=Q(registrations__status=Status.WAITLISTED)),
    )
    counts["seated"] = counts["unmarked"] + counts["attended"] + counts["no_show"]
    return counts


# A paper sheet's tick for someone nobody marked at the door: attended, unless they were marked meanwhile.
IF_UNMARKED = "if_unmarked"


@dataclass
class PaperSheetResult:
    """What entering a paper sheet did, or (errors) why nothing was saved: {row index: message}."""

    marks: int = 0
    walk_ins: int = 0
    mark_errors: dict[int, str] = field(default_factory=dict)
    walk_in_errors: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.mark_errors or self.walk_in_errors)


def enter_paper_sheet(*, session: Session, marks: list[tuple[Registration, bool | None | str]],
                      walk_ins: list[dict], actor=None) -> PaperSheetResult:
    """Enter a filled-in paper sign-in sheet after the class, all or nothing.

    `marks`: (registration, attended) with attended True, False, None (unmarked) or IF_UNMARKED — attended only if
    nobody marked the person at the door meanwhile (their mark there is kept). `walk_ins`: the sheet's extra rows
    (age_band, ward, residence, name, kana; see add_walk_in). Locks the session, then its registrations (the
    services' lock order), and goes through mark_attendance and add_walk_in; on any refusal every refused row gets
    its message and the whole transaction is rolled back. `marks` counts the registrations whose status changed."""
    result = PaperSheetResult()
    with transaction.atomic():
        Session.objects.select_for_update().filter(pk=session.pk).first()
        current = dict(Registration.objects.select_for_update().filter(session=session).values_list("pk", "status"))
        for index, (registration, attended) in enumerate(marks):
            if attended == IF_UNMARKED:
                if current.get(registration.pk) != Registration.Status.CONFIRMED:
                    continue  # marked at the door meanwhile: keep that
                attended = True
            try:
                marked = mark_attendance(registration=registration, attended=attended, actor=actor)
                result.marks += marked.status != current.get(registration.pk)
            except AttendanceError as exc:
                result.mark_errors[index] = exc.message
        for index, row in enumerate(walk_ins):
            try:
                add_walk_in(session=session, age_band=row["age_band"], ward=row["ward"],
                            residence=row.get("residence"), name=row["name"], kana=row["kana"], actor=actor)
                result.walk_ins += 1
            except AttendanceError as exc:
                result.walk_in_errors[index] = exc.message
        if not result.ok:
            transaction.set_rollback(True)
            result.marks = result.walk_ins = 0
    return result
