"""The reports built on outreach.metrics: the annual report the city takes to its council, and the partner
activity report (実績報告) a partner submits to claim its subsidy, with the side-by-side comparison of every
partner that city staff use to check those claims.

Every figure comes from outreach.metrics, with its definitions (a session is *held* when not cancelled and
ended; attendances include walk-ins; unique participants are the people behind them; and so on). This module
only assembles them, and adds two figures of its own:

- *Mean skills gain*: over every can-do answer paired before and after (the pairs of `metrics.skills`, all
  items together), the mean of post − pre. The same grouped query gives the figure for one partner and for every
  partner, so the side-by-side table and the partner report always agree.
- *Partner comparison*: the key columns per organiser, in a fixed number of queries (grouped by organiser)
  whatever the number of partners, and a whole-programme row computed from the same expressions without grouping
  (unique participants are not the sum of the partners': one person may attend several partners' classes).

The annual report reuses the dashboard (outreach.dashboard.Dashboard: its tables, charts and alt texts), so the
council sees the figures the dashboard shows. Formats are pure functions here (`*_dataset(s)`, `csv_bytes`,
`xlsx_bytes`): data in, tablib objects or bytes out.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import tablib
from django.db.models import Count, F, Prefetch, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from cms.csv_safety import escape_csv_cell
from cms.i18n import localized
from courses.admin.sessions import user_label
from courses.models import Registration, Session, SessionStaff
from outreach import bands, data_quality, followups, metrics, summaries
from outreach.dashboard import Dashboard, skills_matrix
from partners.models import Partner

if TYPE_CHECKING:
    from outreach.dashboard import Dashboard

EXPORT_FORMATS = ("csv", "xlsx")
# The annual report's reach is in the elderly-care split, where the divide runs (the dashboard's default too).
REACH_ROLLUP = bands.ELDERLY
LOG_ACTION_EXPORTED = "outreach.report.exported"
TOTAL = "total"
# Text a spreadsheet would run as a formula (OWASP's CSV injection advice): prefixed with an apostrophe.


def _held(now: dt.datetime, prefix: str = "") -> Q:
    return Q(**{f"{prefix}status": Session.Status.SCHEDULED, f"{prefix}ends_at__lte": now})


# --- Skills gain ------------------------------------------------------------------------------------------------

def _gain_figures() -> dict:
    """Over `metrics.paired_scores` (post answers with their pre answer): how many pairs, and the total gain."""
    return {"pairs": Count("pk"), "gain": Sum(F("score") - F("pre_score__score"))}


def _mean_gain(row) -> float | None:
    return metrics._mean(row["gain"] or 0, row["pairs"])


def skills_gain_by_partner(filters: metrics.Filters) -> dict[int, tuple[float | None, int]]:
    """Mean skills gain and number of paired answers per organiser, in one query."""
    grouped = (metrics.paired_scores(filters).values("assessment__registration__session__organiser_id")
               .annotate(**_gain_figures()).order_by())
    return {row["assessment__registration__session__organiser_id"]: (_mean_gain(row), row["pairs"])
            for row in grouped}


def mean_skills_gain(filters: metrics.Filters, *, summarised: bool = False) -> tuple[float | None, int]:
    """Mean skills gain and number of paired answers over everything the filters select, in one query. With
    `summarised`, on the summaries' pairs of scores (outreach.summaries.SkillSummary) when they answer the filters
    (one more query to know), as the dashboard's skills table reads them; else on the raw answers."""
    if summarised and summaries.refreshed(filters):
        totals = summaries.rows(summaries.SkillSummary, filters).aggregate(
            pairs=Coalesce(Sum("answers"), 0), gain=Sum((F("post") - F("pre")) * F("answers")))
    else:
        totals = metrics.paired_scores(filters).aggregate(**_gain_figures())
    return _mean_gain(totals), totals["pairs"]


# --- Partner comparison -----------------------------------------------------------------------------------------

@dataclass
class PartnerRow:
    """The key figures of one partner (or of the whole programme, when `partner` is None)."""

    partner_id: int | None
    name: str
    sessions_held: int
    sessions_cancelled: int
    seats_offered: int
    registrations: int
    attendances: int
    unique_participants: int
    participants_65_plus: int
    booked_seats_held: int
    attended_booked: int
    mean_skills_gain: float | None
    skill_pairs: int

    @property
    def attendance_rate(self) -> float | None:
        return metrics.rate(self.attended_booked, self.booked_seats_held)

    def cells(self) -> list:
        return [self.name, self.sessions_held, self.seats_offered, self.attendances, self.unique_participants,
                self.participants_65_plus, self.attendance_rate, self.mean_skills_gain]


def comparison_header() -> list[str]:
    return [_("Partner"), _("Sessions held"), _("Seats offered"), _("Attendances"), _("Unique participants"),
            _("Participants aged 65+"), _("Attendance rate (%)"), _("Mean skills gain")]


def _session_figures(now: dt.datetime) -> dict:
    held = _held(now)
    return {"held": Count("pk", filter=held), "cancelled": Count("pk", filter=Q(status=Session.Status.CANCELLED)),
            "seats": Sum("capacity", filter=held)}


def _people_figures(now: dt.datetime) -> dict:
    """The same expressions as `metrics.summary`, so the figures agree with the dashboard's."""
    session_held = _held(now, "session__")
    booked = ~Q(channel=Registration.Channel.WALK_IN)
    attended = Q(status=Registration.Status.ATTENDED)
    return {
        "registrations": Count("pk", filter=booked),
        "attendances": Count("pk", filter=attended),
        "unique": Count("participant", distinct=True, filter=attended),
        "aged_65_plus": Count("participant", distinct=True,
                              filter=attended & Q(participant__age_band__in=bands.AGED_65_PLUS)),
        "booked_seats_held": Count("pk", filter=booked & session_held & Q(status__in=Registration.SEATED)),
        "attended_booked": Count("pk", filter=booked & session_held & attended),
    }


def _row(partner_id, name, sessions: dict, people: dict, gain: tuple[float | None, int]) -> PartnerRow:
    return PartnerRow(
        partner_id=partner_id, name=name, sessions_held=sessions.get("held", 0),
        sessions_cancelled=sessions.get("cancelled", 0), seats_offered=sessions.get("seats") or 0,
        registrations=people.get("registrations", 0), attendances=people.get("attendances", 0),
        unique_participants=people.get("unique", 0), participants_65_plus=people.get("aged_65_plus", 0),
        booked_seats_held=people.get("booked_seats_held", 0), attended_booked=people.get("attended_booked", 0),
        mean_skills_gain=gain[0], skill_pairs=gain[1])


@dataclass
class Comparison:
    rows: list[PartnerRow]
    total: PartnerRow

    def header(self) -> list[str]:
        return comparison_header()

    def body(self) -> list[list]:
        return [row.cells() for row in [*self.rows, self.total]]


def _summarised_partners(filters: metrics.Filters, figures: metrics.Summary | None):
    """The partners' figures from PartnerSummary ({partner id: row}) when the dashboard's figures come from a
    refresh that filled them (same fiscal year, same moment), else None: the raw rows are counted."""
    if figures is None or figures.as_of is None or not summaries.covers(filters):
        return None
    found = {row.partner_id: row for row in summaries.PartnerSummary.objects.filter(
        fiscal_year=filters.fiscal_year, as_of=figures.as_of)}
    return found or None  # none: not filled by that refresh (or a year without partners' figures, cheap raw)


def partner_comparison(filters: metrics.Filters, *, now: dt.datetime | None = None,
                       figures: metrics.Summary | None = None) -> Comparison:
    """Every partner the filters' scope allows as a row (active partners, and inactive ones with figures in the
    period), plus the whole programme. Seven queries whatever the number of partners.

    With `figures` (the filters' `metrics.Summary`, e.g. the dashboard's, read from outreach.summaries for a whole
    year city-wide), the whole-programme row is those figures, and every partner's row is counted as of the same
    moment (`figures.as_of`): the report's tables then agree with each other and with the dashboard, and the
    programme's distinct people are not counted over the raw rows a second time."""
    filters = filters.with_(partner=None)
    if figures is not None and figures.as_of is not None:
        now = figures.as_of
    now = now or timezone.now()
    summarised = _summarised_partners(filters, figures)
    if summarised is not None:
        return _summarised_comparison(filters, summarised, figures)
    sessions = {row.pop("organiser_id"): row for row in
                metrics.sessions(filters).values("organiser_id").annotate(**_session_figures(now)).order_by()}
    people = {row.pop("session__organiser_id"): row for row in
              metrics.registrations(filters).values("session__organiser_id")
              .annotate(**_people_figures(now)).order_by()}
    gains = skills_gain_by_partner(filters)
    partners = Partner.objects.filter(Q(is_active=True) | Q(pk__in={*sessions, *people})).order_by("name")
    if filters.scope is not None:
        partners = partners.filter(pk__in=filters.scope)
    rows = [_row(partner.pk, localized(partner, "name"), sessions.get(partner.pk, {}), people.get(partner.pk, {}),
                 gains.get(partner.pk, (None, 0))) for partner in partners]
    total_label = _("Total") if filters.scope is not None else _("Whole programme")
    if figures is not None:
        total = _total_row(total_label, figures, mean_skills_gain(filters, summarised=True))
    else:
        total = _row(None, total_label, metrics.sessions(filters).aggregate(**_session_figures(now)),
                     metrics.registrations(filters).aggregate(**_people_figures(now)), mean_skills_gain(filters))
    return Comparison(rows=rows, total=total)


def _total_row(name: str, figures: metrics.Summary, gain: tuple[float | None, int]) -> PartnerRow:
    return PartnerRow(
        partner_id=None, name=name, sessions_held=figures.sessions_held,
        sessions_cancelled=figures.sessions_cancelled, seats_offered=figures.seats_offered,
        registrations=figures.registrations, attendances=figures.attendances,
        unique_participants=figures.unique_participants, participants_65_plus=figures.participants_65_plus,
        booked_seats_held=figures.booked_seats_held, attended_booked=figures.attended_booked,
        mean_skills_gain=gain[0], skill_pairs=gain[1])


def _summarised_comparison(filters: metrics.Filters, found: dict, figures: metrics.Summary) -> Comparison:
    """The comparison from PartnerSummary and the dashboard's summary: three queries (partners, their rows, the
    programme's skills gain) whatever the amount of data."""
    partners = Partner.objects.filter(Q(is_active=True) | Q(pk__in=set(found))).order_by("name")
    rows = []
    for partner in partners:
        row = found.get(partner.pk)
        if row is None:
            rows.append(_row(partner.pk, localized(partner, "name"), {}, {}, (None, 0)))
            continue
        rows.append(PartnerRow(
            partner_id=partner.pk, name=localized(partner, "name"), sessions_held=row.sessions_held,
            sessions_cancelled=row.sessions_cancelled, seats_offered=row.seats_offered,
            registrations=row.registrations, attendances=row.attendances,
            unique_participants=row.unique_participants, participants_65_plus=row.participants_65_plus,
            booked_seats_held=row.booked_seats_held, attended_booked=row.attended_booked,
            mean_skills_gain=metrics._mean(row.skill_gain, row.skill_pairs) if row.skill_pairs else None,
            skill_pairs=row.skill_pairs))
    total = _total_row(str(_("Whole programme")), figures, mean_skills_gain(filters, summarised=True))
    return Comparison(rows=rows, total=total)


# --- The partner activity report (実績報告) -----------------------------------------------------------------------

@dataclass
class SessionLine:
    pk: int
    starts_at: dt.datetime
    course: str
    venue: str
    capacity: int
    attended: int
    instructors: list[str]
    assistants: list[str]


@dataclass
class PartnerReport:
    partner: object
    filters: metrics.Filters
    figures: metrics.Summary
    row: PartnerRow
    by_decade: metrics.Matrix
    by_elderly: metrics.Matrix
    by_ward: metrics.Matrix
    sessions: list[SessionLine]
    skills: list[metrics.SkillRow]
    # Age bands the old registration form may have defaulted (outreach.data_quality); usually none.
    defaulted_ages: list[data_quality.DefaultedAgeNote] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return bool(self.figures.sessions_held or self.figures.sessions_cancelled or self.figures.registrations
                    or self.figures.attendances)

    def skills_matrix(self) -> metrics.Matrix:
        """The skills per can-do item as the dashboard's table."""
        return skills_matrix(self.skills)


def _people_columns() -> list[tuple[str, str]]:
    return [("attendances", _("Attendances")), ("participants", _("Unique participants"))]


def _people_matrix(title: str, heading: str, rows: list[tuple[str, str]], counts: dict[str, dict]) -> metrics.Matrix:
    """Attendances and unique participants per row, with a total row (each person has one age band and one
    ward, so the unique participants of the rows add up to the total)."""
    values = {}
    for key, _label in rows:
        found = counts.get(key, {})
        values[(key, "attendances")] = found.get("attendances", 0)
        values[(key, "participants")] = found.get("participants", 0)
    for column, _label in _people_columns():
        values[(TOTAL, column)] = sum(values[(key, column)] for key, _label in rows)
    return metrics.Matrix(title=title, rows=[*rows, (TOTAL, _("Total"))], columns=_people_columns(),
                          values=values, row_heading=heading, totals=False)


def _people_counts(queryset, key: str) -> dict[str, dict]:
    return {("" if row[key] is None else str(row[key])): row for row in
            queryset.values(key).annotate(attendances=Count("pk"),
                                          participants=Count("participant", distinct=True)).order_by()}


def people_by_band(filters: metrics.Filters, rollup: str) -> metrics.Matrix:
    queryset = metrics.attendances(filters).annotate(band=bands.rolled("participant__age_band", rollup))
    title = (_("Participants by age band (65–74 / 75+)") if rollup == bands.ELDERLY
             else _("Participants by age band (10-year bands)"))
    return _people_matrix(title, _("Age band"), metrics.band_rows(rollup), _people_counts(queryset, "band"))


def people_by_ward(filters: metrics.Filters) -> metrics.Matrix:
    rows = [*metrics.ward_columns(), ("", _("Not given"))]
    return _people_matrix(_("Participants by ward of residence"), _("Ward"), rows,
                          _people_counts(metrics.attendances(filters), "participant__ward_id"))


def held_sessions(filters: metrics.Filters, *, now: dt.datetime | None = None) -> list[SessionLine]:
    """The sessions held in the period, oldest first, with attendances (walk-ins included) and staff: two queries
    whatever the number of sessions."""
    now = now or timezone.now()
    queryset = (metrics.sessions(filters).filter(_held(now))
                .select_related("course", "venue")
                .annotate(attended=Count("registrations",
                                         filter=Q(registrations__status=Registration.Status.ATTENDED)))
                .prefetch_related(Prefetch("staff_assignments",
                                           queryset=SessionStaff.objects.select_related("user").order_by("role", "pk")))
                .order_by("starts_at", "pk"))
    lines = []
    for session in queryset:
        staff = list(session.staff_assignments.all())
        lines.append(SessionLine(
            pk=session.pk, starts_at=timezone.localtime(session.starts_at), course=localized(session.course, "title"),
            venue=localized(session.venue, "name") if session.venue else _("Online"), capacity=session.capacity,
            attended=session.attended,
            instructors=[user_label(a.user) for a in staff if a.role == SessionStaff.Role.INSTRUCTOR],
            assistants=[user_label(a.user) for a in staff if a.role == SessionStaff.Role.ASSISTANT]))
    return lines


def partner_report(partner, filters: metrics.Filters, *, now: dt.datetime | None = None) -> PartnerReport:
    """Everything the activity report of `partner` shows for the filters' period. The caller checks that the
    user may see this partner; the filters' scope applies as well (a partner outside it has no figures)."""
    now = now or timezone.now()
    filters = filters.with_(partner=partner.pk)
    figures = metrics.summary(filters, now=now)
    gain = mean_skills_gain(filters)
    row = PartnerRow(
        partner_id=partner.pk, name=localized(partner, "name"), sessions_held=figures.sessions_held,
        sessions_cancelled=figures.sessions_cancelled, seats_offered=figures.seats_offered,
        registrations=figures.registrations, attendances=figures.attendances,
        unique_participants=figures.unique_participants, participants_65_plus=figures.participants_65_plus,
        booked_seats_held=figures.booked_seats_held, attended_booked=figures.attended_booked,
        mean_skills_gain=gain[0], skill_pairs=gain[1])
    return PartnerReport(
        partner=partner, filters=filters, figures=figures, row=row,
        by_decade=people_by_band(filters, bands.DECADE), by_elderly=people_by_band(filters, bands.ELDERLY),
        by_ward=people_by_ward(filters), sessions=held_sessions(filters, now=now), skills=metrics.skills(filters),
        defaulted_ages=data_quality.defaulted_age_notes(filters))


def summary_lines(report: PartnerReport) -> list[tuple[str, object]]:
    figures = report.figures
    return [
        (_("Sessions held"), figures.sessions_held),
        (_("Sessions cancelled"), figures.sessions_cancelled),
        (_("Seats offered"), figures.seats_offered),
        (_("Registrations (in advance)"), figures.registrations),
        (_("Attendances (walk-ins included)"), figures.attendances),
        (_("of which walk-ins"), figures.walk_ins),
        (_("Unique participants"), figures.unique_participants),
        (_("Participants aged 65+"), figures.participants_65_plus),
        (_("First-time participants"), figures.first_time_participants),
        (_("Attendance rate (%)"), figures.attendance_rate),
        (_("No-show rate (%)"), figures.no_show_rate),
        (_("Mean skills gain"), report.row.mean_skills_gain),
    ]


def period_label(filters: metrics.Filters) -> str:
    from django.utils.dates import MONTHS

    if filters.fiscal_year is None:
        return _("All time")
    if filters.month:
        start, _end = metrics.month_bounds(filters.fiscal_year, filters.month)
        return _("FY%(year)s, %(month)s %(calendar_year)s") % {
            "year": filters.fiscal_year, "month": MONTHS[filters.month], "calendar_year": start.year}
    return _("FY%(year)s (April %(year)s to March %(next)s)") % {
        "year": filters.fiscal_year, "next": filters.fiscal_year + 1}


# --- The annual report ------------------------------------------------------------------------------------------

@dataclass
class AnnualReport:
    """One fiscal year: the dashboard's figures (outreach.dashboard.Dashboard: tables, charts and their alt text)
    and every partner side by side. The KPI targets are the city's: shown against the whole city's figures only."""

    board: Dashboard
    comparison: Comparison

    @property
    def filters(self) -> metrics.Filters:
        return self.board.filters

    @property
    def figures(self) -> metrics.Summary:
        return self.board.summary

    @property
    def city_wide(self) -> bool:
        return self.filters.scope is None

    @property
    def kpis(self) -> list[metrics.KpiProgress]:
        return self.board.kpis if self.city_wide else []

    @property
    def has_data(self) -> bool:
        figures = self.figures
        return bool(figures.sessions_held or figures.sessions_cancelled or figures.registrations
                    or figures.attendances or figures.consultations)

    @property
    def has_skills(self) -> bool:
        return any(row.pairs for row in self.board.skills)

    def table(self, name: str) -> metrics.Matrix:
        return self.board.table(name)

    @property
    def defaulted_ages(self) -> list:
        """Notes on age bands the old registration form may have defaulted (outreach.data_quality)."""
        return self.board.defaulted_ages

    @cached_property
    def foundation(self) -> tuple[float | None, int]:
        """The share (%) of post assessments "on my own" on every foundation item, and how many answered one."""
        return metrics.foundation_on_my_own(self.filters)

    @cached_property
    def outcomes(self) -> followups.Outcomes:
        """The follow-up a month later: response rate, doing it on their own, the change from before the class and
        the figures by each framework's themes (outreach.followups, where they are defined)."""
        return followups.outcomes(self.filters)


def annual_report(filters: metrics.Filters, *, today: dt.date | None = None,
                  now: dt.datetime | None = None) -> AnnualReport:
    """The figures of the filters' fiscal year, age bands in 10-year bands, reach in 65–74 / 75+ (the filters'
    scope applies: partner staff get their own partners'). Only the fiscal year and the scope of `filters` are used.

    The figures are the dashboard's (outreach.dashboard.Dashboard), so a whole year city-wide is read from
    outreach.summaries as the dashboard reads it; the partner comparison's whole-programme row is the dashboard's
    summary too, and its partners' rows are counted as of the same moment."""
    now = now or timezone.now()
    filters = metrics.Filters(fiscal_year=filters.fiscal_year, scope=filters.scope, rollup=bands.DECADE)
    board = Dashboard(filters, today=today or timezone.localdate(now), reach_bands=REACH_ROLLUP)
    return AnnualReport(board=board, comparison=partner_comparison(filters, now=now, figures=board.summary))


# --- Formats ----------------------------------------------------------------------------------------------------

def _cell(value):
    return "" if value is None else escape_csv_cell(value)


def _dataset(title: str, header: list, body: list[list]) -> tablib.Dataset:
    dataset = tablib.Dataset(*[[_cell(value) for value in line] for line in body],
                             headers=[str(label) for label in header])
    # Excel's sheet names: at most 31 characters, none of []:*?/\\
    dataset.title = "".join(" " if c in "[]:*?/\\" else c for c in str(title))[:31]
    return dataset


def comparison_dataset(comparison: Comparison) -> tablib.Dataset:
    return _dataset(_("Partners"), comparison.header(), comparison.body())


def sessions_header() -> list[str]:
    return [_("Date"), _("Start"), _("Course"), _("Venue"), _("Capacity"), _("Attended"), _("Instructors"),
            _("Assistants")]


def session_cells(line: SessionLine) -> list:
    return [line.starts_at.date().isoformat(), line.starts_at.strftime("%H:%M"), line.course, line.venue,
            line.capacity, line.attended, "、".join(line.instructors), "、".join(line.assistants)]


def partner_report_datasets(report: PartnerReport) -> list[tablib.Dataset]:
    """The partner report's tables: one sheet each in XLSX, one after the other in CSV."""
    summary = _dataset(_("Summary"), [_("Item"), _("Value for the period")], [
        [_("Partner"), report.row.name], [_("Period"), period_label(report.filters)],
        *[[label, value] for label, value in summary_lines(report)],
        *[[_("Note"), note.text()] for note in report.defaulted_ages]])
    sheets = [summary]
    for matrix, title in ((report.by_decade, _("By age (10-year)")), (report.by_elderly, _("By age (65+)")),
                          (report.by_ward, _("By ward"))):
        sheets.append(_dataset(title, matrix.header(), matrix.body()))
    sheets.append(_dataset(_("Sessions held"), sessions_header(), [session_cells(line) for line in report.sessions]))
    skills = report.skills_matrix()
    sheets.append(_dataset(_("Skills"), skills.header(), skills.body()))
    return sheets


def csv_bytes(datasets: list[tablib.Dataset]) -> bytes:
    """One CSV (UTF-8 with a BOM, so Excel reads Japanese) holding the datasets one after the other: each as a
    title line, its header and its rows, then a blank line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    several = len(datasets) > 1
    for index, dataset in enumerate(datasets):
        if several:
            if index:
                writer.writerow([])
            writer.writerow([dataset.title])
        writer.writerow(dataset.headers)
        writer.writerows(dataset)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def xlsx_bytes(datasets: list[tablib.Dataset]) -> bytes:
    return tablib.Databook(datasets).export("xlsx")
