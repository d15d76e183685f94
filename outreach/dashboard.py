"""What the outreach dashboard shows, for the views of outreach.admin.dashboard (and the reports that reuse it):

- `Dashboard`: the figures of one set of filters, each computed once and only when asked for (a chart or a
  download needs one of them, the page all), in a number of queries that does not grow with the data.
- `TABLES` and `CHARTS`: every table the page shows (a `metrics.Matrix`, downloadable) and every chart (a table
  drawn by outreach.charts, with its alt text).
- `data_version()`: a fingerprint of the rows the figures are computed from, in one query. Chart images are cached
  under a key made of the chart, format, language, filters (scope included) and this version, so a new
  registration, attendance, consultation, self-assessment or reference figure gives new charts at once, and an
  unchanged request is served from the cache without drawing anything.
- `table_csv()`, `table_xlsx()`, `export_filename()`: the downloads (pure functions: a table in, bytes out).
- `channel_mix()`: how the residents of the filters can be reached (LINE / e-mail / SMS / call only) by age band,
  in one query, small counts suppressed (outreach.suppression).
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import tablib
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Case, Count, Exists, IntegerField, Min, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Concat, Lower, Substr
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext as _

from cms.csv_safety import escape_csv_cell
from courses.models import Participant, Registration, UndeliverableContact
from outreach import bands, charts, data_quality, metrics, suppression
from outreach.filters import querystring

# How long a drawn chart is kept. The data version already changes with every new or changed row it can see; the
# time limit bounds what it cannot (an edit to a consultation's outcome, a renamed ward), and the daily rollover
# (the elapsed share of the year, the months already started) is in the version itself.
CHART_CACHE_SECONDS = getattr(settings, "OUTREACH_CHART_CACHE_SECONDS", 60 * 60)
# Bump when the look of the charts changes, so that cached images drawn the old way are not served.
CHARTS_REVISION = 3  # 2: reach rounded half up, in 65–74 / 75+ by default; 3: the channel mix
# The monthly trend compares the chosen fiscal year with the ones before it.
MONTHLY_YEARS = 3


# --- Data version ---------------------------------------------------------------------------------------------

# (model, aggregates over its table): counts and highest ids catch new and deleted rows, the latest change times
# edits of rows that record them, sums of the figures edits of reference rows that do not.
FINGERPRINT = [
    ("courses.Registration", [("COUNT", "id"), ("MAX", "id"), ("MAX", "updated_at")]),
    ("courses.Session", [("COUNT", "id"), ("MAX", "id"), ("MAX", "updated_at")]),
    ("courses.Participant", [("COUNT", "id"), ("MAX", "id"), ("MAX", "updated_at")]),
    ("courses.Topic", [("COUNT", "id"), ("MAX", "id")]),
    ("partners.Ward", [("COUNT", "id"), ("MAX", "id")]),
    ("outreach.Consultation", [("COUNT", "id"), ("MAX", "id"), ("MAX", "updated_at"), ("SUM", "duration_minutes")]),
    ("outreach.SelfAssessment", [("COUNT", "id"), ("MAX", "id"), ("MAX", "submitted_at")]),
    ("outreach.SkillScore", [("COUNT", "id"), ("MAX", "id"), ("SUM", "score")]),
    ("outreach.PopulationFigure", [("COUNT", "id"), ("MAX", "id"), ("SUM", "population")]),
    ("outreach.InternetUsageRate", [("COUNT", "id"), ("MAX", "id"), ("SUM", "rate")]),
    ("outreach.KpiTarget", [("COUNT", "id"), ("MAX", "id"), ("SUM", "target")]),
    # The channel mix: a contact reported undeliverable moves a resident to the next channel.
    ("courses.UndeliverableContact", [("COUNT", "id"), ("MAX", "id")]),
]
# Many-to-many links that move figures: a course's topics, a consultation's topics.
FINGERPRINT_LINKS = [("courses.CoursePage", "topics"), ("outreach.Consultation", "topics")]


@functools.cache
def _fingerprint_sql() -> str:
    quote = connection.ops.quote_name
    parts = []
    for label, aggregates in FINGERPRINT:
        model = apps.get_model(label)
        table = quote(model._meta.db_table)
        for function, field in aggregates:
            column = quote(model._meta.get_field(field).column)
            parts.append(f"(SELECT {function}({column}) FROM {table})")
    for label, field in FINGERPRINT_LINKS:
        through = apps.get_model(label)._meta.get_field(field).remote_field.through
        table = quote(through._meta.db_table)
        parts.append(f"(SELECT COUNT(*) FROM {table})")
        parts.append(f"(SELECT MAX({quote(through._meta.pk.column)}) FROM {table})")
    return "SELECT " + ", ".join(parts)


def data_version(request=None, *, today: dt.date | None = None) -> str:
    """A short fingerprint of everything the figures are computed from, and of the day (one query; once per
    request when given the request)."""
    cached = getattr(request, "_outreach_data_version", None)
    if cached is not None:
        return cached
    with connection.cursor() as cursor:
        cursor.execute(_fingerprint_sql())
        row = cursor.fetchone()
    today = today or timezone.localdate()
    version = hashlib.sha256(repr((CHARTS_REVISION, today.isoformat(), *row)).encode()).hexdigest()[:20]
    if request is not None:
        request._outreach_data_version = version
    return version


def filters_key(filters: metrics.Filters) -> str:
    scope = "city" if filters.scope is None else ",".join(str(pk) for pk in sorted(filters.scope))
    return f"{querystring(filters)}|rollup={filters.rollup}|scope={scope}"


def cache_key(kind: str, *parts) -> str:
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()
    return f"outreach:{kind}:{digest}"


# --- The figures of one set of filters ------------------------------------------------------------------------


# The reach figures' age bands: the query parameter that chooses them, and what it may say. By default reach is
# shown as 65–74 / 75+ (and under 65), since that is where the divide runs (PRODUCT.md); every stored band is a
# link away, and the page's "Age bands shown as" filter, when set, applies to reach as well.
REACH_BANDS_PARAMETER = "reach_bands"
REACH_DEFAULT_ROLLUP = bands.ELDERLY


def reach_rollup(filters: metrics.Filters, asked: str | None = None) -> str:
    """The roll-up of the reach figures: the one asked for (?reach_bands=), else the filters' when one other than
    the stored bands was chosen, else 65–74 / 75+. Anything unknown is the default, never an error."""
    if asked in bands.ROLLUPS:
        return asked
    return filters.rollup if filters.rollup != bands.DETAIL else REACH_DEFAULT_ROLLUP


class Dashboard:
    """The dashboard's figures for `filters`, each computed on first use; reach in `reach_rollup`'s bands."""

    def __init__(self, filters: metrics.Filters, *, today: dt.date | None = None, reach_bands: str | None = None):
        self.filters = filters
        self.today = today or timezone.localdate()
        self.reach_rollup = reach_rollup(filters, reach_bands)

    @property
    def fiscal_year(self) -> int:
        return self.filters.fiscal_year or metrics.fiscal_year_of(self.today)

    @property
    def show_consultations(self) -> bool:
        """Consultations belong to no partner (and no course topic): city staff see them, without those filters."""
        filters = self.filters
        return filters.scope is None and not filters.partner and not filters.topic

    @cached_property
    def summary(self) -> metrics.Summary:
        return metrics.summary(self.filters)

    @cached_property
    def kpis(self) -> list[metrics.KpiProgress]:
        return metrics.kpi_progress(self.filters, today=self.today, figures=self.summary)

    @cached_property
    def elapsed(self) -> float:
        return round(100 * metrics.fiscal_year_elapsed(self.fiscal_year, self.today), 1)

    @cached_property
    def attendance_ward(self) -> metrics.Matrix:
        return metrics.attendance_by_band(self.filters, by="ward")

    @cached_property
    def attendance_topic(self) -> metrics.Matrix:
        """Topics are a city-wide list: those without attendances in the filters are left out (and so partner
        staff see only the topics of their own classes)."""
        matrix = metrics.attendance_by_band(self.filters, by="topic")
        matrix.columns = [(key, label) for key, label in matrix.columns if matrix.column_total(key)]
        return matrix

    @cached_property
    def monthly(self) -> metrics.Matrix:
        years = [self.fiscal_year - offset for offset in range(MONTHLY_YEARS)]
        return metrics.monthly_attendance(self.filters, years)

    @cached_property
    def reach(self) -> metrics.Reach:
        return metrics.reach(self.filters.with_(rollup=self.reach_rollup))

    @cached_property
    def skills(self) -> list[metrics.SkillRow]:
        return metrics.skills(self.filters)

    @cached_property
    def consultations(self) -> metrics.ConsultationFigures | None:
        return metrics.consultation_figures(self.filters) if self.show_consultations else None

    @cached_property
    def gap(self) -> list[metrics.GapRow]:
        return metrics.divide_gap()

    @cached_property
    def channel_mix(self) -> metrics.Matrix:
        return channel_mix(self.filters, rollup=self.reach_rollup)

    @cached_property
    def defaulted_ages(self) -> list[data_quality.DefaultedAgeNote]:
        """Notes on the fiscal years of these figures holding age bands that may have been defaulted by the old
        registration form (outreach.data_quality); usually none."""
        return data_quality.defaulted_age_notes(self.filters)

    def has_table(self, name: str) -> bool:
        spec = TABLES.get(name)
        return spec is not None and (not spec.consultations or self.show_consultations)

    def table(self, name: str) -> metrics.Matrix:
        return TABLES[name].build(self)


# --- Tables -----------------------------------------------------------------------------------------------------


def headline_figures(summary: metrics.Summary, *, consultations: bool) -> list[tuple[str, str, float | int | None]]:
    """The headline tiles: (key, label, value); rates are percentages."""
    figures = [
        ("sessions_held", _("Sessions held"), summary.sessions_held),
        ("sessions_cancelled", _("Sessions cancelled"), summary.sessions_cancelled),
        ("seats_offered", _("Seats offered"), summary.seats_offered),
        ("registrations", _("Registrations"), summary.registrations),
        ("attendances", _("Attendances"), summary.attendances),
        ("walk_ins", _("Walk-ins"), summary.walk_ins),
        ("unique_participants", _("Participants"), summary.unique_participants),
        ("first_time_participants", _("First-time participants"), summary.first_time_participants),
        ("repeat_participants", _("Repeat participants"), summary.repeat_participants),
        ("participants_65_plus", _("Participants aged 65 and over"), summary.participants_65_plus),
        ("waitlist_demand", _("Still on a waiting list"), summary.waitlist_demand),
        ("attendance_rate", _("Attendance rate (%)"), summary.attendance_rate),
        ("no_show_rate", _("No-show rate (%)"), summary.no_show_rate),
    ]
    if consultations:
        figures.append(("consultations", _("Support-desk consultations"), summary.consultations))
    return figures


def period_heading(filters: metrics.Filters) -> str:
    """The period of the figures as a column heading: 2026年度, 2026年度（2026年5月）, 全期間."""
    if filters.fiscal_year is None:
        return str(_("All time"))
    if filters.month:
        start, _end = metrics.month_bounds(filters.fiscal_year, filters.month)
        return _("FY%(year)s, %(month)s %(calendar_year)s") % {
            "year": filters.fiscal_year, "month": MONTHS[filters.month], "calendar_year": start.year}
    return _("FY%(year)s") % {"year": filters.fiscal_year}


def summary_matrix(board: Dashboard) -> metrics.Matrix:
    """The headline figures, one column: headed by the period it is for, the rows by what each figure is (a
    heading of "figure" over both, as before, said nothing)."""
    figures = headline_figures(board.summary, consultations=board.show_consultations)
    column = ("value", period_heading(board.filters))
    return metrics.Matrix(
        title=_("Headline figures"), rows=[(key, str(label)) for key, label, _value in figures], columns=[column],
        values={(key, "value"): value for key, _label, value in figures}, row_heading=_("Item"), totals=False)


def kpi_matrix(rows: list[metrics.KpiProgress]) -> metrics.Matrix:
    columns = [("target", _("Target")), ("actual", _("Actual")), ("progress", _("Share of target (%)")),
               ("elapsed", _("Share of the year elapsed (%)"))]
    values = {}
    for row in rows:
        values.update({(row.metric, "target"): float(row.target), (row.metric, "actual"): row.actual,
                       (row.metric, "progress"): row.progress, (row.metric, "elapsed"): row.elapsed})
    return metrics.Matrix(title=_("KPI progress"), rows=[(row.metric, row.label) for row in rows], columns=columns,
                          values=values, row_heading=_("Indicator"), totals=False)


def skills_matrix(rows: list[metrics.SkillRow]) -> metrics.Matrix:
    columns = [("pairs", _("Answered before and after")), ("mean_pre", _("Mean before")),
               ("mean_post", _("Mean after")), ("mean_gain", _("Mean gain")),
               ("below_own_before", _("Below “on my own” before")), ("reached_own", _("Of those, “on my own” after")),
               ("share_reached", _("Share reaching “on my own” (%)"))]
    values = {}
    for row in rows:
        key = str(row.number)
        for column, _label in columns:
            values[(key, column)] = getattr(row, column)
    return metrics.Matrix(title=_("Can-do items before and after the course"),
                          rows=[(str(row.number), f"{row.number}. {row.text}") for row in rows], columns=columns,
                          values=values, row_heading=_("Can-do item"), totals=False)


def gap_matrix(rows: list[metrics.GapRow]) -> metrics.Matrix:
    columns = [("younger", _("Ages 13–59 (%)")), ("older", _("Ages 70 and over (%)")),
               ("gap", _("Gap (points)")), ("all_ages", _("All ages (%)"))]
    values = {}
    for row in rows:
        for column, _label in columns:
            values[(str(row.year), column)] = getattr(row, column)
    return metrics.Matrix(title=_("Internet use by age and the divide gap"),
                          rows=[(str(row.year), str(row.year)) for row in rows], columns=columns, values=values,
                          row_heading=_("Survey year"), totals=False)


def count_matrix(title: str, heading: str, counts: list[tuple[str, int]], *, total: bool = True) -> metrics.Matrix:
    """One column of counts, with a total row when the counts add up (not when one item counts in several rows)."""
    rows = [(str(index), str(label)) for index, (label, _count) in enumerate(counts)]
    values = {(str(index), "count"): count for index, (_label, count) in enumerate(counts)}
    if total:
        rows.append(("total", _("Total")))
        values[("total", "count")] = sum(count for _label, count in counts)
    return metrics.Matrix(title=title, rows=rows, columns=[("count", _("Consultations"))], values=values,
                          row_heading=heading, totals=False)


@dataclass(frozen=True)
class TableSpec:
    build: Callable[[Dashboard], metrics.Matrix]
    consultations: bool = False  # city staff only, without partner or topic filters


TABLES: dict[str, TableSpec] = {
    "summary": TableSpec(summary_matrix),
    "kpi": TableSpec(lambda board: kpi_matrix(board.kpis)),
    "attendance-ward": TableSpec(lambda board: board.attendance_ward),
    "attendance-topic": TableSpec(lambda board: board.attendance_topic),
    "monthly": TableSpec(lambda board: board.monthly),
    "reach": TableSpec(lambda board: board.reach.per_thousand),
    "reach-participants": TableSpec(lambda board: board.reach.participants),
    "reach-residents": TableSpec(lambda board: board.reach.population),
    "skills": TableSpec(lambda board: skills_matrix(board.skills)),
    # A consultation counts once for each of its topics: no total.
    "consultations-topic": TableSpec(lambda board: count_matrix(
        _("Consultations by topic"), _("Topic"), board.consultations.by_topic, total=False), consultations=True),
    "consultations-outcome": TableSpec(lambda board: count_matrix(
        _("Consultations by outcome"), _("Outcome"), board.consultations.by_outcome), consultations=True),
    "consultations-place": TableSpec(lambda board: count_matrix(
        _("Consultations by place"), _("Place"), board.consultations.by_place), consultations=True),
    "consultations-band": TableSpec(lambda board: count_matrix(
        _("Consultations by age band"), _("Age band"), board.consultations.by_band), consultations=True),
    "gap": TableSpec(lambda board: gap_matrix(board.gap)),
    "channel-mix": TableSpec(lambda board: board.channel_mix),
}


# --- Charts -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartSpec:
    table: str  # the table shown under the chart, with the same numbers
    data: Callable[[Dashboard], object]
    draw: Callable[[object, str, Dashboard], bytes]
    describe: Callable[[object], str]

    def render(self, board: Dashboard, fmt: str) -> bytes:
        return self.draw(self.data(board), fmt, board)

    def alt(self, board: Dashboard) -> str:
        return self.describe(self.data(board))


CHARTS: dict[str, ChartSpec] = {
    "kpi": ChartSpec("kpi", lambda board: board.kpis, lambda data, fmt, board: charts.kpi_progress(data, fmt),
                     charts.kpi_progress_alt),
    "attendance-ward": ChartSpec(
        "attendance-ward", lambda board: board.attendance_ward,
        lambda data, fmt, board: charts.attendance_by_band(data, fmt),
        lambda data: charts.attendance_by_band_alt(data, by="ward")),
    "attendance-topic": ChartSpec(
        "attendance-topic", lambda board: board.attendance_topic,
        lambda data, fmt, board: charts.attendance_by_band(data, fmt),
        lambda data: charts.attendance_by_band_alt(data, by="topic")),
    "monthly": ChartSpec("monthly", lambda board: board.monthly,
                         lambda data, fmt, board: charts.monthly_trend(data, fmt, today=board.today),
                         charts.monthly_trend_alt),
    "reach": ChartSpec("reach", lambda board: board.reach, lambda data, fmt, board: charts.reach_heatmap(data, fmt),
                       charts.reach_alt),
    "skills": ChartSpec("skills", lambda board: board.skills,
                        lambda data, fmt, board: charts.skills_before_after(data, fmt), charts.skills_alt),
    "gap": ChartSpec("gap", lambda board: board.gap, lambda data, fmt, board: charts.divide_gap(data, fmt),
                     charts.divide_gap_alt),
    "channel-mix": ChartSpec("channel-mix", lambda board: board.channel_mix,
                             lambda data, fmt, board: charts.channel_mix(data, fmt), charts.channel_mix_alt),
}


def chart_bytes(name: str, fmt: str, board: Dashboard, *, version: str) -> bytes:
    """The chart drawn for the board's filters, from the cache when the data has not changed since it was drawn."""
    key = cache_key("chart", name, fmt, get_language(), filters_key(board.filters), board.reach_rollup, version)
    content = cache.get(key)
    if content is None:
        content = CHARTS[name].render(board, fmt)
        cache.set(key, content, CHART_CACHE_SECONDS)
    return content


# --- Channel mix: how the residents can be reached ------------------------------------------------------------

# The channels in the order the mix ranks them (the best a resident has decides their column), and their labels.
MIX_LINE, MIX_EMAIL, MIX_SMS, MIX_CALL = "line", "email", "sms", "call"
MIX_CHANNELS = [(MIX_LINE, pgettext_lazy("channel mix", "LINE")), (MIX_EMAIL, pgettext_lazy("channel mix", "E-mail")),
                (MIX_SMS, pgettext_lazy("channel mix", "SMS")), (MIX_CALL, pgettext_lazy("channel mix", "Call only"))]
MOBILE_REGEX = r"^0[789]0[0-9]{8}$"  # courses.recipients.MOBILE: the numbers that receive SMS (stored as digits)


@dataclass
class SuppressedMatrix(metrics.Matrix):
    """A matrix of counts of people with totals, whose small counts are hidden (outreach.suppression): every cell and
    total in `hidden` shows suppression.MARK, in the page, the chart and the downloads alike. The totals are those of
    the real counts: a published total is exact, never the sum of the published cells."""

    hidden: frozenset = frozenset()  # (row, column) keys; "total" for a totals row or column

    def value(self, row: str, column: str):
        return suppression.MARK if (row, column) in self.hidden else super().value(row, column)

    def count(self, row: str, column: str) -> int:
        """The real count behind a cell (for the chart's bars, which draw published cells only)."""
        return self.values.get((row, column), 0)

    def row_total(self, row: str):
        if (row, "total") in self.hidden:
            return suppression.MARK
        return sum(self.count(row, column) for column, _label in self.columns)

    def column_total(self, column: str):
        if ("total", column) in self.hidden:
            return suppression.MARK
        return sum(self.count(row, column) for row, _label in self.rows)

    @property
    def grand_total(self):
        if ("total", "total") in self.hidden:
            return suppression.MARK
        return sum(self.values.values())

    def is_hidden(self, row: str, column: str) -> bool:
        return (row, column) in self.hidden


def _undeliverable(kind: str, address: str):
    """The address in `address` (a field of the registration, through OuterRef) was reported undeliverable, written
    as the outbox writes it or normalised (lower-case e-mail, a number in E.164: courses.outbox._contact)."""
    if kind == UndeliverableContact.Kind.EMAIL:
        forms = Q(address=OuterRef(address)) | Q(address=Lower(OuterRef(address)))
    else:
        forms = Q(address=OuterRef(address)) | Q(address=Concat(Value("+81"), Substr(OuterRef(address), 2)))
    return Exists(UndeliverableContact.objects.filter(forms, kind=kind))


def _channel_rank():
    """The best channel a registration's messages can go by, as a rank (0 LINE, 1 e-mail, 2 SMS, 3 call only), for
    whoever hears about it (courses.recipients.recipient_for): the participant when they have an e-mail address or
    a phone number of their own, else the family member or carer who booked."""
    own = Q(participant__email__gt="") | Q(participant__phone__gt="")
    booker = ~own
    Kind = UndeliverableContact.Kind
    line = (own & Q(participant__line_user_id__gt="")) | (booker & Q(booker_line_user_id__gt=""))
    email = ((own & Q(participant__email__gt="") & ~_undeliverable(Kind.EMAIL, "participant__email"))
             | (booker & Q(booker_email__gt="") & ~_undeliverable(Kind.EMAIL, "booker_email")))
    sms = Q(sms_consented_at__isnull=False) & (
        (own & Q(participant__phone__regex=MOBILE_REGEX) & ~_undeliverable(Kind.PHONE, "participant__phone"))
        | (booker & Q(booker_phone__regex=MOBILE_REGEX) & ~_undeliverable(Kind.PHONE, "booker_phone")))
    return Case(When(line, then=Value(0)), When(email, then=Value(1)), When(sms, then=Value(2)), default=Value(3),
                output_field=IntegerField())


def channel_mix_counts(filters: metrics.Filters, *, rollup: str) -> dict[tuple[str, str], int]:
    """{(age band, channel): residents}: each distinct participant with an active registration (confirmed,
    waiting, attended or no-show) in the filters, once, under the best channel any of those registrations can
    reach them by. One query (a correlated subquery per participant, grouped in the database)."""
    best = (metrics.registrations(filters).filter(participant=OuterRef("pk"), status__in=Registration.ACTIVE)
            .annotate(rank=_channel_rank()).order_by().values("participant")
            .annotate(best=Min("rank")).values("best")[:1])
    rows = (Participant.objects.annotate(best=Subquery(best, output_field=IntegerField()))
            .filter(best__isnull=False).annotate(band=bands.rolled("age_band", rollup))
            .order_by().values("band", "best").annotate(n=Count("pk")))
    keys = [key for key, _label in MIX_CHANNELS]
    return {(row["band"], keys[row["best"]]): row["n"] for row in rows}


def channel_mix(filters: metrics.Filters, *, rollup: str) -> SuppressedMatrix:
    """The channel mix as a table: age bands (rows, with "not given") × channels, with totals, small counts
    suppressed like every published figure."""
    counts = channel_mix_counts(filters, rollup=rollup)
    rows = metrics.band_rows(rollup)
    if filters.band_members is not None:
        wanted = {bands.roll(member, rollup) for member in filters.band_members}
        rows = [row for row in rows if row[0] in wanted]
    columns = [(key, str(label)) for key, label in MIX_CHANNELS]
    grid = [[counts.get((row, column), 0) for column, _label in columns] for row, _label in rows]
    mask = suppression.suppress(grid) if grid else [[False]]
    row_keys = [row for row, _label in rows] + ["total"]
    column_keys = [column for column, _label in columns] + ["total"]
    hidden = frozenset((row_keys[i], column_keys[j]) for i, line in enumerate(mask)
                       for j, is_hidden in enumerate(line) if is_hidden)
    return SuppressedMatrix(
        title=str(_("Residents by the best channel that reaches them")), rows=rows, columns=columns,
        values={cell: n for cell, n in counts.items() if n}, row_heading=str(_("Age band")),
        total_column_label=str(_("All channels")), total_row_label=str(_("All ages")), hidden=hidden)


# --- The home-page panel --------------------------------------------------------------------------------------


def panel_figures(filters: metrics.Filters, *, version: str, today: dt.date | None = None) -> dict:
    """The few figures of the admin home page's panel (current fiscal year), cached like the charts so that the
    home page costs the version query and one cache read."""
    key = cache_key("panel", get_language(), filters_key(filters), version)
    figures = cache.get(key)
    if figures is None:
        board = Dashboard(filters, today=today)
        summary = board.summary
        figures = {
            "kpis": board.kpis, "elapsed": board.elapsed,
            "tiles": [(str(_("Attendances")), summary.attendances),
                      (str(_("Participants")), summary.unique_participants),
                      (str(_("Participants aged 65 and over")), summary.participants_65_plus),
                      (str(_("Sessions held")), summary.sessions_held)],
            "defaulted_ages": board.defaulted_ages,
        }
        cache.set(key, figures, CHART_CACHE_SECONDS)
    return figures


# --- Downloads --------------------------------------------------------------------------------------------------

TABLE_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
def _dataset(matrix: metrics.Matrix) -> tablib.Dataset:
    dataset = tablib.Dataset(headers=[escape_csv_cell(header) for header in matrix.header()])
    for line in matrix.body():
        dataset.append([escape_csv_cell(value) for value in line])
    # Excel's sheet names: at most 31 characters, none of []:*?/\
    dataset.title = "".join(" " if c in "[]:*?/\\" else c for c in str(matrix.title))[:31] or "Sheet1"
    return dataset


def table_csv(matrix: metrics.Matrix) -> bytes:
    """The table as CSV: UTF-8 with a BOM (so that Excel reads Japanese correctly), CRLF line ends."""
    return codecs.BOM_UTF8 + _dataset(matrix).export("csv").encode("utf-8")


def table_xlsx(matrix: metrics.Matrix) -> bytes:
    return _dataset(matrix).export("xlsx")


def table_bytes(matrix: metrics.Matrix, fmt: str) -> bytes:
    return table_csv(matrix) if fmt == "csv" else table_xlsx(matrix)


def period_label(filters: metrics.Filters) -> str:
    """FY2026, or FY2026-05 for one month (the calendar month), or all-time."""
    if filters.fiscal_year is None:
        return "all-time"
    return f"FY{filters.fiscal_year}" + (f"-{filters.month:02d}" if filters.month else "")


def export_filename(name: str, filters: metrics.Filters, fmt: str) -> str:
    return f"dekiru-{name}-{period_label(filters)}.{fmt}"
