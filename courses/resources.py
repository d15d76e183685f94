"""The partner spreadsheets' columns and rows: django-import-export resources for sessions, registrations and
attendance (registrations seen as a roster to fill in).

Columns. Each column is a `Column`: an import_export Field whose key is the field name and which carries a
translated label. Exports write the labels in the user's language; imports accept a column's label in Japanese or
English, its key ("capacity") and a few synonyms, ignoring case, spaces, underscores and full-/half-width
differences (`resolve_headers`). Columns that are only informative on export (a session's seats taken, a roster's
course title) are read-only: an import ignores them.

Values. Widgets turn cells into Python values and back: local dates and times (the municipality's time zone,
2027-01-05 and 10:00, also 2027/1/5, 2027年1月5日, 10時30分 and real Excel date and time cells), whole numbers
(Excel hands them over as 12.0), and choices given by their code or their label in either language.

Rows. Imports run through django-import-export's `import_data` (its dry run, transaction and per-row results), with
`import_row` replaced: each row is cleaned by the columns' widgets and then *planned* against data loaded once for
the whole file: new, update, unchanged (`skip`) or invalid, with a ValidationError keyed by column. A plan is carried
out only when it is not a dry run:

- Sessions: a new row is created as it is (nobody is booked yet). A change of time, venue or capacity goes through
  `courses.services.move_session` and a cancellation through `cancel_session`, so everyone booked is told.
- Attendance: a registration row marks attended / no-show, a row without a registration number adds a walk-in.
  50,000 rows cannot go through `courses.attendance` one call each (a lock, a save and an audit entry per row), so
  the rows are checked with `attendance_target` -- the rules of `courses.attendance.mark_attendance`, with its
  exceptions and messages, proved identical by a test that runs both on every case -- and written in bulk at the
  end, while the sessions involved are locked as the attendance services lock them. One audit entry is written for
  the whole import (courses.spreadsheets), not one per registration.

Partner staff plan only rows of their own partners: another partner's session, registration, course or venue is
reported as unknown (its existence is not revealed) and nothing is written.

Round trips. A user's own export reads back unchanged, row for row (tests/courses/test_spreadsheets_roundtrip.py):
a row equal to what is stored is unchanged (`skip`) before any rule about changes is applied, and never an error.
Rows the user may not change -- a session of a course their partners do not own (a city course a partner runs
sessions of), a started or cancelled session, a roster row whose attendance cannot be taken now -- are reported
unchanged with the reason (`Plan.read_only`, READ_ONLY_REASONS); changed, they are an error saying why.
"""

import operator
import re
import unicodedata
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, ValidationError
from django.core.validators import URLValidator
from django.utils import timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export import resources, widgets
from import_export.fields import Field
from import_export.results import RowResult
from wagtail.log_actions import log

from cms.csv_safety import unescape_cell
from cms.normalize import normalize_kana, normalize_name
from courses import privacy, services
from courses.attendance import (
    AttendanceClosed,
    AttendanceSessionCancelled,
    NotOnRoster,
    WaitlistedNoShow,
    WalkInNotUndoable,
    can_take_attendance,
)
from courses.data_quality import explicit_answers_since
from courses.models import CourseGroupPage, CoursePage, Participant, Registration, Session
from partners import permissions
from partners.models import Partner, Ward
from partners.permissions import usable_venues

Status = Registration.Status

# Session imports: a term's timetable. Nothing further ahead than this, a likely typing mistake in the year.
MAX_YEARS_AHEAD = 2
MAX_CAPACITY = 500
# The largest number a number cell may hold: ids are 32-bit in the database (a bigger one cannot be looked up).
MAX_NUMBER = 2_147_483_647
# Longest texts the columns can store (the model fields' max_length).
MAX_URL_LENGTH = 200
MAX_NAME_LENGTH = 100
# Rows per query when loading or updating by id (SQLite caps the number of query parameters).
CHUNK = 2000


def local_tz():
    """The municipality's time zone: spreadsheet dates and times are in it, whatever the admin user's own."""
    return timezone.get_default_timezone()


_FOLD = re.compile(r"[\s_\-‐‑–—―・]+")


def fold(value) -> str:
    """What people type, made comparable: NFKC (full-width letters and digits to half-width), no case, no spaces,
    underscores, hyphens or middle dots."""
    return _FOLD.sub("", unicodedata.normalize("NFKC", str(value)).casefold())


def in_both_languages(text) -> set[str]:
    """A lazy translated string in Japanese and in English, folded."""
    names = set()
    for language in ("ja", "en"):
        with translation.override(language):
            names.add(fold(text))
    return names


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _shorten(value, limit: int = 40) -> str:
    """A cell as quoted back in an error message: a long one cut short."""
    text = _CONTROL_OR_NUL.sub("", str(value))
    return text if len(text) <= limit else f"{text[:limit]}…"


_CONTROL_OR_NUL = re.compile(r"[\x00-\x1f\x7f]")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# --- Widgets: cells to values and back -----------------------------------------------------------------------


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class TextWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        text = _text(value)
        if _CONTROL.search(text):  # a NUL byte cannot be stored (PostgreSQL refuses it), nor shown
            raise ValueError(_("This cell contains invisible control characters. Type the text again."))
        # the apostrophe a CSV export put before a text that looks like a formula comes off
        return unescape_cell(text)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class WholeNumberWidget(widgets.Widget):
    """Ids and capacities: 12, "12", "１２" and Excel's 12.0; numbers stay numbers in an exported workbook."""

    def clean(self, value, row=None, **kwargs):
        if is_blank(value):
            return None
        if isinstance(value, bool):
            raise ValueError(_("Enter a whole number."))
        if isinstance(value, int):
            number = value
        elif isinstance(value, float):
            if not value.is_integer():
                raise ValueError(_("Enter a whole number."))
            number = int(value)
        else:
            text = unicodedata.normalize("NFKC", str(value)).strip().replace(",", "")
            if not (text.isascii() and text.isdigit()):
                raise ValueError(_("“%(value)s” is not a whole number of 0 or more.") % {"value": _shorten(value)})
            if len(text) > 12:  # int() of thousands of digits is slow, and no id or capacity is that long
                raise ValueError(_("%(value)s is too large a number.") % {"value": _shorten(value)})
            number = int(text)
        if number < 0:
            raise ValueError(_("“%(value)s” is not a whole number of 0 or more.") % {"value": _shorten(value)})
        if number > MAX_NUMBER:
            raise ValueError(_("%(value)s is too large a number.") % {"value": _shorten(value)})
        return number

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else value


_WEEKDAY_SUFFIX = re.compile(r"\s*\([^)]*\)\s*$")
_DATE_PATTERNS = [re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
                  re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")]
_TIME_PATTERNS = [re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$"), re.compile(r"^(\d{1,2})時(?:(\d{1,2})分)?$")]


class LocalDateWidget(widgets.Widget):
    """2027-01-05 on export (local date of a datetime); on import also 2027/1/5, 2027年1月5日, "2027/1/5 (火)"
    and Excel date cells."""

    # Dates outside these years are typing mistakes (and the first and last years cannot be moved across time
    # zones without overflowing).
    YEARS = (1900, 2200)

    def clean(self, value, row=None, **kwargs):
        day = self._clean(value)
        if day is not None and not self.YEARS[0] <= day.year <= self.YEARS[1]:
            raise ValueError(_("“%(value)s” is not a date. Write it as 2027-01-05.") % {"value": _shorten(value)})
        return day

    def _clean(self, value):
        if is_blank(value):
            return None
        if isinstance(value, datetime):
            return (timezone.localtime(value, local_tz()) if timezone.is_aware(value) else value).date()
        if isinstance(value, date):
            return value
        text = _WEEKDAY_SUFFIX.sub("", unicodedata.normalize("NFKC", str(value)).strip())
        text = re.sub(r"\s+0{1,2}:00(:00)?$", "", text)  # a date written with a midnight time
        for pattern in _DATE_PATTERNS:
            match = pattern.match(text)
            if match:
                try:
                    return date(*(int(part) for part in match.groups()))
                except ValueError:
                    break
        raise ValueError(_("“%(value)s” is not a date. Write it as 2027-01-05.") % {"value": _shorten(value)})

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = timezone.localtime(value, local_tz()).date()
        return value.isoformat()


class LocalTimeWidget(widgets.Widget):
    """10:00 on export (local time of a datetime); on import also 10:00:00, 10時, 10時30分 and Excel time cells."""

    def clean(self, value, row=None, **kwargs):
        if is_blank(value):
            return None
        if isinstance(value, datetime):
            return (timezone.localtime(value, local_tz()) if timezone.is_aware(value) else value).time()
        if isinstance(value, time):
            return value
        if isinstance(value, timedelta) and timedelta(0) <= value < timedelta(days=1):
            return (datetime.min + value).time()
        if isinstance(value, float) and 0 <= value < 1:  # Excel's fraction of a day
            return (datetime.min + timedelta(minutes=round(value * 24 * 60))).time()
        text = unicodedata.normalize("NFKC", str(value)).strip()
        for pattern in _TIME_PATTERNS:
            match = pattern.match(text)
            if match:
                hour, minute, second = (int(part or 0) for part in (*match.groups(), None)[:3])
                if hour < 24 and minute < 60 and second < 60:
                    return time(hour, minute, second)
        raise ValueError(_("“%(value)s” is not a time. Write it as 10:00 or 14:30.") % {"value": _shorten(value)})

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = timezone.localtime(value, local_tz()).time()
        return value.strftime("%H:%M")


class LocalDateTimeWidget(widgets.Widget):
    """Export only: 2027-01-05 10:00 in the municipality's time zone."""

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else timezone.localtime(value, local_tz()).strftime("%Y-%m-%d %H:%M")


class ChoiceWidget(widgets.Widget):
    """A choice shown by its label in the user's language; read back from its code, its label in Japanese or
    English, or a synonym."""

    # Whether the choice stored as "" is an answer of its own (age band: "prefer not to say"), written out on
    # export and listed among the accepted values, rather than "no value".
    blank_is_an_answer = False

    def __init__(self, choices, synonyms: dict[str, tuple[str, ...]] | None = None, fold_value=fold):
        super().__init__()
        self.choices = list(choices)
        self.synonyms = synonyms or {}
        self.fold_value = fold_value
        self._labels = None
        self._lookup = None

    def lookup(self) -> dict[str, str]:
        if self._lookup is None:
            lookup = {}
            for code, label in self.choices:
                names = {self.fold_value(code)}
                for language in ("ja", "en"):
                    with translation.override(language):
                        names.add(self.fold_value(label))
                names.update(self.fold_value(name) for name in self.synonyms.get(code, ()))
                for name in names:
                    if name:
                        lookup.setdefault(name, code)
            self._lookup = lookup
        return self._lookup

    def clean(self, value, row=None, **kwargs):
        if is_blank(value):
            return None
        code = self.lookup().get(self.fold_value(_text(value)))
        if code is None:
            raise ValueError(_("“%(value)s” is not one of: %(choices)s.") % {
                "value": _shorten(value), "choices": ", ".join(str(label) for code, label in self.choices
                                                     if code or self.blank_is_an_answer)})
        return code

    def render(self, value, obj=None, **kwargs):
        """The label in the active language. Worked out once per resource (an export runs in one language):
        translating each cell again costs seconds at 100,000 rows."""
        if value is None or (value == "" and not self.blank_is_an_answer):
            return ""
        if self._labels is None:
            self._labels = {code: str(label) for code, label in self.choices}
        return self._labels.get(value, str(value))


class AttendedWidget(ChoiceWidget):
    """The roster's attendance cell: 出席 / 欠席, ○ / ×, 1 / 0, yes / no, attended / no-show; blank = not marked."""

    def __init__(self):
        super().__init__(
            [(Status.ATTENDED, Status.ATTENDED.label), (Status.NO_SHOW, Status.NO_SHOW.label)],
            synonyms={
                Status.ATTENDED: ("出席", "○", "〇", "◯", "●", "✓", "✔", "1", "yes", "y", "true", "attended",
                                  "present", "はい", "済"),
                Status.NO_SHOW: ("欠席", "×", "✕", "✖", "0", "no", "n", "false", "no_show", "no-show", "absent",
                                 "いいえ"),
            })

    def clean(self, value, row=None, **kwargs):
        code = super().clean(value, row, **kwargs)
        return None if code is None else code == Status.ATTENDED

    def render(self, value, obj=None, **kwargs):
        """`value` is the registration's status: the cell shows a mark only for a marked registration."""
        if value in (Status.ATTENDED, Status.NO_SHOW):
            return super().render(value)
        return ""


def fold_age_band(value) -> str:
    """Age bands are written many ways: 70-74, 70–74, 70〜74歳, ７０～７４."""
    text = unicodedata.normalize("NFKC", str(value)).casefold().replace("歳", "")
    text = re.sub(r"[\s]+", "", text)
    return re.sub(r"[‐‑–—―~〜～]", "-", text)


# Accepted, besides the labels, for an explicit "prefer not to say" (an age band or a residence).
DECLINED_SYNONYMS = ("答えたくない", "回答しない", "回答なし", "無回答", "答えない", "not given", "declined",
                     "prefer not to say", "no answer")


class AgeBandWidget(ChoiceWidget):
    """An age band (70-74, 70〜74歳, ７０～７４) or an explicit “prefer not to say”, which is stored as no band
    (Participant.AgeBand.NOT_GIVEN, "") and written out as 答えたくない / Prefer not to say, never as a blank cell.
    A blank cell is no answer at all: `clean` gives None, and a walk-in row refuses it."""

    blank_is_an_answer = True

    def __init__(self):
        bands = [(code, label) for code, label in Participant.AgeBand.choices if code]
        super().__init__(
            [*bands, (Participant.AgeBand.NOT_GIVEN.value, gettext_lazy("Prefer not to say"))],
            fold_value=fold_age_band,
            synonyms={"u20": ("20未満",), "85+": ("85以上",), Participant.AgeBand.NOT_GIVEN.value: DECLINED_SYNONYMS})


class ResidenceWidget(ChoiceWidget):
    """Where a participant lives, as Participant.Residence: in a ward of the city, outside the city, or an
    explicit “prefer not to say”.

    Residence was not recorded before the registration form asked it explicitly (courses.data_quality): a
    participant of then without a ward lived outside the city or preferred not to say, nobody knows which. An
    export writes that as “Not recorded (before DATE)” (`UNRECORDED`), not as a blank cell: a blank means nobody
    answered, which a filled-in file must not say of a new walk-in. On import the value (any text starting with
    “Not recorded”/記録なし, whatever date follows) is read back as `UNRECORDED`: the roster import never changes
    the details of a person already booked, so it corrupts nothing, and a walk-in row refuses it."""

    UNRECORDED = "not_recorded"
    _UNRECORDED_PREFIXES = ("記録なし", "not recorded", "不明", "unknown")

    def __init__(self):
        Residence = Participant.Residence
        super().__init__(
            [(code, label) for code, label in Residence.choices if code],
            synonyms={Residence.CITY: ("市内", "city", "in the city", "市内在住"),
                      Residence.OUTSIDE: ("outside", "市外在住", "outside city"),
                      Residence.DECLINED: DECLINED_SYNONYMS})

    _unrecorded = None

    def clean(self, value, row=None, **kwargs):
        if self._unrecorded is None:
            self._unrecorded = tuple({fold(prefix) for prefix in self._UNRECORDED_PREFIXES}
                                     | in_both_languages(Participant.Residence.NOT_RECORDED.label))
        folded = fold(_text(value))
        if folded and folded.startswith(self._unrecorded):
            return self.UNRECORDED
        return super().clean(value, row, **kwargs)

    @staticmethod
    def unrecorded_label(since: datetime | None) -> str:
        """The cell written for a residence not recorded: with the date explicit answers started, when known."""
        if since is None:
            return str(Participant.Residence.NOT_RECORDED.label)
        return _("Not recorded (before %(date)s)") % {"date": timezone.localtime(since, local_tz()).date().isoformat()}


# --- Columns ---------------------------------------------------------------------------------------------------


class Column(Field):
    """A spreadsheet column: an import_export Field with a translated `label` (the header written on export) and
    `aliases` accepted as headers on import, besides the label in either language and the field name."""

    def __init__(self, attribute=None, *, label, aliases=(), widget=None, importable=True, dehydrate_method=None):
        super().__init__(attribute=attribute, widget=widget or TextWidget(), readonly=not importable,
                         dehydrate_method=dehydrate_method)
        self.label = label
        self.aliases = aliases

    @property
    def importable(self) -> bool:
        return not self.readonly

    def header(self) -> str:
        return str(capfirst(self.label))


def _fast_export(column: Field):
    """`column.export` with the attribute path compiled once (Field.get_value splits it for every cell)."""
    if not column.attribute:
        return column.export
    read = operator.attrgetter(column.attribute.replace("__", "."))
    render = column.widget.render

    def export(instance):
        try:
            value = read(instance)
        except (AttributeError, ObjectDoesNotExist):  # a path through an empty relation
            value = None
        return render(value() if callable(value) else value)

    return export


class MissingColumns(Exception):
    def __init__(self, labels: list[str]):
        self.labels = labels
        super().__init__(", ".join(labels))


class DuplicateColumn(Exception):
    def __init__(self, header: str):
        self.header = header
        super().__init__(header)


class SpreadsheetRowResult(RowResult):
    """A row's outcome with its row number as the user sees it in Excel (the header is row 1)."""

    def __init__(self):
        super().__init__()
        self.number = None
        self.description = ""
        self.read_only = ""  # why the user may not change this (unchanged) row: a key of READ_ONLY_REASONS


class RowErrors:
    """Errors of one row, keyed by column (NON_FIELD_ERRORS for the row as a whole)."""

    def __init__(self):
        self.by_column: dict[str, list[str]] = {}

    def add(self, column: str | None, message) -> None:
        self.by_column.setdefault(column or NON_FIELD_ERRORS, []).append(str(message))

    def __contains__(self, column) -> bool:
        return column in self.by_column

    def __bool__(self) -> bool:
        return bool(self.by_column)

    def raise_if_any(self) -> None:
        if self.by_column:
            raise ValidationError(self.by_column)


# Why a row of an export may come back unchanged but could not be changed by this user: such a row is reported as
# unchanged (it never fails the file); changed, it is an error saying why.
READ_ONLY_REASONS = {
    "not_own_course": gettext_lazy("sessions of courses your organisation does not own (the city's courses)"),
    "started": gettext_lazy("sessions that have already started"),
    "cancelled": gettext_lazy("cancelled sessions"),
    "attendance_closed": gettext_lazy("registrations for sessions whose attendance cannot be taken now"),
}


@dataclass
class Plan:
    import_type: str
    object_id: int | None = None
    description: str = ""
    action: str = ""
    data: dict = field(default_factory=dict)
    read_only: str = ""  # for an unchanged row the user could not have changed: a key of READ_ONLY_REASONS


class SpreadsheetResource(resources.ModelResource):
    """Base of the three resources: headers in the user's language, fast row export, and the import driver."""

    kind = ""
    # Columns an import needs, each a tuple of alternatives (course number or course title).
    required_columns: tuple[tuple[str, ...], ...] = ()
    # Columns that name a person: left out of an export for a user who may not see names (courses.privacy).
    name_columns: tuple[str, ...] = ()

    class Meta:
        skip_diff = True  # the plans say what changes; no deep copy of every instance
        use_bulk = True  # no savepoint per row: the import is one transaction, all or nothing
        use_transactions = True
        report_skipped = True
        skip_html_diff = True

    def __init__(self, *, user=None, now: datetime | None = None):
        super().__init__()
        self.user = user
        self.now = now or timezone.now()
        self.partner_ids = permissions.partner_ids(user) if user is not None else None
        self._export_getters = None
        self.dry_run = True
        self.row_numbers: list[int] = []
        self.formulas: dict[int, set[str]] = {}
        self.present: set[str] = set()
        self.touched_partners: set[int] = set()  # the partners whose data the import changes (audit log)

    @classmethod
    def get_row_result_class(cls):
        return SpreadsheetRowResult

    # --- export ---

    @classmethod
    def columns(cls) -> dict[str, Column]:
        return {name: column for name, column in cls.fields.items() if isinstance(column, Column)}

    def hidden_columns(self) -> tuple[str, ...]:
        """Columns this user's export leaves out: the names, for a user who may not see them (courses.privacy).
        Without a user (code run outside a request) nothing is left out, as nothing is scoped."""
        if self.user is None or privacy.can_see_names(self.user):
            return ()
        return self.name_columns

    def get_export_fields(self, selected_fields=None):
        fields = super().get_export_fields(selected_fields)
        hidden = {id(self.fields[name]) for name in self.hidden_columns()}
        return [field for field in fields if id(field) not in hidden]

    def get_export_headers(self, selected_fields=None):
        return [field.header() for field in self.get_export_fields(selected_fields)]

    def export_resource(self, instance, selected_fields=None, **kwargs):
        """One row of values (numbers and text). The getters are worked out once, not per row and field as
        import_export's generic version does, which matters at 100,000 rows."""
        if self._export_getters is None or selected_fields:
            getters = []
            names = {id(column): name for name, column in self.fields.items()}
            for column in self.get_export_fields(selected_fields):
                method = getattr(self, column.get_dehydrate_method(names[id(column)]), None)
                getters.append(method if callable(method) else _fast_export(column))
            if selected_fields:
                return [get(instance) for get in getters]
            self._export_getters = getters
        return [get(instance) for get in self._export_getters]

    def allowed(self, partner_id) -> bool:
        return self.partner_ids is None or partner_id in self.partner_ids

    # --- import: headers ---

    @classmethod
    def header_lookup(cls) -> dict[str, str]:
        lookup = {}
        for name, column in cls.columns().items():
            names = {fold(name), *in_both_languages(column.label), *(fold(alias) for alias in column.aliases)}
            for folded in names:
                lookup.setdefault(folded, name)
        return lookup

    @classmethod
    def resolve_headers(cls, headers: list[str]) -> tuple[list[str], list[str]]:
        """The column key of each header ("" for a column this import does not know), and the unknown headers.
        Raises MissingColumns (labels in the user's language) or DuplicateColumn."""
        lookup = cls.header_lookup()
        keys, unknown, seen = [], [], set()
        for header in headers:
            key = lookup.get(fold(header), "") if not is_blank(header) else ""
            if key and key in seen:
                raise DuplicateColumn(header)
            if key:
                seen.add(key)
            elif not is_blank(header):
                unknown.append(header)
            keys.append(key)
        columns = cls.columns()
        missing = [" / ".join(columns[key].header() for key in alternatives)
                   for alternatives in cls.required_columns if not seen.intersection(alternatives)]
        if missing:
            raise MissingColumns(missing)
        return keys, unknown

    # --- import: the driver around import_data ---

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, rollback_on_validation_errors=False, **kwargs):
        self.dry_run = dry_run
        return super().import_data(dataset, dry_run=dry_run, raise_errors=raise_errors,
                                   use_transactions=use_transactions, collect_failed_rows=collect_failed_rows,
                                   rollback_on_validation_errors=rollback_on_validation_errors, **kwargs)

    def before_import(self, dataset, **kwargs):
        self.row_numbers = kwargs.get("row_numbers") or list(range(2, len(dataset) + 2))
        self.formulas = kwargs.get("formulas") or {}
        columns = self.columns()
        self.present = {key for key in dataset.headers if key in columns}
        self.prepare(dataset)

    def prepare(self, dataset) -> None:
        """Load (and when applying, lock) what the rows refer to, once for the whole file."""

    def column_values(self, dataset, key: str) -> list:
        if key not in dataset.headers:
            return []
        return dataset.get_col(dataset.headers.index(key))

    def ids_in(self, dataset, key: str) -> set[int]:
        ids = set()
        widget = self.fields[key].widget
        for value in self.column_values(dataset, key):
            try:
                number = widget.clean(value)
            except ValueError:
                continue
            if number is not None:
                ids.add(number)
        return ids

    def import_row(self, row, instance_loader, **kwargs):
        index = kwargs["row_number"]
        row_result = self.get_row_result_class()()
        row_result.number = self.row_numbers[index - 1]
        try:
            errors = RowErrors()
            values = self.clean_row(row, index, errors)
            plan = self.plan_row(values, errors, number=row_result.number)
            errors.raise_if_any()
            if not self.dry_run and plan.import_type != RowResult.IMPORT_TYPE_SKIP:
                self.carry_out(plan)
        except ValidationError as error:
            row_result.import_type = RowResult.IMPORT_TYPE_INVALID
            row_result.validation_error = error
            return row_result
        except services.RegistrationError as refusal:  # a service refused while applying: the row is in error
            row_result.import_type = RowResult.IMPORT_TYPE_INVALID
            row_result.validation_error = ValidationError({NON_FIELD_ERRORS: [str(refusal.message)]})
            return row_result
        row_result.import_type = plan.import_type
        row_result.object_id = plan.object_id
        row_result.description = plan.description
        row_result.read_only = plan.read_only
        return row_result

    def clean_row(self, row, index: int, errors: RowErrors) -> dict:
        """The row's importable values, cleaned by the columns' widgets. A formula in any cell is an error:
        formulas are never evaluated."""
        formulas = self.formulas.get(index, ())
        for key in formulas:
            errors.add(key or None,
                       _("This cell contains a formula. Formulas are not imported: type the value itself."))
        values = {}
        columns = self.fields
        for key in self.present:
            column = columns[key]
            if column.readonly or key in formulas:
                continue
            try:
                values[key] = column.widget.clean(row.get(key))
            except ValueError as error:
                errors.add(key, error.args[0] if error.args else _("This value is not valid."))
        return values

    def plan_row(self, values: dict, errors: RowErrors, *, number: int) -> Plan:
        """Decide what one cleaned row does (create, update, unchanged), adding its errors. Defined by each
        importable resource (sessions, attendance); the registrations resource only exports."""
        raise NotImplementedError(f"{type(self).__name__} does not import")

    def carry_out(self, plan: Plan) -> None:
        """Write one planned row (through the services). Defined by each importable resource."""
        raise NotImplementedError(f"{type(self).__name__} does not import")

    def after_import(self, dataset, result, **kwargs):
        """Deliberately not ModelResource's: it resets the table's id sequence after creating rows, which is
        unsafe while others insert (and no id is ever imported for a new row here)."""
        if not self.dry_run and not result.has_validation_errors() and not result.has_errors():
            self.finish()

    def finish(self) -> None:
        """Bulk writes after every row was planned (attendance)."""


def _to_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _split_by_chunks(ids, size=CHUNK):
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


# --- Sessions ----------------------------------------------------------------------------------------------------


def courses_for(partner_ids: set[int] | None) -> dict[int, tuple[str, str, int | None]]:
    """Course pages a user may schedule: id → (title, English title, owning partner id or None).
    Every course for city staff; partner staff only their own partners' courses."""
    groups = CourseGroupPage.objects.all()
    if partner_ids is not None:
        groups = groups.filter(partner_id__in=partner_ids)
    courses = {}
    for group in groups:
        for pk, title, title_en in (CoursePage.objects.descendant_of(group)
                                    .values_list("pk", "title", "title_en")):
            courses[pk] = (title, title_en, group.partner_id)
    return courses


def venues_for(partner_ids: set[int] | None):
    """City venues and the user's partners' own venues (every venue for city staff)."""
    return usable_venues(partner_ids)


def _name_index(items) -> dict[str, list[int]]:
    """Folded name → ids having it (a name may be ambiguous)."""
    index: dict[str, list[int]] = {}
    for pk, *names in items:
        for name in {fold(name) for name in names if name}:
            index.setdefault(name, []).append(pk)
    return index


class NextDayWidget(ChoiceWidget):
    """The timetable's “Ends the next day” cell: はい / いいえ, yes / no, ○ / ×, 1 / 0, true / false; blank = no.
    A class after midnight is said so here, never guessed from an end time before the start time."""

    YES, NO = "yes", "no"

    def __init__(self):
        super().__init__(
            [(self.YES, gettext_lazy("Yes")), (self.NO, gettext_lazy("No"))],
            synonyms={
                self.YES: ("はい", "○", "〇", "◯", "✓", "✔", "1", "y", "true", "翌日", "next day"),
                self.NO: ("いいえ", "×", "✕", "0", "n", "false", "当日", "same day"),
            })

    def clean(self, value, row=None, **kwargs):
        return super().clean(value, row, **kwargs) == self.YES

    def render(self, value, obj=None, **kwargs):
        return super().render(self.YES if value else self.NO)


SESSION_STATUS_SYNONYMS = {
    Session.Status.SCHEDULED: ("予定", "開催", "scheduled", "open"),
    Session.Status.CANCELLED: ("中止", "キャンセル", "取消", "取消し", "cancelled", "canceled"),
}


class SessionResource(SpreadsheetResource):
    """A term's timetable: one row per session. An empty session number adds a session; a number changes that
    session (through the services) or cancels it (status “cancelled” with a reason)."""

    kind = "sessions"
    required_columns = (("course_id", "course"), ("date",), ("start_time",), ("end_time",), ("capacity",))

    id = Column("id", label=gettext_lazy("Session number"), widget=WholeNumberWidget(),
                aliases=("開催回番号", "番号", "session id", "session", "No"))
    course_id = Column("course_id", label=gettext_lazy("Course number"), widget=WholeNumberWidget(),
                       aliases=("講座番号", "course id"))
    course = Column("course__title", label=gettext_lazy("Course"), aliases=("講座名", "course title"))
    organiser = Column("organiser", label=gettext_lazy("Organiser"), aliases=("主催者", "主催団体", "partner"))
    venue_id = Column("venue_id", label=gettext_lazy("Venue number"), widget=WholeNumberWidget(),
                      aliases=("会場番号", "venue id"))
    venue = Column("venue", label=gettext_lazy("Venue"), aliases=("会場名", "venue name"))
    ward = Column("venue__ward", label=gettext_lazy("Ward"), importable=False)
    date = Column("starts_at", label=gettext_lazy("Date"), widget=LocalDateWidget(),
                  aliases=("開催日", "日にち", "day"))
    start_time = Column("starts_at", label=gettext_lazy("Start time"), widget=LocalTimeWidget(),
                        aliases=("開始時間", "開始", "start", "starts"))
    end_time = Column("ends_at", label=gettext_lazy("End time"), widget=LocalTimeWidget(),
                      aliases=("終了時間", "終了", "end", "ends"))
    ends_next_day = Column(label=gettext_lazy("Ends the next day"), widget=NextDayWidget(),
                           aliases=("Ends next day", "翌日終了", "翌日", "next day", "overnight"))
    capacity = Column("capacity", label=gettext_lazy("Capacity"), widget=WholeNumberWidget(), aliases=("定員数",))
    confirmed = Column("confirmed_count", label=gettext_lazy("Seats taken"), widget=WholeNumberWidget(),
                       importable=False)
    waitlisted = Column("waitlist_count", label=gettext_lazy("Waiting list"), widget=WholeNumberWidget(),
                        importable=False)
    status = Column("status", label=gettext_lazy("Status"),
                    widget=ChoiceWidget(Session.Status.choices, synonyms=SESSION_STATUS_SYNONYMS),
                    aliases=("開催状況",))
    cancellation_reason = Column("cancellation_reason", label=gettext_lazy("reason for cancellation"),
                                 aliases=("中止理由", "cancellation reason"))
    online_url = Column("online_url", label=gettext_lazy("online link"),
                        aliases=("オンラインURL", "URL", "online url", "link"))
    notes = Column("notes", label=gettext_lazy("notes for participants (Japanese)"),
                   aliases=("お知らせ", "備考", "notes"))
    notes_en = Column("notes_en", label=gettext_lazy("notes for participants (English)"),
                      aliases=("お知らせ(英語)", "notes (English)"))

    class Meta:
        model = Session
        fields = ("id", "course_id", "course", "organiser", "venue_id", "venue", "ward", "date", "start_time",
                  "end_time", "ends_next_day", "capacity", "confirmed", "waitlisted", "status", "cancellation_reason",
                  "online_url", "notes", "notes_en")

    def dehydrate_course(self, session):
        return session.course.title

    def dehydrate_organiser(self, session):
        return str(session.organiser)

    def dehydrate_venue(self, session):
        return str(session.venue) if session.venue_id else ""

    def dehydrate_ward(self, session):
        return str(session.venue.ward) if session.venue_id else ""

    def dehydrate_ends_next_day(self, session):
        starts, ends = (timezone.localtime(value, local_tz()).date() for value in (session.starts_at, session.ends_at))
        return self.fields["ends_next_day"].widget.render(ends > starts)

    # --- import ---

    def prepare(self, dataset):
        ids = self.ids_in(dataset, "id")
        if not self.dry_run and ids:
            # Applying: hold the sessions while they are checked and changed (the services lock them again).
            list(Session.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
        self.sessions = {session.pk: session for session in
                         Session.objects.with_counts().filter(pk__in=ids).select_related("course", "venue")}
        self.courses = courses_for(self.partner_ids)
        self.session_courses = {session.course_id: (session.course.title, session.course.title_en)
                                for session in self.sessions.values()}
        self.scheduled = self._scheduled_at(dataset)
        self.course_names = _name_index((pk, title, title_en) for pk, (title, title_en, _owner)
                                        in self.courses.items())
        self.venues = {venue.pk: venue for venue in venues_for(self.partner_ids)}
        self.venue_names = _name_index((venue.pk, venue.name, venue.name_en) for venue in self.venues.values())
        partners = Partner.objects.filter(is_active=True)
        if self.partner_ids is not None:
            partners = partners.filter(pk__in=self.partner_ids)
        self.partners = {partner.pk: partner for partner in partners}
        self.partner_names = _name_index((partner.pk, partner.name, partner.name_en)
                                         for partner in self.partners.values())
        self.seen_ids: dict[int, int] = {}
        self.seen_times: dict[tuple[int, datetime], int] = {}

    def _scheduled_at(self, dataset) -> dict[tuple[int, datetime], list[int]]:
        """The scheduled sessions at the start times of the file, by (course, start): loaded at once for the whole
        file, not one query per new or moved row."""
        starts = set()
        date_widget, time_widget = self.fields["date"].widget, self.fields["start_time"].widget
        for day, start in zip(self.column_values(dataset, "date"), self.column_values(dataset, "start_time"),
                              strict=False):
            try:
                day, start = date_widget.clean(day), time_widget.clean(start)
            except ValueError:
                continue
            if day is not None and start is not None:
                starts.add(datetime.combine(day, start, tzinfo=local_tz()))
        scheduled: dict[tuple[int, datetime], list[int]] = {}
        for chunk in _split_by_chunks(sorted(starts)):
            for pk, course_id, starts_at in (Session.objects.filter(starts_at__in=chunk,
                                                                    status=Session.Status.SCHEDULED)
                                             .order_by("pk").values_list("pk", "course_id", "starts_at")):
                scheduled.setdefault((course_id, starts_at), []).append(pk)
        return scheduled

    def _find(self, values, errors, *, id_key, name_key, known: dict, names: dict, unknown_id, unknown_name,
              ambiguous):
        """An object given by its number or its name. The number wins; a name that disagrees with it is an error."""
        pk, name = values.get(id_key), values.get(name_key) or ""
        if pk is not None:
            if pk not in known:
                errors.add(id_key, unknown_id % {"id": pk})
                return None
            if name and pk not in names.get(fold(name), ()):
                errors.add(name_key, _("“%(name)s” does not match number %(id)s.") % {"name": name, "id": pk})
            return pk
        if name:
            found = names.get(fold(name), [])
            if not found:
                errors.add(name_key, unknown_name % {"name": name})
            elif len(found) > 1:
                errors.add(name_key, ambiguous % {"name": name})
            else:
                return found[0]
        return None

    def plan_row(self, values, errors, *, number):
        session = None
        pk = values.get("id")
        if pk is not None:
            session = self.sessions.get(pk)
            if session is None or not self.allowed(session.organiser_id):
                errors.add("id", _("There is no session number %(id)s among the sessions you may change.")
                           % {"id": pk})
                session = None
            elif pk in self.seen_ids:
                errors.add("id", _("Session number %(id)s is already on row %(row)d.")
                           % {"id": pk, "row": self.seen_ids[pk]})
            else:
                self.seen_ids[pk] = number
        if pk is not None and session is None:
            errors.raise_if_any()  # nothing more can be said about a row for an unknown session

        # A session's own course and venue are known on its row even where the user could not choose them for a
        # new session (a city course a partner runs sessions of): the row of an export reads back as it was.
        courses, course_names = self.courses, self.course_names
        if session is not None and session.course_id not in courses:
            course = session.course
            courses = {session.course_id: (course.title, course.title_en, None)}
            course_names = _name_index([(course.pk, course.title, course.title_en)])
        venues, venue_names = self.venues, self.venue_names
        if session is not None and session.venue_id and session.venue_id not in venues:
            venues = {**venues, session.venue_id: session.venue}
            venue_names = dict(venue_names)
            for name, ids in _name_index([(session.venue_id, session.venue.name, session.venue.name_en)]).items():
                venue_names[name] = [*venue_names.get(name, ()), *ids]
        course_id = self._find(
            values, errors, id_key="course_id", name_key="course", known=courses, names=course_names,
            unknown_id=_("There is no course number %(id)s among the courses you may schedule."),
            unknown_name=_("There is no course “%(name)s” among the courses you may schedule."),
            ambiguous=_("Several courses are called “%(name)s”: give the course number."))
        venue_id = self._find(
            values, errors, id_key="venue_id", name_key="venue", known=venues, names=venue_names,
            unknown_id=_("There is no venue number %(id)s among the venues you may use."),
            unknown_name=_("There is no venue “%(name)s” among the venues you may use."),
            ambiguous=_("Several venues are called “%(name)s”: give the venue number."))
        venue_given = bool(values.get("venue_id") is not None or values.get("venue"))

        if session is None and course_id is None and not ({"course_id", "course"} & errors.by_column.keys()):
            errors.add("course" if "course" in self.present else "course_id",
                       _("Give the course: its number or its title."))
        if session is not None and course_id is not None and course_id != session.course_id:
            errors.add("course_id" if values.get("course_id") is not None else "course",
                       _("The course of an existing session cannot be changed. Cancel the session and add a new "
                         "one instead."))

        # The rules below are for what a row sets; a value an existing session already has is not checked again
        # (the city may have set it beyond what a file may), so that an unchanged row never fails.
        starts_at, ends_at = self._times(values, errors)
        capacity = values.get("capacity")
        if capacity is None and "capacity" not in errors:
            errors.add("capacity", _("Give the capacity."))
        elif (capacity is not None and not 1 <= capacity <= MAX_CAPACITY
              and not (session is not None and capacity == session.capacity)):
            errors.add("capacity", _("The capacity must be between 1 and %(max)d.") % {"max": MAX_CAPACITY})

        online_url = values.get("online_url", session.online_url if session else "")
        if online_url and not (session is not None and online_url == session.online_url):
            if len(online_url) > MAX_URL_LENGTH:
                errors.add("online_url", _("The web address is longer than %(max)d characters.")
                           % {"max": MAX_URL_LENGTH})
            else:
                try:
                    URLValidator(schemes=["https", "http"])(online_url)
                except ValidationError:
                    errors.add("online_url", _("“%(value)s” is not a web address.") % {"value": _shorten(online_url)})
        if not venue_given and "venue" not in self.present and "venue_id" not in self.present and session:
            venue_id = session.venue_id  # no venue column: the venue stays as it is
        as_it_was = session is not None and (venue_id, online_url) == (session.venue_id, session.online_url)
        if (venue_id is None and not online_url and not as_it_was
                and not ({"venue", "venue_id"} & errors.by_column.keys())):
            errors.add("venue" if "venue" in self.present else "venue_id",
                       _("Give a venue or an online link."))

        status = values.get("status")
        reason = values.get("cancellation_reason", "")
        if session is None:
            return self._plan_new(values, errors, number=number, course_id=course_id, venue_id=venue_id,
                                  starts_at=starts_at, ends_at=ends_at, capacity=capacity, online_url=online_url,
                                  status=status)
        return self._plan_change(values, errors, session=session, number=number, venue_id=venue_id,
                                 venues=venues, starts_at=starts_at, ends_at=ends_at, capacity=capacity,
                                 online_url=online_url, status=status, reason=reason)

    def read_only(self, session) -> str:
        """Why this user may not change `session` by a file ("" when they may): a key of READ_ONLY_REASONS."""
        if session.course_id not in self.courses:
            return "not_own_course"
        if session.is_cancelled:
            return "cancelled"
        if session.starts_at <= self.now:
            return "started"
        return ""

    def _times(self, values, errors):
        day, start, end = values.get("date"), values.get("start_time"), values.get("end_time")
        for key, value, message in (("date", day, _("Give the date.")),
                                    ("start_time", start, _("Give the start time.")),
                                    ("end_time", end, _("Give the end time."))):
            if value is None and key not in errors:
                errors.add(key, message)
        if day is None or start is None or end is None:
            return None, None
        if "ends_next_day" in errors:  # the cell is not a yes or a no: its error says so
            return None, None
        next_day = values.get("ends_next_day", False)
        starts_at = datetime.combine(day, start, tzinfo=local_tz())
        ends_at = datetime.combine(day + timedelta(days=1) if next_day else day, end, tzinfo=local_tz())
        column = self.fields["ends_next_day"].header()
        if ends_at <= starts_at:
            # More often a typing mistake than a class after midnight: the file must say so.
            errors.add("end_time", _("The end is before the start. If the class ends after midnight, write "
                                     "“%(yes)s” in the column “%(column)s”.") % {"yes": _("Yes"), "column": column})
            return None, None
        if ends_at - starts_at >= timedelta(days=1):
            errors.add("ends_next_day", _("With “%(column)s”, the class would last 24 hours or more. Check the "
                                          "end time.") % {"column": column})
            return None, None
        return starts_at, ends_at

    def _check_date(self, errors, starts_at):
        if starts_at <= self.now:
            errors.add("date", _("The session must start in the future."))
        elif starts_at > self.now + timedelta(days=365 * MAX_YEARS_AHEAD):
            errors.add("date", _("The date is more than %(years)d years ahead: check the year.")
                       % {"years": MAX_YEARS_AHEAD})

    def _remember_time(self, errors, *, course_id, starts_at, number) -> None:
        """Two rows of the file for the same course at the same time: the second is an error."""
        key = (course_id, starts_at)
        if key in self.seen_times:
            errors.add(NON_FIELD_ERRORS, _("Row %(row)d has the same course, date and start time.")
                       % {"row": self.seen_times[key]})
        else:
            self.seen_times[key] = number

    def _check_same_time(self, errors, *, course_id, starts_at, number, exclude_pk=None) -> None:
        """A new or moved session at the time of another one of the course: in the file, or in the database
        (unless that session is in the file above, at its own time: then the file decides). A row in error for
        another reason is not remembered: the rows after it are not blamed for it."""
        if not errors:
            self._remember_time(errors, course_id=course_id, starts_at=starts_at, number=number)
        clash = next((pk for pk in self.scheduled.get((course_id, starts_at), ()) if pk != exclude_pk), None)
        if clash is not None and clash not in self.seen_ids:
            errors.add(NON_FIELD_ERRORS, _("This course already has a session at this date and time: number "
                                           "%(id)s.") % {"id": clash})

    def _find_partner(self, values, errors) -> int | None:
        """The organiser column: a partner's number or name, among the partners the user acts for."""
        text = values.get("organiser", "")
        if not text:
            return None
        if text.isascii() and text.isdigit() and int(text) in self.partners:
            return int(text)
        found = self.partner_names.get(fold(text), [])
        if len(found) == 1:
            return found[0]
        errors.add("organiser", _("There is no partner “%(name)s” among the partners you may act for.")
                   % {"name": text})
        return None

    def _plan_new(self, values, errors, *, number, course_id, venue_id, starts_at, ends_at, capacity, online_url,
                  status):
        if status == Session.Status.CANCELLED:
            errors.add("status", _("A new session cannot be entered as cancelled."))
        organiser_id = None
        if course_id is not None:
            owner = self.courses[course_id][2]
            organiser_id = self._find_partner(values, errors)
            if owner is not None:
                if organiser_id is not None and organiser_id != owner:
                    errors.add("organiser", _("A partner's own course is run by that partner."))
                organiser_id = owner
            elif organiser_id is None and "organiser" not in errors:
                errors.add("organiser" if "organiser" in self.present else "course",
                           _("A city course needs an organiser: give the partner that runs this session."))
        if starts_at is not None:
            self._check_date(errors, starts_at)
            if course_id is not None:
                self._check_same_time(errors, course_id=course_id, starts_at=starts_at, number=number)
        errors.raise_if_any()
        self.touched_partners.add(organiser_id)
        return Plan(RowResult.IMPORT_TYPE_NEW, description=self._describe(course_id, starts_at),
                    action="create", data={
                        "course_id": course_id, "organiser_id": organiser_id, "venue_id": venue_id,
                        "online_url": online_url, "starts_at": starts_at, "ends_at": ends_at, "capacity": capacity,
                        "notes": values.get("notes", ""), "notes_en": values.get("notes_en", "")})

    def _plan_change(self, values, errors, *, session, number, venue_id, venues, starts_at, ends_at, capacity,
                     online_url, status, reason):
        errors.raise_if_any()
        # A file shows minutes: the same date and minute as before is the time as before, to the second.
        if starts_at == _to_minute(session.starts_at) and ends_at == _to_minute(session.ends_at):
            starts_at, ends_at = session.starts_at, session.ends_at
        moved = {}
        if (starts_at, ends_at) != (session.starts_at, session.ends_at):
            moved["starts_at"], moved["ends_at"] = starts_at, ends_at
        if venue_id != session.venue_id:
            moved["venue"] = venues.get(venue_id)
        if capacity != session.capacity:
            moved["capacity"] = capacity
        plain = {key: values[key] for key in ("online_url", "notes", "notes_en")
                 if key in values and values[key] != getattr(session, key)}
        cancelling = status == Session.Status.CANCELLED and not session.is_cancelled
        read_only = self.read_only(session)
        if session.is_cancelled:
            if status == Session.Status.SCHEDULED:
                errors.add("status", _("A cancelled session cannot be opened again. Add a new session instead."))
            elif moved or plain:
                errors.add(NON_FIELD_ERRORS, services.SessionCancelled.message)
            errors.raise_if_any()
            return Plan(RowResult.IMPORT_TYPE_SKIP, object_id=session.pk, read_only=read_only,
                        description=self._describe(session.course_id, session.starts_at))
        if not (moved or plain or cancelling):
            # As it is in the database: never an error (a clash with a row above is that row's).
            self.seen_times.setdefault((session.course_id, session.starts_at), number)
            return Plan(RowResult.IMPORT_TYPE_SKIP, object_id=session.pk, read_only=read_only,
                        description=self._describe(session.course_id, session.starts_at))
        if read_only == "not_own_course":
            errors.add(NON_FIELD_ERRORS, _("Session number %(id)s is of “%(course)s”, a course of the city that "
                                           "your organisation does not own: a file cannot change it. Leave the row "
                                           "as it was exported, and change the session on its own page.")
                       % {"id": session.pk, "course": session.course.title})
        elif session.starts_at <= self.now:
            errors.add(NON_FIELD_ERRORS, _("This session has already started: it can no longer be changed here."))
        elif cancelling:
            if moved or plain:
                errors.add("status", _("Cancel a session or change it, not both in one row."))
            if not reason:
                errors.add("cancellation_reason" if "cancellation_reason" in self.present else "status",
                           _("Please give a reason for the cancellation."))
        else:
            if "starts_at" in moved:
                self._check_date(errors, starts_at)
                self._check_same_time(errors, course_id=session.course_id, starts_at=starts_at, number=number,
                                      exclude_pk=session.pk)
            else:
                self._remember_time(errors, course_id=session.course_id, starts_at=session.starts_at, number=number)
            if "capacity" in moved and capacity < session.confirmed_count:
                errors.add("capacity", services.CapacityBelowConfirmed.message)
            booked = session.confirmed_count + session.waitlist_count
            if "online_url" in plain and booked:
                errors.add("online_url", _("People are booked on this session and would not be told of a new "
                                           "online link: change it in the session's page instead."))
        errors.raise_if_any()
        self.touched_partners.add(session.organiser_id)
        if cancelling:
            return Plan(RowResult.IMPORT_TYPE_UPDATE, object_id=session.pk, action="cancel",
                        description=self._describe(session.course_id, session.starts_at),
                        data={"session": session, "reason": reason})
        return Plan(RowResult.IMPORT_TYPE_UPDATE, object_id=session.pk, action="change",
                    description=self._describe(session.course_id, starts_at or session.starts_at),
                    data={"session": session, "moved": moved, "plain": plain})

    def _describe(self, course_id, starts_at) -> str:
        title = (self.courses.get(course_id) or self.session_courses.get(course_id) or ("",))[0] if course_id else ""
        when = timezone.localtime(starts_at, local_tz()).strftime("%Y-%m-%d %H:%M") if starts_at else ""
        return f"{title} {when}".strip()

    def carry_out(self, plan):
        user = self.user if getattr(self.user, "is_authenticated", False) else None
        if plan.action == "create":
            session = Session.objects.create(**plan.data)
            log(session, "wagtail.create", user=user, data={"source": "spreadsheet"})
            plan.object_id = session.pk
        elif plan.action == "cancel":
            services.cancel_session(session=plan.data["session"], reason=plan.data["reason"], actor=user)
        elif plan.action == "change":
            session, moved, plain = plan.data["session"], plan.data["moved"], plan.data["plain"]
            if moved:
                services.move_session(session=session, actor=user, **moved)
            if plain:
                # Notes and (for a session nobody has booked) the online link: nobody to tell.
                Session.objects.filter(pk=session.pk).update(updated_at=timezone.now(), **plain)
                log(session, "wagtail.edit", user=user, data={"source": "spreadsheet", "fields": sorted(plain)})


# --- Registrations (export only) ---------------------------------------------------------------------------------


ExportedParticipant = namedtuple("ExportedParticipant", ["name", "kana", "age_band", "ward_id", "residence"])
ExportedRegistration = namedtuple("ExportedRegistration", ["id", "session_id", "status", "channel", "booked_by",
                                                           "created_at", "participant"])


class RegistrationExportMixin:
    """Registrations are many and sessions few: the sessions (with course and venue) and the wards are loaded
    once; each registration is read as a tuple of the values its row shows and handed to the columns as a named
    tuple with the model's attribute names (building 200,000 model instances was half the time of a 100,000-row
    export)."""

    def export_rows(self, queryset):
        """The rows of `queryset`, as light stand-ins for Registration instances, streamed from the database."""
        participant_fields = [f"participant__{name}" for name in ExportedParticipant._fields]
        values = queryset.values_list(*ExportedRegistration._fields[:-1], *participant_fields)
        split = len(ExportedRegistration._fields) - 1
        for row in values.iterator(chunk_size=CHUNK):
            yield self.export_resource(ExportedRegistration(*row[:split], ExportedParticipant(*row[split:])))

    def before_export(self, queryset, **kwargs):
        self.sessions = {session.pk: session for session in Session.objects.filter(
            pk__in=queryset.order_by().values("session_id")).select_related("course", "venue")}
        self.wards = {ward.pk: str(ward) for ward in Ward.objects.all()}
        residence = Participant.Residence
        self.residence_labels = {code: str(label) for code, label in residence.choices}
        self.residence_labels[residence.NOT_RECORDED] = ResidenceWidget.unrecorded_label(explicit_answers_since())

    def _session(self, registration) -> Session:
        return self.sessions[registration.session_id]

    def dehydrate_course(self, registration):
        return self._session(registration).course.title

    def dehydrate_date(self, registration):
        return self.fields["date"].widget.render(self._session(registration).starts_at)

    def dehydrate_start_time(self, registration):
        return self.fields["start_time"].widget.render(self._session(registration).starts_at)

    def dehydrate_venue(self, registration):
        session = self._session(registration)
        return str(session.venue) if session.venue_id else ""

    # Where the person lives, written out in two columns, never blank: the ward column holds the answer as the
    # registration form asks it (the ward's name, 市外 / Outside the city, 答えたくない / Prefer not to say), the
    # residence column its kind (in a ward of the city, outside, prefer not to say). A ward means the city, also
    # for a participant recorded without a residence. A participant recorded without either, before residence was
    # asked explicitly (courses.data_quality), gets “Not recorded (before DATE)” in both (ResidenceWidget).

    def _residence(self, person) -> str:
        return Participant.Residence.CITY if person.ward_id else person.residence

    def dehydrate_ward(self, registration):
        person = registration.participant
        if person.ward_id:
            return self.wards.get(person.ward_id, "")
        residence = self._residence(person)
        return "" if residence == Participant.Residence.CITY else self.residence_labels.get(residence, "")

    def dehydrate_residence(self, registration):
        return self.residence_labels.get(self._residence(registration.participant), "")


class RegistrationResource(RegistrationExportMixin, SpreadsheetResource):
    """Who booked what: export only. Personal data kept to what a partner's roster needs (no e-mail or phone), and
    no name for those who may not see names."""

    kind = "registrations"
    name_columns = ("name", "kana")

    id = Column("id", label=gettext_lazy("Registration number"), widget=WholeNumberWidget(), importable=False)
    session_id = Column("session_id", label=gettext_lazy("Session number"), widget=WholeNumberWidget(),
                        importable=False)
    course = Column(label=gettext_lazy("Course"), importable=False)
    date = Column(label=gettext_lazy("Date"), widget=LocalDateWidget(), importable=False)
    start_time = Column(label=gettext_lazy("Start time"), widget=LocalTimeWidget(), importable=False)
    venue = Column(label=gettext_lazy("Venue"), importable=False)
    status = Column("status", label=gettext_lazy("Status"), widget=ChoiceWidget(Status.choices), importable=False)
    name = Column("participant__name", label=gettext_lazy("Name"), importable=False)
    kana = Column("participant__kana", label=gettext_lazy("name (kana)"), importable=False)
    age_band = Column("participant__age_band", label=gettext_lazy("age band"), widget=AgeBandWidget(),
                      importable=False)
    ward = Column(label=gettext_lazy("Ward"), importable=False)
    residence = Column(label=gettext_lazy("residence"), widget=ResidenceWidget(), importable=False)
    channel = Column("channel", label=gettext_lazy("Channel"), widget=ChoiceWidget(Registration.Channel.choices),
                     importable=False)
    booked_by = Column("booked_by", label=gettext_lazy("booked by"),
                       widget=ChoiceWidget(Registration.BookedBy.choices), importable=False)
    created_at = Column("created_at", label=gettext_lazy("registered at"), widget=LocalDateTimeWidget(),
                        importable=False)

    class Meta:
        model = Registration
        fields = ("id", "session_id", "course", "date", "start_time", "venue", "status", "name", "kana", "age_band",
                  "ward", "residence", "channel", "booked_by", "created_at")


# --- Attendance -------------------------------------------------------------------------------------------------


def attendance_target(session: Session, *, status: str, channel: str, attended: bool | None,
                      now: datetime | None = None) -> str | None:
    """The status `courses.attendance.mark_attendance` would give a registration, or None when it would change
    nothing; raises the AttendanceError it would raise. The same rules, in the same order, without the locks and
    writes, so that a bulk import can check 50,000 rows at once (tests/courses/test_spreadsheets_attendance.py
    runs both on every case to keep them identical)."""
    target = {True: Status.ATTENDED, False: Status.NO_SHOW, None: Status.CONFIRMED}[attended]
    if session.status == Session.Status.CANCELLED:
        raise AttendanceSessionCancelled()
    if not can_take_attendance(session, now=now):
        raise AttendanceClosed()
    if status not in (*Registration.SEATED, Status.WAITLISTED):
        raise NotOnRoster()
    if channel == Registration.Channel.WALK_IN and target != Status.ATTENDED:
        raise WalkInNotUndoable()
    if status == Status.WAITLISTED and target != Status.ATTENDED:
        if target == Status.NO_SHOW:
            raise WaitlistedNoShow()
        return None
    if status == target:
        return None
    return target


def check_walk_in_session(session: Session, *, now: datetime | None = None) -> None:
    """`courses.attendance.add_walk_in`'s check of the session (its `_check_window`)."""
    if session.status == Session.Status.CANCELLED:
        raise AttendanceSessionCancelled()
    if not can_take_attendance(session, now=now):
        raise AttendanceClosed()


# The attendance cell of a registration as it is (AttendedWidget's values): a row giving it changes nothing.
MARKS = {Status.ATTENDED: True, Status.NO_SHOW: False}


class AttendanceResource(RegistrationExportMixin, SpreadsheetResource):
    """A roster: one row per person booked, with the attendance column to fill in; rows without a registration
    number are walk-ins (session number, age band and where they live required, each with an explicit “prefer not
    to say”; name optional). Rows of people booked change only their attendance: their age band, ward and
    residence cells are read (so a wrong value is reported) but never change the person's details."""

    kind = "attendance"
    required_columns = (("registration_id", "session_id"), ("attended", "age_band"))
    name_columns = ("name", "kana")

    registration_id = Column("id", label=gettext_lazy("Registration number"), widget=WholeNumberWidget(),
                             aliases=("申込番号", "予約番号", "registration", "registration id", "booking number"))
    session_id = Column("session_id", label=gettext_lazy("Session number"), widget=WholeNumberWidget(),
                        aliases=("開催回番号", "session", "session id"))
    course = Column(label=gettext_lazy("Course"), importable=False)
    date = Column(label=gettext_lazy("Date"), widget=LocalDateWidget(), importable=False)
    start_time = Column(label=gettext_lazy("Start time"), widget=LocalTimeWidget(), importable=False)
    name = Column("participant__name", label=gettext_lazy("Name"), aliases=("氏名", "名前", "お名前"))
    kana = Column("participant__kana", label=gettext_lazy("name (kana)"),
                  aliases=("フリガナ", "ふりがな", "カナ", "kana"))
    age_band = Column("participant__age_band", label=gettext_lazy("age band"), widget=AgeBandWidget(),
                      aliases=("年齢", "年代", "年齢階級", "年齢層", "age"))
    ward = Column(label=gettext_lazy("Ward"), aliases=("お住まいの区", "居住区", "ward of residence"))
    residence = Column(label=gettext_lazy("residence"), widget=ResidenceWidget(),
                       aliases=("居住地", "市内・市外", "市内外", "市内/市外", "lives in", "where they live"))
    status = Column("status", label=gettext_lazy("Status"), widget=ChoiceWidget(Status.choices), importable=False)
    attended = Column("status", label=gettext_lazy("Attendance"), widget=AttendedWidget(),
                      aliases=("出欠", "出席", "出席/欠席", "attended", "present"))

    class Meta:
        model = Registration
        fields = ("registration_id", "session_id", "course", "date", "start_time", "name", "kana", "age_band", "ward",
                  "residence", "status", "attended")

    # --- import ---

    def prepare(self, dataset):
        registration_ids = self.ids_in(dataset, "registration_id")
        session_ids = self.ids_in(dataset, "session_id")
        involved = set(session_ids)
        for chunk in _split_by_chunks(registration_ids):
            involved.update(Registration.objects.filter(pk__in=chunk).values_list("session_id", flat=True))
        if not self.dry_run:
            # Lock the sessions first, in id order, as every attendance and booking service does: nobody marks,
            # books or cancels on these sessions until the import is committed or rolled back.
            for chunk in _split_by_chunks(sorted(involved)):
                list(Session.objects.select_for_update().filter(pk__in=chunk).order_by("pk").values_list("pk"))
        self.sessions = {}
        for chunk in _split_by_chunks(involved):
            self.sessions.update((session.pk, session) for session in Session.objects.filter(pk__in=chunk).only(
                "pk", "organiser_id", "status", "starts_at", "ends_at"))
        self.registrations = {}
        for chunk in _split_by_chunks(registration_ids):
            self.registrations.update(
                (pk, (session_id, status, channel)) for pk, session_id, status, channel in
                Registration.objects.filter(pk__in=chunk).values_list("pk", "session_id", "status", "channel"))
        self.wards = {}
        for ward in Ward.objects.all():
            short_names = (re.sub(r"区$", "", ward.name), re.sub(r"[-\s]?(ku|ward)$", "", ward.name_en, flags=re.I))
            for name in (str(ward.pk), ward.code, ward.name, ward.name_en, *short_names):
                if name:
                    self.wards.setdefault(fold(name), ward.pk)
        self.seen_ids: dict[int, int] = {}
        self.seen_walk_ins: dict[tuple[int, str], int] = {}
        self.marks: list[tuple[int, str, str]] = []  # (registration id, status now, new status)
        self.walk_ins: list[dict] = []
        self.window_checked: dict[int, Exception | None] = {}

    def _allowed_session(self, session_id) -> Session | None:
        session = self.sessions.get(session_id)
        if session is None or not self.allowed(session.organiser_id):
            return None
        return session

    def plan_row(self, values, errors, *, number):
        pk = values.get("registration_id")
        if pk is None and "registration_id" not in errors:
            return self._plan_walk_in(values, errors, number=number)
        errors.raise_if_any()
        found = self.registrations.get(pk)
        session = self._allowed_session(found[0]) if found else None
        if session is None:
            errors.add("registration_id", _("There is no registration number %(id)s among your sessions.")
                       % {"id": pk})
            errors.raise_if_any()
        if pk in self.seen_ids:
            errors.add("registration_id", _("Registration number %(id)s is already on row %(row)d.")
                       % {"id": pk, "row": self.seen_ids[pk]})
        self.seen_ids.setdefault(pk, number)
        session_id, status, channel = found
        if values.get("session_id") is not None and values["session_id"] != session_id:
            errors.add("session_id", _("Registration number %(id)s is for session %(session)s, not %(other)s.")
                       % {"id": pk, "session": session_id, "other": values["session_id"]})
        attended = values.get("attended")
        target = None
        if attended is not None and attended == MARKS.get(status):
            attended = None  # the mark it has: unchanged, whether or not attendance can be taken now
        if attended is not None:
            try:
                target = attendance_target(session, status=status, channel=channel, attended=attended, now=self.now)
            except services.RegistrationError as refusal:
                errors.add("attended", refusal.message)
        errors.raise_if_any()
        if target is None:
            closed = not can_take_attendance(session, now=self.now)
            return Plan(RowResult.IMPORT_TYPE_SKIP, object_id=pk, read_only="attendance_closed" if closed else "")
        self.marks.append((pk, status, target))
        self.touched_partners.add(session.organiser_id)
        return Plan(RowResult.IMPORT_TYPE_UPDATE, object_id=pk, description=str(Status(target).label))

    def _plan_walk_in(self, values, errors, *, number):
        session_id = values.get("session_id")
        if session_id is None:
            if "session_id" not in errors:
                errors.add("registration_id" if "registration_id" in self.present else "session_id",
                           _("Give the registration number, or the session number for a walk-in."))
            errors.raise_if_any()
        session = self._allowed_session(session_id)
        if session is None:
            errors.add("session_id", _("There is no session number %(id)s among your sessions.") % {"id": session_id})
            errors.raise_if_any()
        if session_id not in self.window_checked:
            try:
                check_walk_in_session(session, now=self.now)
                self.window_checked[session_id] = None
            except services.RegistrationError as refusal:
                self.window_checked[session_id] = refusal
        if self.window_checked[session_id] is not None:
            errors.add("session_id", self.window_checked[session_id].message)
        if values.get("attended") is False:
            errors.add("attended", _("A walk-in came to the session: leave the attendance blank or mark it as "
                                     "attended."))
        age_band = values.get("age_band")
        if age_band is None and "age_band" not in errors:
            errors.add("age_band", _("Give the walk-in's age band, or “Prefer not to say”: the cell is blank."))
        ward_id, residence = self._walk_in_residence(values, errors)
        name, kana = normalize_name(values.get("name", "")), normalize_kana(values.get("kana", ""))
        for key, text in (("name", name), ("kana", kana)):
            if len(text) > MAX_NAME_LENGTH:
                errors.add(key, _("This is longer than %(max)d characters.") % {"max": MAX_NAME_LENGTH})
        if name:
            key = (session_id, name)
            if key in self.seen_walk_ins:
                errors.add("name", _("The same walk-in is already on row %(row)d.") % {"row": self.seen_walk_ins[key]})
            self.seen_walk_ins.setdefault(key, number)
        errors.raise_if_any()
        self.touched_partners.add(session.organiser_id)
        self.walk_ins.append({"session_id": session_id, "age_band": age_band, "ward_id": ward_id,
                              "residence": residence, "name": name, "kana": kana})
        return Plan(RowResult.IMPORT_TYPE_NEW, description=str(Registration.Channel.WALK_IN.label))

    def _walk_in_residence(self, values, errors) -> tuple[int | None, str]:
        """(ward id or None, Participant.Residence) of a walk-in row, as courses.attendance.add_walk_in takes them.

        The ward column holds the answer as the form asks it: a ward's name (or code), or 市外 / 答えたくない (what an
        export writes there for people without a ward). The residence column, when the file has one, says the
        same in other words (市内の区 / 市外 / 答えたくない); a file without it (a roster of before) is read from the
        ward alone. The two must agree; both blank is no answer, and “Not recorded” is not an answer for someone
        who is in the room to be asked."""
        Residence = Participant.Residence
        widget: ResidenceWidget = self.fields["residence"].widget
        ward_text, said = values.get("ward", ""), values.get("residence")
        ward_id, answer = None, None
        if ward_text:
            ward_id = self.wards.get(fold(ward_text))
            if ward_id is not None:
                answer = Residence.CITY
            else:
                try:
                    answer = widget.clean(ward_text)
                except ValueError:
                    errors.add("ward", _("There is no ward “%(name)s”.") % {"name": ward_text})
                if answer == Residence.CITY:  # "in the city" is not a ward: which one?
                    answer = None
                    errors.add("ward", _("Give the name of the ward in the city."))
        if "ward" in errors or "residence" in errors:
            return None, ""
        if answer is None and said is None:
            errors.add("residence" if "residence" in self.present and "ward" not in self.present else "ward",
                       _("Give the walk-in's ward, “Outside the city” or “Prefer not to say”: the cell is blank."))
            return None, ""
        if widget.UNRECORDED in (answer, said):
            errors.add("ward" if answer == widget.UNRECORDED else "residence",
                       _("“Not recorded” is only for people recorded before residence was asked. For a walk-in, "
                         "give the ward, “Outside the city” or “Prefer not to say”."))
            return None, ""
        if answer is not None and said is not None and answer != said:
            errors.add("residence", _("The ward column says “%(ward)s” and the residence column “%(residence)s”: "
                                      "they must agree.") % {"ward": ward_text, "residence": widget.render(said)})
            return None, ""
        answer = answer if answer is not None else said
        if answer == Residence.CITY and ward_id is None:
            errors.add("ward", _("Give the name of the ward in the city."))
            return None, ""
        return ward_id, answer

    def carry_out(self, plan):
        """Nothing per row: `finish` writes every planned change at once."""

    def finish(self):
        user = self.user if getattr(self.user, "is_authenticated", False) else None
        now = timezone.now()
        groups: dict[tuple[str, str], list[int]] = {}
        for pk, status, target in self.marks:
            groups.setdefault((status, target), []).append(pk)
        for (status, target), ids in groups.items():
            changes = {"status": target, "updated_at": now}
            if status == Status.WAITLISTED:  # let in from the waiting list: seated, as mark_attendance does
                changes.update(waitlist_position=None, confirmed_at=now)
            for chunk in _split_by_chunks(ids):
                updated = Registration.objects.filter(pk__in=chunk, status=status).update(**changes)
                if updated != len(chunk):  # cannot happen under the session locks; never write half of it
                    raise services.RegistrationError(_("The roster changed during the import. Try again."))
        if self.walk_ins:
            people = Participant.objects.bulk_create(
                [Participant(name=row["name"], kana=row["kana"], age_band=row["age_band"], ward_id=row["ward_id"],
                             residence=row["residence"])
                 for row in self.walk_ins], batch_size=CHUNK)
            walk_ins = [Registration(session_id=row["session_id"], participant=person, status=Status.ATTENDED,
                                     channel=Registration.Channel.WALK_IN, booked_by=Registration.BookedBy.STAFF,
                                     created_by=user, confirmed_at=now)
                        for row, person in zip(self.walk_ins, people, strict=True)]
            services.assign_references(walk_ins)  # distinct booking references: bulk_create cannot retry a row
            Registration.objects.bulk_create(walk_ins, batch_size=CHUNK)

    def summary(self) -> dict[str, int]:
        counts = {"attended": 0, "no_show": 0, "walk_ins": len(self.walk_ins)}
        for _pk, _status, target in self.marks:
            counts[target] = counts.get(target, 0) + 1
        return counts


RESOURCES = {resource.kind: resource for resource in (SessionResource, RegistrationResource, AttendanceResource)}
IMPORTABLE = ("sessions", "attendance")
