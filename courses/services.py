"""What the courses app does: register, cancel, promote from the waiting list, cancel or move a session.

The only place these rules live. The public site, the admin, imports and commands all call these
functions. Each one runs in a transaction, locks the session row before counting seats (so exactly one
person gets the last seat, across processes, on PostgreSQL; SQLite serialises writers by itself), writes
an audit entry and ends with one explicit `notify()` call.
"""

import functools
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, Max, OuterRef, Q
from django.db.models.functions import Length, Substr
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.models import PageViewRestriction

from cms.audit import acting_user, log
from cms.normalize import normalize_email, normalize_kana, normalize_name, normalize_phone, to_half_width_ascii
from cms.overload import bounded_lock_wait
from courses import outbox, references
from courses.models import CoursePage, Participant, Registration, Session, SessionStaff
from courses.notifications import Event, notify
from courses.search import search_courses

# --- Refusals ---------------------------------------------------------------------------------------------


class RegistrationError(Exception):
    """A rule refused the request. `message` is translated and safe to show to the person."""

    message = _("This request could not be completed.")

    def __init__(self, message=None):
        if message is not None:
            self.message = message
        super().__init__(str(self.message))


class SessionCancelled(RegistrationError):
    message = _("This session has been cancelled.")


class SessionPast(RegistrationError):
    message = _("This session has already started or taken place.")


class RegistrationNotOpen(RegistrationError):
    message = _("Registration for this session has not opened yet.")


class RegistrationClosed(RegistrationError):
    message = _("Registration for this session has closed.")


class CourseNotPublic(RegistrationError):
    message = _("This class is not open for booking: its page is not published.")


class ContactRequired(RegistrationError):
    message = _("Please give an e-mail address or a phone number so that we can reach you.")


class NotCancellable(RegistrationError):
    message = _("This registration has already been cancelled.")


class CapacityBelowConfirmed(RegistrationError):
    message = _("The capacity cannot be lower than the number of people already confirmed.")


class InvalidSessionTimes(RegistrationError):
    message = _("The session must end after it starts.")


# --- Input ------------------------------------------------------------------------------------------------


@dataclass
class ParticipantDetails:
    """What a registration form, a phone call or an import says about the person taking part."""

    name: str
    kana: str = ""
    email: str = ""
    phone: str = ""
    age_band: str = ""
    ward_id: int | None = None
    residence: str = ""  # Participant.Residence: city (with ward_id), outside, declined; "" when not asked
    device: str = ""
    accessibility_needs: str = ""
    language: str = "ja"
    consent: bool = False

    def normalized(self) -> "ParticipantDetails":
        return ParticipantDetails(
            name=normalize_name(self.name), kana=normalize_kana(self.kana),
            email=normalize_email(self.email), phone=normalize_phone(self.phone),
            age_band=self.age_band, ward_id=self.ward_id, residence=self.residence, device=self.device,
            accessibility_needs=self.accessibility_needs.strip(), language=self.language, consent=self.consent,
        )


@dataclass
class BookerDetails:
    """Who made a booking for someone else (a family member, a carer, or staff)."""

    name: str = ""
    relationship: str = ""
    email: str = ""
    phone: str = ""

    def normalized(self) -> "BookerDetails":
        return BookerDetails(name=normalize_name(self.name), relationship=self.relationship.strip(),
                             email=normalize_email(self.email), phone=normalize_phone(self.phone))


@dataclass
class RegistrationResult:
    registration: Registration
    created: bool
    promoted: list[Registration] = field(default_factory=list)

    @property
    def waitlisted(self) -> bool:
        return self.registration.status == Registration.Status.WAITLISTED


# --- Helpers (module-private; the lock and the count are separate so the concurrency test can prove the
# lock is what keeps the count right) --------------------------------------------------------------------


def _lock_session(session_id: int, **also) -> Session:
    """Lock the session's row (only that row: `of=("self",)`, so that bookings of other sessions of the course, and
    staff editing the course page, do not queue behind this one) and read it with its course and whether the course
    page is public (`course_public`, one statement: no second read for check_open_for_registration), and the
    expressions given in `also` (annotations: whatever else the caller reads in the same statement)."""
    return (Session.objects.select_for_update(of=("self",)).select_related("course")
            .annotate(course_public=_course_public(), **also).get(pk=session_id))


def _course_public():
    """Whether the session's course page is live and not private, as CoursePage.objects.live().public() says (no view
    restriction on the page or any page above it: a restricted page's path is a prefix of the course's path), as an
    expression of the session's query."""
    restricted = PageViewRestriction.objects.filter(
        page__path=Substr(OuterRef("course__path"), 1, Length("page__path")))
    return ExpressionWrapper(Q(course__live=True) & ~Exists(restricted), output_field=BooleanField())


def _seated_count(session: Session) -> int:
    return session.registrations.filter(status__in=Registration.SEATED).count()


def check_open_for_registration(session: Session, *, now: datetime | None = None) -> None:
    """Refuse a booking (web, phone, move, import) of a session that is cancelled, past, outside its booking window,
    or of a course whose page is not public (a draft, unpublished, or behind a view restriction)."""
    check_booking_window(session, now=now)
    public = getattr(session, "course_public", None)  # read with the lock (_lock_session)
    if not (course_is_public(session.course_id) if public is None else public):
        raise CourseNotPublic()


def course_is_public(course_id: int) -> bool:
    """Whether the course page is live and not private (no view restriction on it or above it): two queries."""
    return CoursePage.objects.live().public().filter(pk=course_id).exists()


def public_sessions():
    """Sessions of live, public courses (whatever their date or status)."""
    return Session.objects.filter(course__in=CoursePage.objects.live().public().values("pk"))


def public_session_queryset():
    """Sessions of live, public courses, as public_sessions() but in the session's own query (no query beforehand
    for the view restrictions): for reading one session, e.g. the registration form's."""
    return Session.objects.alias(course_public=_course_public()).filter(course_public=True)


def check_booking_window(session: Session, *, now: datetime | None = None) -> None:
    """The time rules alone (cancelled, past, not open yet, closed): for listings, whose sessions are all of public
    courses already (find_sessions, a published course page, the calendar, structured data)."""
    now = now or timezone.now()
    if session.status == Session.Status.CANCELLED:
        raise SessionCancelled()
    if session.starts_at <= now:
        raise SessionPast()
    if session.registration_opens_at and now < session.registration_opens_at:
        raise RegistrationNotOpen()
    if now >= session.registration_closes:
        raise RegistrationClosed()


def booking_refusal(session: Session, *, now: datetime | None = None) -> RegistrationError | None:
    """The time rule that refuses booking this session now (cancelled, past, not open yet, closed), or None when
    it can be booked: check_booking_window's answer, for pages that list public sessions."""
    try:
        check_booking_window(session, now=now)
    except RegistrationError as exc:
        return exc
    return None


def refusal_reason(session: Session, *, now: datetime | None = None) -> str | None:
    """Why this session cannot be booked now, in words for the resident, or None when it can."""
    refusal = booking_refusal(session, now=now)
    return refusal.message if refusal else None


def _find_or_create_participant(details: ParticipantDetails, booker: BookerDetails) -> tuple[Participant, bool]:
    """The same person is the same name with the same e-mail or phone; anything else is a new participant.

    A shared family phone or e-mail is common, so contact alone never identifies a person. Someone without
    contact details of their own, booked by family, is the same person as one with the same name booked
    before by the same booker (same booker phone or e-mail).
    """
    participants = Participant.objects.filter(name=details.name, anonymised_at__isnull=True).order_by("pk")
    participant = None
    if details.name and (details.email or details.phone):
        contact = Q()
        if details.email:
            contact |= Q(email__iexact=details.email)
        if details.phone:
            contact |= Q(phone=details.phone)
        participant = participants.filter(contact).first()
    elif details.name and (booker.email or booker.phone):
        booked_by_same = Q()
        if booker.email:
            booked_by_same |= Q(registrations__booker_email__iexact=booker.email)
        if booker.phone:
            booked_by_same |= Q(registrations__booker_phone=booker.phone)
        participant = participants.filter(booked_by_same, email="", phone="").first()
    now = timezone.now()
    if participant is None:
        participant = Participant(name=details.name, kana=details.kana, email=details.email,
                                  phone=details.phone)
    # Fill in what was missing; never overwrite what the person told us before from an anonymous form.
    for attr in ("kana", "email", "phone", "age_band", "device", "accessibility_needs"):
        if not getattr(participant, attr) and getattr(details, attr):
            setattr(participant, attr, getattr(details, attr))
    if participant.ward_id is None and details.ward_id:
        participant.ward_id = details.ward_id
    if not participant.residence and details.residence:
        participant.residence = details.residence
    participant.language = details.language or participant.language
    if details.consent:
        participant.consent_policy_version = settings.DEKIRU_PRIVACY_POLICY_VERSION
        participant.consented_at = now
    created = participant.pk is None
    participant.save()
    return participant, created


def _next_waitlist_position(session: Session) -> int:
    current = session.registrations.filter(status=Registration.Status.WAITLISTED).aggregate(m=Max("waitlist_position"))
    return (current["m"] or 0) + 1


def _place(registration: Registration, session: Session) -> None:
    """Give a new registration a seat when one is free, otherwise the next place on the waiting list.
    The caller holds the session lock."""
    if _seated_count(session) < session.capacity:
        registration.status = Registration.Status.CONFIRMED
        registration.confirmed_at = timezone.now()
    else:
        registration.status = Registration.Status.WAITLISTED
        registration.waitlist_position = _next_waitlist_position(session)


# --- Booking references ------------------------------------------------------------------------------------

REFERENCE_ATTEMPTS = 5


def _is_reference_collision(error: IntegrityError) -> bool:
    """The unique constraint on Registration.reference refused the row. SQLite says "UNIQUE constraint failed:
    courses_registration.reference", PostgreSQL names the constraint and the key (reference)."""
    return "reference" in str(error)


def retry_on_reference_collision(service):
    """Run a service that creates a registration again when the reference it drew is already taken.

    A new registration draws a random booking reference (its field default, courses.references); with about
    9 million possible references a collision is rare but certain to happen one day. The service's transaction
    (or, inside an outer one, its savepoint) has rolled back by then, so nothing is half-written, and running it
    again draws a new reference: no extra query on the common path. Any other integrity error is raised as is.
    """

    @functools.wraps(service)
    def wrapper(*args, **kwargs):
        for attempt in range(1, REFERENCE_ATTEMPTS + 1):
            try:
                return service(*args, **kwargs)
            except IntegrityError as error:
                if attempt == REFERENCE_ATTEMPTS or not _is_reference_collision(error):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def assign_references(registrations: list[Registration], *, chunk: int = 500) -> None:
    """Give registrations about to be written in bulk (imports, demo data) distinct references that no stored
    registration has: bulk_create cannot retry one row. One query per `chunk` rows, more only on a collision."""
    wanted = len(registrations)
    chosen: list[str] = []
    seen: set[str] = set()
    while len(chosen) < wanted:
        drawn = references.new_references(wanted - len(chosen), taken=seen)
        seen.update(drawn)
        in_use = set()
        for start in range(0, len(drawn), chunk):
            in_use.update(Registration.objects.filter(reference__in=drawn[start:start + chunk])
                          .values_list("reference", flat=True))
        chosen.extend(reference for reference in drawn if reference not in in_use)
    for registration, reference in zip(registrations, chosen, strict=True):
        registration.reference = reference


def find_registration_by_reference(text: str) -> Registration | None:
    """The registration whose booking reference is `text`, typed with or without hyphens or spaces, in full- or
    half-width digits. None when there is none; check `references.has_valid_check_digit` first to tell a
    mistyped number from an unknown one."""
    digits = references.digits_of(text)
    if not references.looks_like_reference(digits):
        return None
    return (Registration.objects.filter(reference=digits, participant__anonymised_at__isnull=True)
            .select_related("participant").first())


# --- Services ---------------------------------------------------------------------------------------------


@retry_on_reference_collision
def register(
    *,
    session: Session,
    participant: ParticipantDetails,
    channel: str = Registration.Channel.WEB,
    booked_by: str = Registration.BookedBy.SELF,
    booker: BookerDetails | None = None,
    actor=None,
    notify_by: str | None = None,
    sms_consent: bool = False,
    bounded_wait: bool = False,
) -> RegistrationResult:
    """Confirm a seat, or put the person on the waiting list when the session is full.

    `bounded_wait`: wait for the session's lock at most DEKIRU_OVERLOAD_LOCK_WAIT_MS, then raise cms.overload.Busy
    (the resident's form, cms.overload); staff bookings and imports wait as long as it takes.

    `notify_by` is how whoever receives this booking's messages chose to hear (Registration.NotifyBy; None where
    the question was not asked, e.g. imports); `sms_consent` records when SMS was agreed to.

    A repeated submission for the same person and session creates nothing: the existing registration is
    returned with `created=False` and its confirmation is sent again to the contact on file.
    """
    details = participant.normalized()
    booker = booker.normalized() if booker else BookerDetails()
    if not (details.email or details.phone or booker.email or booker.phone):
        raise ContactRequired()

    emails, phones = [details.email, booker.email], [details.phone, booker.phone]
    with transaction.atomic(), (bounded_lock_wait() if bounded_wait else nullcontext()), ExitStack() as checked:
        # Lock first: a double click or two processes then see each other's participant and registration. With
        # `bounded_wait` (the public form), a lock not granted in time raises cms.overload.Busy with nothing
        # written: the view answers 「ただいま混み合っています」 and keeps the form. The same statement reads whether
        # the contacts given were reported undeliverable, which the confirmation's channel depends on (courses.outbox:
        # one query less); that needs no lock, the participant and the seats read after it do.
        undeliverable = outbox.any_undeliverable(emails_=emails, phones=phones)
        session = _lock_session(
            session.pk, **({"contacts_undeliverable": undeliverable} if undeliverable is not None else {}))
        if getattr(session, "contacts_undeliverable", None) is False:
            checked.enter_context(outbox.contacts_checked(emails_=emails, phones=phones))
        check_open_for_registration(session)
        person, new_person = _find_or_create_participant(details, booker)
        # Someone just written down has no registration yet: no need to look (one query less per new person).
        existing = None if new_person else (
            session.registrations.filter(participant=person, status__in=Registration.ACTIVE).first())
        if existing is not None:
            notify(Event.REGISTRATION_RESENT, registration=existing, session=session)
            return RegistrationResult(registration=existing, created=False)

        registration = Registration(
            session=session, participant=person, channel=channel, booked_by=booked_by,
            booker_name=booker.name, booker_relationship=booker.relationship, booker_email=booker.email,
            booker_phone=booker.phone, created_by=actor if getattr(actor, "is_authenticated", False) else None,
            notify_by=notify_by or None,
            sms_consented_at=timezone.now() if sms_consent and notify_by == Registration.NotifyBy.SMS else None,
        )
        _place(registration, session)
        registration.save()
        log(registration, f"courses.registration.{registration.status}", user=acting_user(actor))
        notify(Event.REGISTRATION_CONFIRMED if registration.status == Registration.Status.CONFIRMED
               else Event.REGISTRATION_WAITLISTED, registration=registration, session=session)
    return RegistrationResult(registration=registration, created=True)


def cancel_registration(*, registration: Registration, actor=None) -> RegistrationResult:
    """Cancel a confirmed or waitlisted registration; a freed seat goes to the first person waiting."""
    with transaction.atomic():
        session = _lock_session(registration.session_id)
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        if registration.status not in (Registration.Status.CONFIRMED, Registration.Status.WAITLISTED):
            raise NotCancellable()
        if session.starts_at <= timezone.now():
            raise SessionPast()
        registration.status = Registration.Status.CANCELLED
        registration.cancelled_at = timezone.now()
        registration.waitlist_position = None
        registration.save(update_fields=["status", "cancelled_at", "waitlist_position", "updated_at"])
        log(registration, "courses.registration.cancelled", user=acting_user(actor))
        notify(Event.REGISTRATION_CANCELLED, registration=registration, session=session)
        promoted = _promote(session, actor=actor)
    return RegistrationResult(registration=registration, created=False, promoted=promoted)


def promote_waitlist(*, session: Session, actor=None) -> list[Registration]:
    """Fill free seats from the waiting list, first come first served. Returns who was promoted."""
    with transaction.atomic():
        return _promote(_lock_session(session.pk), actor=actor)


def _promote(session: Session, *, actor=None) -> list[Registration]:
    """Promote while seats are free. The caller holds the session lock."""
    if session.status == Session.Status.CANCELLED or session.starts_at <= timezone.now():
        return []
    free = session.capacity - _seated_count(session)
    if free <= 0:
        return []
    waiting = list(session.registrations.select_for_update().filter(status=Registration.Status.WAITLISTED)
                   .select_related("participant").order_by("waitlist_position")[:free])
    now = timezone.now()
    for registration in waiting:
        registration.status = Registration.Status.CONFIRMED
        registration.waitlist_position = None
        registration.confirmed_at = now
        registration.save(update_fields=["status", "waitlist_position", "confirmed_at", "updated_at"])
        log(registration, "courses.registration.promoted", user=acting_user(actor))
        notify(Event.REGISTRATION_PROMOTED, registration=registration, session=session)
    return waiting


def cancel_session(*, session: Session, reason: str, actor=None) -> Session:
    """Cancel a session for everyone; each registered or waitlisted person is told (with the reason)."""
    reason = (reason or "").strip()
    if not reason:
        raise RegistrationError(_("Please give a reason for the cancellation."))
    with transaction.atomic():
        session = _lock_session(session.pk)
        if session.status == Session.Status.CANCELLED:
            raise SessionCancelled()
        session.status = Session.Status.CANCELLED
        session.cancellation_reason = reason
        session.sequence += 1
        session.save(update_fields=["status", "cancellation_reason", "sequence", "updated_at"])
        affected = list(session.registrations.filter(status__in=Registration.ACTIVE).select_related("participant"))
        log(session, "courses.session.cancelled", user=acting_user(actor), data={"reason": reason})
        notify(Event.SESSION_CANCELLED, session=session, registrations=affected, reason=reason)
    return session


_UNCHANGED = object()


def move_session(*, session: Session, starts_at: datetime | None = None, ends_at: datetime | None = None,
                 venue=_UNCHANGED, capacity: int | None = None, actor=None) -> Session:
    """Change a session's time, venue or capacity.

    A capacity below the number already confirmed is refused; a raised capacity promotes people from the
    waiting list. Everyone registered or waitlisted is told what changed.
    """
    with transaction.atomic():
        session = _lock_session(session.pk)
        if session.status == Session.Status.CANCELLED:
            raise SessionCancelled()
        changes = {}
        new_starts = starts_at or session.starts_at
        new_ends = ends_at or session.ends_at
        if new_ends <= new_starts:
            raise InvalidSessionTimes()
        if new_starts != session.starts_at:
            changes["starts_at"] = (session.starts_at.isoformat(), new_starts.isoformat())
        if new_ends != session.ends_at:
            changes["ends_at"] = (session.ends_at.isoformat(), new_ends.isoformat())
        if venue is not _UNCHANGED and getattr(venue, "pk", None) != session.venue_id:
            changes["venue"] = (session.venue_id, getattr(venue, "pk", None))
            session.venue = venue
        if capacity is not None and capacity != session.capacity:
            if capacity < _seated_count(session):
                raise CapacityBelowConfirmed()
            changes["capacity"] = (session.capacity, capacity)
            session.capacity = capacity
        session.starts_at, session.ends_at = new_starts, new_ends
        if changes.keys() & {"starts_at", "ends_at", "venue"}:
            session.sequence += 1  # calendar clients replace the event only when SEQUENCE grows
        session.save()
        promoted = _promote(session, actor=actor)
        if changes:
            log(session, "courses.session.moved", user=acting_user(actor), data={"changes": changes})
            affected = list(session.registrations.filter(status__in=Registration.ACTIVE)
                            .select_related("participant"))
            notify(Event.SESSION_MOVED, session=session, registrations=affected, changes=changes,
                   promoted=promoted)
    session.promoted = promoted  # who got a seat through a raised capacity, for the caller to report
    return session


@dataclass
class SessionEdit:
    session: Session
    moved: bool  # time, venue or capacity changed: everyone booked is told


def edit_session(*, session: Session, before: dict, starts_at: datetime, ends_at: datetime, venue, capacity: int,
                 notes: str, notes_en: str, online_url: str, staff: dict[int, str], actor=None) -> SessionEdit:
    """Change a session as staff edit it, all or nothing. `before` holds the values the person saw (starts_at,
    ends_at, venue_id, capacity, notes, notes_en, online_url): only what they changed is written.

    Time, venue and capacity go through move_session (a capacity below the seats taken is refused; everyone booked
    is told); notes, the online link and the staff ({user id: role}) are written directly. A new link is written
    before a move (an online session may lose its venue), a removed one after it (the session must have gained a
    venue): a session always has a venue or a link. One audit entry names the fields and whether staff changed."""
    with transaction.atomic():
        wanted = {"notes": notes, "notes_en": notes_en, "online_url": online_url}
        direct = {name: value for name, value in wanted.items() if value != before[name]}
        link_added = direct.get("online_url")
        if link_added:
            Session.objects.filter(pk=session.pk).update(online_url=link_added, updated_at=timezone.now())
        moved = ((starts_at, ends_at, getattr(venue, "pk", None), capacity)
                 != (before["starts_at"], before["ends_at"], before["venue_id"], before["capacity"]))
        if moved:
            move_session(session=session, starts_at=starts_at, ends_at=ends_at, venue=venue, capacity=capacity,
                         actor=actor)
        rest = {name: value for name, value in direct.items() if name != "online_url" or not link_added}
        if rest:
            Session.objects.filter(pk=session.pk).update(**rest, updated_at=timezone.now())
        staff_changed = set_session_staff(session, staff)
        saved = Session.objects.get(pk=session.pk)
        if direct or staff_changed:
            log(saved, "wagtail.edit", user=actor, content_changed=True,
                data={"fields": sorted(direct), "staff": staff_changed})
    return SessionEdit(session=saved, moved=moved)


def set_session_staff(session: Session, wanted: dict) -> bool:
    """Make the session's staff exactly `wanted` ({user id: role}). Returns whether anything changed."""
    current = {a.user_id: a for a in SessionStaff.objects.filter(session=session)}
    removed = [a.pk for user_id, a in current.items() if user_id not in wanted]
    changed_role = [a for user_id, a in current.items() if user_id in wanted and a.role != wanted[user_id]]
    added = [SessionStaff(session=session, user_id=user_id, role=role)
             for user_id, role in wanted.items() if user_id not in current]
    SessionStaff.objects.filter(pk__in=removed).delete()
    for assignment in changed_role:
        assignment.role = wanted[assignment.user_id]
        assignment.save(update_fields=["role"])
    SessionStaff.objects.bulk_create(added)
    return bool(removed or changed_role or added)


class AlreadyRegistered(RegistrationError):
    message = _("This person is already registered for that session.")


class SameSession(RegistrationError):
    message = _("Choose a different session to move to.")


@retry_on_reference_collision
def move_registration(*, registration: Registration, to_session: Session, actor=None) -> RegistrationResult:
    """Move a booking to another session on the person's behalf (e.g. over the phone).

    The person gets a seat in the new session, or its waiting list when it is full; the old seat is freed and
    goes to the first person waiting there. Both sessions are locked, in id order so that two moves in
    opposite directions cannot deadlock.
    """
    if to_session.pk == registration.session_id:
        raise SameSession()
    with transaction.atomic():
        first, second = sorted([registration.session_id, to_session.pk])
        locked = {first: _lock_session(first), second: _lock_session(second)}
        old_session, new_session = locked[registration.session_id], locked[to_session.pk]
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        if registration.status not in (Registration.Status.CONFIRMED, Registration.Status.WAITLISTED):
            raise NotCancellable()
        check_open_for_registration(new_session)
        if new_session.registrations.filter(participant_id=registration.participant_id,
                                            status__in=Registration.ACTIVE).exists():
            raise AlreadyRegistered()
        moved = Registration(
            session=new_session, participant_id=registration.participant_id, channel=registration.channel,
            booked_by=registration.booked_by, booker_name=registration.booker_name,
            booker_relationship=registration.booker_relationship, booker_email=registration.booker_email,
            booker_phone=registration.booker_phone, created_by=acting_user(actor))
        _place(moved, new_session)
        moved.save()
        registration.status = Registration.Status.CANCELLED
        registration.cancelled_at = timezone.now()
        registration.waitlist_position = None
        registration.save(update_fields=["status", "cancelled_at", "waitlist_position", "updated_at"])
        log(registration, "courses.registration.moved", user=acting_user(actor),
            data={"from_session": old_session.pk, "to_session": new_session.pk, "new_registration": moved.pk})
        log(moved, f"courses.registration.{moved.status}", user=acting_user(actor))
        notify(Event.REGISTRATION_MOVED, registration=moved, session=new_session, previous=registration)
        promoted = _promote(old_session, actor=actor)
    return RegistrationResult(registration=moved, created=True, promoted=promoted)


def merge_participants(*, keep: Participant, duplicate: Participant, actor=None) -> Participant:
    """Merge two records of the same person: every registration of `duplicate` moves to `keep`.

    No registration is lost. Where both records hold an active registration for the same session (the person
    was booked twice), the duplicate's one is kept as a cancelled record and its seat goes to the waiting list.
    Details missing from `keep` are taken from `duplicate`; then `duplicate` is deleted.
    """
    if keep.pk == duplicate.pk:
        raise RegistrationError(_("Choose two different people to merge."))
    with transaction.atomic():
        keep = Participant.objects.select_for_update().get(pk=keep.pk)
        duplicate = Participant.objects.select_for_update().get(pk=duplicate.pk)
        freed_sessions = set()
        for registration in Registration.objects.select_for_update().filter(participant=duplicate):
            clash = (registration.status in Registration.ACTIVE and Registration.objects.filter(
                session_id=registration.session_id, participant=keep, status__in=Registration.ACTIVE).exists())
            if clash:
                if registration.status in Registration.SEATED:
                    freed_sessions.add(registration.session_id)
                registration.status = Registration.Status.CANCELLED
                registration.cancelled_at = timezone.now()
                registration.waitlist_position = None
            registration.participant = keep
            registration.save()
        for attr in ("kana", "email", "phone", "age_band", "device", "accessibility_needs",
                     "consent_policy_version"):
            if not getattr(keep, attr) and getattr(duplicate, attr):
                setattr(keep, attr, getattr(duplicate, attr))
        if keep.ward_id is None:
            keep.ward_id = duplicate.ward_id
        if not keep.residence:
            keep.residence = duplicate.residence
        if keep.consented_at is None:
            keep.consented_at = duplicate.consented_at
        keep.save()
        log(keep, "courses.participant.merged", user=acting_user(actor),
            data={"merged_participant": duplicate.pk, "merged_name": duplicate.name})
        duplicate.delete()
        for session_id in sorted(freed_sessions):
            _promote(_lock_session(session_id), actor=actor)
    return keep


def find_participants(query: str, *, limit: int = 50):
    """Call-centre look-up by phone number, e-mail, name or kana, tolerant of how the caller's details are
    typed: full- or half-width, any dashes, hiragana or katakana, with or without spaces."""
    from django.db.models import Value
    from django.db.models.functions import Replace

    query = (query or "").strip()
    if not query:
        return Participant.objects.none()
    participants = Participant.objects.filter(anonymised_at__isnull=True)
    phone = normalize_phone(query)
    if phone.isdigit() and len(phone) >= 4:
        return participants.filter(phone__contains=phone).order_by("kana", "pk")[:limit]
    if "@" in normalize_email(query):  # also a full-width ＠
        return participants.filter(email__icontains=normalize_email(query)).order_by("kana", "pk")[:limit]
    # A name in Latin script is stored in ASCII: "ｍａｒｉａ garcia" finds "Maria Garcia" (icontains ignores case).
    # Records typed before names were folded may still hold the full-width letters: look for those too.
    as_typed = normalize_name(query).replace(" ", "")
    name = to_half_width_ascii(as_typed)
    kana = normalize_kana(query).replace(" ", "")
    participants = participants.annotate(
        name_nospace=Replace("name", Value(" "), Value("")), kana_nospace=Replace("kana", Value(" "), Value("")))
    matches = Q(name_nospace__icontains=name) | Q(kana_nospace__icontains=kana)
    if as_typed != name:
        matches |= Q(name_nospace__icontains=as_typed)
    return participants.filter(matches).order_by("kana", "pk")[:limit]


def find_sessions(*, q: str = "", ward=None, topic=None, level: str = "", device: str = "", date_from=None,
                  date_to=None, free: bool = False, now: datetime | None = None):
    """Upcoming, scheduled sessions of live courses, filtered as the class listing asks.

    One query for the page whatever the number of sessions: seat counts are annotated, course, venue, ward and
    organiser joined.
    """
    from django.db.models import F

    now = now or timezone.now()
    sessions = (public_sessions().with_counts()
                .filter(status=Session.Status.SCHEDULED, starts_at__gt=now)
                .select_related("course", "venue", "venue__ward", "organiser")
                .order_by("starts_at", "pk"))
    if q:
        sessions = sessions.filter(course__in=search_courses(q).values("pk"))
    if ward is not None:
        sessions = sessions.filter(venue__ward=ward)
    if topic is not None:
        sessions = sessions.filter(course__topics=topic)
    if level:
        sessions = sessions.filter(course__level=level)
    if device:
        # A class for "any smartphone" suits every phone.
        sessions = sessions.filter(course__device__in=[device, "any"])
    if date_from:
        sessions = sessions.filter(starts_at__date__gte=date_from)
    if date_to:
        sessions = sessions.filter(starts_at__date__lte=date_to)
    if free:
        sessions = sessions.filter(capacity__gt=F("confirmed_count"))
    return sessions
