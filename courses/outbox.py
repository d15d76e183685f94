"""The outbox: queue, claim, send, retry and sweep the messages residents receive.

How a message travels
---------------------
1. `notify()` (courses.notifications) or a periodic job writes an `OutgoingMessage` row in the transaction of the
   change it reports, and asks the "mail" task backend to send it (courses.tasks.send_message_task): its task row
   (django-tasks-db) is written in the same transaction, so the message and its task commit together, in one commit
   (another backend is asked `transaction.on_commit`). Each logical message has a unique `key`
   ("reminder:reg=123:start=…"), so asking twice queues it once (one INSERT … ON CONFLICT DO NOTHING RETURNING, safe
   under concurrency). Nothing is rendered or sent in the request. The channel is chosen when the row is written
   (`channel_for`), in the stated order: the resident's choice (Registration.notify_by) when it can be used → e-mail
   when there is an address → LINE when whoever is told linked LINE (courses.recipients) and LINE is on (cms.line) →
   SMS to a mobile number with consent, when SMS is on (cms.sms) → a phone-channel row (status `to_call`): the call
   list staff work through (`mark_called`). A channel whose monthly cap is reached (courses.channel_budget) is
   skipped, and so is a contact a provider reported undeliverable (UndeliverableContact: that e-mail address gets no
   e-mail, that number no SMS), looked up once per batch of messages (`queue_messages`), not per message.
2. A worker claims due messages, a few at a time (`claim_batch`, CLAIM_BATCH): one conditional UPDATE pending →
   sending of the oldest due rows, picked with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite serialises writers),
   with a lease (`lease_expires_at`, `claimed_by`), committed before anything is sent, then one read of those rows
   with their relations. It sends them one by one (below); those it does not try go back to the queue at once.
3. It checks that the message still makes sense (registration or session cancelled meanwhile, session moved or
   already started → `cancelled`, not sent), renders it in the resident's language (courses.emails) from the
   current data, and sends it through Django's e-mail API with the configured backend (cms.mail.SendGridBackend
   in production, whose every request has a timeout), or an SMS (courses.sms_texts, at most two segments)
   through cms.sms (the twilio client, or the console in the demo), or a LINE push (courses.line_texts) through
   cms.line (line-bot-sdk, or the console in the demo) with an `X-Line-Retry-Key` derived from the row
   (`line_retry_key`). What an SMS or a push costs is recorded in `units` (SMS segments, LINE messages).
4. The outcome is recorded at once in its own short statement: `sent` with SendGrid's X-Message-Id; a transient
   failure (429, 5xx, timeout, connection) → `pending` again with exponential backoff and full jitter, never
   sooner than a Retry-After, and a task deferred to that time; after `DEKIRU_MAIL_MAX_ATTEMPTS` or on a
   permanent failure (other 4xx, invalid address) → `failed` with the reason, for staff. An SMS or a LINE message
   that fails for good (an invalid or landline number: Twilio 21211, 21614…; a LINE user id LINE refuses (400:
   invalid, or the resident blocked the account); LINE's monthly limit; the channel switched off or its cap
   reached; or out of attempts) is `failed` and, in the same transaction, continues as a new row on the next
   channel (`next_channel`: after LINE, e-mail if there is an address, else SMS to a consented mobile, else the
   call list; after SMS, e-mail, else the call list), `fallback_of` the failed one, so the log shows every attempt
   per channel.
5. A periodic sweeper (`manage.py sweep_outbox`) returns messages whose lease expired (the worker died) to the
   queue, and queues a drain task when due messages are waiting longer than they should (their task was lost,
   the worker was down, a retry time has come) — django-tasks-db does not re-run a task left running by a dead
   worker, so the outbox has this sweeper of its own.
6. Delivery reports (courses.delivery_events): SendGrid's Event Webhook and Twilio's status callback set
   `delivery_status`; a hard bounce, a spam report or a number that cannot get SMS writes an
   UndeliverableContact, and an undelivered message continues on the next channel as `_fall_back` does
   (key "<key>:via=<channel>", `fallback_of`), in the transaction of the report.

Duplicates: the windows that remain
-----------------------------------
Neither SendGrid nor Twilio's Messages API has an idempotency key, so a message can reach a resident twice. Every
SendGrid request carries the outbox row,
its key and the attempt number in `custom_args` (courses.emails.custom_args), which come back in SendGrid's events
and activity feed, so a second copy can be traced to its row. Each window below is recorded on the message:
`uncertain_attempts` counts the attempts that may have gone out without a recorded success and `uncertain_note`
says why. Both are only ever added to: a later success (which clears `last_error`, the last attempt's error) or a
staff retry leaves them, and the message log shows such messages, with a filter "may have gone twice".

1. No answer in time. The request was sent and SendGrid answers after `SENDGRID_TIMEOUT` (or the connection drops
   before the answer): SendGrid may have accepted it. The failure is transient (the message must not be lost), so
   it is retried and may go out twice; cms.mail marks the failure `maybe_sent` (a failure to connect or to write
   the request is not), and the attempt is recorded here as uncertain. A timeout long enough for SendGrid's slow
   answers keeps this window rare. The same holds for an SMS (cms.sms: a read timeout or a connection dropped
   after the request, `DEKIRU_TWILIO_TIMEOUT`).
2. A worker lost while sending. If the worker dies, or the database becomes unreachable, after SendGrid has accepted
   a message (HTTP 202) and before the single UPDATE that records it as sent, the lease expires, the sweeper puts
   the message back (counting the lost attempt as uncertain) and it is sent again. The window is kept to that one
   statement right after the response (rendering and the claim happen before the request). A worker claims a few
   messages at a time: when it dies, the sweeper counts the lost attempt as uncertain on every message it held,
   including the ones still waiting their turn (at most CLAIM_BATCH - 1) that cannot have gone out: the note errs on
   the side of "may have been sent", never the other way.
3. A lease shorter than a request. The sweeper would hand a message to a second worker while the first is still
   waiting for SendGrid; both may send. The lease (`DEKIRU_MAIL_LEASE_SECONDS`, default 300 s) is kept far above
   `SENDGRID_TIMEOUT`, and the sweeper records the release as in 2.
4. Staff's "send again" of a failed message after uncertain attempts: the log shows the note beside the button.

LINE has an idempotency key, and so no window within 24 hours. Every push carries `X-Line-Retry-Key`, a UUID
derived from the outbox row (uuid5 over its id and key: the same for every attempt of that row, different for any
other row, including the row a fallback creates). LINE accepts a key once and answers a repeated one, for 24 hours,
with 409 and the accepted request's id, which is recorded as the success it is (`provider_message_id`): a retry after
windows 1-3 above does not reach the resident a second time. The uncertain attempt is still recorded (the note says
what happened; the 409 proves the first attempt went out, once). Beyond 24 hours LINE forgets the key, and a LINE
message retried that late (a long backoff, a staff retry the next day) has windows 1-4 like the other channels.

Phone calls have no window: marking a call done is a conditional UPDATE (to_call → called).
"""

import logging
import os
import secrets
import socket
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Case, Exists, F, Q, QuerySet, Value, When
from django.db.models.functions import Lower
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from cms import line, sms
from cms.sending import SendFailure, lease_time, max_attempts, retry_delay, try_send
from courses import channel_budget, emails, line_texts, sms_texts, tasks
from courses.models import OutgoingMessage, Registration, Session, UndeliverableContact
from courses.recipients import Recipient, is_mobile, recipient_for

logger = logging.getLogger(__name__)

Kind, Status, Channel = OutgoingMessage.Kind, OutgoingMessage.Status, OutgoingMessage.Channel

# Messages not yet sent or called: what a change of plan may still withdraw.
CANCELLABLE = (Status.PENDING, Status.TO_CALL)

# The namespace of the LINE retry keys (`line_retry_key`): fixed, so a row's key is the same in every process.
LINE_RETRY_NAMESPACE = uuid.UUID("5f0c2b8e-6a57-4c1e-9d0e-3b1f4a7c2d19")


def _setting(name: str, default):
    return getattr(settings, name, default)


def lead_time() -> timedelta:
    """How long before a session its reminder goes out (DEKIRU_REMINDER_LEAD_HOURS, default 24)."""
    return timedelta(hours=_setting("DEKIRU_REMINDER_LEAD_HOURS", 24))


def late_promotion_window() -> timedelta:
    """A seat from the waiting list this close to the start is also phoned (DEKIRU_LATE_PROMOTION_CALL_HOURS,
    default 24): an e-mail may not be read in time."""
    return timedelta(hours=_setting("DEKIRU_LATE_PROMOTION_CALL_HOURS", 24))


class Obsolete:
    """Why a message was not sent, for staff reading the message log (kept in `last_error`)."""

    REGISTRATION_CANCELLED = _("Not sent: the registration was cancelled.")
    REGISTRATION_GONE = _("Not sent: the registration no longer exists.")
    SESSION_CANCELLED = _("Not sent: the session was cancelled.")
    SESSION_STARTED = _("Not sent: the session had already started.")
    MOVED = _("Not sent: the session moved to another time.")
    PROMOTED = _("Not sent: the person got a seat meanwhile.")
    NOT_WAITING = _("Not sent: the person is no longer on the waiting list.")
    NOT_CONFIRMED = _("Not sent: the registration is no longer confirmed.")
    NOT_ATTENDED = _("Not sent: attendance is not recorded as attended.")
    SUPERSEDED = _("Not sent: replaced by a newer message about the same change.")


def _staff_text(text, **params) -> str:
    """Reasons are stored in the site's language (the staff's), whatever language the worker's thread is in;
    `params` are formatted in after the translation."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(text) % params if params else str(text)


# --- Suppression (demo data, bulk imports) ---------------------------------------------------------------------

_suppressed: ContextVar[bool] = ContextVar("dekiru_outbox_suppressed", default=False)


@contextmanager
def suppressed() -> Iterator[None]:
    """Queue no message inside this block (seed_demo, imports of past bookings): the services still run."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def is_suppressed() -> bool:
    return _suppressed.get()


# --- Queueing -------------------------------------------------------------------------------------------------


def message_key(kind: str, registration, **parts) -> str:
    """The logical message: "confirmed:reg=123", "session_moved:reg=123:seq=4", "reminder:reg=123:start=…"."""
    return ":".join([str(kind), f"reg={registration.pk}", *(f"{name}={value}" for name, value in parts.items())])


def local_iso(value: datetime) -> str:
    return timezone.localtime(value).isoformat(timespec="minutes")


def over_cap(channel: str, *, now: datetime | None = None) -> bool:
    """This month's budget or quota of the channel is used up (courses.channel_budget): it is skipped."""
    return channel_budget.over_cap(channel, now=now)


# An undeliverable contact as `undeliverable_contacts` returns it: (kind, normalised address).
def _contact(kind: str, address: str) -> tuple[str, str]:
    if kind == UndeliverableContact.Kind.PHONE:
        return kind, sms.e164(address) if address else ""
    return kind, (address or "").strip().lower()


def _undeliverable_rows(emails_: Iterable[str], phones: Iterable[str]) -> QuerySet | None:
    """The UndeliverableContact rows of these addresses and numbers (a number however it was written), or None when
    there is nothing to look up."""
    emails_ = {address for address in emails_ if address}
    phones = {number for number in phones if number}
    if not emails_ and not phones:
        return None
    Kind_ = UndeliverableContact.Kind
    email_forms = {address.strip().lower() for address in emails_}
    phone_forms = phones | {sms.e164(number) for number in phones} | {
        "".join(ch for ch in number if ch.isdigit()) for number in phones}
    return UndeliverableContact.objects.alias(address_lower=Lower("address")).filter(
        Q(kind=Kind_.EMAIL, address_lower__in=email_forms) | Q(kind=Kind_.PHONE, address__in=phone_forms))


def undeliverable_contacts(*, emails_: Iterable[str] = (), phones: Iterable[str] = ()) -> frozenset:
    """The given e-mail addresses and phone numbers a provider reported undeliverable, as (kind, address) pairs
    (`_contact`): one query, whatever the number of addresses (none when there is nothing to look up). A number
    matches however it was written (09012345678 or +819012345678)."""
    rows = _undeliverable_rows(emails_, phones)
    if rows is None:
        return frozenset()
    return frozenset(_contact(kind, address) for kind, address in rows.values_list("kind", "address"))


# Contacts known to be deliverable in this context (`contacts_checked`): queue_messages need not look them up.
_deliverable: ContextVar[frozenset] = ContextVar("dekiru_outbox_deliverable", default=frozenset())


def any_undeliverable(*, emails_: Iterable[str] = (), phones: Iterable[str] = ()):
    """An expression (Exists) saying whether any of these contacts was reported undeliverable, to be read in a
    query the caller makes anyway (the booking's session lock, courses.services.register), or None when there is
    nothing to look up. Then `contacts_checked`."""
    rows = _undeliverable_rows(emails_, phones)
    return None if rows is None else Exists(rows)


@contextmanager
def contacts_checked(*, emails_: Iterable[str] = (), phones: Iterable[str] = ()) -> Iterator[None]:
    """Inside this block, these contacts are known deliverable (`any_undeliverable` said none is reported):
    messages queued to them choose their channel without the look-up (one query less in the booking's transaction).
    A message to any other contact is looked up as usual."""
    known = frozenset(_contact(UndeliverableContact.Kind.EMAIL, address) for address in emails_ if address) | (
        frozenset(_contact(UndeliverableContact.Kind.PHONE, number) for number in phones if number))
    token = _deliverable.set(_deliverable.get() | known)
    try:
        yield
    finally:
        _deliverable.reset(token)


def can_email(recipient: Recipient, *, undeliverable: frozenset = frozenset()) -> bool:
    return bool(recipient.email) and _contact(UndeliverableContact.Kind.EMAIL, recipient.email) not in undeliverable


def can_sms(registration: Registration, recipient: Recipient, *, undeliverable: frozenset = frozenset(),
            now: datetime | None = None) -> bool:
    """SMS is possible: a mobile number (070/080/090) not reported undeliverable, the consent recorded, and the SMS
    channel on (cms.sms) and within its monthly budget."""
    return (recipient.mobile and registration.sms_consented_at is not None and sms.available()
            and _contact(UndeliverableContact.Kind.PHONE, recipient.phone) not in undeliverable
            and not over_cap(Channel.SMS, now=now))


def can_line(recipient: Recipient, *, now: datetime | None = None) -> bool:
    """LINE is possible: whoever is told linked LINE, and the LINE channel is on (cms.line) and within its monthly
    quota."""
    return bool(recipient.line_user_id) and line.available() and not over_cap(Channel.LINE, now=now)


def channel_for(registration: Registration, recipient: Recipient, *, call: bool = False,
                undeliverable: frozenset = frozenset(), now: datetime | None = None) -> str:
    """The channel a message goes by, in the stated order: the resident's choice (Registration.notify_by: e-mail,
    LINE, SMS or a call) when it can be used → e-mail when there is an address → LINE when whoever is told linked
    LINE → SMS to a mobile number with consent → the call list. A channel that is off or whose monthly cap is
    reached is skipped, and so is a contact in `undeliverable` (`undeliverable_contacts`). A booking made before the
    question was asked (notify_by null) starts at e-mail."""
    NotifyBy = Registration.NotifyBy
    if call:
        return Channel.PHONE
    choice = registration.notify_by
    if choice == NotifyBy.CALL and recipient.phone:
        return Channel.PHONE
    if choice == NotifyBy.LINE and can_line(recipient, now=now):
        return Channel.LINE
    if choice == NotifyBy.SMS and can_sms(registration, recipient, undeliverable=undeliverable, now=now):
        return Channel.SMS
    if can_email(recipient, undeliverable=undeliverable):
        return Channel.EMAIL
    if can_line(recipient, now=now):
        return Channel.LINE
    if can_sms(registration, recipient, undeliverable=undeliverable, now=now):
        return Channel.SMS
    return Channel.PHONE


def build_message(kind: str, registration: Registration, *, session: Session | None = None, key: str | None = None,
                  context: dict | None = None, send_after: datetime | None = None,
                  now: datetime | None = None, call: bool = False) -> OutgoingMessage | None:
    """An unsaved message to whoever hears about `registration` (courses.recipients.recipient_for), on the channel
    `channel_for` picks: e-mail, LINE or SMS (sent by the worker), or the call list. None when nobody can be
    reached. `call`: on the call list whatever else there is (None without a phone number). Reads nothing from the
    database beyond the registration's participant (and a channel's monthly use when a cap is set): undeliverable
    contacts are looked up for the whole batch when it is queued (`queue_messages`)."""
    recipient = recipient_for(registration)
    if recipient is None:
        logger.warning("no contact for registration %s: %s message not queued", registration.pk, kind)
        return None
    if call and not recipient.phone:
        return None
    when = send_after or now or timezone.now()
    channel = channel_for(registration, recipient, call=call, now=now)
    message = OutgoingMessage(
        key=key or message_key(kind, registration), kind=kind, channel=channel,
        status=Status.TO_CALL if channel == Channel.PHONE else Status.PENDING,
        registration=registration, session_id=session.pk if session is not None else registration.session_id,
        language=registration.participant.language or settings.LANGUAGE_CODE,
        to_name=recipient.name, to_email=recipient.email, to_phone=recipient.phone,
        to_line=recipient.line_user_id if channel == Channel.LINE else "", to_booker=recipient.is_booker,
        context=context or {}, send_after=when, next_attempt_at=when)
    # For queue_messages: how to choose again once the batch's undeliverable contacts are known.
    message._outbox_choice = (recipient, call, now)
    return message


def _avoid_undeliverable(messages: list[OutgoingMessage]) -> list[OutgoingMessage]:
    """Choose the channel again for the messages of a batch built by `build_message` whose e-mail address or mobile
    number a provider reported undeliverable: one query for the whole batch (none when no message goes by e-mail or
    SMS). A message moved onto the call list is dropped when the batch already calls that person about it."""
    chosen = [message for message in messages if getattr(message, "_outbox_choice", None) is not None
              and message.channel in (Channel.EMAIL, Channel.SMS)]
    if not chosen:
        return messages
    known = _deliverable.get()
    if known and all(_message_contact(message) in known for message in chosen):
        return messages  # checked already (contacts_checked)
    bad = undeliverable_contacts(emails_=[m.to_email for m in chosen if m.channel == Channel.EMAIL],
                                 phones=[m.to_phone for m in chosen if m.channel == Channel.SMS])
    if not bad:
        return messages
    calls = {(m.registration_id, m.kind) for m in messages if m.channel == Channel.PHONE}
    chosen_ids = {id(message) for message in chosen}
    kept = []
    for message in messages:
        if id(message) in chosen_ids and ((message.channel == Channel.EMAIL
                                   and _contact(UndeliverableContact.Kind.EMAIL, message.to_email) in bad)
                                  or (message.channel == Channel.SMS
                                      and _contact(UndeliverableContact.Kind.PHONE, message.to_phone) in bad)):
            recipient, call, now = message._outbox_choice
            channel = channel_for(message.registration, recipient, call=call, undeliverable=bad, now=now)
            logger.info("message %s: %s contact reported undeliverable, goes by %s", message.key, message.channel,
                        channel)
            if channel == Channel.PHONE and (message.registration_id, message.kind) in calls:
                continue
            message.channel = channel
            message.status = Status.TO_CALL if channel == Channel.PHONE else Status.PENDING
            message.to_line = recipient.line_user_id if channel == Channel.LINE else ""
        kept.append(message)
    return kept


def _message_contact(message: OutgoingMessage) -> tuple[str, str]:
    """The contact an e-mail or SMS message goes to, as `_contact` gives it."""
    if message.channel == Channel.EMAIL:
        return _contact(UndeliverableContact.Kind.EMAIL, message.to_email)
    return _contact(UndeliverableContact.Kind.PHONE, message.to_phone)


def queue_messages(messages: Iterable[OutgoingMessage | None]) -> int:
    """Insert the messages whose key is not queued yet (the others are left as they are) and ask the mail worker to
    send the new e-mails, LINE messages and SMS: the task row is written in the same transaction when the "mail"
    backend keeps its tasks in this database (django-tasks-db), so message and task commit or roll back together;
    any other backend is asked once the transaction commits. Returns how many were new. A constant number of
    queries whatever the number of messages: one INSERT … ON CONFLICT DO NOTHING RETURNING (per batch the database
    takes), the task's INSERT, and the undeliverable contacts (one, `_avoid_undeliverable`)."""
    messages = [message for message in messages if message is not None]
    if not messages:
        return 0
    messages = _avoid_undeliverable(messages)
    new = _insert_new(messages)
    due = [message.pk for message in new if message.status == Status.PENDING]
    if due:
        _enqueue_with_commit(due)
    return len(new)


def _insert_new(messages: list[OutgoingMessage]) -> list[OutgoingMessage]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id, key: the messages whose key was not queued yet are written and
    get their ids; the others (already queued, or queued by a concurrent request meanwhile, or repeated in the
    batch) are left as they are. One statement per batch; without RETURNING (not PostgreSQL or SQLite) a select
    of the new ids follows."""
    from django.db import connections, router
    from django.db.models.constants import OnConflict
    from django.db.models.sql import InsertQuery

    using = router.db_for_write(OutgoingMessage)
    connection = connections[using]
    if not connection.features.can_return_rows_from_bulk_insert:  # pragma: no cover — neither of our databases
        existing = set(OutgoingMessage.objects.filter(key__in=[m.key for m in messages]).values_list("key", flat=True))
        new = list({m.key: m for m in reversed(messages) if m.key not in existing}.values())[::-1]
        OutgoingMessage.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
        ids = dict(OutgoingMessage.objects.filter(key__in=[m.key for m in new]).values_list("key", "pk"))
        for message in new:
            message.pk = ids.get(message.key)
        return [message for message in new if message.pk is not None]
    opts = OutgoingMessage._meta
    fields = [field for field in opts.concrete_fields if not field.primary_key]
    returning = [opts.pk, opts.get_field("key")]
    for message in messages:
        message._prepare_related_fields_for_save(operation_name="bulk_create")
    batch_size = max(min(500, connection.ops.bulk_batch_size(fields, messages)), 1)
    inserted: dict[str, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(messages), batch_size):
            query = InsertQuery(OutgoingMessage, on_conflict=OnConflict.IGNORE)
            query.insert_values(fields, messages[start:start + batch_size])
            compiler = query.get_compiler(using=using)
            compiler.returning_fields = returning
            for sql, params in compiler.as_sql():
                cursor.execute(sql, params)
                inserted.update((key, pk) for pk, key in cursor.fetchall())
    new = []
    for message in messages:
        pk = inserted.pop(message.key, None)  # a key repeated in the batch: its first message is the one written
        if pk is not None:
            message.pk = pk
            message._state.adding, message._state.db = False, using
            new.append(message)
    return new


def _tasks_share_the_transaction() -> bool:
    """The "mail" backend keeps its tasks in this database (django-tasks-db, routed like the outbox): a task row
    written now commits or rolls back with the messages it sends."""
    from django.db import router
    from django_tasks import task_backends
    from django_tasks_db import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    backend = task_backends[tasks.send_message_task.backend]
    return isinstance(backend, DatabaseBackend) and (
        router.db_for_write(DBTaskResult) == router.db_for_write(OutgoingMessage))


def _enqueue_with_commit(message_ids: list[int]) -> None:
    """Enqueue the send task(s) of messages just written: in the same transaction when the task is a row of this
    database (no second transaction after the commit, no window in which a commit leaves a message without its task),
    otherwise once the transaction commits. Outside a transaction both are the same."""
    if not db_connection.in_atomic_block or not _tasks_share_the_transaction():
        transaction.on_commit(lambda: enqueue(message_ids))
        return
    enqueue(message_ids, in_transaction=True)


def enqueue(message_ids: list[int], *, run_after: datetime | None = None, in_transaction: bool = False) -> None:
    """Ask the mail worker to send these messages. A failure here loses nothing: the sweeper finds the messages.
    `in_transaction`: the task row is written in the caller's transaction; a database error then is the
    transaction's (it is raised: on PostgreSQL nothing more could be written, and the change rolls back whole)."""
    from django.db import DatabaseError

    try:
        if len(message_ids) == 1:
            task = tasks.send_message_task
            if run_after is not None:
                task = task.using(run_after=run_after)
            task.enqueue(message_ids[0])
        else:
            for start in range(0, len(message_ids), 100):
                tasks.send_messages_task.enqueue(list(message_ids[start:start + 100]))
    except DatabaseError:
        if in_transaction:
            raise
        logger.exception("could not enqueue mail task for messages %s; the sweeper will pick them up", message_ids)
    except Exception:
        logger.exception("could not enqueue mail task for messages %s; the sweeper will pick them up", message_ids)


def cancel_pending(messages: QuerySet, *, reason) -> int:
    """Withdraw messages not sent (or called) yet, with the reason for staff."""
    return messages.filter(status__in=CANCELLABLE).update(
        status=Status.CANCELLED, last_error=_staff_text(reason), updated_at=timezone.now())


def queue_reminders(*, now: datetime | None = None, sessions: Iterable[Session] | None = None) -> int:
    """Queue the reminder of each confirmed registration of a scheduled session starting within the lead time.

    The key holds the session's start, so a reminder is queued once per start time: a moved session gets a new
    one. People who booked (or got their seat) inside the lead time are skipped: the confirmation they have just
    received says the same. Returns how many were new."""
    now = now or timezone.now()
    lead = lead_time()
    registrations = (Registration.objects
                     .filter(status=Registration.Status.CONFIRMED, session__status=Session.Status.SCHEDULED,
                             session__starts_at__gt=now, session__starts_at__lte=now + lead)
                     .exclude(confirmed_at__gt=F("session__starts_at") - lead)
                     .select_related("participant", "session"))
    if sessions is not None:
        registrations = registrations.filter(session__in=[s.pk for s in sessions])
    messages = []
    for registration in registrations:
        start = local_iso(registration.session.starts_at)
        messages.append(build_message(Kind.REMINDER, registration, now=now, context={"starts_at": start},
                                      key=message_key(Kind.REMINDER, registration, start=start)))
    return queue_messages(messages)


def queue_after_session(*, now: datetime | None = None) -> int:
    """Queue the thanks for each registration marked attended of a session that ended within
    DEKIRU_AFTER_SESSION_WINDOW_HOURS (default 48; older history is never written to). Returns how many were new."""
    now = now or timezone.now()
    window = timedelta(hours=_setting("DEKIRU_AFTER_SESSION_WINDOW_HOURS", 48))
    registrations = (Registration.objects
                     .filter(status=Registration.Status.ATTENDED, session__status=Session.Status.SCHEDULED,
                             session__ends_at__lte=now, session__ends_at__gt=now - window)
                     .select_related("participant", "session"))
    return queue_messages(build_message(Kind.AFTER_SESSION, registration, now=now) for registration in registrations)


# --- Is it still worth sending? ---------------------------------------------------------------------------------


def obsolete_reason(message: OutgoingMessage, *, now: datetime | None = None):
    """Why `message` should no longer go out (a translatable reason), or None. Reads the message's registration
    and session as they are now."""
    now = now or timezone.now()
    registration = message.registration
    if registration is None:
        return Obsolete.REGISTRATION_GONE
    session = registration.session
    RegStatus = Registration.Status
    kind = message.kind
    if kind == Kind.CANCELLED_BY_RESIDENT:
        return None
    if kind == Kind.SESSION_CANCELLED:
        return Obsolete.SESSION_STARTED if session.starts_at <= now else None
    if kind == Kind.AFTER_SESSION:
        return None if registration.status == RegStatus.ATTENDED else Obsolete.NOT_ATTENDED
    if kind == Kind.FOLLOW_UP:  # a month after the class: only to someone still recorded as having attended
        return None if registration.status == RegStatus.ATTENDED else Obsolete.NOT_ATTENDED
    # Everything else is about coming to a session that is still to take place.
    if registration.status == RegStatus.CANCELLED:
        return Obsolete.REGISTRATION_CANCELLED
    if session.is_cancelled:
        return Obsolete.SESSION_CANCELLED
    if session.starts_at <= now:
        return Obsolete.SESSION_STARTED
    if kind == Kind.WAITLISTED and registration.status != RegStatus.WAITLISTED:
        return Obsolete.PROMOTED if registration.status == RegStatus.CONFIRMED else Obsolete.NOT_WAITING
    if kind in (Kind.CONFIRMED, Kind.PROMOTED, Kind.REMINDER) and registration.status != RegStatus.CONFIRMED:
        return Obsolete.NOT_CONFIRMED
    if kind == Kind.REMINDER and message.context.get("starts_at") != local_iso(session.starts_at):
        return Obsolete.MOVED
    return None


# --- Claiming and sending ---------------------------------------------------------------------------------------


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


_RELATED = ("registration", "registration__participant", "registration__session", "registration__session__course",
            "registration__session__venue", "registration__session__organiser")


# How many due messages a drain claims at once (`claim_batch`): one statement claims them and one more reads them with
# their relations, instead of a transaction (lock, update) and a read per message. Each is still sent, and recorded,
# one at a time; what a batch holds beyond the message being sent waits at most a few sends.
CLAIM_BATCH = 8


def claim_batch(*, worker_id: str, size: int = CLAIM_BATCH, message_id: int | None = None,
                now: datetime | None = None) -> list[OutgoingMessage]:
    """Take up to `size` due e-mails, LINE messages or SMS, oldest first (or the one given, if it is due), for this
    worker: status `sending` with a lease, committed before the caller sends anything, and returned with their
    registration, session, course, venue and organiser. An empty list when there is nothing to take.

    One statement takes them: UPDATE … SET status = sending … WHERE id = ANY(ARRAY(the due rows, oldest first,
    LIMIT size FOR UPDATE SKIP LOCKED)) AND status = pending RETURNING id (on SQLite: id IN (the due rows …)). On
    PostgreSQL SKIP LOCKED passes over the rows another worker is taking, and the condition on the status (re-checked
    on the locked row) makes the update a no-op for a row taken meanwhile; SQLite runs one writing statement at a
    time. Either way a row goes to one worker only. One more statement reads the rows taken with their relations."""
    now = now or timezone.now()
    due = OutgoingMessage.objects.due(now)
    if message_id is not None:
        due = due.filter(pk=message_id)
    ids = _take(due, size=size, worker_id=worker_id, lease_until=now + lease_time())
    if not ids:
        return []
    return list(OutgoingMessage.objects.select_related(*_RELATED).filter(pk__in=ids)
                .order_by("next_attempt_at", "pk"))


def _take(due: QuerySet, *, size: int, worker_id: str, lease_until: datetime) -> list[int]:
    """The conditional UPDATE … RETURNING of `claim_batch`: the ids this worker took (autocommit: committed at once
    outside a transaction)."""
    inner, params = due.values_list("pk")[:size].query.get_compiler(connection=db_connection).as_sql()
    picked = f"IN ({inner})"
    if db_connection.features.has_select_for_update_skip_locked:
        # = ANY(ARRAY(…)): an init plan, run once. Under IN (…) PostgreSQL may rescan the locking subquery once per
        # row it compares, each rescan skipping the rows it has just locked: far more than `size` rows taken.
        picked = f"= ANY(ARRAY({inner} FOR UPDATE SKIP LOCKED))"
    opts, quote = OutgoingMessage._meta, db_connection.ops.quote_name

    def column(name: str) -> str:
        return quote(opts.get_field(name).column)

    adapt = db_connection.ops.adapt_datetimefield_value
    sql = (f"UPDATE {quote(opts.db_table)} SET {column('status')} = %s, {column('claimed_by')} = %s, "
           f"{column('lease_expires_at')} = %s, {column('updated_at')} = %s "
           f"WHERE {column('id')} {picked} AND {column('status')} = %s RETURNING {column('id')}")
    with db_connection.cursor() as cursor:
        cursor.execute(sql, [Status.SENDING, worker_id, adapt(lease_until), adapt(timezone.now()), *params,
                             Status.PENDING])
        return [row[0] for row in cursor.fetchall()]


def claim(*, worker_id: str, message_id: int | None = None, now: datetime | None = None) -> OutgoingMessage | None:
    """Take the next due e-mail, LINE message or SMS (or the one given, if it is due) for this worker
    (`claim_batch` of one). None when there is nothing to take."""
    claimed = claim_batch(worker_id=worker_id, size=1, message_id=message_id, now=now)
    return claimed[0] if claimed else None


def unclaim(messages: Iterable[OutgoingMessage], worker_id: str) -> int:
    """Give back claimed messages this worker has not tried to send (a drain that stops early): pending again at
    once, no attempt counted, nothing uncertain about them (one statement)."""
    return OutgoingMessage.objects.filter(
        pk__in=[message.pk for message in messages], status=Status.SENDING, claimed_by=worker_id,
    ).update(status=Status.PENDING, lease_expires_at=None, claimed_by="", updated_at=timezone.now())


def deliver(message: OutgoingMessage, *, worker_id: str, now: datetime | None = None, connection=None,
            sms_sender=None, line_sender=None) -> str:
    """Send a message this worker has claimed and record the outcome. Returns the message's new status. `connection`,
    `sms_sender`, `line_sender`: the e-mail connection and the SMS and LINE senders to reuse (a drain's)."""
    now = now or timezone.now()
    reason = obsolete_reason(message, now=now)
    if reason is not None:
        _release(message, worker_id, status=Status.CANCELLED, last_error=_staff_text(reason))
        return Status.CANCELLED
    if message.channel == Channel.SMS:
        return _deliver_sms(message, worker_id=worker_id, now=now, sender=sms_sender)
    if message.channel == Channel.LINE:
        return _deliver_line(message, worker_id=worker_id, now=now, sender=line_sender)
    sent = {}  # what the send made: the rendered message and the e-mail (with SendGrid's message id)

    def send():
        sent["rendered"] = emails.render(message, now=now)
        sent["email"] = emails.build_email(message, sent["rendered"], connection=connection)
        sent["email"].send(fail_silently=False)

    failure = try_send(send, what=f"message {message.pk}")
    if failure is not None and failure.permanent:
        _release(message, worker_id, status=Status.FAILED, attempts=message.attempts + 1, last_error=failure.error)
        return Status.FAILED
    if failure is not None:
        return _retry_later(message, worker_id, now=now, error=failure.error, retry_after=failure.retry_after,
                            maybe_sent=failure.maybe_sent)
    # Recorded at once, in one statement of its own: the window in which a crash repeats the message. The copy of
    # what was sent is kept only while the row still has its recipient: a resident's data erased (courses.retention)
    # while this worker was sending stays erased.
    still_addressed = ~Q(to_email="")
    rendered, email = sent["rendered"], sent["email"]
    OutgoingMessage.objects.filter(pk=message.pk).update(
        status=Status.SENT, sent_at=now, attempts=F("attempts") + 1, last_error="",
        sendgrid_message_id=getattr(email, "sendgrid_message_id", "") or "",
        subject=Case(When(still_addressed, then=Value(rendered.subject[:255])), default=Value("")),
        body_text=Case(When(still_addressed, then=Value(rendered.text)), default=Value("")),
        lease_expires_at=None, claimed_by="", updated_at=timezone.now())
    return Status.SENT


def _deliver_sms(message: OutgoingMessage, *, worker_id: str, now: datetime, sender=None) -> str:
    """An SMS through cms.sms (Twilio, or the console in the demo). A permanent failure (an invalid or landline
    number, SMS switched off) or giving up after the last attempt ends this row as failed and continues the
    message on the next channel (`fall_back`)."""
    if not sms.available():
        return _fall_back(message, worker_id, now=now, attempts=message.attempts,
                          error=_staff_text(_("Not sent by SMS: SMS is switched off.")))
    if over_cap(Channel.SMS, now=now):
        return _fall_back(message, worker_id, now=now, attempts=message.attempts,
                          error=_staff_text(_("Not sent by SMS: this month's SMS budget is used up.")))
    sent = {}

    def send():
        sent["text"] = sms_texts.render_sms(message, now=now)
        own_sender = sender or sms.get_sender()
        try:
            sent["sid"] = own_sender.send(message.to_phone, sent["text"])
        finally:
            if sender is None:
                own_sender.close()

    failure = try_send(send, what=f"message {message.pk}")
    if failure is not None:
        return _failed_attempt(message, worker_id, now=now, failure=failure)
    still_addressed = ~Q(to_phone="")
    OutgoingMessage.objects.filter(pk=message.pk).update(
        status=Status.SENT, sent_at=now, attempts=F("attempts") + 1, last_error="",
        provider_message_id=sent.get("sid", "")[:100], units=sms_texts.segments(sent["text"]).count,
        body_text=Case(When(still_addressed, then=Value(sent["text"])), default=Value("")),
        lease_expires_at=None, claimed_by="", updated_at=timezone.now())
    return Status.SENT


def line_retry_key(message: OutgoingMessage) -> str:
    """The X-Line-Retry-Key of every push of this row: a UUID derived from its id and key, so that LINE recognises
    a retry of the same row (for 24 hours) and never mistakes another row for one (the module's docstring)."""
    return str(uuid.uuid5(LINE_RETRY_NAMESPACE, f"{message.pk}:{message.key}"))


def _deliver_line(message: OutgoingMessage, *, worker_id: str, now: datetime, sender=None) -> str:
    """A LINE push through cms.line (line-bot-sdk, or the console in the demo), under the row's retry key. A
    permanent failure (LINE refuses the user id: invalid, or the resident blocked the account; the monthly limit;
    LINE switched off or its quota reached) or giving up after the last attempt ends this row as failed and
    continues the message on the next channel (`fall_back`)."""
    if not line.available() or not message.to_line:
        return _fall_back(message, worker_id, now=now, attempts=message.attempts,
                          error=_staff_text(_("Not sent by LINE: LINE is switched off.") if message.to_line
                                            else _("Not sent by LINE: no linked LINE account.")))
    if over_cap(Channel.LINE, now=now):
        return _fall_back(message, worker_id, now=now, attempts=message.attempts,
                          error=_staff_text(_("Not sent by LINE: this month's LINE message quota is used up.")))
    sent = {}

    def send():
        sent["texts"] = line_texts.render_line(message, now=now)
        own_sender = sender or line.get_sender()
        try:
            sent["id"] = own_sender.push(message.to_line, sent["texts"], retry_key=line_retry_key(message))
        finally:
            if sender is None:
                own_sender.close()

    failure = try_send(send, what=f"message {message.pk}")
    if failure is not None:
        return _failed_attempt(message, worker_id, now=now, failure=failure)
    still_addressed = ~Q(to_line="")
    OutgoingMessage.objects.filter(pk=message.pk).update(
        status=Status.SENT, sent_at=now, attempts=F("attempts") + 1, last_error="",
        provider_message_id=(sent.get("id") or "")[:100], units=len(sent["texts"]),
        body_text=Case(When(still_addressed, then=Value("\n\n".join(sent["texts"]))), default=Value("")),
        lease_expires_at=None, claimed_by="", updated_at=timezone.now())
    return Status.SENT


def _failed_attempt(message: OutgoingMessage, worker_id: str, *, now: datetime, failure: SendFailure) -> str:
    """An SMS or LINE attempt that failed: retried later when the failure is transient, else (or after the last
    attempt) the row fails and the message continues on the next channel."""
    attempts = message.attempts + 1
    if failure.permanent or attempts >= max_attempts():
        noted = uncertain(_staff_text(
            _("No answer in time after the request was sent (attempt %(n)s): it may have been sent already. "
              "%(error)s"), n=attempts, error=failure.error)) if failure.maybe_sent else {}
        error = failure.error if failure.permanent else _staff_text(
            _("Gave up after %(n)s attempts: %(error)s"), n=attempts, error=failure.error)
        return _fall_back(message, worker_id, now=now, attempts=attempts, error=error, **noted)
    return _retry_later(message, worker_id, now=now, error=failure.error, retry_after=failure.retry_after,
                        maybe_sent=failure.maybe_sent)


# Where a message goes when its channel failed for good, in order (`next_channel`).
FALLBACKS = {
    Channel.LINE: (Channel.EMAIL, Channel.SMS, Channel.PHONE),
    Channel.SMS: (Channel.EMAIL, Channel.PHONE),
    Channel.EMAIL: (Channel.PHONE,),
}


def next_channel(message: OutgoingMessage, *, now: datetime | None = None) -> str | None:
    """Where a message goes when its channel failed for good (FALLBACKS): after LINE, e-mail if there is an address,
    else SMS to a mobile number with consent (SMS on and within budget), else the call list if there is a phone
    number; after SMS, e-mail, else the call list; after e-mail, the call list. A contact reported undeliverable is
    passed over (one query). None when nothing is left."""
    order = FALLBACKS.get(message.channel, ())
    registration = message.registration
    wanted_phone = Channel.SMS in order and bool(message.to_phone)
    bad = undeliverable_contacts(emails_=[message.to_email] if Channel.EMAIL in order else [],
                                 phones=[message.to_phone] if wanted_phone else [])
    for channel in order:
        if channel == Channel.EMAIL and message.to_email and (
                _contact(UndeliverableContact.Kind.EMAIL, message.to_email) not in bad):
            return Channel.EMAIL
        if (channel == Channel.SMS and registration is not None and is_mobile(message.to_phone)
                and registration.sms_consented_at is not None and sms.available()
                and _contact(UndeliverableContact.Kind.PHONE, message.to_phone) not in bad
                and not over_cap(Channel.SMS, now=now)):
            return Channel.SMS
        if channel == Channel.PHONE and message.to_phone:
            return Channel.PHONE
    return None


def _fall_back(message: OutgoingMessage, worker_id: str, *, now: datetime, attempts: int, error: str,
               **fields) -> str:
    """End this row as failed with the reason and, in the same transaction, queue the message again on the next
    channel as a new row (`fallback_of` this one, key "<key>:via=<channel>"), so that staff see every channel's
    attempts in the log and nothing is lost between the two."""
    channel = next_channel(message, now=now)
    with transaction.atomic():
        if not _release(message, worker_id, status=Status.FAILED, attempts=attempts, last_error=error, **fields):
            return Status.FAILED  # the lease was taken away meanwhile: the other worker decides
        if channel is None:
            logger.warning("message %s: no channel left after %s", message.pk, message.channel)
            return Status.FAILED
        queue_messages([OutgoingMessage(
            key=f"{message.key}:via={channel}"[:200], kind=message.kind, channel=channel,
            status=Status.TO_CALL if channel == Channel.PHONE else Status.PENDING,
            registration_id=message.registration_id, session_id=message.session_id, language=message.language,
            to_name=message.to_name, to_email=message.to_email, to_phone=message.to_phone,
            to_booker=message.to_booker, context=message.context, send_after=now, next_attempt_at=now,
            fallback_of=message)])
    logger.info("message %s: %s failed for good, continues by %s", message.pk, message.channel, channel)
    return Status.FAILED


def _release(message: OutgoingMessage, worker_id: str, **fields) -> bool:
    """Leave a claimed message with new values, unless the lease was taken away from this worker meanwhile."""
    fields.setdefault("lease_expires_at", None)
    fields.setdefault("claimed_by", "")
    return bool(OutgoingMessage.objects.filter(pk=message.pk, status=Status.SENDING, claimed_by=worker_id)
                .update(updated_at=timezone.now(), **fields))


def uncertain(note: str) -> dict:
    """The fields that record an attempt that may have gone out (duplicate windows 1-3): counted, never cleared."""
    return {"uncertain_attempts": F("uncertain_attempts") + 1, "uncertain_note": note}


def _retry_later(message: OutgoingMessage, worker_id: str, *, now: datetime, error: str,
                 retry_after: float | None = None, maybe_sent: bool = False) -> str:
    attempts = message.attempts + 1
    noted = uncertain(_staff_text(
        _("No answer in time after the request was sent (attempt %(n)s): it may have been sent already. %(error)s"),
        n=attempts, error=error)) if maybe_sent else {}
    if attempts >= max_attempts():
        _release(message, worker_id, status=Status.FAILED, attempts=attempts,
                 last_error=_staff_text(_("Gave up after %(n)s attempts: %(error)s"), n=attempts, error=error),
                 **noted)
        return Status.FAILED
    # From when the failure was known, not when the attempt began: a reply that took the whole timeout must not make
    # the retry (or the provider's Retry-After, which counts from its answer) due already.
    next_at = max(now, timezone.now()) + timedelta(seconds=retry_delay(attempts, retry_after=retry_after))
    if _release(message, worker_id, status=Status.PENDING, attempts=attempts, next_attempt_at=next_at,
                last_error=error, **noted):
        enqueue([message.pk], run_after=next_at)
    return Status.PENDING


def send_message(message_id: int, *, worker_id: str | None = None, now: datetime | None = None,
                 connection=None, sms_sender=None, line_sender=None) -> str | None:
    """Send one message if it is due and nobody else has it. Idempotent: returns None when there was nothing to
    do (already sent, not due yet, taken by another worker), otherwise the new status."""
    worker_id = worker_id or new_worker_id()
    message = claim(worker_id=worker_id, message_id=message_id, now=now)
    if message is None:
        return None
    return deliver(message, worker_id=worker_id, now=now, connection=connection, sms_sender=sms_sender,
                   line_sender=line_sender)


def send_due_messages(*, limit: int | None = None, now: datetime | None = None,
                      worker_id: str | None = None) -> Counter:
    """Drain: claim due messages CLAIM_BATCH at a time (`claim_batch`) and send them one by one, each recorded right
    after its provider's answer, until none is due (or `limit` were handled), over one connection to the mail
    backend, one SMS sender and one LINE sender (each one pooled HTTP client, made at its channel's first message).
    Claimed messages the drain does not try (it stopped on an error, or half the lease went by) are given back at
    once (`unclaim`). Returns a Counter of outcomes by status. Any number of these may run at once."""
    worker_id = worker_id or new_worker_id()
    outcomes: Counter = Counter()
    connection = get_connection()
    senders = {}  # channel → the drain's sender

    def sender_for(channel: str):
        if channel not in senders:
            senders[channel] = sms.get_sender() if channel == Channel.SMS else line.get_sender()
        return senders[channel]

    untried: deque[OutgoingMessage] = deque()  # claimed by this drain, not tried yet
    try:
        with emails.shared_lookups():
            while limit is None or outcomes.total() < limit:
                size = CLAIM_BATCH if limit is None else min(CLAIM_BATCH, limit - outcomes.total())
                untried.extend(claim_batch(worker_id=worker_id, size=size, now=now))
                if not untried:
                    break
                # A send starts with at least half the lease left (far above a provider's timeout): a batch whose
                # first sends were slow gives the rest back to the queue and claims afresh.
                give_back_after = time.monotonic() + lease_time().total_seconds() / 2
                while untried and time.monotonic() < give_back_after:
                    message = untried.popleft()
                    by_sms = message.channel == Channel.SMS and sms.available()
                    by_line = message.channel == Channel.LINE and line.available()
                    outcomes[deliver(message, worker_id=worker_id, now=now, connection=connection,
                                     sms_sender=sender_for(Channel.SMS) if by_sms else None,
                                     line_sender=sender_for(Channel.LINE) if by_line else None)] += 1
                if untried:
                    unclaim(untried, worker_id)
                    untried.clear()
    finally:
        if untried:  # an error stopped the drain: what it had not tried goes back to the queue as it was
            try:
                unclaim(untried, worker_id)
            except Exception:  # the database is what failed: the sweeper returns them when their lease expires
                logger.exception("outbox: could not give back %s claimed messages", len(untried))
        connection.close()
        for sender in senders.values():
            sender.close()
    return outcomes


# --- The sweeper ------------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    released: int = 0  # claimed by a worker that did not finish in time: back in the queue
    gave_up: int = 0  # ... and out of attempts: failed
    calls_withdrawn: int = 0  # call-list entries that no longer make sense
    overdue: int = 0  # due e-mails waiting longer than they should
    drain_enqueued: bool = False


def sweep(*, now: datetime | None = None, grace: timedelta = timedelta(minutes=2)) -> SweepResult:
    """The safety net, run periodically: return messages whose lease expired to the queue (the lost attempt
    counts), withdraw call-list entries overtaken by events, and enqueue a drain task when due messages are
    waiting longer than `grace` (their task was lost or the worker was down)."""
    now = now or timezone.now()
    result = SweepResult()
    expired = OutgoingMessage.objects.filter(status=Status.SENDING, lease_expires_at__lt=now)
    lost = _staff_text(_("The worker stopped while sending; it may have been sent once already."))
    result.gave_up = expired.filter(attempts__gte=max_attempts() - 1).update(
        status=Status.FAILED, attempts=F("attempts") + 1, lease_expires_at=None, claimed_by="", last_error=lost,
        updated_at=timezone.now(), **uncertain(lost))
    result.released = expired.update(
        status=Status.PENDING, attempts=F("attempts") + 1, lease_expires_at=None, claimed_by="", next_attempt_at=now,
        last_error=lost, updated_at=timezone.now(), **uncertain(lost))
    if result.released or result.gave_up:
        logger.warning("sweeper: %s message(s) returned to the queue, %s failed, after a worker's lease expired",
                       result.released, result.gave_up)

    for message in OutgoingMessage.objects.call_list().select_related(*_RELATED):
        reason = obsolete_reason(message, now=now)
        if reason is not None:
            result.calls_withdrawn += cancel_pending(OutgoingMessage.objects.filter(pk=message.pk), reason=reason)

    result.overdue = OutgoingMessage.objects.due(now - grace).count()
    if result.overdue:
        try:
            tasks.send_due_messages_task.enqueue()
            result.drain_enqueued = True
        except Exception:
            logger.exception("sweeper: could not enqueue the drain task")
    return result


# --- Staff actions ----------------------------------------------------------------------------------------------


def retry(message: OutgoingMessage, *, now: datetime | None = None) -> bool:
    """Staff's retry of a failed e-mail, LINE message or SMS: back in the queue now, with a fresh count of attempts
    (not one that already continued on another channel)."""
    now = now or timezone.now()
    with transaction.atomic():
        # Not a message that already continued on another channel: that one is the message now.
        updated = OutgoingMessage.objects.filter(
            pk=message.pk, status=Status.FAILED, channel__in=OutgoingMessage.SENT_BY_WORKER,
        ).exclude(fallbacks__isnull=False).update(
            status=Status.PENDING, attempts=0, next_attempt_at=now, updated_at=timezone.now())
        if updated:
            transaction.on_commit(lambda: enqueue([message.pk]))
    return bool(updated)


def text_to_read(message: OutgoingMessage) -> str:
    """What staff read out on the phone for a call-list entry: the plain-text message as it is now (or, once
    called, as it was read)."""
    if (message.status == Status.CALLED and message.body_text) or message.registration is None:
        return message.body_text
    return emails.render(message).text


def mark_called(message: OutgoingMessage, user, *, now: datetime | None = None) -> bool:
    """Staff phoned the resident and read the message: record who and when, and keep the text read out.
    False when it was no longer on the call list (called by someone else, or withdrawn)."""
    now = now or timezone.now()
    snapshot = {}
    if message.status == Status.TO_CALL and message.registration is not None:
        rendered = emails.render(message)
        snapshot = {"subject": rendered.subject[:255], "body_text": rendered.text}
    updated = OutgoingMessage.objects.filter(pk=message.pk, status=Status.TO_CALL).update(
        status=Status.CALLED, sent_at=now, called_by=user if getattr(user, "pk", None) else None,
        attempts=F("attempts") + 1, updated_at=timezone.now(), **snapshot)
    return bool(updated)


def forget_recipients(messages: QuerySet) -> int:
    """For the retention purge: blank who the messages were for and what they said; the rows stay for the log."""
    return messages.update(updated_at=timezone.now(), **OutgoingMessage.FORGET)
