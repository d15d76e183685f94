"""Importing support-desk consultations from a spreadsheet (XLSX or CSV) with a preview first, all or nothing, one
audit entry per file, and a warning when the very same file was imported before. The rows are checked by
outreach.resources.ConsultationResource with the rules of outreach.consultations."""

import hashlib

from django.db import transaction
from wagtail.models import ModelLogEntry

from cms.audit import log
from courses import spreadsheets
from outreach.consultations import IMPORTED
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
            log(spreadsheets.audit_target(user, set()), IMPORTED, user=_user(user),
                data={"file": filename[:200], "format": table.format, "rows": report.total, "created": report.new,
                      "sha256": digest})
    if not report.ok:
        raise spreadsheets.ImportRefused(report)
    return report


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None

