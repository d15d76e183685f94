"""The plan of where and when to hold the next classes (実施計画): the figures per ward × age band and topic a city
programme officer plans from, and a proposed allocation of the next period's sessions.

The figures (all computed in the database, grouped; nothing loops over registrations in Python):

- *Population* of a ward's age group (65–74 前期高齢者, 75+ 後期高齢者): the city's population figures of the year
  `metrics.population_year()` picks for the current fiscal year.
- *Estimated non-users*: per stored band, population × (1 − the national survey's internet usage rate of the survey
  band it falls in, latest survey year up to the current one), summed over the group's bands.
- *Reached*: distinct participants living in the ward, of the group, who attended at least one session — this fiscal
  year and in all time (`metrics.attendances`, the dashboard's definition of a participant).
- *Not yet reached* = estimated non-users − reached in all time (never below 0). This assumes, pessimistically for
  the plan, that everyone reached was a non-user.
- *Unmet demand* per ward (the venue's) × topic: people left on the waiting list of a session held (never promoted),
  and sessions held that were full; per ward of residence × group: support-desk consultations of the last 12
  months and those referred to a class; per ward of residence × topic: those consultations whose consultation topic
  staff mapped to the course topic (ConsultationTopic.course_topics, editable: the desks' list is not the courses').
- *Venues and partners there*: the venues in the ward (with their room capacity), and the partners that own one of
  them or held a session in the ward in the last two years.

The model (documented on the page too). For the next period's months, choose how many sessions x[w,t,m] to hold in
ward w on topic t in month m, at most N in all, to maximise the expected number of not-yet-reached residents aged
65–74 and 75+, weighted by the form's weights:

    maximise   Σ_w,g  weight_g × r[w,g]
    subject to r[w,g] ≤ Σ_t,m  c × share[w,t,g] × x[w,t,m]          (expected new residents of the sessions)
               r[w,g] ≤ not_yet_reached[w,g]                         (the cap: no more than are left to reach)
               Σ_t x[w,t,m] ≤ min(venues_w × sessions per venue, partners_w × sessions per partner)   each w, m
               Σ_w,t x[w,t,m] ≤ min(partners × sessions per partner, ⌊instructors × S / staff per session⌋)  each m
               Σ x ≤ N,  x integer ≥ 0,  r ≥ 0

where c is the seats per session, share[w,t,g] is the share of the past attendances of sessions held in ward w on
topic t that were by a person of group g attending for the first time in the programme (a course with several topics
counts under each), staff per session is ⌈c / 4⌉ (the city's one instructor per 4 attendees) and S is
`DEKIRU_PLANNING_SESSIONS_PER_INSTRUCTOR` sessions a month. A ward × topic with fewer than `min_history()` past
attendances (`DEKIRU_PLANNING_MIN_HISTORY`, default 30) uses the city-wide share of the topic instead, and a topic
with fewer than that city-wide the city-wide share of all topics. A session is assumed to reach residents of its own
ward. The two constraints on r make the return of more sessions in one ward diminishing (linear up to the cap, then
nothing), which keeps the problem a small integer programme: PuLP with its bundled CBC solver solves it (`solve_ip`);
`solve_greedy` (add the session with the largest weighted gain, one at a time) is its check and fallback, and the
tests compare both with brute force on small cases.
"""

from __future__ import annotations

import codecs
import datetime as dt
import math
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace

import matplotlib
import pulp
import tablib
from django.conf import settings
from django.db.models import Avg, Count, Exists, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cms.csv_safety import escape_csv_cell
from cms.i18n import localized
from courses.models import Registration, Session, SessionStaff, Topic
from outreach import bands, charts, metrics
from outreach.models import Consultation, InternetUsageRate, PopulationFigure
from partners.models import Venue, Ward

GROUPS = ("65-74", "75+")
MAX_SESSIONS = 1000
MAX_MONTHS = 12
DEFAULT_MONTHS = 3
ATTENDEES_PER_STAFF = SessionStaff.ATTENDEES_PER_STAFF
DEFAULT_MIN_HISTORY = 30
DEFAULT_SESSIONS_PER_INSTRUCTOR = 4
DEFAULT_SOLVER_SECONDS = 20
FALLBACK_SEATS = 10  # seats per session when no session has been held yet
EPSILON = 1e-9
IDLE_SESSION_COST = 1e-4  # far below any real gain (a share of one attendance in 10,000 seats)

# Where a share came from (shown in the "why" columns).
WARD_TOPIC, CITY_TOPIC, CITY = "ward_topic", "city_topic", "city"


def min_history() -> int:
    """Past attendances a ward × topic needs before its own share is used (else the city-wide one)."""
    return getattr(settings, "DEKIRU_PLANNING_MIN_HISTORY", DEFAULT_MIN_HISTORY)


def sessions_per_instructor() -> int:
    return getattr(settings, "DEKIRU_PLANNING_SESSIONS_PER_INSTRUCTOR", DEFAULT_SESSIONS_PER_INSTRUCTOR)


def solver_seconds() -> int:
    return getattr(settings, "DEKIRU_PLANNING_SOLVER_SECONDS", DEFAULT_SOLVER_SECONDS)


def group_label(group: str) -> str:
    return str(bands.label(group))


# --- The optimisation, on plain data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Everything the allocation depends on, as plain numbers keyed by strings (tests build these by hand)."""

    cells: dict[tuple[str, str], dict[str, float]]  # (ward, topic) → expected new residents per session, by group
    remaining: dict[tuple[str, str], float]  # (ward, group) → not yet reached
    weights: dict[str, float]  # group → weight
    months: list[str]
    ward_month_capacity: dict[tuple[str, str], int]  # (ward, month) → sessions
    month_capacity: dict[str, int]  # month → sessions, city-wide
    sessions: int  # N

    def gain(self, ward: str, topic: str, left: dict[tuple[str, str], float]) -> float:
        """The weighted expected reach one more session at (ward, topic) adds, given what is `left` to reach."""
        return sum(self.weights.get(group, 0) * min(expected, max(left.get((ward, group), 0.0), 0.0))
                   for group, expected in self.cells[(ward, topic)].items())


@dataclass
class Solution:
    counts: dict[tuple[str, str, str], int]  # (ward, topic, month) → sessions
    objective: float
    method: str  # "ip" or "greedy"
    status: str = "optimal"
    seconds: float = 0.0

    @property
    def sessions(self) -> int:
        return sum(self.counts.values())


def reach_by_ward(problem: Problem, counts: dict[tuple[str, str, str], int]) -> dict[tuple[str, str], float]:
    """Expected new residents per (ward, group) of an allocation: the sessions' expectation, capped."""
    expected: dict[tuple[str, str], float] = defaultdict(float)
    for (ward, topic, _month), n in counts.items():
        for group, per_session in problem.cells[(ward, topic)].items():
            expected[(ward, group)] += per_session * n
    return {key: min(value, max(problem.remaining.get(key, 0.0), 0.0)) for key, value in expected.items()}


def objective(problem: Problem, counts: dict[tuple[str, str, str], int]) -> float:
    """The weighted expected number of not-yet-reached residents an allocation reaches."""
    reached = reach_by_ward(problem, counts)
    return sum(problem.weights.get(group, 0) * value for (_ward, group), value in reached.items())


def is_feasible(problem: Problem, counts: dict[tuple[str, str, str], int]) -> bool:
    if any(n < 0 for n in counts.values()) or sum(counts.values()) > problem.sessions:
        return False
    per_ward_month: dict[tuple[str, str], int] = defaultdict(int)
    per_month: dict[str, int] = defaultdict(int)
    for (ward, _topic, month), n in counts.items():
        per_ward_month[(ward, month)] += n
        per_month[month] += n
    return (all(n <= problem.ward_month_capacity.get(key, 0) for key, n in per_ward_month.items())
            and all(n <= problem.month_capacity.get(month, 0) for month, n in per_month.items()))


def _useful_cells(problem: Problem) -> list[tuple[str, str]]:
    """(ward, topic) pairs worth a session: some expected gain in a group with someone left to reach."""
    return sorted(key for key, expected in problem.cells.items()
                  if any(value > EPSILON and problem.weights.get(group, 0) > 0
                         and problem.remaining.get((key[0], group), 0) > EPSILON
                         for group, value in expected.items()))


def _solver(seconds: int):
    """CBC: the copy bundled with PuLP 3 (PULP_CBC_CMD, deprecated there), else the one of `pulp[cbc]` or the system
    (COIN_CMD, PuLP 4's way)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        bundled = getattr(pulp, "PULP_CBC_CMD", None)
        if bundled is not None and bundled().available():
            return bundled(msg=False, timeLimit=seconds)
    return pulp.COIN_CMD(msg=False, timeLimit=seconds)


def solve_ip(problem: Problem, *, time_limit: int | None = None) -> Solution:
    """The optimum of the integer programme of the module docstring, by CBC (bundled with PuLP). Variables exist only
    for (ward, topic) pairs that can gain something; if CBC stops at its time limit, the best allocation it found."""
    started = time.perf_counter()
    model = pulp.LpProblem("dekiru_plan", pulp.LpMaximize)
    cells = _useful_cells(problem)
    x = {}
    for ward, topic in cells:
        for month in problem.months:
            bound = min(problem.ward_month_capacity.get((ward, month), 0), problem.month_capacity.get(month, 0),
                        problem.sessions)
            if bound > 0:
                x[(ward, topic, month)] = model.add_variable(f"x_{len(x)}", lowBound=0, upBound=bound,
                                                             cat="Integer")
    reach = {}
    for ward in sorted({ward for ward, _topic in cells}):
        for group in sorted(problem.weights):
            cap = max(problem.remaining.get((ward, group), 0.0), 0.0)
            terms = [(variable, problem.cells[(w, t)].get(group, 0.0)) for (w, t, _m), variable in x.items()
                     if w == ward and problem.cells[(w, t)].get(group, 0.0) > 0]
            if cap <= EPSILON or not terms or problem.weights[group] <= 0:
                continue
            variable = reach[(ward, group)] = model.add_variable(f"r_{len(reach)}", lowBound=0, upBound=cap)
            model += variable <= pulp.lpSum(coefficient * term for term, coefficient in terms)
    # A session costs a little, a later month a little more: the plan leaves out sessions that add nothing, and of
    # equally good months takes the earlier (so the same data gives the same plan).
    order = {month: index for index, month in enumerate(problem.months)}
    model += (pulp.lpSum(problem.weights[group] * variable for (_ward, group), variable in reach.items())
              - IDLE_SESSION_COST * pulp.lpSum((1 + order[m] / len(order)) * v for (_w, _t, m), v in x.items()))
    for month in problem.months:
        in_month = [variable for (_w, _t, m), variable in x.items() if m == month]
        if in_month:
            model += pulp.lpSum(in_month) <= problem.month_capacity.get(month, 0)
        for ward in sorted({w for w, _t, m in x if m == month}):
            model += pulp.lpSum(v for (w, _t, m), v in x.items() if w == ward and m == month) \
                <= problem.ward_month_capacity.get((ward, month), 0)
    if x:
        model += pulp.lpSum(x.values()) <= problem.sessions
    if not reach:
        return Solution(counts={}, objective=0.0, method="ip", seconds=time.perf_counter() - started)
    status = model.solve(_solver(time_limit or solver_seconds()))
    counts = {key: int(round(variable.value() or 0)) for key, variable in x.items()}
    counts = {key: n for key, n in counts.items() if n > 0}
    if not is_feasible(problem, counts):  # never expected: an unusable answer falls back to the greedy
        greedy = solve_greedy(problem)
        greedy.status = "fallback"
        return greedy
    state = "optimal" if pulp.LpStatus[status] == "Optimal" and model.sol_status == pulp.LpSolutionOptimal \
        else "time_limit"
    return Solution(counts=counts, objective=objective(problem, counts), method="ip", status=state,
                    seconds=time.perf_counter() - started)


def solve_greedy(problem: Problem) -> Solution:
    """One session at a time, the (ward, topic) with the largest weighted gain (ties: the first in order), in the
    month with the most room left for it (ties: the earliest). Not always optimal: it cannot foresee that a month's
    room it takes is the only room another ward has (tests/outreach/test_planning.py shows such a case)."""
    started = time.perf_counter()
    cells = _useful_cells(problem)
    left = {key: max(value, 0.0) for key, value in problem.remaining.items()}
    used_ward: dict[tuple[str, str], int] = defaultdict(int)
    used_month: dict[str, int] = defaultdict(int)
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for _step in range(problem.sessions):
        best = None
        for ward, topic in cells:
            gain = problem.gain(ward, topic, left)
            if gain <= EPSILON or (best is not None and gain <= best[0]):
                continue
            rooms = [(min(problem.ward_month_capacity.get((ward, month), 0) - used_ward[(ward, month)],
                          problem.month_capacity.get(month, 0) - used_month[month]), -index, month)
                     for index, month in enumerate(problem.months)]
            room, _index, month = max(rooms)
            if room > 0:
                best = (gain, ward, topic, month)
        if best is None:
            break
        _gain, ward, topic, month = best
        counts[(ward, topic, month)] += 1
        used_ward[(ward, month)] += 1
        used_month[month] += 1
        for group, expected in problem.cells[(ward, topic)].items():
            if (ward, group) in left:
                left[(ward, group)] = max(left[(ward, group)] - expected, 0.0)
    counts = dict(counts)
    return Solution(counts=counts, objective=objective(problem, counts), method="greedy",
                    seconds=time.perf_counter() - started)


# --- The figures, from the database ------------------------------------------------------------------------------


@dataclass
class WardGroup:
    """One ward × age group (65–74 or 75+)."""

    population: int = 0
    non_users: float = 0.0
    reached_year: int = 0
    reached_total: int = 0
    consultations: int = 0
    referred: int = 0

    @property
    def not_yet_reached(self) -> float:
        return max(self.non_users - self.reached_total, 0.0)


@dataclass
class Share:
    """The share of past attendances by first-timers of each group, and where the figure came from."""

    attendances: int
    first_time: dict[str, int]
    basis: str  # WARD_TOPIC, CITY_TOPIC or CITY

    def of(self, group: str) -> float:
        return self.first_time.get(group, 0) / self.attendances if self.attendances else 0.0


@dataclass
class WardTopic:
    own_attendances: int = 0
    first_time: dict[str, int] = field(default_factory=dict)
    waitlisted: int = 0
    full_sessions: int = 0
    consultations: int = 0
    share: Share | None = None


@dataclass
class Defaults:
    sessions: int
    seats: int
    venue_sessions: int
    partner_sessions: int
    instructors: int


@dataclass
class PlanningData:
    fiscal_year: int
    population_year: int | None
    usage_year: int | None
    wards: list[Ward]
    topics: list[Topic]
    ward_groups: dict[tuple[int, str], WardGroup]
    ward_topics: dict[tuple[int, int], WardTopic]
    venues: dict[int, list[tuple[str, int]]]  # ward id → [(venue name, room capacity)]
    partners: dict[int, list[str]]  # ward id → partner names
    partner_count: int
    defaults: Defaults
    min_history: int
    notes: list[str] = field(default_factory=list)

    def ward_group(self, ward_id: int, group: str) -> WardGroup:
        return self.ward_groups.get((ward_id, group)) or WardGroup()

    def ward_topic(self, ward_id: int, topic_id: int) -> WardTopic:
        return self.ward_topics.get((ward_id, topic_id)) or WardTopic()


def _group_of(stored_band: str) -> str:
    return bands.roll(stored_band, bands.ELDERLY)


def _usage_rates(fiscal_year: int) -> tuple[int | None, dict[str, float]]:
    """The national survey's rates (per cent) of the latest year up to `fiscal_year` (else the earliest)."""
    rates = InternetUsageRate.objects.filter(source=InternetUsageRate.Source.NATIONAL).order_by()
    years = rates.values("year").distinct()
    found = [row["year"] for row in years]
    if not found:
        return None, {}
    earlier = [year for year in found if year <= fiscal_year]
    year = max(earlier) if earlier else min(found)
    return year, {row["age_band"]: float(row["rate"]) for row in rates.filter(year=year).values("age_band", "rate")}


def planning_data(*, today: dt.date | None = None, now: dt.datetime | None = None) -> PlanningData:
    """The figures the plan starts from, city-wide, as of `now`."""
    now = now or timezone.now()
    today = today or metrics.municipal_today()
    fiscal_year = metrics.fiscal_year_of(today)
    wards = list(Ward.objects.order_by("sort_order", "code"))
    topics = list(Topic.objects.order_by("name"))
    ward_groups: dict[tuple[int, str], WardGroup] = defaultdict(WardGroup)
    notes: list[str] = []

    # Population and estimated non-users.
    population_year = metrics.population_year(fiscal_year)
    usage_year, rates = _usage_rates(fiscal_year)
    if population_year is not None:
        for row in (PopulationFigure.objects.filter(year=population_year, age_band__in=bands.AGED_65_PLUS)
                    .values("ward_id", "age_band").annotate(n=Sum("population")).order_by()):
            cell = ward_groups[(row["ward_id"], _group_of(row["age_band"]))]
            cell.population += row["n"]
            rate = rates.get(bands.SURVEY_BANDS_OF_STORED[row["age_band"]])
            cell.non_users += row["n"] * (1 - rate / 100) if rate is not None else 0.0
    if population_year is None:
        notes.append(_("No population figures have been imported: there is no one to plan for."))
    elif not rates:
        notes.append(_("No internet usage rates have been entered: the number of non-users cannot be estimated."))

    # Reached: distinct participants of the ward and group (metrics' definition), all time and this fiscal year.
    year_start, _year_end = metrics.Filters(fiscal_year=fiscal_year).period()
    reached = (metrics.attendances(metrics.Filters()).filter(participant__ward__isnull=False,
                                                            participant__age_band__in=bands.AGED_65_PLUS)
               .annotate(group=bands.rolled("participant__age_band", bands.ELDERLY))
               .values("group", ward_id=F("participant__ward_id"))
               .annotate(total=Count("participant_id", distinct=True),
                         year=Count("participant_id", distinct=True, filter=Q(session__starts_at__gte=year_start)))
               .order_by())
    for row in reached:
        cell = ward_groups[(row["ward_id"], row["group"])]
        cell.reached_total, cell.reached_year = row["total"], row["year"]

    # Consultations of the last 12 months by residents of the ward.
    for row in (Consultation.objects.filter(date__gt=today - dt.timedelta(days=365), residence_ward__isnull=False,
                                            age_band__in=bands.AGED_65_PLUS)
                .annotate(group=bands.rolled("age_band", bands.ELDERLY))
                .values("group", ward_id=F("residence_ward_id"))
                .annotate(n=Count("pk"), referred=Count("pk", filter=Q(outcome=Consultation.Outcome.REFERRED_CLASS)))
                .order_by()):
        cell = ward_groups[(row["ward_id"], row["group"])]
        cell.consultations, cell.referred = row["n"], row["referred"]

    ward_topics = _ward_topics(now, today)
    venues, partners, partner_count = _venues_and_partners(now)
    return PlanningData(fiscal_year=fiscal_year, population_year=population_year, usage_year=usage_year,
                        wards=wards, topics=topics, ward_groups=dict(ward_groups), ward_topics=ward_topics,
                        venues=venues, partners=partners, partner_count=partner_count,
                        defaults=_defaults(now, venues, partner_count), min_history=min_history(), notes=notes)


def _ward_topics(now: dt.datetime, today: dt.date) -> dict[tuple[int, int], WardTopic]:
    """Per (venue ward, topic): past attendances, first-time attendances by group, people left waiting, full
    sessions, consultations of the last 12 months on the topic by residents of the ward aged 65 and over; and the
    share each ward × topic plans with (its own, or the city-wide fallback)."""
    held = Q(session__status=Session.Status.SCHEDULED, session__ends_at__lte=now)
    earlier = Registration.objects.filter(participant_id=OuterRef("participant_id"),
                                          status=Registration.Status.ATTENDED,
                                          session__starts_at__lt=OuterRef("session__starts_at"))
    first = ~Q(Exists(earlier))
    in_group = {group: Q(participant__age_band__in=bands.MEMBERS[group]) for group in GROUPS}
    rows = (Registration.objects.filter(held, session__venue__isnull=False, session__course__topics__isnull=False)
            .values(ward_id=F("session__venue__ward_id"), topic_id=F("session__course__topics"))
            .annotate(attended=Count("pk", filter=Q(status=Registration.Status.ATTENDED)),
                      waitlisted=Count("participant_id", distinct=True,
                                       filter=Q(status=Registration.Status.WAITLISTED)),
                      **{f"first_{index}": Count("pk", filter=Q(status=Registration.Status.ATTENDED)
                                                 & in_group[group] & first)
                         for index, group in enumerate(GROUPS)})
            .order_by())
    cells: dict[tuple[int, int], WardTopic] = {}
    first_time: dict[tuple[int, int], dict[str, int]] = {}
    for row in rows:
        key = (row["ward_id"], row["topic_id"])
        first_time[key] = {group: row[f"first_{index}"] for index, group in enumerate(GROUPS)}
        cells[key] = WardTopic(own_attendances=row["attended"], first_time=first_time[key],
                               waitlisted=row["waitlisted"])

    seated = (Registration.objects.filter(session_id=OuterRef("pk"), status__in=Registration.SEATED).order_by()
              .values("session_id").annotate(n=Count("pk")).values("n"))
    full = (Session.objects.filter(status=Session.Status.SCHEDULED, ends_at__lte=now, venue__isnull=False,
                                   course__topics__isnull=False)
            .annotate(seated=Subquery(seated)).filter(seated__gte=F("capacity"))
            .values(ward_id=F("venue__ward_id"), topic_id=F("course__topics")).annotate(n=Count("pk")).order_by())
    for row in full:
        cells.setdefault((row["ward_id"], row["topic_id"]), WardTopic()).full_sessions = row["n"]

    # Consultations on a consultation topic that staff mapped to the course topic (ConsultationTopic.course_topics),
    # each counted once per course topic, under the ward the person lives in (a session reaches its own ward).
    consulted = (Consultation.objects.filter(date__gt=today - dt.timedelta(days=365), residence_ward__isnull=False,
                                             age_band__in=bands.AGED_65_PLUS, topics__course_topics__isnull=False)
                 .values(ward_id=F("residence_ward_id"), topic_id=F("topics__course_topics"))
                 .annotate(n=Count("pk", distinct=True)).order_by())
    for row in consulted:
        cells.setdefault((row["ward_id"], row["topic_id"]), WardTopic()).consultations = row["n"]

    # City-wide shares per topic and overall, summed from the grouped rows.
    threshold = min_history()
    by_topic: dict[int, list] = defaultdict(lambda: [0, defaultdict(int)])
    city = [0, defaultdict(int)]
    for (_ward, topic), cell in cells.items():
        for bucket in (by_topic[topic], city):
            bucket[0] += cell.own_attendances
            for group, n in first_time.get((_ward, topic), {}).items():
                bucket[1][group] += n
    for key, cell in cells.items():
        topic_total, topic_first = by_topic[key[1]]
        if cell.own_attendances >= threshold:
            cell.share = Share(cell.own_attendances, first_time.get(key, {}), WARD_TOPIC)
        elif topic_total >= threshold:
            cell.share = Share(topic_total, dict(topic_first), CITY_TOPIC)
        else:
            cell.share = Share(city[0], dict(city[1]), CITY)
    cells[(0, 0)] = WardTopic(share=Share(city[0], dict(city[1]), CITY))  # for pairs without history
    for topic, (total, firsts) in by_topic.items():
        if total >= threshold:
            cells[(0, topic)] = WardTopic(share=Share(total, dict(firsts), CITY_TOPIC))
    return cells


def share_for(data: PlanningData, ward_id: int, topic_id: int) -> Share:
    """The share a ward × topic plans with: its own, the topic's city-wide, or the city's (module docstring)."""
    cell = data.ward_topics.get((ward_id, topic_id))
    if cell is not None and cell.share is not None:
        return cell.share
    fallback = data.ward_topics.get((0, topic_id)) or data.ward_topics.get((0, 0))
    return fallback.share if fallback and fallback.share else Share(0, {}, CITY)


def _venues_and_partners(now: dt.datetime) -> tuple[dict[int, list[tuple[str, int]]], dict[int, list[str]], int]:
    venues: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for venue in Venue.objects.order_by("ward__sort_order", "name").only("name", "name_en", "ward_id", "capacity"):
        venues[venue.ward_id].append((localized(venue, "name"), venue.capacity))
    since = now - dt.timedelta(days=730)
    pairs = set(Venue.objects.filter(partner__is_active=True).values_list("ward_id", "partner__name",
                                                                          "partner__name_en", "partner_id"))
    pairs |= set(Session.objects.filter(starts_at__gte=since, venue__isnull=False, organiser__is_active=True)
                 .values_list("venue__ward_id", "organiser__name", "organiser__name_en", "organiser_id").distinct())
    partners: dict[int, set[str]] = defaultdict(set)
    ids = set()
    for ward_id, name, name_en, partner_id in pairs:
        partners[ward_id].add(localized(SimpleNamespace(name=name, name_en=name_en), "name"))
        ids.add(partner_id)
    return dict(venues), {ward: sorted(names) for ward, names in partners.items()}, len(ids)


def _defaults(now: dt.datetime, venues: dict, partner_count: int) -> Defaults:
    """The form's defaults, from the last 12 months: sessions held per month × the period, the mean capacity, the
    mean sessions per venue and per partner in the months they held any (rounded up), and the instructors and
    assistants who worked a session."""
    since = now - dt.timedelta(days=365)
    held = Session.objects.filter(status=Session.Status.SCHEDULED, ends_at__lte=now, starts_at__gte=since).order_by()
    totals = held.aggregate(n=Count("pk"), seats=Avg("capacity"))
    month = TruncMonth("starts_at", tzinfo=timezone.get_default_timezone())

    def per_month(field_name: str) -> int:
        rows = list(held.filter(**{f"{field_name}__isnull": False}).annotate(month=month)
                    .values(field_name, "month").annotate(n=Count("pk")).values_list("n", flat=True))
        return max(math.ceil(sum(rows) / len(rows)), 1) if rows else 1

    monthly = math.ceil((totals["n"] or 0) / 12)
    seats = round(totals["seats"]) if totals["seats"] else FALLBACK_SEATS
    sessions = max(monthly * DEFAULT_MONTHS, 1)
    instructors = (SessionStaff.objects.filter(session__in=held).values("user_id").distinct().count())
    if not instructors:  # no staff recorded: enough not to limit the default plan
        instructors = math.ceil(monthly * math.ceil(seats / ATTENDEES_PER_STAFF) / sessions_per_instructor()) or 1
    return Defaults(sessions=min(sessions, MAX_SESSIONS), seats=seats, venue_sessions=per_month("venue_id"),
                    partner_sessions=per_month("organiser_id"), instructors=instructors)


# --- The plan ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    sessions: int
    months: list[dt.date]  # first day of each month of the period
    seats: int
    venue_sessions: int
    partner_sessions: int
    instructors: int
    weight_65_74: float = 1.0
    weight_75_plus: float = 1.0

    @property
    def staff_per_session(self) -> int:
        return max(math.ceil(self.seats / ATTENDEES_PER_STAFF), 1)


def next_months(today: dt.date, count: int, start: dt.date | None = None) -> list[dt.date]:
    first = start or (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    months = []
    for _step in range(count):
        months.append(first)
        first = (first + dt.timedelta(days=32)).replace(day=1)
    return months


def month_key(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def build_problem(data: PlanningData, inputs: Inputs) -> Problem:
    """The integer programme's data from the figures and the form's inputs (module docstring)."""
    months = [month_key(month) for month in inputs.months]
    cells, ward_capacity = {}, {}
    for ward in data.wards:
        venue_room = len(data.venues.get(ward.pk, ())) * inputs.venue_sessions
        partner_room = len(data.partners.get(ward.pk, ())) * inputs.partner_sessions
        for month in months:
            ward_capacity[(str(ward.pk), month)] = min(venue_room, partner_room)
        for topic in data.topics:
            share = share_for(data, ward.pk, topic.pk)
            cells[(str(ward.pk), str(topic.pk))] = {group: inputs.seats * share.of(group) for group in GROUPS}
    instructor_room = inputs.instructors * sessions_per_instructor() // inputs.staff_per_session
    month_room = min(data.partner_count * inputs.partner_sessions, instructor_room)
    return Problem(
        cells=cells,
        remaining={(str(ward.pk), group): data.ward_group(ward.pk, group).not_yet_reached
                   for ward in data.wards for group in GROUPS},
        weights={"65-74": inputs.weight_65_74, "75+": inputs.weight_75_plus},
        months=months, ward_month_capacity=ward_capacity, month_capacity=dict.fromkeys(months, month_room),
        sessions=inputs.sessions)


@dataclass
class PlanRow:
    """One line of the plan: sessions in a ward on a topic in a month, with the numbers behind the choice."""

    month: dt.date
    ward: Ward
    topic: Topic
    sessions: int
    seats: int
    share: Share
    expected: dict[str, float]  # expected new residents of these sessions, by group, before the ward's cap
    not_yet_reached: dict[str, float]  # the ward's, by group
    waitlisted: int
    full_sessions: int
    consultations: int
    venues: list[tuple[str, int]]
    partners: list[str]

    @property
    def share_percent(self) -> dict[str, float]:
        return {group: round(100 * self.share.of(group), 1) for group in GROUPS}

    @property
    def basis_label(self) -> str:
        return str(BASIS_LABELS[self.share.basis])

    # For templates, which cannot index a dict by a key like "65-74".
    @property
    def by_group(self) -> list[dict]:
        return [{"label": group_label(group), "expected": self.expected[group], "share": self.share_percent[group],
                 "not_yet_reached": self.not_yet_reached[group]} for group in GROUPS]


BASIS_LABELS = {WARD_TOPIC: gettext_lazy("this ward and topic"), CITY_TOPIC: gettext_lazy("the topic city-wide"),
                CITY: gettext_lazy("the whole city")}


@dataclass
class Plan:
    inputs: Inputs
    problem: Problem
    solution: Solution
    greedy: Solution
    rows: list[PlanRow]
    reach: dict[tuple[int, str], float]  # (ward id, group) → expected new residents, capped
    month_capacity: int
    ward_capacity: dict[int, int]

    @property
    def unplaced(self) -> int:
        return self.inputs.sessions - self.solution.sessions

    def reach_total(self, group: str) -> float:
        return sum(value for (_ward, g), value in self.reach.items() if g == group)

    @property
    def reach_by_group(self) -> list[tuple[str, float]]:
        return [(group_label(group), round(self.reach_total(group), 1)) for group in GROUPS]


def make_plan(data: PlanningData, inputs: Inputs) -> Plan:
    """Solve the allocation (integer programme, with the greedy beside it for comparison) and explain each row."""
    problem = build_problem(data, inputs)
    solution = solve_ip(problem)
    greedy = solve_greedy(problem)
    wards = {str(ward.pk): ward for ward in data.wards}
    topics = {str(topic.pk): topic for topic in data.topics}
    months = {month_key(month): month for month in inputs.months}
    rows = []
    for (ward_key, topic_key, month_key_), n in sorted(
            solution.counts.items(), key=lambda item: (item[0][2], wards[item[0][0]].sort_order, item[0][0],
                                                       topics[item[0][1]].name)):
        ward, topic = wards[ward_key], topics[topic_key]
        share = share_for(data, ward.pk, topic.pk)
        cell = data.ward_topic(ward.pk, topic.pk)
        rows.append(PlanRow(
            month=months[month_key_], ward=ward, topic=topic, sessions=n, seats=inputs.seats, share=share,
            expected={group: round(problem.cells[(ward_key, topic_key)][group] * n, 2) for group in GROUPS},
            not_yet_reached={group: round(data.ward_group(ward.pk, group).not_yet_reached, 1) for group in GROUPS},
            waitlisted=cell.waitlisted, full_sessions=cell.full_sessions, consultations=cell.consultations,
            venues=data.venues.get(ward.pk, []),
            partners=data.partners.get(ward.pk, [])))
    reach = {(int(ward), group): value for (ward, group), value in reach_by_ward(problem, solution.counts).items()}
    first_month = month_key(inputs.months[0])
    return Plan(inputs=inputs, problem=problem, solution=solution, greedy=greedy, rows=rows, reach=reach,
                month_capacity=problem.month_capacity.get(first_month, 0),
                ward_capacity={ward.pk: problem.ward_month_capacity.get((str(ward.pk), first_month), 0)
                               for ward in data.wards})


# --- Tables, chart and exports ----------------------------------------------------------------------------------


def unmet_need_matrix(data: PlanningData) -> metrics.Matrix:
    """Estimated non-users not yet reached, by age group (rows) and ward (columns): the chart's numbers."""
    rows = [(group, group_label(group)) for group in GROUPS]
    columns = [(str(ward.pk), localized(ward, "name")) for ward in data.wards]
    values = {(group, str(ward.pk)): round(data.ward_group(ward.pk, group).not_yet_reached)
              for group in GROUPS for ward in data.wards}
    return metrics.Matrix(_("Estimated non-users not yet reached"), rows, columns, values, _("Age band"))


def unmet_need_alt(matrix: metrics.Matrix) -> str:
    """E.g. "Estimated non-users not yet reached, 41,200 in all: most 75 and over in 多摩区 (9,800), fewest …"."""
    cells = [(matrix.value(row, column) or 0, row_label, column_label)
             for row, row_label in matrix.rows for column, column_label in matrix.columns]
    if not any(value for value, _row, _column in cells):
        return _("%(title)s: no figures (population or internet usage rates missing).") % {"title": matrix.title}
    high = max(cells, key=lambda cell: cell[0])
    low = min(cells, key=lambda cell: cell[0])
    return _("%(title)s, %(total)s in all: most %(high_band)s in %(high_ward)s (%(high)s), fewest %(low_band)s in "
             "%(low_ward)s (%(low)s). By age band: %(bands)s.") % {
        "title": matrix.title, "total": charts.number(matrix.grand_total), "high_band": high[1], "high_ward": high[2],
        "high": charts.number(high[0]), "low_band": low[1], "low_ward": low[2], "low": charts.number(low[0]),
        "bands": _(", ").join(f"{label} {charts.number(matrix.row_total(key))}" for key, label in matrix.rows)}


def unmet_need_chart(matrix: metrics.Matrix, fmt: str = "png") -> bytes:
    """A heat map of the matrix (age group × ward), drawn like the dashboard's reach chart."""
    figure = charts._figure()
    cells = [[matrix.value(row, column) or 0 for column, _label in matrix.columns] for row, _label in matrix.rows]
    highest = max((value for line in cells for value in line), default=0)
    if not highest:
        charts._empty(figure, matrix.title)
        return charts._save(figure, fmt)
    axes = charts._axes(figure, matrix.title)
    for side in ("left", "bottom"):
        axes.spines[side].set_visible(False)
    image = axes.imshow(cells, cmap=matplotlib.colormaps[charts.HEATMAP_COLOURS], vmin=0, vmax=highest,
                        aspect="auto")
    for y, line in enumerate(cells):
        for x, value in enumerate(line):
            colour = "white" if value < highest * 0.55 else charts.TEXT_COLOUR
            axes.text(x, y, charts.number(value), ha="center", va="center", fontsize=charts.LABEL_SIZE,
                      color=colour, fontfamily=charts.FONT_FAMILY)
    axes.set_xticks(range(len(matrix.columns)), [charts._plain(label) for _key, label in matrix.columns])
    axes.set_yticks(range(len(matrix.rows)), [charts._plain(label) for _key, label in matrix.rows])
    axes.tick_params(length=0)
    axes.xaxis.tick_top()
    colourbar = figure.colorbar(image, ax=axes, shrink=0.8)
    colourbar.set_label(_("Residents"), fontsize=charts.TICK_SIZE, fontfamily=charts.FONT_FAMILY)
    colourbar.outline.set_visible(False)
    return charts._save(figure, fmt)


def export_headers() -> list[str]:
    return [_("Month"), _("Ward"), _("Topic"), _("Sessions"), _("Seats per session"),
            _("Expected new residents 65–74"), _("Expected new residents 75+"),
            _("Share of first-time 65–74 (%)"), _("Share of first-time 75+ (%)"), _("Share from"),
            _("Not yet reached 65–74 in the ward"), _("Not yet reached 75+ in the ward"),
            _("Left on waiting lists"), _("Full sessions"), _("Consultations on the topic (12 months)"),
            _("Venues in the ward"), _("Partners in the ward"),
            _("Suggested course"), _("Suggested venue"), _("Partner to ask")]


def suggestion_names(suggestion) -> dict[str, str]:
    """The course, venue and partner of a planning_drafts.Suggestion (or None) in the current language; "" where
    there is none."""
    return {"course": localized(suggestion.course, "title") if suggestion and suggestion.course else "",
            "venue": localized(suggestion.venue, "name") if suggestion and suggestion.venue else "",
            "partner": localized(suggestion.partner, "name") if suggestion and suggestion.partner else ""}


def export_rows(plan: Plan, suggested: dict | None = None) -> list[list]:
    """The plan's rows; with `suggested` (planning_drafts.suggestions of the rows), who could hold each."""
    lines = []
    for row in plan.rows:
        names = suggestion_names((suggested or {}).get((row.ward.pk, row.topic.pk)))
        lines.append([
            month_key(row.month), localized(row.ward, "name"), localized(row.topic, "name"), row.sessions, row.seats,
            row.expected["65-74"], row.expected["75+"], row.share_percent["65-74"], row.share_percent["75+"],
            row.basis_label, row.not_yet_reached["65-74"], row.not_yet_reached["75+"], row.waitlisted,
            row.full_sessions, row.consultations, "; ".join(f"{name} ({capacity})" for name, capacity in row.venues),
            "; ".join(row.partners), names["course"], names["venue"], names["partner"]])
    return lines


EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8",
                  "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def export_bytes(plan: Plan, fmt: str, suggested: dict | None = None) -> bytes:
    """The plan as CSV (UTF-8 with a BOM, for Excel) or XLSX, one row per ward × topic × month; texts that a
    spreadsheet would run as a formula are escaped."""
    dataset = tablib.Dataset(headers=[escape_csv_cell(header) for header in export_headers()])
    for line in export_rows(plan, suggested):
        dataset.append([escape_csv_cell(value) for value in line])
    dataset.title = "plan"
    if fmt == "csv":
        return codecs.BOM_UTF8 + dataset.export("csv").encode("utf-8")
    if fmt == "xlsx":
        return dataset.export("xlsx")
    raise ValueError(fmt)
