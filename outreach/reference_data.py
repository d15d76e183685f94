"""The city's reference data: population by year × ward × age band, internet-usage rates by year × survey × age
band, and KPI targets by fiscal year × indicator. City staff import them (CSV or XLSX, through the admin or the
`load_reference_data` command); the defaults for Kawasaki ship as CSV files in data/reference/.

An import is an upsert on each model's unique key, all rows or none, with every bad row reported
(outreach.resources holds the columns and row rules; courses.spreadsheets the reading and reporting). The admin
and the command run the same functions here. An import that changes something writes one audit entry; loading the
same data again changes nothing and logs nothing.

CSV files may start with comment lines ("# ...") before the header: they are skipped, and row numbers in error
reports stay those of the file.
"""

import codecs
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cms.audit import log
from courses import spreadsheets
from outreach.models import SURVEY_BAND_CHOICES, InternetUsageRate, KpiTarget, PopulationFigure
from outreach.resources import REFERENCE_RESOURCES, run_import

IMPORTED = "outreach.reference.imported"
LOG_ACTIONS = {IMPORTED: gettext_lazy("Reference data imported")}

MODELS = {"population": PopulationFigure, "usage": InternetUsageRate, "kpi": KpiTarget}
KINDS = tuple(MODELS)
LABELS = {"population": gettext_lazy("Population"), "usage": gettext_lazy("Internet usage rates"),
          "kpi": gettext_lazy("KPI targets")}

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data" / "reference"
DEFAULT_FILES = {"population": DEFAULT_DIR / "population.csv", "usage": DEFAULT_DIR / "internet_usage.csv",
                 "kpi": DEFAULT_DIR / "kpi_targets.csv"}

SENIOR_BANDS = ("65-69", "70-74", "75-79", "80-84", "85+")


class ReferenceDataError(Exception):
    """A reference file could not be loaded: `messages` says every problem (translated)."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("\n".join(str(message) for message in messages))


# --- Permissions ---------------------------------------------------------------------------------------------------


def permission(kind: str, action: str) -> str:
    return f"outreach.{action}_{MODELS[kind]._meta.model_name}"


def can_view(user, kind: str) -> bool:
    return user.is_active and user.has_perm(permission(kind, "view"))


def can_import(user, kind: str) -> bool:
    """Imports create and change rows: both permissions (city programme officers and administrators)."""
    return user.is_active and user.has_perms([permission(kind, "add"), permission(kind, "change")])


def can_use(user) -> bool:
    return any(can_view(user, kind) or can_import(user, kind) for kind in KINDS)


# --- Importing -----------------------------------------------------------------------------------------------------


def _blank_comment_lines(data: bytes) -> bytes:
    """A CSV file's leading "# ..." lines emptied (not removed, so that row numbers stay those of the file)."""
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    lines = data[len(bom):].split(b"\n")
    for index, line in enumerate(lines):
        if line.lstrip().startswith(b"#"):
            lines[index] = b"\r" if line.endswith(b"\r") else b""
        elif line.strip():
            break
    return bom + b"\n".join(lines)


def read_file(data: bytes, *, filename: str = "", encoding: str = "auto") -> spreadsheets.Table:
    """An uploaded or shipped XLSX or CSV file as a table. Raises spreadsheets.SpreadsheetError."""
    if data[:4] != b"PK\x03\x04":
        data = _blank_comment_lines(data)
    return spreadsheets.read_upload(data, filename=filename, encoding=encoding)


def _resource(kind: str, user):
    if kind not in REFERENCE_RESOURCES:
        raise ValueError(kind)
    return REFERENCE_RESOURCES[kind](user=user)


def preview_import(kind: str, table: spreadsheets.Table, *, user=None) -> spreadsheets.ImportReport:
    """What importing `table` as `kind` would create, change and leave, row by row; writes nothing."""
    return run_import(_resource(kind, user), table, dry_run=True)


def import_reference(kind: str, table: spreadsheets.Table, *, user=None,
                     filename: str = "") -> spreadsheets.ImportReport:
    """Upsert every row of `table`, in one transaction, or nothing: raises spreadsheets.ImportRefused (nothing
    written) when any row is in error. Logged once when something changed."""
    with transaction.atomic():
        report = run_import(_resource(kind, user), table, dry_run=False)
        if not report.ok:
            transaction.set_rollback(True)
        elif report.changes:
            target = spreadsheets.audit_target(user, set())
            if target is not None:
                log(target, IMPORTED, user=user if getattr(user, "is_authenticated", False) else None,
                    data={"kind": kind, "file": filename[:200], "format": table.format, "rows": report.total,
                          "created": report.new, "updated": report.updated, "unchanged": report.unchanged})
    if not report.ok:
        raise spreadsheets.ImportRefused(report)
    return report


def describe_errors(report: spreadsheets.ImportReport) -> list[str]:
    """Each error of a refused import as one line: “Row 12, 区: …”."""
    lines = []
    for error in report.errors:
        where = _("Row %(row)d") % {"row": error.row} if error.row else _("File")
        if error.column:
            where = f"{where}, {error.column}"
        lines.append(f"{where}: {error.message}")
    return lines


def load_file(kind: str, path: Path | str, *, user=None) -> spreadsheets.ImportReport:
    """Import a reference file from disk (the command, the demo). Raises ReferenceDataError with every problem."""
    path = Path(path)
    try:
        table = read_file(path.read_bytes(), filename=path.name)
        return import_reference(kind, table, user=user, filename=path.name)
    except OSError as error:
        raise ReferenceDataError([f"{path}: {error.strerror or error}"]) from None
    except spreadsheets.SpreadsheetError as error:
        raise ReferenceDataError([f"{path.name}: {error.message}"]) from None
    except spreadsheets.ImportRefused as refused:
        raise ReferenceDataError([f"{path.name}: {line}" for line in describe_errors(refused.report)]) from None


def load_defaults(*, user=None, files: dict[str, Path | str] | None = None) -> dict[str, spreadsheets.ImportReport]:
    """Load the shipped default files (or those given, by kind), all of them or none."""
    files = files if files is not None else DEFAULT_FILES
    with transaction.atomic():
        return {kind: load_file(kind, path, user=user) for kind, path in files.items()}


# --- Exporting -----------------------------------------------------------------------------------------------------


def export_queryset(kind: str):
    model = MODELS[kind]
    if kind == "population":
        return model.objects.select_related("ward").order_by("year", "ward__sort_order", "ward__code", "age_band")
    return model.objects.order_by(*model._meta.ordering)


def export_csv(kind: str, *, today=None) -> spreadsheets.Export:
    """Everything loaded of `kind`, as CSV (UTF-8 with a BOM) with the import's columns: it imports back as is."""
    resource = _resource(kind, None)
    queryset = export_queryset(kind)
    rows = (resource.export_resource(obj) for obj in queryset)
    filename = f"dekiru-{kind}-{(today or timezone.localdate()).isoformat()}.csv"
    return spreadsheets.Export(filename, spreadsheets.CSV_CONTENT_TYPE, queryset.count(),
                               chunks=spreadsheets.csv_chunks(resource.get_export_headers(), rows))


# --- What is loaded ----------------------------------------------------------------------------------------------


@dataclass
class PopulationYear:
    year: int
    cells: list[tuple[object, int | None, int]]  # (ward, total, age bands given) per ward
    total: int
    seniors: int

    @property
    def senior_share(self) -> float:
        return self.seniors * 100 / self.total if self.total else 0.0


def population_overview(wards) -> list[PopulationYear]:
    rows = (PopulationFigure.objects.values("year", "ward").order_by()
            .annotate(total=Sum("population"), bands=Count("pk"),
                      seniors=Sum("population", filter=Q(age_band__in=SENIOR_BANDS))))
    by_year: dict[int, dict[int, dict]] = {}
    for row in rows:
        by_year.setdefault(row["year"], {})[row["ward"]] = row
    years = []
    for year in sorted(by_year):
        cells = by_year[year]
        years.append(PopulationYear(
            year=year,
            cells=[(ward, cells[ward.pk]["total"] if ward.pk in cells else None,
                    cells[ward.pk]["bands"] if ward.pk in cells else 0) for ward in wards],
            total=sum(cell["total"] for cell in cells.values()),
            seniors=sum(cell["seniors"] or 0 for cell in cells.values())))
    return years


def usage_overview() -> list[dict]:
    """Per year and survey: the rate of each survey age band (None where not loaded)."""
    rows: dict[tuple, dict] = {}
    for rate in InternetUsageRate.objects.order_by("year", "source"):
        row = rows.setdefault((rate.year, rate.source), {"year": rate.year, "source": rate.get_source_display(),
                                                         "rates": {}})
        row["rates"][rate.age_band] = rate.rate
    for row in rows.values():
        row["cells"] = [row["rates"].get(code) for code, _label in SURVEY_BAND_CHOICES]
    return list(rows.values())


def kpi_overview() -> tuple[list[int], list[tuple[str, str, list]]]:
    """(fiscal years, [(metric, label, [target per fiscal year or None])])."""
    targets = {(target.fiscal_year, target.metric): target.target for target in KpiTarget.objects.all()}
    years = sorted({year for year, _metric in targets})
    return years, [(metric, label, [targets.get((year, metric)) for year in years])
                   for metric, label in KpiTarget.Metric.choices]
