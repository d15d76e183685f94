"""A resident's requests about their personal data (PRODUCT.md, "Personal data"): staff find the person, see
everything held about them, export it (JSON or CSV) and, when asked, erase it.

Erasure is the retention purge's anonymisation (courses.retention.anonymise) done at once for one person:
contact details, proxy details and free text go, age band, ward, attendance and self-assessments stay, so the
statistics do not change. Bookings for sessions that have not started yet are cancelled first (their seats go
to the waiting list; no message is sent, there is no one left to send it to).

Every export and every erasure is audit-logged on the participant, with ids and numbers only: the reason for an
erasure is one of `ErasureReason` rather than free text, so that a name typed into it cannot end up in the log.

Other apps hold data about a participant too (outreach: their self-assessments): each adds its section to the view,
the export and the count in the log through the `personal_data_sections` hook (a function taking the participant
and returning a DataSection), as pretix plugins register their data shredders. What they hold is anonymous once
the participant is, so erasure needs nothing from them.

Who may do what is decided by the admin views (courses.admin.data_requests): city staff who look after people's
records find and export; erasing needs the permission to delete participants as well.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail import hooks

from cms.audit import acting_user, log
from cms.csv_safety import escape_csv_cell
from courses import retention, services
from courses.models import OutgoingMessage, Participant, Registration

EXPORT_LOG_ACTION = "courses.participant.exported"
ERASE_LOG_ACTION = "courses.participant.erased"
FORMATS = ("json", "csv")


class ErasureReason(models.TextChoices):
    RESIDENT_REQUEST = "resident_request", gettext_lazy("The resident asked for their data to be deleted")
    PROXY_REQUEST = "proxy_request", gettext_lazy(
        "A family member or representative asked on the resident's behalf")
    CONSENT_WITHDRAWN = "consent_withdrawn", gettext_lazy("The resident withdrew their consent")
    RECORDED_IN_ERROR = "recorded_in_error", gettext_lazy("The record was created in error")


class AlreadyErased(Exception):
    """The participant's personal data was already erased (by a request or the retention purge)."""


@dataclass
class DataSection:
    """What another app holds about a participant (the `personal_data_sections` hook).

    `key`: the section's name in the export (JSON key, CSV "Section" column); `objects`: the rows, shown by
    `template_name` on the admin page (as `section`); `export`: one JSON-ready dict per object, each with an "id";
    `csv_rows`: the (field, value) pairs of one exported dict in the CSV (default: its items)."""

    key: str
    objects: list
    template_name: str
    export: Callable[[object], dict]
    csv_rows: Callable[[dict], Iterable[tuple[str, object]]] | None = None

    def records(self) -> list[dict]:
        return [self.export(obj) for obj in self.objects]


def other_sections(participant: Participant) -> list[DataSection]:
    return [hook(participant) for hook in hooks.get_hooks("personal_data_sections")]


@dataclass
class Holdings:
    """Everything held about one participant."""

    participant: Participant
    registrations: list[Registration]
    messages: list[OutgoingMessage]
    sections: list[DataSection] = field(default_factory=list)


@dataclass
class ErasureResult:
    participant: Participant
    cancelled_bookings: list[int] = field(default_factory=list)
    registrations: int = 0
    messages: int = 0
    log_entries: int = 0


def find(query: str) -> QuerySet[Participant]:
    """People not yet anonymised matching a phone number, e-mail, name or kana (the call centre's look-up)."""
    return services.find_participants(query).select_related("ward")


def holdings(participant: Participant) -> Holdings:
    """The participant's registrations (with session, course, venue), messages, and the other apps' sections."""
    registrations = list(participant.registrations.select_related(
        "session", "session__course", "session__venue", "session__organiser").order_by("session__starts_at", "pk"))
    messages = list(OutgoingMessage.objects.filter(registration__participant=participant)
                    .select_related("session").order_by("created_at", "pk"))
    return Holdings(participant=participant, registrations=registrations, messages=messages,
                    sections=other_sections(participant))


def upcoming_bookings(participant: Participant, *, now: dt.datetime | None = None) -> list[Registration]:
    """Confirmed or waitlisted bookings for sessions that have not started: an erasure cancels them."""
    now = now or timezone.now()
    return list(participant.registrations.filter(
        status__in=(Registration.Status.CONFIRMED, Registration.Status.WAITLISTED), session__starts_at__gt=now)
        .select_related("session", "session__course").order_by("session__starts_at"))


# --- Export -----------------------------------------------------------------------------------------------------

def when(value: dt.datetime | None) -> str:
    """A time in the export: ISO 8601 in the city's time zone, or "" for none."""
    return timezone.localtime(value).isoformat() if value else ""


def export_data(participant: Participant) -> dict:
    """Everything held about the participant, as JSON-ready data in the admin's language.

    Messages are listed with their recipient and subject but not their text: the text holds the resident's
    personal cancellation link, which staff never handle (courses.admin.message_log).
    """
    return _export(holdings(participant))


def _export(held: Holdings) -> dict:
    person = held.participant
    return {
        "participant": {
            "id": person.pk, "name": person.name, "kana": person.kana, "email": person.email,
            "phone": person.phone, "age_band": str(person.get_age_band_display()),
            "ward": str(person.ward) if person.ward_id else "", "device": str(person.get_device_display()),
            "accessibility_needs": person.accessibility_needs, "language": str(person.get_language_display()),
            "consent_policy_version": person.consent_policy_version, "consented_at": when(person.consented_at),
            "created_at": when(person.created_at), "updated_at": when(person.updated_at),
            "anonymised_at": when(person.anonymised_at),
            "line_user_id": person.line_user_id, "line_linked_at": when(person.line_linked_at),
        },
        "registrations": [{
            "id": registration.pk, "session": registration.session_id,
            "course": registration.session.course.title,
            "starts_at": when(registration.session.starts_at), "ends_at": when(registration.session.ends_at),
            "venue": str(registration.session.venue) if registration.session.venue_id else "",
            "organiser": str(registration.session.organiser),
            "status": str(registration.get_status_display()), "channel": str(registration.get_channel_display()),
            "booked_by": str(registration.get_booked_by_display()), "booker_name": registration.booker_name,
            "booker_relationship": registration.booker_relationship, "booker_email": registration.booker_email,
            "booker_phone": registration.booker_phone, "booker_line_user_id": registration.booker_line_user_id,
            "notify_by": str(registration.get_notify_by_display() or ""),
            "registered_at": when(registration.created_at),
            "confirmed_at": when(registration.confirmed_at), "cancelled_at": when(registration.cancelled_at),
        } for registration in held.registrations],
        "messages": [{
            "id": message.pk, "registration": message.registration_id, "kind": str(message.get_kind_display()),
            "channel": str(message.get_channel_display()), "status": str(message.get_status_display()),
            "to_name": message.to_name, "to_email": message.to_email, "to_phone": message.to_phone,
            "to_line": message.to_line, "sent_to_booker": message.to_booker, "subject": message.subject,
            "queued_at": when(message.created_at), "sent_at": when(message.sent_at),
        } for message in held.messages],
        **{section.key: section.records() for section in held.sections},
    }


def to_json(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


def to_csv(data: dict, sections: list[DataSection] = ()) -> bytes:
    """One row per value (section, record id, field, value): every section fits one sheet. UTF-8 with a BOM,
    so Excel reads Japanese correctly; text that would run as a formula gets a leading apostrophe."""
    buffer = io.StringIO()
    writer = _EscapingWriter(csv.writer(buffer))
    writer.writerow([_("Section"), _("Record"), _("Field"), _("Value")])
    person = data["participant"]
    for name, value in person.items():
        writer.writerow(["participant", person["id"], name, value])
    for section in ("registrations", "messages"):
        for record in data[section]:
            for name, value in record.items():
                writer.writerow([section, record["id"], name, value])
    for section in sections:
        for record in data[section.key]:
            for name, value in (section.csv_rows or dict.items)(record):
                writer.writerow([section.key, record["id"], name, value])
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


class _EscapingWriter:
    """A csv writer whose text cells cannot run as spreadsheet formulas (a name typed as "=…" on the form)."""

    def __init__(self, writer):
        self.writer = writer

    def writerow(self, row):
        self.writer.writerow([escape_csv_cell(value) for value in row])


def export_participant(*, participant: Participant, fmt: str, actor=None) -> bytes:
    """The participant's data as `fmt` ("json" or "csv"); the export is audit-logged (ids only)."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format: {fmt}")
    held = holdings(participant)
    data = _export(held)
    log(participant, EXPORT_LOG_ACTION, user=acting_user(actor), data={
        "format": fmt, "registrations": len(data["registrations"]), "messages": len(data["messages"]),
        **{section.key: len(data[section.key]) for section in held.sections}})
    return to_json(data) if fmt == "json" else to_csv(data, held.sections)


# --- Erasure ----------------------------------------------------------------------------------------------------

def erase_participant(*, participant: Participant, reason: str, actor=None,
                      now: dt.datetime | None = None) -> ErasureResult:
    """Erase the participant's personal data now, keeping the anonymous statistics (module docstring).

    Cancels their bookings for sessions not started yet (freed seats go to the waiting list), then anonymises
    as the retention purge does. Raises AlreadyErased when there is nothing left to erase.
    """
    if reason not in ErasureReason.values:
        raise ValueError(f"Unknown erasure reason: {reason}")
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if locked.anonymised_at is not None:
            raise AlreadyErased()
        cancelled = []
        for registration in upcoming_bookings(locked, now=now):
            try:
                services.cancel_registration(registration=registration, actor=actor)
            except services.RegistrationError:
                continue  # it started meanwhile: it stays as history, anonymised with the rest
            cancelled.append(registration.pk)
        counts = retention.anonymise([locked.pk], now=now)
        locked.refresh_from_db()
        log(locked, ERASE_LOG_ACTION, user=acting_user(actor), data={
            "reason": reason, "cancelled_bookings": cancelled, "registrations": counts.registrations,
            "messages": counts.messages})
    return ErasureResult(participant=locked, cancelled_bookings=cancelled, registrations=counts.registrations,
                         messages=counts.messages, log_entries=counts.log_entries)
