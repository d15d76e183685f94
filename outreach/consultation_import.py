"""Importing support-desk consultations from a spreadsheet (XLSX or CSV) with a preview first, all or nothing, one
audit entry per file, and a warning when the very same file was imported before. The rows are checked by
outreach.resources.ConsultationResource with the rules of outreach.consultations.

Exporting them in the same columns, every answer written out (答えたくない, 市外; never a blank cell), so that an
exported file imports again as it is."""

import hashlib
from datetime import date

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from wagtail.models import ModelLogEntry

from cms.audit import acting_user, log
from courses import spreadsheets
from outreach.consultations import EXPORTED, IMPORTED
from outreach.resources import ConsultationResource, run_import


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def earlier_import(digest: str) -> ModelLogEntry | None:
    """The log entry of an earlier import of the very same file, if any (importing it again would count every
    consultation twice)."""
    return ModelLogEntry.objects.filter(action=IMPORTED, data__sha256=digest).order_by("-timestamp").first()


def preview_import(table: spreadsheets.Table, *, user) -> spreadsheets.ImportReport:
    """What importing `table` would add, row by row, writing nothing."""
    return run_import(ConsultationResource(user=user), table, dry_run=True)


def import_consultations(table: spreadsheets.Table, *, user, filename: str = "",
                         digest: str = "") -> spreadsheets.ImportReport:
    """Add every row of `table` as a consultation recorded by `user`, in one transaction, or none: raises
    spreadsheets.ImportRefused (nothing written) when any row is in error. One audit entry for the file."""
    with transaction.atomic():
        report = run_import(ConsultationResource(user=user), table, dry_run=False)
        if not report.ok:
            transaction.set_rollback(True)
        else:
            log(spreadsheets.audit_target(user, set()), IMPORTED, user=acting_user(user),
                data={"file": filename[:200], "format": table.format, "rows": report.total, "created": report.new,
                      "sha256": digest})
    if not report.ok:
        raise spreadsheets.ImportRefused(report)
    return report


def export_consultations(queryset: QuerySet, *, user, fmt: str, filters: dict | None = None,
                         today: date | None = None) -> spreadsheets.Export:
    """`queryset` (consultations, with their topics prefetched: consultations.with_details) as CSV or XLSX in the
    import's columns and the user's language; logged before the first byte is produced."""
    if fmt not in spreadsheets.FORMATS:
        raise ValueError(fmt)
    count = queryset.count()
    log(spreadsheets.audit_target(user, set()), EXPORTED, user=acting_user(user),
        data={"format": fmt, "rows": count, "filters": filters or {}})
    resource = ConsultationResource(user=user)
    headers = resource.get_export_headers()
    rows = (resource.export_resource(consultation) for consultation in queryset.iterator(chunk_size=2000))
    filename = f"dekiru-consultations-{(today or timezone.localdate()).isoformat()}.{fmt}"
    if fmt == "csv":
        return spreadsheets.Export(filename, spreadsheets.CSV_CONTENT_TYPE, count,
                                   chunks=spreadsheets.csv_chunks(headers, rows))
    return spreadsheets.Export(filename, spreadsheets.XLSX_CONTENT_TYPE, count,
                               chunks=spreadsheets.xlsx_chunks(headers, rows, title="consultations"))
