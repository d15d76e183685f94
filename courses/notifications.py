"""The one place the services report what happened, for the messages residents receive.

Every service ends with an explicit call to `notify()` inside its transaction (not a signal), so the outbox rows
written here (courses.outbox) commit or roll back with the change they report. Nothing is rendered or sent here:
a worker does that after the commit (courses.tasks), so a request never waits for the mail provider.

Which event queues which message (one per person, keyed so that asking twice queues once):

    REGISTRATION_CONFIRMED   confirmed               (.ics attached, cancel link)
    REGISTRATION_WAITLISTED  waitlisted              (position, cancel link)
    REGISTRATION_RESENT      resent                  (at most one per registration per 10 minutes)
    REGISTRATION_PROMOTED    promoted                (.ics attached; less than DEKIRU_LATE_PROMOTION_CALL_HOURS
                                                      before the start, also on the call list)
    REGISTRATION_CANCELLED   cancelled_by_resident   (pending messages about the registration are dropped)
    REGISTRATION_MOVED       confirmed / waitlisted  for the new session, saying where it was moved from
    SESSION_CANCELLED        session_cancelled       to everyone registered or waiting (with the reason)
    SESSION_MOVED            session_moved           to everyone registered or waiting, when the time or place
                                                     changed (new .ics); reminders for the old time are dropped
Reminders and the thanks after a session are queued by a periodic job (`manage.py send_reminders`).
"""

import logging
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from courses import outbox
from courses.models import OutgoingMessage

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


# Changes of a session that residents are told about (a new capacity concerns only those it promotes).
TOLD_CHANGES = {"starts_at", "ends_at", "venue"}


def notify(event: Event, *, registration=None, session=None, **details) -> None:
    """Queue the messages `event` calls for, in the caller's transaction. Does nothing inside
    `courses.outbox.suppressed()` (demo data, imports)."""
    logger.debug("dekiru event %s registration=%s session=%s %s", event,
                 getattr(registration, "pk", None), getattr(session, "pk", None), details or "")
    if outbox.is_suppressed():
        return
    Kind = OutgoingMessage.Kind
    now = timezone.now()

    if event == Event.REGISTRATION_CONFIRMED:
        outbox.queue_messages([outbox.build_message(Kind.CONFIRMED, registration, session=session, now=now)])
    elif event == Event.REGISTRATION_WAITLISTED:
        outbox.queue_messages([outbox.build_message(Kind.WAITLISTED, registration, session=session, now=now)])
    elif event == Event.REGISTRATION_RESENT:
        _resend(registration, session=session, now=now)
    elif event == Event.REGISTRATION_PROMOTED:
        outbox.cancel_pending(OutgoingMessage.objects.filter(registration=registration, kind=Kind.WAITLISTED),
                              reason=outbox.Obsolete.PROMOTED)
        messages = [outbox.build_message(Kind.PROMOTED, registration, session=session, now=now)]
        if session.starts_at - now < outbox.late_promotion_window() and messages[0] is not None \
                and messages[0].channel == OutgoingMessage.Channel.EMAIL:
            # Close to the start an e-mail may not be read in time: staff phone as well (when there is a number).
            messages.append(outbox.build_message(
                Kind.PROMOTED, registration, session=session, now=now, call=True,
                key=outbox.message_key(Kind.PROMOTED, registration, call="late"), context={"late": True}))
        outbox.queue_messages(messages)
    elif event == Event.REGISTRATION_CANCELLED:
        outbox.cancel_pending(OutgoingMessage.objects.filter(registration=registration)
                              .exclude(kind=Kind.CANCELLED_BY_RESIDENT), reason=outbox.Obsolete.REGISTRATION_CANCELLED)
        outbox.queue_messages([outbox.build_message(Kind.CANCELLED_BY_RESIDENT, registration, session=session,
                                                    now=now)])
    elif event == Event.REGISTRATION_MOVED:
        previous = details["previous"]
        outbox.cancel_pending(OutgoingMessage.objects.filter(registration=previous),
                              reason=outbox.Obsolete.REGISTRATION_CANCELLED)
        kind = Kind.CONFIRMED if registration.status == registration.Status.CONFIRMED else Kind.WAITLISTED
        context = {"moved_from": {"session": previous.session_id,
                                  "starts_at": previous.session.starts_at.isoformat(),
                                  "ends_at": previous.session.ends_at.isoformat()}}
        outbox.queue_messages([outbox.build_message(kind, registration, session=session, context=context, now=now)])
    elif event == Event.SESSION_CANCELLED:
        outbox.cancel_pending(OutgoingMessage.objects.filter(session=session).exclude(
            kind__in=[Kind.SESSION_CANCELLED, Kind.CANCELLED_BY_RESIDENT]), reason=outbox.Obsolete.SESSION_CANCELLED)
        context = {"reason": details.get("reason", "")}
        outbox.queue_messages([outbox.build_message(Kind.SESSION_CANCELLED, r, session=session, context=context,
                                                    now=now) for r in details.get("registrations", [])])
    elif event == Event.SESSION_MOVED:
        _session_moved(session, registrations=details.get("registrations", []), changes=details.get("changes", {}),
                       now=now)
    else:  # pragma: no cover — a new event must be mapped above
        logger.warning("no message for event %s", event)


def _resend(registration, *, session, now) -> None:
    """Send the registration again to the contact on file, at most once per registration in the resend interval,
    and not while the original message is still waiting to go out."""
    Kind, Status = OutgoingMessage.Kind, OutgoingMessage.Status
    interval = timedelta(minutes=getattr(settings, "DEKIRU_RESEND_INTERVAL_MINUTES", 10))
    recent = OutgoingMessage.objects.filter(registration=registration).filter(
        Q(kind=Kind.RESENT, created_at__gt=now - interval)
        | Q(kind__in=[Kind.CONFIRMED, Kind.WAITLISTED, Kind.PROMOTED],
            status__in=[Status.PENDING, Status.SENDING, Status.TO_CALL]))
    if recent.exists():
        logger.info("resend of registration %s skipped: sent or queued recently", registration.pk)
        return
    bucket = int(now.timestamp() // interval.total_seconds())
    outbox.queue_messages([outbox.build_message(Kind.RESENT, registration, session=session, now=now,
                                                key=outbox.message_key(Kind.RESENT, registration, t=bucket))])


def _session_moved(session, *, registrations, changes: dict, now) -> None:
    """Tell everyone what changed. A still-unsent earlier change message is replaced by one that compares with
    what the person was last told; reminders for the old time are dropped and, when the new time is already
    within the reminder lead time, queued again at once."""
    Kind = OutgoingMessage.Kind
    if not changes.keys() & TOLD_CHANGES:
        return
    changes = {name: list(change) for name, change in changes.items() if name in TOLD_CHANGES}
    superseded = OutgoingMessage.objects.filter(session=session, kind=Kind.SESSION_MOVED,
                                                status__in=outbox.CANCELLABLE)
    earlier = {}  # registration id → the changes its unsent message described
    for registration_id, context in superseded.values_list("registration_id", "context"):
        earlier.setdefault(registration_id, {}).update((context or {}).get("changes", {}))
    outbox.cancel_pending(superseded, reason=outbox.Obsolete.SUPERSEDED)
    if "starts_at" in changes:
        outbox.cancel_pending(OutgoingMessage.objects.filter(session=session, kind=Kind.REMINDER),
                              reason=outbox.Obsolete.MOVED)

    messages = []
    for registration in registrations:
        merged = dict(changes)
        for name, (before, _after) in earlier.get(registration.pk, {}).items():
            merged[name] = [before, merged[name][1] if name in merged else _after]
        messages.append(outbox.build_message(
            Kind.SESSION_MOVED, registration, session=session, now=now, context={"changes": merged},
            key=outbox.message_key(Kind.SESSION_MOVED, registration, seq=session.sequence)))
    outbox.queue_messages(messages)
    if "starts_at" in changes:
        outbox.queue_reminders(now=now, sessions=[session])
