"""Spreadsheets: read an uploaded file, preview an import (a dry run), apply it (all or nothing), export; each
export and import is written to the audit log.

The columns and the row rules are the resources of courses.resources; this module does everything around them:

- Reading (`read_upload`): the size is checked first (MAX_UPLOAD_BYTES), then the format from the content, not the
  name: an XLSX workbook (a zip with xl/workbook.xml) is read with python-calamine, which never evaluates formulas;
  formula cells are found in the sheet's XML and reported. CSV is decoded as UTF-8 (with or without BOM) or CP932
  (Shift_JIS as saved by Japanese Excel), detected unless the user chose; a cell starting with "=" is a formula.
  Row numbers are the ones Excel shows (the header is row 1); blank rows are skipped.
- Importing: `preview_import` runs the resource's `import_data` as a dry run (inside a transaction that is rolled
  back, and the plans write nothing anyway); `apply_import` runs it again from the same file, in one transaction,
  and raises ImportRefused -- with nothing written -- if any row is in error by then. Unchanged rows are never in
  error (an export imports back unchanged); those the user could not have changed are counted by reason in the
  report (`ImportReport.read_only`).
- Between the preview and the confirmation the uploaded file is kept in the cache (the database cache by default,
  shared by every app server) under a random key, for STAGE_TTL; the page gets a token signed with the secret key
  naming that key, the user and the kind of import (`stage_upload` / `take_staged`). Confirming re-reads and
  re-checks the file: nothing from the preview page is trusted. A staged file is taken once: a second "confirm"
  (double click, back button) finds nothing.
- Exporting (`export_sessions`... via `export`): CSV is streamed row by row (UTF-8 with a BOM, so Excel opens it in
  Japanese); XLSX is streamed too (`xlsx_chunks`): the sheet's XML is written row by row into a zip that is
  handed out as it grows, so memory stays flat and the first bytes leave at once (openpyxl's write-only workbook
  took 30 s for 100,000 registrations before the first byte, CSV 5.5 s). Cells that a spreadsheet
  would take for a formula (starting with =, +, -, @, tab or CR) get a leading apostrophe in CSV; in XLSX every
  text is written as a text cell, never a formula.
- Audit log: one entry per export and per import, action courses.spreadsheet.exported / .imported, with who (the
  entry's user), when (its timestamp), what (kind, format, file name, filters) and how many rows. It is logged on
  the partner whose data it is when that is exactly one partner, and on the default Site otherwise (a city-wide
  export or import), so a partner's history shows every export of its participants.
"""

import codecs
import csv
import io
import re
import secrets
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from xml.etree import ElementTree

import tablib
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from import_export.results import RowResult
from wagtail.log_actions import log

from cms.audit import acting_user
from cms.csv_safety import escape_csv_cell
from courses.models import Registration, Session
from courses.resources import (
    IMPORTABLE,
    READ_ONLY_REASONS,
    RESOURCES,
    AttendanceResource,
    DuplicateColumn,
    MissingColumns,
    SpreadsheetResource,
    is_blank,
    local_tz,
)
from partners import permissions
from partners.models import Partner

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_ROWS = 100_000
# An XLSX is a zip: refuse one that unpacks to more than this (a "zip bomb"), before reading it.
MAX_UNPACKED_BYTES = 300 * 1024 * 1024
STAGE_TTL = 60 * 60  # seconds between upload and confirmation
STAGE_SALT = "courses.spreadsheets.stage"
ENCODINGS = ("auto", "utf-8", "cp932")
FORMATS = ("xlsx", "csv")
CSV_CHUNK_ROWS = 500
ERRORS_SHOWN = 500
ROWS_SHOWN = 200

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


class SpreadsheetError(Exception):
    """The file as a whole cannot be imported. `message` is translated and says what to do."""

    def __init__(self, message):
        self.message = message
        super().__init__(str(message))


@dataclass
class Table:
    """An uploaded sheet: header texts as in the file, data rows, and where each row and each formula is."""

    headers: list[str]
    rows: list[list]
    row_numbers: list[int]  # the Excel row number of each data row
    formulas: dict[int, set[int]] = field(default_factory=dict)  # data row index (0-based) → column indexes
    format: str = "csv"
    encoding: str = ""


# --- Reading ---------------------------------------------------------------------------------------------------


def check_size(size: int) -> None:
    if size == 0:
        raise SpreadsheetError(_("The file is empty."))
    if size > MAX_UPLOAD_BYTES:
        raise SpreadsheetError(_("The file is %(size)s MB; files up to %(limit)d MB can be imported. Split it into "
                                 "smaller files.") % {"size": f"{size / 1024 / 1024:.1f}",
                                                      "limit": MAX_UPLOAD_BYTES // 1024 // 1024})


def read_upload(data: bytes, *, filename: str = "", encoding: str = "auto") -> Table:
    """The first sheet of an XLSX workbook, or a CSV file, as a Table. Raises SpreadsheetError."""
    check_size(len(data))
    name = filename.lower()
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise SpreadsheetError(_("This is an old Excel file (.xls). Save it as an Excel workbook (.xlsx) or as CSV "
                                 "and upload that."))
    if name.endswith((".xlsx", ".xlsm", ".xls", ".ods", ".numbers")):
        raise SpreadsheetError(_("This file is not a readable Excel workbook. Save it again as .xlsx or CSV."))
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise SpreadsheetError(_("This text file is in UTF-16 (Excel's “Unicode text”). Save it as “CSV UTF-8” "
                                 "instead."))
    if b"\x00" in data[:4096] or (name and not name.endswith((".csv", ".txt", ".tsv"))):
        raise SpreadsheetError(_("Upload an Excel workbook (.xlsx) or a CSV file."))
    return _read_csv(data, encoding)


def decode(data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """The text of a CSV file and the encoding used: UTF-8 (with or without BOM) or CP932, Japanese Excel's
    Shift_JIS. "auto" tries UTF-8 first: a CP932 file of Japanese text is almost never valid UTF-8."""
    if encoding not in ENCODINGS:
        encoding = "auto"
    if encoding in ("auto", "utf-8"):
        try:
            return data.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError:
            if encoding == "utf-8":
                raise SpreadsheetError(_("The file is not in UTF-8. Choose Shift_JIS, or let the encoding be "
                                         "detected.")) from None
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError:
        if encoding == "cp932":
            raise SpreadsheetError(_("The file is not in Shift_JIS. Choose UTF-8, or let the encoding be "
                                     "detected.")) from None
    raise SpreadsheetError(_("The characters of this file could not be read. Save it from Excel as “CSV UTF-8” "
                             "and upload it again."))


def _read_csv(data: bytes, encoding: str) -> Table:
    text, used = decode(data, encoding)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        raise SpreadsheetError(_("The CSV file could not be read: %(error)s") % {"error": error}) from None
    formulas = {}
    for index, record in enumerate(records):
        cells = {column for column, value in enumerate(record) if value.lstrip().startswith("=")}
        if cells:
            formulas[index] = cells
    return _table(records, formulas, format="csv", encoding=used)


def _read_xlsx(data: bytes) -> Table:
    import python_calamine

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        if "xl/workbook.xml" not in archive.namelist():
            raise SpreadsheetError(_("This file is not an Excel workbook. Upload an .xlsx file or a CSV file."))
        if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
            raise SpreadsheetError(_("This workbook is too large once unpacked. Split it into smaller files."))
        formula_cells = _xlsx_formula_cells(archive)
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = workbook.get_sheet_by_index(0)
        if sheet.height > MAX_ROWS + 50:
            raise _too_many_rows()
        records = sheet.to_python(skip_empty_area=False)  # keeps row 1 as row 1: row numbers as Excel shows them
    except SpreadsheetError:
        raise
    except (zipfile.BadZipFile, ElementTree.ParseError, KeyError, ValueError, IndexError,
            python_calamine.CalamineError):
        raise SpreadsheetError(_("This Excel workbook could not be read. Open it in Excel, save it again as .xlsx "
                                 "and upload it again.")) from None
    formulas: dict[int, set[int]] = {}
    for row, column in formula_cells:
        formulas.setdefault(row, set()).add(column)
        while len(records) <= row:  # a formula without a saved value may fall outside calamine's range
            records.append([])
    for index, record in enumerate(records):  # text typed as "=…" is refused like a formula
        for column, value in enumerate(record):
            if isinstance(value, str) and value.lstrip().startswith("="):
                formulas.setdefault(index, set()).add(column)
    return _table(records, formulas, format="xlsx")


_NS_TAG = re.compile(r"^\{[^}]*\}")
_CELL_REF = re.compile(r"^([A-Z]+)(\d+)$")
_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")


def _local(tag: str) -> str:
    return _NS_TAG.sub("", tag)


def _first_sheet_path(archive: zipfile.ZipFile) -> str:
    """The part holding the workbook's first sheet (the one calamine reads), from workbook.xml and its rels."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    first = next(element for element in workbook.iter() if _local(element.tag) == "sheet")
    relation = next(value for key, value in first.attrib.items() if _local(key) == "id")
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = next(element.get("Target") for element in rels.iter() if element.get("Id") == relation)
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def _xlsx_formula_cells(archive: zipfile.ZipFile) -> list[tuple[int, int]]:
    """(row, column), 0-based, of every cell of the first sheet holding a formula. A quick byte search first:
    most uploads have none, and then the sheet is not parsed twice."""
    path = _first_sheet_path(archive)
    with archive.open(path) as stream:
        content = stream.read()
    if not _FORMULA_TAG.search(content):
        return []
    cells, row_index, column_index = [], -1, -1
    for _event, element in ElementTree.iterparse(io.BytesIO(content), events=("end",)):
        tag = _local(element.tag)
        if tag == "c":
            match = _CELL_REF.match(element.get("r", ""))
            column_index = _column_index(match.group(1)) if match else column_index + 1
            if match:
                row_index = int(match.group(2)) - 1
            if any(_local(child.tag) == "f" for child in element):
                cells.append((max(row_index, 0), column_index))
            element.clear()
        elif tag == "row":
            row_index = int(element.get("r", row_index + 2)) - 1
            column_index = -1
            element.clear()
    return cells


def _too_many_rows() -> SpreadsheetError:
    return SpreadsheetError(_("The file has more than %(max)s rows. Split it into smaller files.")
                            % {"max": f"{MAX_ROWS:,}"})


def _table(records: list[list], formulas: dict[int, set[int]], *, format: str, encoding: str = "") -> Table:
    """Header = the first row that is not blank; then every row that is not blank, with its Excel number."""
    header_index = next((index for index, record in enumerate(records)
                         if any(not is_blank(value) for value in record) or index in formulas), None)
    if header_index is None:
        raise SpreadsheetError(_("The file is empty."))
    headers = ["" if is_blank(value) else str(value).strip() for value in records[header_index]]
    while headers and not headers[-1]:
        headers.pop()
    if not headers:
        raise SpreadsheetError(_("The first row must hold the column names."))
    width = len(headers)
    rows, numbers, row_formulas = [], [], {}
    for index in range(header_index + 1, len(records)):
        record = records[index]
        cells = formulas.get(index)
        if not cells and all(is_blank(value) for value in record):
            continue
        if len(rows) >= MAX_ROWS:
            raise _too_many_rows()
        values = list(record[:width]) + [""] * (width - len(record))
        if cells:
            row_formulas[len(rows)] = cells
        rows.append(values)
        numbers.append(index + 1)
    if not rows:
        raise SpreadsheetError(_("The file has column names but no rows to import."))
    return Table(headers=headers, rows=rows, row_numbers=numbers, formulas=row_formulas, format=format,
                 encoding=encoding)


# --- Importing --------------------------------------------------------------------------------------------------


@dataclass
class RowError:
    row: int  # as Excel shows it
    column: str  # the header as written in the file; "" for the row as a whole
    message: str


@dataclass
class ImportReport:
    kind: str
    total: int
    new: int
    updated: int
    unchanged: int
    errors: list[RowError]
    error_rows: int
    rows: list[tuple[int, str, str]]  # (row, "new" / "update", description), the first ROWS_SHOWN
    ignored_columns: list[str]
    format: str
    encoding: str
    summary: dict = field(default_factory=dict)
    # Unchanged rows this user could not have changed, by reason (a key of READ_ONLY_REASONS): they are part of
    # `unchanged` and never fail the file; a changed one is an error.
    read_only: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def read_only_rows(self) -> int:
        return sum(self.read_only.values())

    def read_only_reasons(self) -> list[tuple[str, int]]:
        """(reason, rows) to show, in the order of READ_ONLY_REASONS."""
        return [(str(label), self.read_only[key]) for key, label in READ_ONLY_REASONS.items()
                if self.read_only.get(key)]

    @property
    def changes(self) -> int:
        return self.new + self.updated


class ImportRefused(Exception):
    """Applying found errors (the data changed since the preview, or the file was never clean): nothing written."""

    def __init__(self, report: ImportReport):
        self.report = report
        super().__init__(f"{report.error_rows} rows in error")


def _resource(kind: str, user, now) -> SpreadsheetResource:
    if kind not in IMPORTABLE:
        raise ValueError(kind)
    return RESOURCES[kind](user=user, now=now)


def table_dataset(resource: SpreadsheetResource, table: Table) -> tuple[tablib.Dataset, list[str], list[str], dict]:
    """The rows as a tablib Dataset whose headers are the resource's column keys; unknown columns are kept
    under placeholder names (so a formula in them is still seen) and listed as ignored."""
    try:
        keys, unknown = resource.resolve_headers(table.headers)
    except MissingColumns as missing:
        raise SpreadsheetError(_("Columns missing: %(columns)s. The first row must name each column.")
                               % {"columns": ", ".join(missing.labels)}) from None
    except DuplicateColumn as duplicate:
        raise SpreadsheetError(_("The column “%(column)s” appears twice.") % {"column": duplicate.header}) from None
    headers = [key or f"_ignored_{index}" for index, key in enumerate(keys)]
    dataset = tablib.Dataset(*table.rows, headers=headers)
    # Formula cells by data row (1-based, as import_data numbers rows) → column keys.
    formulas = {index + 1: {headers[column] if column < len(headers) else "" for column in columns}
                for index, columns in table.formulas.items()}
    return dataset, keys, unknown, formulas


def import_report(resource, table: Table, result, keys: list[str], unknown: list[str]) -> ImportReport:
    header_of = {key or f"_ignored_{index}": header for index, (key, header) in enumerate(zip(keys, table.headers,
                                                                                              strict=True))}
    errors, rows = [], []
    counts = {RowResult.IMPORT_TYPE_NEW: 0, RowResult.IMPORT_TYPE_UPDATE: 0, RowResult.IMPORT_TYPE_SKIP: 0}
    error_rows = 0
    read_only: dict[str, int] = {}
    for row_result in result.rows:
        if row_result.import_type == RowResult.IMPORT_TYPE_INVALID:
            error_rows += 1
            for key, messages in row_result.validation_error.message_dict.items():
                column = "" if key == NON_FIELD_ERRORS else header_of.get(key, "")
                errors.extend(RowError(row_result.number, column, message) for message in messages)
            continue
        counts[row_result.import_type] = counts.get(row_result.import_type, 0) + 1
        if row_result.import_type == RowResult.IMPORT_TYPE_SKIP and getattr(row_result, "read_only", ""):
            read_only[row_result.read_only] = read_only.get(row_result.read_only, 0) + 1
        if row_result.import_type != RowResult.IMPORT_TYPE_SKIP and len(rows) < ROWS_SHOWN:
            rows.append((row_result.number, row_result.import_type, row_result.description))
    for error in result.base_errors:  # a failure of the whole import (e.g. the bulk write)
        errors.append(RowError(0, "", str(getattr(error.error, "message", error.error))))
    errors.sort(key=lambda error: error.row)
    summary = resource.summary() if isinstance(resource, AttendanceResource) else {}
    return ImportReport(
        kind=resource.kind, total=len(table.rows), new=counts[RowResult.IMPORT_TYPE_NEW],
        updated=counts[RowResult.IMPORT_TYPE_UPDATE], unchanged=counts[RowResult.IMPORT_TYPE_SKIP], errors=errors,
        error_rows=error_rows or (1 if errors else 0), rows=rows, ignored_columns=unknown, format=table.format,
        encoding=table.encoding, summary=summary, read_only=read_only)


def _run(kind: str, table: Table, *, user, dry_run: bool, now=None):
    resource = _resource(kind, user, now)
    dataset, keys, unknown, formulas = table_dataset(resource, table)
    result = resource.import_data(dataset, dry_run=dry_run, use_transactions=True,
                                  rollback_on_validation_errors=True, row_numbers=table.row_numbers,
                                  formulas=formulas)
    return resource, import_report(resource, table, result, keys, unknown)


def preview_import(kind: str, table: Table, *, user, now: datetime | None = None) -> ImportReport:
    """What importing `table` would do, row by row, writing nothing."""
    return _run(kind, table, user=user, dry_run=True, now=now)[1]


def apply_import(kind: str, table: Table, *, user, filename: str = "", now: datetime | None = None) -> ImportReport:
    """Import every row in one transaction, or nothing: raises ImportRefused (nothing written) when any row is
    in error. Writes one audit entry."""
    with transaction.atomic():
        resource, report = _run(kind, table, user=user, dry_run=False, now=now)
        if not report.ok:
            transaction.set_rollback(True)
        else:
            data = {"kind": kind, "file": filename[:200], "format": table.format, "rows": report.total,
                    "created": report.new, "updated": report.updated, "unchanged": report.unchanged,
                    "read_only": report.read_only_rows}
            data.update(report.summary)
            data["partners"] = sorted(resource.touched_partners)
            log(audit_target(user, resource.touched_partners), "courses.spreadsheet.imported", user=acting_user(user),
                data=data)
    if not report.ok:
        raise ImportRefused(report)
    return report


# --- Keeping the file between preview and confirmation -----------------------------------------------------------


def stage_upload(*, user, kind: str, filename: str, data: bytes, encoding: str) -> str:
    """Keep an uploaded file for its confirmation; returns the token the preview page posts back."""
    key = secrets.token_urlsafe(24)
    cache.set(f"spreadsheet-upload:{key}", {"user": user.pk, "kind": kind, "filename": filename, "data": data,
                                            "encoding": encoding}, STAGE_TTL)
    return signing.dumps({"key": key, "user": user.pk, "kind": kind}, salt=STAGE_SALT, compress=True)


def take_staged(token: str, *, user, kind: str) -> dict | None:
    """The staged upload for this user and kind, removed from the cache so that it is imported once; None when
    the token is not valid for them, expired, or already taken."""
    try:
        signed = signing.loads(token, salt=STAGE_SALT, max_age=STAGE_TTL)
    except signing.BadSignature:
        return None
    if signed.get("user") != user.pk or signed.get("kind") != kind:
        return None
    cache_key = f"spreadsheet-upload:{signed['key']}"
    staged = cache.get(cache_key)
    if staged is None or staged.get("user") != user.pk or not cache.delete(cache_key):
        return None
    return staged


def restage(staged: dict, token: str) -> None:
    """Put a taken upload back (its import was refused after all), under the same token."""
    signed = signing.loads(token, salt=STAGE_SALT)
    cache.set(f"spreadsheet-upload:{signed['key']}", staged, STAGE_TTL)


# --- Exporting --------------------------------------------------------------------------------------------------


@dataclass
class ExportFilters:
    date_from: date | None = None
    date_to: date | None = None
    course: int | None = None
    venue: int | None = None
    status: str = ""

    def as_log_data(self) -> dict:
        return {key: (value.isoformat() if isinstance(value, date) else value)
                for key, value in self.__dict__.items() if value not in (None, "")}


def _day_bounds(filters: ExportFilters):
    tz = local_tz()
    start = datetime.combine(filters.date_from, time.min, tzinfo=tz) if filters.date_from else None
    end = datetime.combine(filters.date_to, time.max, tzinfo=tz) if filters.date_to else None
    return start, end


def export_queryset(kind: str, user, filters: ExportFilters):
    """What `user` may export of `kind`, filtered: their own partners' rows only, for partner staff."""
    start, end = _day_bounds(filters)
    if kind == "sessions":
        queryset = (permissions.scope(Session.objects.with_counts(), user)
                    .select_related("course", "organiser", "venue", "venue__ward").order_by("starts_at", "pk"))
        prefix = ""
    else:
        queryset = (permissions.scope(Registration.objects.all(), user, field="session__organiser")
                    .order_by("session__starts_at", "session_id", "pk"))
        if kind == "attendance":
            queryset = queryset.filter(status__in=Registration.ACTIVE)
        prefix = "session__"
    if start:
        queryset = queryset.filter(**{f"{prefix}starts_at__gte": start})
    if end:
        queryset = queryset.filter(**{f"{prefix}starts_at__lte": end})
    if filters.course:
        queryset = queryset.filter(**{f"{prefix}course_id": filters.course})
    if filters.venue:
        queryset = queryset.filter(**{f"{prefix}venue_id": filters.venue})
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    return queryset


def csv_chunks(headers: list[str], rows: Iterator[list]) -> Iterator[bytes]:
    """CSV in UTF-8 with a BOM (Excel then reads Japanese correctly), a few hundred rows per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([escape_csv_cell(header) for header in headers])
    yield codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(rows, 1):
        writer.writerow([escape_csv_cell(value) for value in row])
        if count % CSV_CHUNK_ROWS == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def write_xlsx(headers: list[str], rows: Iterator[list], stream, *, title: str = "Sheet1") -> None:
    """An XLSX workbook written row by row into `stream` (see xlsx_chunks)."""
    for chunk in xlsx_chunks(headers, rows, title=title):
        stream.write(chunk)


# --- Streaming XLSX -------------------------------------------------------------------------------------------
# The smallest workbook Excel, LibreOffice, Numbers, openpyxl and calamine open: one sheet, text as inline strings
# (no shared-strings table to hold in memory), dates with the built-in date formats.

XLSX_CHUNK_ROWS = 500
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
        'Target="styles.xml"/></Relationships>'),
    # Style 1: a date (number format 14), style 2: a date and time (22).
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"),
}


def _xml_text(value: str) -> str:
    value = _XML_ILLEGAL.sub("", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _xlsx_cell(ref: str, value) -> str:
    """One <c> element. Text is always an inline string, never a formula, whatever it starts with."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = timezone.localtime(value).replace(tzinfo=None)
        return f'<c r="{ref}" s="2"><v>{(value - _EXCEL_EPOCH).total_seconds() / 86400!r}</v></c>'
    if isinstance(value, date):
        return f'<c r="{ref}" s="1"><v>{(value - _EXCEL_EPOCH.date()).days}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{_xml_text(str(value))}</t></is></c>'


class _Drain:
    """A write-only file for zipfile: collects what is written until the generator hands it out."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def xlsx_chunks(headers: list[str], rows: Iterator[list], *, title: str = "Sheet1") -> Iterator[bytes]:
    """An XLSX workbook of one sheet named `title`, as bytes to stream: XLSX_CHUNK_ROWS rows at a time are
    compressed and handed out, so memory does not grow with the number of rows."""
    drain = _Drain()
    title = _xml_text(re.sub(r"[\\/?*\[\]:]", " ", title)[:31]) or "Sheet1"
    with zipfile.ZipFile(drain, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, text in _XLSX_PARTS.items():
            archive.writestr(name, text)
        archive.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name="{title}" sheetId="1" r:id="rId1"/></sheets></workbook>'))
        yield drain.take()
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                        b"<sheetData>")
            letters: list[str] = []
            buffer: list[str] = []
            for number, row in enumerate(_chain([headers], rows), 1):
                while len(letters) < len(row):
                    letters.append(_column_letters(len(letters)))
                cells = "".join(_xlsx_cell(f"{letters[i]}{number}", value) for i, value in enumerate(row))
                buffer.append(f'<row r="{number}">{cells}</row>')
                if number % XLSX_CHUNK_ROWS == 0:
                    sheet.write("".join(buffer).encode("utf-8"))
                    buffer = []
                    data = drain.take()
                    if data:
                        yield data
            sheet.write(("".join(buffer) + "</sheetData></worksheet>").encode("utf-8"))
    yield drain.take()


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


@dataclass
class Export:
    filename: str
    content_type: str
    rows: int
    chunks: Iterator[bytes]  # the file, to stream (CSV and XLSX alike)

    @property
    def file(self) -> io.BytesIO:
        """The whole file in memory (for tests and small exports): reads the chunks, once."""
        if "_file" not in self.__dict__:
            self.__dict__["_file"] = io.BytesIO(b"".join(self.chunks))
        return self.__dict__["_file"]


def export(kind: str, *, user, fmt: str, filters: ExportFilters | None = None,
           today: date | None = None) -> Export:
    """An export of `kind` in `fmt` ("csv" or "xlsx") for `user`, logged before the first byte is produced."""
    if kind not in RESOURCES or fmt not in FORMATS:
        raise ValueError(f"{kind}/{fmt}")
    filters = filters or ExportFilters()
    queryset = export_queryset(kind, user, filters)
    count = queryset.count()
    partner_ids = _export_partner_ids(queryset, kind, user)
    log(audit_target(user, partner_ids), "courses.spreadsheet.exported", user=acting_user(user),
        data={"kind": kind, "format": fmt, "rows": count, "filters": filters.as_log_data(),
              "partners": sorted(partner_ids)})
    resource = RESOURCES[kind](user=user)
    resource.before_export(queryset)
    headers = resource.get_export_headers()
    if hasattr(resource, "export_rows"):
        rows = resource.export_rows(queryset)
    else:
        rows = (resource.export_resource(instance) for instance in queryset.iterator(chunk_size=2000))
    filename = f"dekiru-{kind}-{(today or timezone.localdate()).isoformat()}.{fmt}"
    if fmt == "csv":
        return Export(filename, CSV_CONTENT_TYPE, count, chunks=csv_chunks(headers, rows))
    return Export(filename, XLSX_CONTENT_TYPE, count, chunks=xlsx_chunks(headers, rows, title=kind))


def _export_partner_ids(queryset, kind: str, user) -> set[int]:
    field_name = "organiser_id" if kind == "sessions" else "session__organiser_id"
    return set(queryset.order_by().values_list(field_name, flat=True).distinct())


# --- Audit --------------------------------------------------------------------------------------------------------


def audit_target(user, partner_ids: set[int]):
    """What an export or import is logged on: the partner whose data it is, when exactly one; the default Site
    for city-wide work (several partners, or none)."""
    from wagtail.models import Site

    if len(partner_ids) == 1:
        partner = Partner.objects.filter(pk=next(iter(partner_ids))).first()
        if partner is not None:
            return partner
    own = permissions.partner_ids(user)
    if own is not None and len(own) == 1:
        partner = Partner.objects.filter(pk=next(iter(own))).first()
        if partner is not None:
            return partner
    return Site.objects.filter(Q(is_default_site=True)).first() or Site.objects.first() or user
