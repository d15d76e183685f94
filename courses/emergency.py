"""Emergency cancellation: city staff cancel every session of a ward, a venue or the whole city over a range of
dates (a storm warning, a venue closure) with one reason.

Each session is cancelled through services.cancel_session, so everyone registered or waiting is told with the
reason (by e-mail, or on the call list when there is only a phone number: courses.notifications). The whole
action runs in one transaction: every session in scope is cancelled, or none is. One audit entry records the
action as a whole (on the ward, the venue or the municipality), next to each session's own entry, and all of them
share one log uuid.

Only sessions that have not started are touched: a session that is over or under way is history.
"""

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.log_actions import LogContext, log

from cms.audit import acting_user
from cms.models import MunicipalitySettings
from courses import services
from courses.models import Registration, Session
from courses.services import RegistrationError

LOG_ACTION = "courses.session.emergency_cancelled"
MAX_DAYS = 366  # a long venue closure; anything longer is a mistake in the dates


class EmergencyScopeError(RegistrationError):
    message = _("Choose what to cancel and a valid range of dates.")


@dataclass(frozen=True)
class EmergencyScope:
    """What an emergency cancellation covers: one ward, one venue, or the whole city (both None), between two
    local dates, inclusive."""

    date_from: date
    date_to: date
    ward: object = None  # partners.Ward
    venue: object = None  # partners.Venue

    def check(self) -> None:
        if self.ward is not None and self.venue is not None:
            raise EmergencyScopeError(_("Choose a ward or a venue, not both."))
        if self.date_to < self.date_from:
            raise EmergencyScopeError(_("The last date is before the first date."))
        if (self.date_to - self.date_from).days >= MAX_DAYS:
            raise EmergencyScopeError(_("Choose a range of at most one year."))

    def sessions(self, *, now: datetime | None = None) -> QuerySet:
        """Scheduled sessions in scope that have not started, earliest first. Online sessions count for the whole
        city only (they have no ward or venue)."""
        self.check()
        tz = timezone.get_current_timezone()
        start = datetime.combine(self.date_from, time.min, tzinfo=tz)
        end = datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=tz)
        sessions = Session.objects.filter(status=Session.Status.SCHEDULED, starts_at__gte=start, starts_at__lt=end,
                                          starts_at__gt=now or timezone.now())
        if self.venue is not None:
            sessions = sessions.filter(venue=self.venue)
        elif self.ward is not None:
            sessions = sessions.filter(venue__ward=self.ward)
        return sessions.order_by("starts_at", "pk")

    def log_target(self):
        """The object the audit entry for the whole action is written on."""
        if self.venue is not None:
            return self.venue
        if self.ward is not None:
            return self.ward

        return MunicipalitySettings.load()

    def describe(self) -> dict:
        return {"ward": getattr(self.ward, "pk", None), "venue": getattr(self.venue, "pk", None),
                "date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()}


# Who hears about a registration, in the database (courses.recipients.recipient_for): the participant when
# they have an e-mail address or a phone number, else the booker; by e-mail when the one told has an address,
# on the call list when they have only a phone number.
_OWN_CONTACT = ~Q(participant__email="") | ~Q(participant__phone="")
_BY_EMAIL = ~Q(participant__email="") | (~_OWN_CONTACT & ~Q(booker_email=""))
_BY_PHONE = ((Q(participant__email="") & ~Q(participant__phone=""))
             | (~_OWN_CONTACT & Q(booker_email="") & ~Q(booker_phone="")))


@dataclass
class EmergencyPreview:
    sessions: list[Session]
    bookings: int  # registrations, confirmed or waiting: one message each
    people: int  # distinct participants among them
    by_email: int
    by_phone: int  # on the call list
    unreachable: int  # neither the person nor their booker left a contact
    fingerprint: str  # of the session ids, so that a confirmation can tell the scope has changed since

    @property
    def session_count(self) -> int:
        return len(self.sessions)


def fingerprint(session_ids) -> str:
    return hashlib.sha256(",".join(str(pk) for pk in sorted(session_ids)).encode()).hexdigest()[:32]


def count_recipients(session_ids) -> dict:
    """How many bookings (registered or waiting) the sessions have and how their people would be told: by e-mail,
    on the call list, or not at all (no contact). One query."""
    counts = (Registration.objects.filter(session__in=list(session_ids), status__in=Registration.ACTIVE)
              .aggregate(bookings=Count("pk"), people=Count("participant", distinct=True),
                         by_email=Count("pk", filter=_BY_EMAIL), by_phone=Count("pk", filter=_BY_PHONE)))
    counts["unreachable"] = counts["bookings"] - counts["by_email"] - counts["by_phone"]
    return counts


def preview(scope: EmergencyScope, *, now: datetime | None = None) -> EmergencyPreview:
    """What cancelling `scope` would do: the sessions (with seat counts) and how many people are told, by e-mail
    or by phone. Two queries whatever the number of sessions."""
    sessions = list(scope.sessions(now=now).with_counts().select_related("course", "venue", "venue__ward",
                                                                         "organiser"))
    counts = count_recipients(s.pk for s in sessions)
    return EmergencyPreview(sessions=sessions, fingerprint=fingerprint(s.pk for s in sessions), **counts)


class ScopeChanged(RegistrationError):
    message = _("The sessions in scope have changed since the preview (one was added, moved or cancelled). "
                "Nothing was cancelled: check the new preview and confirm again.")


def cancel_sessions(*, scope: EmergencyScope, reason: str, actor=None, expected: str | None = None,
                    now: datetime | None = None) -> list[Session]:
    """Cancel every scheduled session in `scope` with one reason, in one transaction: all of them or none.

    The sessions are found again here, never taken from a list the caller kept. With `expected` (the preview's
    fingerprint), a scope that changed since the preview cancels nothing and raises ScopeChanged.
    Returns the cancelled sessions.
    """
    reason = (reason or "").strip()
    if not reason:
        raise RegistrationError(_("Please give a reason for the cancellation."))
    scope.check()
    user = acting_user(actor)
    with transaction.atomic(), LogContext(user=user):
        # Lock the rows in id order (as services.move_registration does), so that a concurrent change to one of
        # them waits for us, or we for it, without deadlocking.
        ids = list(scope.sessions(now=now).select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))
        if expected is not None and fingerprint(ids) != expected:
            raise ScopeChanged()
        cancelled = [services.cancel_session(session=session, reason=reason, actor=actor)
                     for session in Session.objects.filter(pk__in=ids).order_by("starts_at", "pk")]
        log(scope.log_target(), LOG_ACTION, user=user,
            data={**scope.describe(), "reason": reason, "sessions": [s.pk for s in cancelled]})
    return cancelled
