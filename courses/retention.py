"""Retention of residents' personal data (PRODUCT.md, "Personal data"): anonymise, never delete.

A participant is *due* when the retention period (setting DEKIRU_RETENTION_MONTHS, default 13 calendar months,
counted in the municipality's time zone) has passed since the end of their last session, whatever became of
the registration (attended, cancelled, waitlisted…); a participant who never registered is due that long after
the record was created. Anyone with a session that ends later than the cut-off (a future or recent one) is never
due. "More than": a last session that ended exactly at the cut-off is kept one more day.

Anonymising (`anonymise`, shared by the daily purge and by an erasure on request, courses.data_requests):

- erased: the participant's name, kana, e-mail, phone, accessibility needs (free text) and LINE link (user id
  and when); on their registrations the proxy booker's name, relationship, e-mail, phone and LINE user id, their
  LINE link codes are deleted, and the link key is rotated so every old
  confirmation, cancellation, calendar and self-assessment link answers 404; on their outgoing messages the
  recipient, subject, text, details (`context`) and last error, and messages not sent yet are withdrawn;
  on their audit-log entries (and the entries of their registrations and messages) any label naming them is
  replaced by an id-only label (cms.audit), and names, e-mails and phone numbers are removed from the
  entries' data;
- kept for the statistics: age band, ward, device owned, preferred language, the registrations themselves
  (session, status, channel, who booked: self, family or staff, dates), attendance and the can-do
  self-assessments. The consent record (privacy-policy version and date) is kept too: it identifies no one
  and shows the data was collected with consent. `anonymised_at` records when.

The daily purge also deletes LINE's bookkeeping (link codes used or expired, handled webhook event ids) after
LINE_RECORDS_DAYS, and the undeliverable contacts whose address no kept participant or registration holds.

The statistics of outreach.metrics use none of the erased fields, so every figure is the same before and after
(tests/courses/test_retention.py). Work is done in batches of BATCH_SIZE participants, each in its own
transaction, so the purge runs in constant memory over any number of participants and a crash loses nothing
already done; running it again finds only the participants still due (idempotent).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from wagtail.models import ModelLogEntry, Site

from cms.audit import audit_title, log
from courses.models import (
    LineLinkCode,
    LineWebhookEvent,
    OutgoingMessage,
    Participant,
    Registration,
    UndeliverableContact,
    new_token_key,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
PURGE_LOG_ACTION = "courses.personal_data.purged"

PARTICIPANT_FORGET = {"name": "", "kana": "", "email": "", "phone": "", "accessibility_needs": "", "line_user_id": "",
                      "line_linked_at": None}
REGISTRATION_FORGET = {"booker_name": "", "booker_relationship": "", "booker_email": "", "booker_phone": "",
                       "booker_line_user_id": ""}
# LINE's bookkeeping (courses.line_linking) kept this long: link codes once used or expired, handled webhook event
# ids (LINE redelivers within a day or so: a week covers any replay worth stopping).
LINE_RECORDS_DAYS = 7
# OutgoingMessage.FORGET, and the last error: a bounce message quotes the address.
MESSAGE_FORGET = {**OutgoingMessage.FORGET, "last_error": ""}
# Messages still waiting (or failed, so staff could retry them) are withdrawn: there is no one left to send to.
UNSENT = (OutgoingMessage.Status.PENDING, OutgoingMessage.Status.TO_CALL, OutgoingMessage.Status.FAILED)
# Keys of audit-log data that hold a person's details whoever the entry is about (merge_participants).
PERSONAL_LOG_KEYS = frozenset({"merged_name"})
REMOVED = "(removed)"
# Shorter strings (a one-letter name) would match too much unrelated text in the log data.
MIN_SECRET_LENGTH = 2


@dataclass
class PurgeResult:
    cutoff: dt.datetime
    anonymised: int = 0
    registrations: int = 0
    messages: int = 0
    log_entries: int = 0
    line_records: int = 0
    undeliverable_contacts: int = 0
    dry_run: bool = False


@dataclass
class AnonymiseCounts:
    participants: int = 0
    registrations: int = 0
    messages: int = 0
    log_entries: int = 0

    def add(self, other: AnonymiseCounts) -> None:
        self.participants += other.participants
        self.registrations += other.registrations
        self.messages += other.messages
        self.log_entries += other.log_entries


def retention_months() -> int:
    return int(getattr(settings, "DEKIRU_RETENTION_MONTHS", 13))


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same local time `months` calendar months earlier (the 31st becomes the month's last day)."""
    local = timezone.localtime(moment)
    index = local.year * 12 + local.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def retention_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    """Sessions that ended before this moment are older than the retention period."""
    return months_before(now or timezone.now(), retention_months())


def due_participants(cutoff: dt.datetime) -> QuerySet[Participant]:
    """Participants not anonymised yet whose last session ended before `cutoff` (or, with no registration at all,
    whose record was created before it)."""
    registrations = Registration.objects.filter(participant=OuterRef("pk"))
    recent = registrations.filter(session__ends_at__gte=cutoff)
    return (Participant.objects.filter(anonymised_at__isnull=True)
            .filter(~Exists(recent))
            .filter(Exists(registrations) | Q(created_at__lt=cutoff)))


def purge_personal_data(*, now: dt.datetime | None = None, dry_run: bool = False, actor=None,
                        batch_size: int = BATCH_SIZE) -> PurgeResult:
    """Anonymise every participant due under the retention period (module docstring). Batched, idempotent.

    `dry_run` only counts who would be anonymised. Otherwise logs the count (logger and one audit entry on the
    default site, with numbers only) even when it is zero, so the log shows the job ran.
    """
    now = now or timezone.now()
    cutoff = retention_cutoff(now)
    result = PurgeResult(cutoff=cutoff, dry_run=dry_run)
    if dry_run:
        result.anonymised = due_participants(cutoff).count()
        logger.info("retention purge (dry run): %d participant(s) due, last session before %s",
                    result.anonymised, cutoff.isoformat())
        return result

    counts = AnonymiseCounts()
    last_pk = 0
    while True:
        candidates = list(due_participants(cutoff).filter(pk__gt=last_pk).order_by("pk")
                          .values_list("pk", flat=True)[:batch_size])
        if not candidates:
            break
        last_pk = candidates[-1]
        with transaction.atomic():
            # Checked again under the row locks: someone may have registered since the batch was chosen.
            locked = list(due_participants(cutoff).filter(pk__in=candidates).select_for_update()
                          .values_list("pk", flat=True))
            counts.add(anonymise(locked, now=now))
    counts.log_entries += relabel_orphaned_log_entries()
    line_records, undeliverable = purge_line_records(now=now), purge_undeliverable_contacts()

    result.anonymised, result.registrations = counts.participants, counts.registrations
    result.messages, result.log_entries = counts.messages, counts.log_entries
    result.line_records, result.undeliverable_contacts = line_records, undeliverable
    logger.info("retention purge: %d participant(s) anonymised (%d registrations, %d messages, %d log entries), "
                "last session before %s; %d LINE record(s) and %d undeliverable contact(s) deleted",
                result.anonymised, result.registrations, result.messages, result.log_entries, cutoff.isoformat(),
                line_records, undeliverable)
    site = Site.objects.filter(is_default_site=True).first() or Site.objects.first()
    if site is not None:
        log(site, PURGE_LOG_ACTION, user=actor if getattr(actor, "is_authenticated", False) else None,
            data={"anonymised": result.anonymised, "registrations": result.registrations,
                  "messages": result.messages, "log_entries": result.log_entries,
                  "line_records": line_records, "undeliverable_contacts": undeliverable,
                  "cutoff": cutoff.isoformat(), "retention_months": retention_months()})
    return result


# --- Anonymising ------------------------------------------------------------------------------------------------

def anonymise(participant_ids: Iterable[int], *, now: dt.datetime | None = None) -> AnonymiseCounts:
    """Erase the personal data of these participants (module docstring), keeping what the statistics need.

    Call inside a transaction. Does not check whether they are due: the purge and an erasure on request decide.
    Participants already anonymised are passed over.
    """
    now = now or timezone.now()
    ids = list(Participant.objects.filter(pk__in=list(participant_ids), anonymised_at__isnull=True)
               .values_list("pk", flat=True))
    if not ids:
        return AnonymiseCounts()

    # What each person's details were, to find them in the audit log before they are gone.
    secrets: dict[int, set[str]] = defaultdict(set)
    for row in Participant.objects.filter(pk__in=ids).values("pk", "name", "kana", "email", "phone"):
        secrets[row.pop("pk")].update(row.values())

    registrations = list(Registration.objects.filter(participant_id__in=ids)
                         .select_related("session", "session__course").order_by("pk"))
    owner_of_registration = {}
    for registration in registrations:
        owner_of_registration[registration.pk] = registration.participant_id
        secrets[registration.participant_id].update(
            getattr(registration, name) for name in REGISTRATION_FORGET)
        for name, value in REGISTRATION_FORGET.items():
            setattr(registration, name, value)
        registration.token_key = new_token_key()  # every old link to it dies
        registration.updated_at = now

    messages = OutgoingMessage.objects.filter(registration__participant_id__in=ids)
    message_rows = list(messages.values_list("pk", "kind", "registration_id", "to_name", "to_email", "to_phone"))
    owner_of_message = {}
    for pk, _kind, registration_id, *addresses in message_rows:
        owner = owner_of_registration[registration_id]
        owner_of_message[pk] = owner
        secrets[owner].update(addresses)

    log_entries = _relabel_log_entries(
        participants={pk: (Participant(pk=pk), pk) for pk in ids},
        registrations={r.pk: (r, r.participant_id) for r in registrations},
        messages={pk: (OutgoingMessage(pk=pk, kind=kind), owner_of_message[pk]) for pk, kind, *_ in message_rows},
        secrets=secrets)

    Participant.objects.filter(pk__in=ids).update(anonymised_at=now, updated_at=now, **PARTICIPANT_FORGET)
    LineLinkCode.objects.filter(registration__participant_id__in=ids).delete()
    Registration.objects.bulk_update(registrations, [*REGISTRATION_FORGET, "token_key", "updated_at"],
                                     batch_size=BATCH_SIZE)
    message_ids = list(owner_of_message)
    OutgoingMessage.objects.filter(pk__in=message_ids, status__in=UNSENT).update(
        status=OutgoingMessage.Status.CANCELLED, next_attempt_at=now)
    OutgoingMessage.objects.filter(pk__in=message_ids).update(updated_at=now, **MESSAGE_FORGET)
    return AnonymiseCounts(participants=len(ids), registrations=len(registrations), messages=len(message_ids),
                           log_entries=log_entries)


def purge_line_records(*, now: dt.datetime | None = None) -> int:
    """Delete LINE link codes used or expired more than LINE_RECORDS_DAYS ago and webhook event ids older than that
    (courses.line_linking). Returns how many rows went."""
    since = (now or timezone.now()) - dt.timedelta(days=LINE_RECORDS_DAYS)
    codes, _ = LineLinkCode.objects.filter(Q(used_at__lt=since) | Q(expires_at__lt=since)).delete()
    events, _ = LineWebhookEvent.objects.filter(received_at__lt=since).delete()
    return codes + events


def purge_undeliverable_contacts() -> int:
    """Delete the undeliverable e-mail addresses and phone numbers that no kept participant or registration holds
    any more (anonymised people's contacts are blank, so theirs go). Returns how many rows went."""
    emails = Q(Exists(Participant.objects.filter(email=OuterRef("address")))
               | Exists(Registration.objects.filter(booker_email=OuterRef("address"))))
    phones = Q(Exists(Participant.objects.filter(phone=OuterRef("address")))
               | Exists(Registration.objects.filter(booker_phone=OuterRef("address"))))
    held = (Q(kind=UndeliverableContact.Kind.EMAIL) & emails) | (Q(kind=UndeliverableContact.Kind.PHONE) & phones)
    deleted, _ = UndeliverableContact.objects.exclude(held).delete()
    return deleted


def _relabel_log_entries(*, participants: dict, registrations: dict, messages: dict,
                         secrets: dict[int, set[str]]) -> int:
    """Give the audit-log entries of these objects an id-only label (cms.audit.audit_title) and take their
    owners' details out of the entries' data. Each mapping: object pk → (instance for the label, participant id).
    Returns how many entries changed."""
    changed = []
    for model, objects in ((Participant, participants), (Registration, registrations),
                           (OutgoingMessage, messages)):
        if not objects:
            continue
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
        by_id = {str(pk): value for pk, value in objects.items()}
        keys = list(by_id)
        for start in range(0, len(keys), BATCH_SIZE):
            chunk = keys[start:start + BATCH_SIZE]
            for entry in ModelLogEntry.objects.filter(content_type=content_type, object_id__in=chunk).only(
                    "pk", "object_id", "label", "data"):
                instance, owner = by_id[entry.object_id]
                label = audit_title(instance)
                data = scrub(entry.data, _usable(secrets.get(owner, ())))
                if label != entry.label or data != entry.data:
                    entry.label, entry.data = label, data
                    changed.append(entry)
    ModelLogEntry.objects.bulk_update(changed, ["label", "data"], batch_size=BATCH_SIZE)
    return len(changed)


def relabel_orphaned_log_entries() -> int:
    """Entries of participants that no longer exist (merged into another record): id-only labels, no names in
    their data. They are found by content type and a missing object, so each is rewritten once at most."""
    from django.db.models import CharField
    from django.db.models.functions import Cast

    content_type = ContentType.objects.get_for_model(Participant, for_concrete_model=False)
    existing = Participant.objects.annotate(key=Cast("pk", CharField())).values("key")
    orphans = ModelLogEntry.objects.filter(content_type=content_type).exclude(object_id__in=existing)
    changed = []
    for entry in orphans.only("pk", "object_id", "label", "data").iterator(chunk_size=BATCH_SIZE):
        label = f"Participant {entry.object_id}"
        data = scrub(entry.data, set())
        if label != entry.label or data != entry.data:
            entry.label, entry.data = label, data
            changed.append(entry)
    ModelLogEntry.objects.bulk_update(changed, ["label", "data"], batch_size=BATCH_SIZE)
    return len(changed)


def _usable(values: Iterable[str]) -> set[str]:
    return {value for value in values if value and len(value) >= MIN_SECRET_LENGTH}


def scrub(value, secrets: set[str]):
    """`value` (audit-log data) without PERSONAL_LOG_KEYS and with any text containing one of `secrets`
    replaced by REMOVED."""
    if isinstance(value, dict):
        return {key: scrub(item, secrets) for key, item in value.items() if key not in PERSONAL_LOG_KEYS}
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, str) and any(secret in value for secret in secrets):
        return REMOVED
    return value
