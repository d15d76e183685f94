"""The programme's figures, computed in the database from the raw rows (registrations, sessions, consultations,
self-assessments, reference data). Every view, chart, export and report of the outreach app reads them from here.

Definitions (each figure is exact and reproducible from the rows):

- The period is a fiscal year (April–March), optionally one calendar month of it, by the session's start date in
  the municipality's time zone (settings.TIME_ZONE, whatever time zone the viewer chose in the admin; for
  consultations, their date). Without a fiscal year, all time.
- Filters: partner (the organiser of the session), course topic, ward and age band. The ward is the participant's
  ward of residence for figures about people, and the venue's ward for figures about sessions. The age band
  filters people only. `scope` limits everything to the partners a partner staff member belongs to.
- A session is *held* when it was not cancelled and has ended; *cancelled* when cancelled.
  *Seats offered* is the sum of the capacities of the sessions held.
- *Registrations*: bookings made in advance (not walk-ins) for sessions in the period, whatever became of them.
- *Attendances*: registrations marked attended, walk-ins included. *Unique participants*: the people behind them.
- *First-time participants*: unique participants with no attendance before the period (in the whole programme).
- *Repeat participants*: unique participants who attended sessions of two or more courses in the period.
- *Attendance rate*: of the advance bookings holding a seat in sessions held (confirmed, attended, no-show),
  the share marked attended; *no-show rate* the share marked no-show. Walk-ins are in neither.
- *Waitlist demand*: people still on the waiting list of a session held, so who never got that seat.
- *Reach*: unique participants per 1,000 residents of the same ward and age band, with the population of the
  fiscal year's starting calendar year (or the latest year before it that the city imported).
- *Skills gained*: per can-do item, over the registrations with both a pre and a post answer for that item:
  mean post − pre, and of the answers below "on my own" (2) before, the share at 2 or above after.
- *Foundation "on my own"*: of the post assessments that answer at least one foundation item, the share whose
  answers to the foundation items are all 2 or above (a KPI).
- *Consultations*: support-desk consultations in the period, by topic, outcome and place; ward = ward of
  residence. They belong to no partner: partner filters and partner staff see none.
- *Divide gap*: per survey year, the internet usage rate of ages 13–59 minus that of ages 70+, each the mean of
  its survey bands weighted by the city's population of those bands that year (or the nearest earlier year).
- A course topic filter keeps consultations out too: they have topics of their own, not course topics.
- Rounding: percentages to 0.1, means to 0.01 and rates per 1,000 to 0.01, half up (四捨五入), from the exact
  ratio of the counts.

Speed: a whole fiscal year seen city-wide (the dashboard's default view, also by ward of residence or age band) is
read from the pre-aggregated tables of `outreach.summaries` when they were refreshed recently; the figures are then
those of the refresh (`Summary.as_of`). Other views (a month, a partner, a topic, partner staff) are computed from
the raw rows. Both give the same figures for the same moment (tests/outreach/test_metrics.py).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, F, FilteredRelation, Max, Min, OuterRef, Q, Sum
from django.db.models.functions import Coalesce, ExtractMonth, ExtractYear
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cms.i18n import localized
from courses.models import CoursePage, Registration, Session, Topic
from outreach import bands, summaries
from outreach.models import (
    Consultation,
    ConsultationTopic,
    InternetUsageRate,
    KpiTarget,
    PopulationFigure,
    SelfAssessment,
    SkillItem,
    SkillScore,
)
from partners.models import Ward

FISCAL_YEAR_FIRST_MONTH = 4
FISCAL_MONTHS = [4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3]
ON_MY_OWN = 2


# --- Fiscal years ---------------------------------------------------------------------------------------------

def fiscal_year_of(day: dt.date) -> int:
    """FY2025 runs from 2025-04-01 to 2026-03-31."""
    return day.year if day.month >= FISCAL_YEAR_FIRST_MONTH else day.year - 1


def fiscal_year_bounds(fiscal_year: int) -> tuple[dt.date, dt.date]:
    """The first day of the fiscal year and the first day of the next one."""
    return dt.date(fiscal_year, 4, 1), dt.date(fiscal_year + 1, 4, 1)


def month_bounds(fiscal_year: int, month: int) -> tuple[dt.date, dt.date]:
    year = fiscal_year if month >= FISCAL_YEAR_FIRST_MONTH else fiscal_year + 1
    start = dt.date(year, month, 1)
    return start, (dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1))


def fiscal_year_elapsed(fiscal_year: int, today: dt.date) -> float:
    """The share of the fiscal year that has passed on `today` (0 before it starts, 1 after it ends)."""
    passed, days = _elapsed_days(fiscal_year, today)
    return passed / days


def _elapsed_days(fiscal_year: int, today: dt.date) -> tuple[int, int]:
    start, end = fiscal_year_bounds(fiscal_year)
    return (min(max(today, start), end) - start).days, (end - start).days


def local_midnight(day: dt.date) -> dt.datetime:
    """The start of `day` in the municipality's time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone())


def municipal_today() -> dt.date:
    """Today in the municipality's time zone (settings.TIME_ZONE), not the viewer's: the Wagtail admin switches to
    the time zone a user chose in their account, and a fiscal year must not move with it."""
    return timezone.localdate(timezone=timezone.get_default_timezone())


# --- Filters --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    fiscal_year: int | None = None
    month: int | None = None
    ward: int | None = None
    partner: int | None = None
    topic: int | None = None
    age_band: str = ""
    rollup: str = bands.DETAIL
    # The partner ids the viewer may see; None for city staff (the whole city).
    scope: frozenset[int] | None = None

    def dates(self) -> tuple[dt.date, dt.date] | None:
        """First day and the day after the last day of the period, or None for all time."""
        if self.fiscal_year is None:
            return None
        if self.month:
            return month_bounds(self.fiscal_year, self.month)
        return fiscal_year_bounds(self.fiscal_year)

    def period(self) -> tuple[dt.datetime, dt.datetime] | None:
        dates = self.dates()
        return (local_midnight(dates[0]), local_midnight(dates[1])) if dates else None

    def with_(self, **changes) -> Filters:
        return replace(self, **changes)

    @property
    def band_members(self) -> list[str] | None:
        return bands.MEMBERS.get(self.age_band) if self.age_band else None


def _topic_exists(topic_id: int, course_ref: str):
    through = CoursePage.topics.through
    return Exists(through.objects.filter(coursepage_id=OuterRef(course_ref), topic_id=topic_id))


def sessions(filters: Filters):
    """The sessions in the period and filters (ward = the venue's ward)."""
    queryset = Session.objects.all()
    period = filters.period()
    if period:
        queryset = queryset.filter(starts_at__gte=period[0], starts_at__lt=period[1])
    if filters.scope is not None:
        queryset = queryset.filter(organiser_id__in=filters.scope)
    if filters.partner:
        queryset = queryset.filter(organiser_id=filters.partner)
    if filters.ward:
        queryset = queryset.filter(venue__ward_id=filters.ward)
    if filters.topic:
        queryset = queryset.filter(_topic_exists(filters.topic, "course_id"))
    return queryset


def registrations(filters: Filters):
    """The registrations of sessions in the period and filters (ward = the participant's ward of residence)."""
    return Registration.objects.filter(_registration_q(filters))


def _registration_q(filters: Filters, prefix: str = "") -> Q:
    """The condition of `registrations(filters)` on a registration reached through `prefix` (e.g. from a
    self-assessment: "registration__"), so that related rows are filtered by joins, not by a subquery over
    every registration."""
    condition = Q()
    period = filters.period()
    if period:
        condition &= Q(**{f"{prefix}session__starts_at__gte": period[0], f"{prefix}session__starts_at__lt": period[1]})
    if filters.scope is not None:
        condition &= Q(**{f"{prefix}session__organiser_id__in": sorted(filters.scope)})
    if filters.partner:
        condition &= Q(**{f"{prefix}session__organiser_id": filters.partner})
    if filters.ward:
        condition &= Q(**{f"{prefix}participant__ward_id": filters.ward})
    if filters.topic:
        condition &= Q(_topic_exists(filters.topic, f"{prefix}session__course_id"))
    if filters.band_members is not None:
        condition &= Q(**{f"{prefix}participant__age_band__in": filters.band_members})
    return condition


def attendances(filters: Filters):
    return registrations(filters).filter(status=Registration.Status.ATTENDED)


def consultations(filters: Filters):
    """Support-desk consultations in the period and filters; none for partner staff or a partner filter."""
    if filters.scope is not None or filters.partner or filters.topic:
        return Consultation.objects.none()
    queryset = Consultation.objects.all()
    dates = filters.dates()
    if dates:
        queryset = queryset.filter(date__gte=dates[0], date__lt=dates[1])
    if filters.ward:
        queryset = queryset.filter(residence_ward_id=filters.ward)
    if filters.band_members is not None:
        queryset = queryset.filter(age_band__in=filters.band_members)
    return queryset


# --- Headline figures -----------------------------------------------------------------------------------------

def _half_up(numerator, denominator, places: int) -> float:
    """numerator / denominator rounded half up (四捨五入) to `places` decimals, from the exact ratio."""
    quotient = Decimal(numerator) / Decimal(denominator)
    return float(quotient.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def rate(part: int, whole: int) -> float | None:
    """A percentage, or None when there is nothing to divide by."""
    return _half_up(100 * part, whole, 1) if whole else None


@dataclass
class Summary:
    sessions_held: int
    sessions_cancelled: int
    seats_offered: int
    registrations: int
    attendances: int
    walk_ins: int
    unique_participants: int
    first_time_participants: int
    repeat_participants: int
    participants_65_plus: int
    booked_seats_held: int
    attended_booked: int
    no_shows: int
    waitlist_demand: int
    consultations: int
    # The moment the figures describe: sessions ended by then are held (the request's time, or the refresh's
    # when the figures come from outreach.summaries).
    as_of: dt.datetime | None = None
    attendance_rate: float | None = field(init=False)
    no_show_rate: float | None = field(init=False)

    def __post_init__(self):
        self.attendance_rate = rate(self.attended_booked, self.booked_seats_held)
        self.no_show_rate = rate(self.no_shows, self.booked_seats_held)


# The figures' expressions, shared by the queries on the raw rows and by the refresh of outreach.summaries, so
# that both count the same rows.

def _held(now: dt.datetime, prefix: str = "") -> Q:
    return Q(**{f"{prefix}status": Session.Status.SCHEDULED, f"{prefix}ends_at__lte": now})


def session_counts(now: dt.datetime) -> dict:
    """Aggregates over sessions: held, cancelled, seats offered."""
    return {"sessions_held": Count("pk", filter=_held(now)),
            "sessions_cancelled": Count("pk", filter=Q(status=Session.Status.CANCELLED)),
            "seats_offered": Coalesce(Sum("capacity", filter=_held(now)), 0)}


def booking_counts(now: dt.datetime) -> dict:
    """Aggregates over registrations that add up across groups (rows, not people)."""
    Status = Registration.Status
    session_held = _held(now, "session__")
    booked = ~Q(channel=Registration.Channel.WALK_IN)
    attended = Q(status=Status.ATTENDED)
    return {
        "registrations": Count("pk", filter=booked),
        "attendances": Count("pk", filter=attended),
        "walk_ins": Count("pk", filter=attended & Q(channel=Registration.Channel.WALK_IN)),
        "booked_seats_held": Count("pk", filter=booked & session_held & Q(status__in=Registration.SEATED)),
        "attended_booked": Count("pk", filter=booked & session_held & attended),
        "no_shows": Count("pk", filter=booked & session_held & Q(status=Status.NO_SHOW)),
    }


def waiting_in_held_session(now: dt.datetime) -> Q:
    """A registration still on the waiting list of a session held: a seat the person never got."""
    return _held(now, "session__") & Q(status=Registration.Status.WAITLISTED)


def people_counts(now: dt.datetime) -> dict:
    """Aggregates over registrations that count people."""
    attended = Q(status=Registration.Status.ATTENDED)
    return {
        "unique_participants": Count("participant", distinct=True, filter=attended),
        "participants_65_plus": Count("participant", distinct=True,
                                      filter=attended & Q(participant__age_band__in=bands.AGED_65_PLUS)),
        "waitlist_demand": Count("participant", distinct=True, filter=waiting_in_held_session(now)),
    }


def attended_before(start: dt.datetime, participant_ref: str = "participant_id") -> Exists:
    """Whether the participant (an outer reference) attended a session that started before `start`."""
    return Exists(Registration.objects.filter(participant_id=OuterRef(participant_ref), session__starts_at__lt=start,
                                              status=Registration.Status.ATTENDED))


def summary(filters: Filters, *, now: dt.datetime | None = None) -> Summary:
    """The headline figures: as of `now` from the raw rows in five queries whatever the amount of data; without
    `now`, from outreach.summaries when they cover the filters (as of their refresh), else as of the request."""
    refresh = summaries.refreshed(filters) if now is None else None
    if refresh is not None:
        return _summarised_summary(filters, refresh)
    now = now or timezone.now()
    session_figures = sessions(filters).aggregate(**session_counts(now))
    figures = registrations(filters).aggregate(**booking_counts(now), **people_counts(now))
    return Summary(**session_figures, **figures, first_time_participants=_first_time_participants(filters),
                   repeat_participants=_repeat_participants(filters),
                   consultations=consultations(filters).count(), as_of=now)


def _summed(queryset, names) -> dict[str, int]:
    return queryset.aggregate(**{name: Coalesce(Sum(name), 0) for name in names})


def _summarised_summary(filters: Filters, refresh) -> Summary:
    session_figures = _summed(summaries.rows(summaries.SessionSummary, filters), session_counts(refresh.as_of))
    figures = _summed(summaries.rows(summaries.RegistrationSummary, filters), booking_counts(refresh.as_of))
    return Summary(**session_figures, **figures, **_summarised_people(filters),
                   consultations=consultations(filters).count(), as_of=refresh.as_of)


def _summarised_people(filters: Filters) -> dict[str, int]:
    """People counted per ward and age band add up: each person is in one ward and one band."""
    return summaries.rows(summaries.PeopleSummary, filters).aggregate(
        unique_participants=Coalesce(Sum("participants"), 0),
        participants_65_plus=Coalesce(Sum("participants", filter=Q(age_band__in=bands.AGED_65_PLUS)), 0),
        first_time_participants=Coalesce(Sum("first_time"), 0),
        repeat_participants=Coalesce(Sum("repeat"), 0),
        waitlist_demand=Coalesce(Sum("waitlisted"), 0),
    )


def refresh_partner_summaries(fiscal_year: int, now: dt.datetime) -> None:
    """Recompute the partner comparison of a fiscal year (outreach.reports) into summaries.PartnerSummary, as of
    `now` (the refresh's moment), with the expressions of `summary` grouped by the organising partner. To be called
    by outreach.summary_refresh.refresh() inside its transaction; the year's earlier rows are replaced."""
    filters = Filters(fiscal_year=fiscal_year)
    rows: dict[int, dict] = defaultdict(dict)
    for row in sessions(filters).values("organiser_id").annotate(**session_counts(now)).order_by():
        rows[row.pop("organiser_id")].update(row)
    people = {name: expression for name, expression in {**booking_counts(now), **people_counts(now)}.items()
              if name not in ("walk_ins", "no_shows", "waitlist_demand")}
    for row in registrations(filters).values("session__organiser_id").annotate(**people).order_by():
        rows[row.pop("session__organiser_id")].update(row)
    for row in (paired_scores(filters).values("assessment__registration__session__organiser_id")
                .annotate(skill_pairs=Count("pk"), skill_gain=Sum(F("score") - F("pre_score__score"))).order_by()):
        partner = row.pop("assessment__registration__session__organiser_id")
        rows[partner].update(skill_pairs=row["skill_pairs"], skill_gain=row["skill_gain"] or 0)
    summaries.PartnerSummary.objects.filter(fiscal_year=fiscal_year).delete()
    summaries.PartnerSummary.objects.bulk_create(
        [summaries.PartnerSummary(fiscal_year=fiscal_year, as_of=now, partner_id=partner, **figures)
         for partner, figures in rows.items() if partner is not None])


def first_time_participants(filters: Filters) -> int:
    """Unique participants of the period who had attended nothing in the programme before it."""
    if summaries.refreshed(filters):
        return _summarised_people(filters)["first_time_participants"]
    return _first_time_participants(filters)


def _first_time_participants(filters: Filters) -> int:
    period = filters.period()
    attended = attendances(filters)
    if period:
        attended = attended.exclude(attended_before(period[0]))
    return attended.values("participant_id").distinct().count()


def repeat_participants(filters: Filters) -> int:
    """Unique participants who attended sessions of two or more courses in the period."""
    if summaries.refreshed(filters):
        return _summarised_people(filters)["repeat_participants"]
    return _repeat_participants(filters)


def _repeat_participants(filters: Filters) -> int:
    return (attendances(filters).order_by().values("participant_id")
            .annotate(courses=Count("session__course_id", distinct=True)).filter(courses__gte=2).count())


# --- Tables -----------------------------------------------------------------------------------------------------

@dataclass
class Matrix:
    """Figures by row and column (e.g. age band × ward), with labels, for tables, charts and downloads."""

    title: str
    rows: list[tuple[str, str]]
    columns: list[tuple[str, str]]
    values: dict[tuple[str, str], float | int | None]
    row_heading: str = ""
    totals: bool = True
    # The headings of the totals column and row ("Total" when empty).
    total_column_label: str = ""
    total_row_label: str = ""

    def value(self, row: str, column: str):
        return self.values.get((row, column), 0 if self.totals else None)

    def row_total(self, row: str):
        return sum(self.value(row, column) or 0 for column, _label in self.columns)

    def column_total(self, column: str):
        return sum(self.value(row, column) or 0 for row, _label in self.rows)

    @property
    def grand_total(self):
        return sum(self.row_total(row) for row, _label in self.rows)

    def header(self) -> list[str]:
        header = [str(self.row_heading), *[str(label) for _key, label in self.columns]]
        return [*header, str(self.total_column_label or _("Total"))] if self.totals else header

    def body(self) -> list[list]:
        lines = []
        for row, row_label in self.rows:
            line = [str(row_label), *[self.value(row, column) for column, _label in self.columns]]
            lines.append([*line, self.row_total(row)] if self.totals else line)
        if self.totals:
            lines.append([str(self.total_row_label or _("Total")),
                          *[self.column_total(column) for column, _label in self.columns], self.grand_total])
        return lines

    def is_empty(self) -> bool:
        return not any(self.values.values())


@dataclass
class RateMatrix(Matrix):
    """Rates by row and column (participants per 1,000 residents) whose totals are rates too: a total divides the
    numerators summed over its cells by their denominators summed (a ward's all-ages figure is the ward's
    participants over its residents), never a sum or a mean of the cells' rates. Cells without a denominator (no
    population figure) are left out of the totals, numerator and denominator both, and show no figure.

    Every rate, cells and totals, is rounded half up (四捨五入) to `places` decimals once, from the exact ratio of
    whole numbers; charts, tables and downloads show exactly that figure (outreach.charts.number)."""

    numerators: dict[tuple[str, str], int] = field(default_factory=dict)
    denominators: dict[tuple[str, str], int] = field(default_factory=dict)
    scale: int = 1000
    places: int = 1

    def value(self, row: str, column: str):
        return self.values.get((row, column))

    def _rate(self, cells) -> float | None:
        cells = [cell for cell in cells if self.denominators.get(cell)]
        whole = sum(self.denominators[cell] for cell in cells)
        if not whole:
            return None
        return _half_up(self.scale * sum(self.numerators.get(cell, 0) for cell in cells), whole, self.places)

    def row_total(self, row: str):
        return self._rate([(row, column) for column, _label in self.columns])

    def column_total(self, column: str):
        return self._rate([(row, column) for row, _label in self.rows])

    @property
    def grand_total(self):
        return self._rate([(row, column) for row, _label in self.rows for column, _label in self.columns])

    def is_empty(self) -> bool:
        return not self.values


def band_rows(rollup: str, *, with_not_given: bool = True) -> list[tuple[str, str]]:
    rows = [(key, str(bands.label(key))) for key in bands.keys(rollup)]
    return [*rows, (bands.NOT_GIVEN, str(bands.label(bands.NOT_GIVEN)))] if with_not_given else rows


def ward_columns() -> list[tuple[str, str]]:
    return [(str(ward.pk), localized(ward, "name")) for ward in Ward.objects.order_by("sort_order", "code")]


NO_WARD = "none"


def attendance_by_band(filters: Filters, *, by: str = "ward") -> Matrix:
    """Attendances by age band (rows, rolled up as the filters say) and ward of residence or course topic."""
    refresh = summaries.refreshed(filters)
    values: dict[tuple[str, str], int] = {}
    if by == "topic":
        if refresh:
            grouped = (summaries.rows(summaries.TopicSummary, filters)
                       .annotate(band=bands.rolled("age_band", filters.rollup))
                       .values("band", "topic_id").annotate(n=Sum("attendances")))
        else:
            grouped = (attendances(filters).annotate(band=bands.rolled("participant__age_band", filters.rollup))
                       .values("band", topic_id=F("session__course__topics")).annotate(n=Count("pk")))
        for row in grouped:
            topic = row["topic_id"]
            if row["n"]:
                values[(row["band"], str(topic) if topic else NO_WARD)] = row["n"]
        columns = [(str(topic.pk), localized(topic, "name")) for topic in Topic.objects.order_by("name")]
        title = _("Attendances by age band and topic")
        if any(column == NO_WARD for _band, column in values):
            columns.append((NO_WARD, str(_("No topic"))))
    else:
        if refresh:
            grouped = (summaries.rows(summaries.RegistrationSummary, filters)
                       .annotate(band=bands.rolled("age_band", filters.rollup))
                       .values("band", "ward_id").annotate(n=Sum("attendances")))
        else:
            grouped = (attendances(filters).annotate(band=bands.rolled("participant__age_band", filters.rollup))
                       .values("band", ward_id=F("participant__ward_id")).annotate(n=Count("pk")))
        for row in grouped:
            ward = row["ward_id"]
            if row["n"]:
                values[(row["band"], str(ward) if ward else NO_WARD)] = row["n"]
        columns = ward_columns()
        title = _("Attendances by age band and ward of residence")
        if any(column == NO_WARD for _band, column in values):
            columns.append((NO_WARD, str(_("Not given"))))
    return Matrix(title=str(title), rows=band_rows(filters.rollup), columns=columns, values=values,
                  row_heading=str(_("Age band")))


def monthly_attendance(filters: Filters, fiscal_years: list[int]) -> Matrix:
    """Attendances per month (April first) for each of `fiscal_years` (the other filters apply, not the month)."""
    values: dict[tuple[str, str], int] = {}
    tz = timezone.get_default_timezone()
    for fiscal_year in fiscal_years:
        yearly = filters.with_(fiscal_year=fiscal_year, month=None)
        if summaries.refreshed(yearly):
            grouped = (summaries.rows(summaries.RegistrationSummary, yearly)
                       .values("month").annotate(n=Sum("attendances")))
        else:
            grouped = (attendances(yearly).annotate(month=ExtractMonth("session__starts_at", tzinfo=tz))
                       .values("month").annotate(n=Count("pk")))
        for row in grouped:
            if row["n"]:
                values[(str(row["month"]), str(fiscal_year))] = row["n"]
    months = [(str(month), str(_month_label(month))) for month in FISCAL_MONTHS]
    return Matrix(title=str(_("Attendances per month")), rows=months,
                  columns=[(str(year), f"FY{year}") for year in fiscal_years], values=values,
                  row_heading=str(_("Month")))


def _month_label(month: int):
    from django.utils.dates import MONTHS

    return MONTHS[month]


# --- Reach ------------------------------------------------------------------------------------------------------

def population_year(fiscal_year: int | None) -> int | None:
    """The population year used for a fiscal year: its starting year, or the latest imported year before it (or,
    when the city imported none that early, the earliest one it did). All time: the latest."""
    years = PopulationFigure.objects.order_by()
    if fiscal_year is None:
        return years.aggregate(year=Max("year"))["year"]
    found = years.aggregate(earlier=Max("year", filter=Q(year__lte=fiscal_year)), earliest=Min("year"))
    return found["earlier"] if found["earlier"] is not None else found["earliest"]


# Reach is shown, drawn and downloaded with one decimal, rounded half up once from the exact ratio.
REACH_DECIMALS = 1


@dataclass
class Reach:
    participants: Matrix
    population: Matrix
    per_thousand: Matrix
    population_year: int | None


def reach(filters: Filters) -> Reach:
    """Unique participants per 1,000 residents by age band (rows) and ward of residence (columns)."""
    rollup = filters.rollup
    if summaries.refreshed(filters):
        people = (summaries.rows(summaries.PeopleSummary, filters)
                  .filter(participants__gt=0, ward__isnull=False).exclude(age_band="")
                  .annotate(band=bands.rolled("age_band", rollup))
                  .values("band", "ward_id").annotate(n=Sum("participants")))
    else:
        people = (attendances(filters).filter(participant__ward__isnull=False)
                  .exclude(participant__age_band="")
                  .annotate(band=bands.rolled("participant__age_band", rollup))
                  .values("band", ward_id=F("participant__ward_id"))
                  .annotate(n=Count("participant_id", distinct=True)))
    participants = {(row["band"], str(row["ward_id"])): row["n"] for row in people}

    year = population_year(filters.fiscal_year)
    residents: dict[tuple[str, str], int] = defaultdict(int)
    if year is not None:
        figures = PopulationFigure.objects.filter(year=year)
        if filters.ward:
            figures = figures.filter(ward_id=filters.ward)
        if filters.band_members is not None:
            figures = figures.filter(age_band__in=filters.band_members)
        for row in (figures.annotate(band=bands.rolled("age_band", rollup))
                    .values("band", "ward_id").annotate(n=Sum("population"))):
            residents[(row["band"], str(row["ward_id"]))] += row["n"]

    rows = band_rows(rollup, with_not_given=False)
    if filters.band_members is not None:
        wanted = {bands.roll(member, rollup) for member in filters.band_members}
        rows = [row for row in rows if row[0] in wanted]
    columns = ward_columns()
    if filters.ward:
        columns = [column for column in columns if column[0] == str(filters.ward)]
    per_thousand = {}
    for row, _label in rows:
        for column, _label in columns:
            population = residents.get((row, column), 0)
            if population:
                per_thousand[(row, column)] = _half_up(1000 * participants.get((row, column), 0), population,
                                                       REACH_DECIMALS)
    heading = str(_("Age band"))
    return Reach(
        participants=Matrix(str(_("Participants")), rows, columns, participants, heading),
        population=Matrix(str(_("Residents")), rows, columns, dict(residents), heading),
        per_thousand=RateMatrix(
            str(_("Participants per 1,000 residents")), rows, columns, per_thousand,
            # The unit in the header, so that it stays with the table when copied or downloaded.
            str(_("Age band (participants per 1,000 residents)")), totals=True,
            total_column_label=str(_("Whole city") if not filters.ward else _("Total")),
            total_row_label=str(_("All ages") if filters.band_members is None else _("Total")),
            numerators={cell: count for cell, count in participants.items() if cell in per_thousand},
            denominators={cell: residents[cell] for cell in per_thousand}, places=REACH_DECIMALS),
        population_year=year,
    )


# --- Skills -----------------------------------------------------------------------------------------------------

@dataclass
class SkillRow:
    number: int
    text: str
    group: str
    pairs: int
    mean_pre: float | None
    mean_post: float | None
    mean_gain: float | None
    below_own_before: int
    reached_own: int

    @property
    def share_reached(self) -> float | None:
        return rate(self.reached_own, self.below_own_before)


def paired_scores(filters: Filters):
    """Post answers with the pre answer of the same registration and item (`pre_score__score`), of the
    registrations in the filters."""
    Kind = SelfAssessment.Kind
    return (SkillScore.objects.filter(assessment__kind=Kind.POST)
            .filter(_registration_q(filters, "assessment__registration__"))
            .annotate(pre_assessment=FilteredRelation(
                "assessment__registration__self_assessments",
                condition=Q(assessment__registration__self_assessments__kind=Kind.PRE)))
            .annotate(pre_score=FilteredRelation("pre_assessment__scores",
                                                 condition=Q(pre_assessment__scores__item=F("item"))))
            .filter(pre_score__score__isnull=False).order_by())


def _mean(total: int, count: int) -> float | None:
    return _half_up(total, count, 2) if count else None


def skills(filters: Filters) -> list[SkillRow]:
    """Per can-do item: answers paired before and after, mean before, after and gain, and who reached
    "on my own"."""
    if summaries.refreshed(filters):
        grouped = (summaries.rows(summaries.SkillSummary, filters).values("item_id", "pre", "post")
                   .annotate(n=Sum("answers")))
    else:
        grouped = (paired_scores(filters).values("item_id", pre=F("pre_score__score"), post=F("score"))
                   .annotate(n=Count("pk")))
    # Per item: pairs, sum of pre, sum of post, below "on my own" before, of whom at or above it after.
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for row in grouped:
        item, n = sums[row["item_id"]], row["n"]
        below = row["pre"] < ON_MY_OWN
        item[0] += n
        item[1] += row["pre"] * n
        item[2] += row["post"] * n
        item[3] += n if below else 0
        item[4] += n if below and row["post"] >= ON_MY_OWN else 0
    rows = []
    for item in SkillItem.objects.order_by("number"):
        pairs, pre, post, below, reached = sums.get(item.pk, [0, 0, 0, 0, 0])
        rows.append(SkillRow(number=item.number, text=localized(item, "text"), group=item.group, pairs=pairs,
                             mean_pre=_mean(pre, pairs), mean_post=_mean(post, pairs),
                             mean_gain=_mean(post - pre, pairs), below_own_before=below, reached_own=reached))
    return rows


def _foundation_scores():
    return SkillScore.objects.filter(assessment_id=OuterRef("pk"), item__group=SkillItem.Group.FOUNDATION)


def foundation_assessments(filters: Filters):
    """The post assessments of the registrations in the filters that answer at least one foundation item."""
    return (SelfAssessment.objects.filter(kind=SelfAssessment.Kind.POST)
            .filter(_registration_q(filters, "registration__")).filter(Exists(_foundation_scores())))


def foundation_counts() -> dict:
    """Aggregates over `foundation_assessments()`: how many, and how many with every foundation answer at
    "on my own" or above."""
    below = Exists(_foundation_scores().filter(score__lt=ON_MY_OWN))
    return {"answered": Count("pk"), "reached": Count("pk", filter=~Q(below))}


def foundation_on_my_own(filters: Filters) -> tuple[float | None, int]:
    """The share (%) of post assessments with every foundation item answered at 2 or above, and how many
    post assessments answered a foundation item."""
    if summaries.refreshed(filters):
        figures = _summed(summaries.rows(summaries.FoundationSummary, filters), ["answered", "reached"])
    else:
        figures = foundation_assessments(filters).aggregate(**foundation_counts())
    return rate(figures["reached"], figures["answered"]), figures["answered"]


# --- Consultations ----------------------------------------------------------------------------------------------

@dataclass
class ConsultationFigures:
    total: int
    minutes: int
    by_topic: list[tuple[str, int]]
    by_outcome: list[tuple[str, int]]
    by_place: list[tuple[str, int]]
    by_band: list[tuple[str, int]]


def consultation_figures(filters: Filters) -> ConsultationFigures:
    """Consultations by topic (a consultation counts once for each of its topics), outcome, place and age band."""
    queryset = consultations(filters)
    totals = queryset.aggregate(total=Count("pk"), minutes=Sum("duration_minutes"))
    topic_counts = dict(queryset.values("topics").annotate(n=Count("pk")).values_list("topics", "n"))
    by_topic = [(localized(topic, "name"), topic_counts.get(topic.pk, 0)) for topic in ConsultationTopic.objects.all()]
    outcome_counts = dict(queryset.values("outcome").annotate(n=Count("pk")).values_list("outcome", "n"))
    place_counts = dict(queryset.values("place").annotate(n=Count("pk")).values_list("place", "n"))
    band_counts = dict(queryset.annotate(band=bands.rolled("age_band", filters.rollup))
                       .values("band").annotate(n=Count("pk")).values_list("band", "n"))
    return ConsultationFigures(
        total=totals["total"], minutes=totals["minutes"] or 0, by_topic=by_topic,
        by_outcome=[(str(label), outcome_counts.get(value, 0)) for value, label in Consultation.Outcome.choices],
        by_place=[(str(label), place_counts.get(value, 0)) for value, label in Consultation.Place.choices],
        by_band=[(label, band_counts.get(key, 0)) for key, label in band_rows(filters.rollup)],
    )


# --- KPIs -------------------------------------------------------------------------------------------------------

@dataclass
class KpiProgress:
    metric: str
    label: str
    target: Decimal
    actual: float | None
    progress: float | None  # actual as a percentage of the target
    elapsed: float  # percentage of the fiscal year elapsed
    is_percentage: bool

    @property
    def on_track(self) -> bool | None:
        if self.progress is None:
            return None
        return self.progress >= (100.0 if self.is_percentage else self.elapsed)


def kpi_actuals(filters: Filters, figures: Summary | None = None) -> dict[str, float | None]:
    """The actual value of every KPI metric for the filters' fiscal year."""
    Metric = KpiTarget.Metric
    figures = figures or summary(filters)
    share, _answered = foundation_on_my_own(filters)
    return {
        Metric.PARTICIPANTS_65_PLUS: figures.participants_65_plus,
        Metric.UNIQUE_PARTICIPANTS: figures.unique_participants,
        Metric.ATTENDANCES: figures.attendances,
        Metric.SESSIONS_HELD: figures.sessions_held,
        Metric.CONSULTATIONS: figures.consultations,
        Metric.FOUNDATION_ON_MY_OWN: share,
    }


def kpi_progress(filters: Filters, *, today: dt.date | None = None,
                 figures: Summary | None = None) -> list[KpiProgress]:
    """Each KPI target of the filters' fiscal year against the actual figure and the share of the year elapsed.
    Counts are compared with the elapsed share of the year; percentages with the target itself."""
    if filters.fiscal_year is None:
        return []
    targets = list(KpiTarget.objects.filter(fiscal_year=filters.fiscal_year))
    if not targets:
        return []
    today = today or municipal_today()
    whole_year = filters.with_(month=None)
    actuals = kpi_actuals(whole_year, figures if not filters.month else None)
    passed, days = _elapsed_days(filters.fiscal_year, today)
    elapsed = _half_up(100 * passed, days, 1)
    rows = []
    for target in targets:
        actual = actuals.get(target.metric)
        is_percentage = target.metric == KpiTarget.Metric.FOUNDATION_ON_MY_OWN
        progress = (_half_up(100 * Decimal(str(actual)), target.target, 1)
                    if actual is not None and target.target else None)
        rows.append(KpiProgress(metric=target.metric, label=str(target.get_metric_display()), target=target.target,
                                actual=actual, progress=progress, elapsed=elapsed, is_percentage=is_percentage))
    return rows


# --- The divide gap ---------------------------------------------------------------------------------------------

@dataclass
class GapRow:
    year: int
    younger: float | None  # usage rate of ages 13–59 (%)
    older: float | None  # usage rate of ages 70+ (%)
    all_ages: float | None

    @property
    def gap(self) -> float | None:
        if self.younger is None or self.older is None:
            return None
        return float(Decimal(str(self.younger)) - Decimal(str(self.older)))


def survey_band_weights() -> dict[int, dict[str, int]]:
    """The city's population per survey band, per year with population figures."""
    weights: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for year, band, population in (PopulationFigure.objects.values("year", "age_band")
                                   .annotate(n=Sum("population")).values_list("year", "age_band", "n")):
        survey_band = bands.SURVEY_BANDS_OF_STORED.get(band)
        if survey_band:
            weights[year][survey_band] += population
    return weights


def _weighted(rates: dict[str, Decimal], weights: dict[str, int] | None, wanted: list[str]) -> float | None:
    """The mean rate of the `wanted` survey bands present, weighted by population when every one has a weight."""
    present = [band for band in wanted if band in rates]
    if not present:
        return None
    if weights and all(weights.get(band) for band in present):
        return _half_up(sum(rates[band] * weights[band] for band in present),
                        sum(weights[band] for band in present), 1)
    return _half_up(sum(rates[band] for band in present), len(present), 1)


def divide_gap(source: str | None = None) -> list[GapRow]:
    """Per survey year: usage of ages 13–59 and 70+ (population-weighted) and the gap between them.
    `source` chooses national or city figures; by default the national survey."""
    source = source or InternetUsageRate.Source.NATIONAL
    rates: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for year, band, value in InternetUsageRate.objects.filter(source=source).values_list("year", "age_band", "rate"):
        rates[year][band] = Decimal(value)
    weights = survey_band_weights()
    rows = []
    for year in sorted(rates):
        earlier = [candidate for candidate in weights if candidate <= year]
        weight_year = max(earlier) if earlier else (min(weights) if weights else None)
        year_weights = weights.get(weight_year) if weight_year is not None else None
        rows.append(GapRow(year=year, younger=_weighted(rates[year], year_weights, bands.GAP_YOUNGER),
                           older=_weighted(rates[year], year_weights, bands.GAP_OLDER),
                           all_ages=float(rates[year]["all"]) if "all" in rates[year] else None))
    return rows


# --- Choices for filter forms -------------------------------------------------------------------------------

def fiscal_years_with_data() -> list[int]:
    """The fiscal years that have sessions or consultations, newest first (always including the current one)."""
    years = {fiscal_year_of(municipal_today())}
    tz = timezone.get_default_timezone()
    for row in (Session.objects.annotate(y=ExtractYear("starts_at", tzinfo=tz), m=ExtractMonth("starts_at", tzinfo=tz))
                .values("y", "m").distinct()):
        years.add(row["y"] if row["m"] >= FISCAL_YEAR_FIRST_MONTH else row["y"] - 1)
    for day in Consultation.objects.dates("date", "month"):
        years.add(fiscal_year_of(day))
    return sorted(years, reverse=True)
