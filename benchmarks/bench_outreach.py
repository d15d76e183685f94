"""The outreach dashboard on a city-sized programme (`manage.py bench_seed`: 50,000 sessions, 100,000 participants,
1,000,000 registrations over three fiscal years). Goals on PostgreSQL: the dashboard's default view of a fiscal year
(summary, KPI progress, attendance by band × ward and × topic, two years of months, reach, skills, foundation
share, consultations, divide gap) under 1 s; each chart's data under ~300 ms; the open-data CSVs streaming.

For each figure of the default view (the current fiscal year, city-wide): its time read from the pre-aggregated
summaries (outreach.summaries, what the dashboard uses), computed by the ORM from the raw rows
(`summaries.plain()`, what partner staff and filtered views use), and by a hand-written SQL query on the raw rows,
which must give the same numbers (checked here). "cold" is the first call on a new database connection, "warm" the
median of the next calls. Then the whole view together, partner staff's and a month's views (raw rows), each chart
drawn, the open-data CSVs, and the refresh of the summaries.

Two ways to run it:
- `python -m benchmarks benchmarks.bench_outreach` (and `make bench`): on the runner's throwaway test database,
  seeded first at DEKIRU_BENCH_OUTREACH_SCALE (default 1 = full size; 0.1 for a quick look).
- `python -m benchmarks.bench_outreach`: on DATABASE_URL's own database (e.g. benchdb), migrated, seeded once by
  bench_seed if it has no sessions and reused as it is afterwards (a database with other sessions is refused).
  With `--pages`, only the dashboard page against the annual report page (issue 19: report ≤ 1.5 × dashboard).
"""

import os
import statistics
import sys
import time
from collections import defaultdict

from django.db import connection
from django.db.models import Count

SCALE = float(os.environ.get("DEKIRU_BENCH_OUTREACH_SCALE", "1"))
WARM_RUNS = 5


def _out(line: str = "") -> None:
    print(line, flush=True)  # noqa: T201


def run() -> None:
    """Under the benchmark runner: seed the throwaway database, then measure."""
    _seed(SCALE)
    measure()


def _seed(scale: float) -> None:
    from django.core.management import call_command

    from courses.models import Session
    from partners.models import Partner
    from provision.management.commands.bench_seed import PREFIX

    if Session.objects.exists():
        if not Partner.objects.filter(name__startswith=PREFIX).exists():
            raise SystemExit("This database has sessions that bench_seed did not make: use an empty database.")
        _out(f"using the data already seeded ({Session.objects.count():,} sessions)")
        return
    started = time.perf_counter()
    call_command("bench_seed", "--scale", str(scale), stdout=sys.stdout)
    _out(f"seeded at scale {scale} in {time.perf_counter() - started:.1f} s")


# --- timing -----------------------------------------------------------------------------------------------------

def _timed(function, *, runs: int = WARM_RUNS) -> tuple[float, float, object]:
    """(cold ms, warm median ms, result): cold on a new connection, warm the median of `runs` more calls."""
    connection.close()
    started = time.perf_counter()
    result = function()
    cold = (time.perf_counter() - started) * 1000
    warm = []
    for _n in range(runs):
        started = time.perf_counter()
        function()
        warm.append((time.perf_counter() - started) * 1000)
    return cold, statistics.median(warm), result


def _plain(function):
    from outreach import summaries

    def plain():
        with summaries.plain():
            return function()

    return plain


# --- hand-written SQL on the raw rows ----------------------------------------------------------------------------

class HandSql:
    """The default view's figures in plain SQL (PostgreSQL and SQLite), to show the ORM's overhead and check it."""

    def __init__(self, fiscal_year: int, now):
        from outreach import metrics

        self.fiscal_year = fiscal_year
        self.now = now
        self.postgres = connection.vendor == "postgresql"
        start, end = metrics.Filters(fiscal_year=fiscal_year).period()
        self.period = {"p0": self._dt(start), "p1": self._dt(end), "now": self._dt(now)}
        self.dates = metrics.Filters(fiscal_year=fiscal_year).dates()

    def _dt(self, value):
        return value if self.postgres else connection.ops.adapt_datetimefield_value(value)

    def _query(self, sql: str, params: dict | None = None) -> list[tuple]:
        params = {**self.period, **(params or {})}
        names = sorted(params, key=len, reverse=True)
        ordered = []
        # Named parameters become positional ones, in their order in the text (both backends take %s).
        positions = []
        for name in names:
            marker = f"%({name})s"
            start = 0
            while (found := sql.find(marker, start)) >= 0:
                positions.append((found, name))
                start = found + 1
        for _position, name in sorted(positions):
            ordered.append(params[name])
        for name in names:
            sql = sql.replace(f"%({name})s", "%s")
        with connection.cursor() as cursor:
            cursor.execute(sql, ordered)
            return cursor.fetchall()

    def _month(self, column: str) -> str:
        if self.postgres:
            return f"CAST(EXTRACT(MONTH FROM {column} AT TIME ZONE 'Asia/Tokyo') AS integer)"
        return f"CAST(strftime('%%m', {column}, '+9 hours') AS integer)"

    FROM_ATTENDED = """FROM courses_registration r JOIN courses_session s ON s.id = r.session_id
        JOIN courses_participant p ON p.id = r.participant_id
        WHERE s.starts_at >= %(p0)s AND s.starts_at < %(p1)s"""
    HELD = "s.status = 'scheduled' AND s.ends_at <= %(now)s"

    def summary(self):
        from outreach import bands, metrics

        held = self.HELD
        sessions = self._query(f"""SELECT
            COALESCE(SUM(CASE WHEN {held} THEN 1 ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN s.status = 'cancelled' THEN 1 ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN {held} THEN s.capacity ELSE 0 END), 0)
            FROM courses_session s WHERE s.starts_at >= %(p0)s AND s.starts_at < %(p1)s""")[0]
        aged = ", ".join(f"'{band}'" for band in bands.AGED_65_PLUS)
        booked = "r.channel <> 'walk_in'"
        people = self._query(f"""SELECT
            COALESCE(SUM(CASE WHEN {booked} THEN 1 ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN r.status = 'attended' THEN 1 ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN r.status = 'attended' AND r.channel = 'walk_in' THEN 1 ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN {booked} AND {held} AND r.status IN ('confirmed', 'attended', 'no_show')
                         THEN 1 ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN {booked} AND {held} AND r.status = 'attended' THEN 1 ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN {booked} AND {held} AND r.status = 'no_show' THEN 1 ELSE 0 END), 0),
            COUNT(DISTINCT CASE WHEN r.status = 'attended' THEN r.participant_id END),
            COUNT(DISTINCT CASE WHEN r.status = 'attended' AND p.age_band IN ({aged}) THEN r.participant_id END),
            COUNT(DISTINCT CASE WHEN {held} AND r.status = 'waitlisted' THEN r.participant_id END)
            {self.FROM_ATTENDED}""")[0]
        first_time = self._query(f"""SELECT COUNT(DISTINCT r.participant_id) {self.FROM_ATTENDED}
            AND r.status = 'attended' AND NOT EXISTS (
                SELECT 1 FROM courses_registration e JOIN courses_session es ON es.id = e.session_id
                WHERE e.participant_id = r.participant_id AND e.status = 'attended' AND es.starts_at < %(p0)s)""")
        repeat = self._query(f"""SELECT COUNT(*) FROM (SELECT r.participant_id {self.FROM_ATTENDED}
            AND r.status = 'attended' GROUP BY r.participant_id HAVING COUNT(DISTINCT s.course_id) >= 2) t""")
        consultations = self._query("SELECT COUNT(*) FROM outreach_consultation WHERE date >= %(d0)s AND date < %(d1)s",
                                    {"d0": self.dates[0], "d1": self.dates[1]})
        (registrations, attendances, walk_ins, booked_seats_held, attended_booked, no_shows, unique, aged_65,
         waiting) = people
        return metrics.Summary(
            sessions_held=sessions[0], sessions_cancelled=sessions[1], seats_offered=sessions[2],
            registrations=registrations, attendances=attendances, walk_ins=walk_ins, unique_participants=unique,
            first_time_participants=first_time[0][0], repeat_participants=repeat[0][0],
            participants_65_plus=aged_65, booked_seats_held=booked_seats_held, attended_booked=attended_booked,
            no_shows=no_shows, waitlist_demand=waiting, consultations=consultations[0][0])

    def _cells(self, rows) -> dict:
        from outreach import metrics

        return {(band, str(key) if key else metrics.NO_WARD): n for band, key, n in rows if n}

    def by_ward(self):
        return self._cells(self._query(f"""SELECT p.age_band, p.ward_id, COUNT(*) {self.FROM_ATTENDED}
            AND r.status = 'attended' GROUP BY p.age_band, p.ward_id"""))

    def by_topic(self):
        from courses.models import CoursePage

        links = CoursePage.topics.through._meta.db_table
        return self._cells(self._query(f"""SELECT p.age_band, t.topic_id, COUNT(*)
            FROM courses_registration r JOIN courses_session s ON s.id = r.session_id
            JOIN courses_participant p ON p.id = r.participant_id
            LEFT JOIN {links} t ON t.coursepage_id = s.course_id
            WHERE s.starts_at >= %(p0)s AND s.starts_at < %(p1)s AND r.status = 'attended'
            GROUP BY p.age_band, t.topic_id"""))

    def monthly(self, fiscal_years: list[int]):
        values = {}
        for year in fiscal_years:
            for month, n in HandSql(year, self.now)._query(f"""SELECT {self._month('s.starts_at')}, COUNT(*)
                    FROM courses_registration r JOIN courses_session s ON s.id = r.session_id
                    WHERE s.starts_at >= %(p0)s AND s.starts_at < %(p1)s AND r.status = 'attended'
                    GROUP BY 1"""):
                values[(str(month), str(year))] = n
        return values

    def reach_participants(self):
        return {(band, str(ward)): n for band, ward, n in self._query(
            f"""SELECT p.age_band, p.ward_id, COUNT(DISTINCT r.participant_id) {self.FROM_ATTENDED}
            AND r.status = 'attended' AND p.ward_id IS NOT NULL AND p.age_band <> ''
            GROUP BY p.age_band, p.ward_id""")}

    def skills(self):
        sums = defaultdict(lambda: [0, 0, 0])  # pairs, below before, reached
        for item, pre, post, n in self._query("""SELECT post.item_id, pre.score, post.score, COUNT(*)
                FROM outreach_skillscore post
                JOIN outreach_selfassessment pa ON pa.id = post.assessment_id AND pa.kind = 'post'
                JOIN courses_registration r ON r.id = pa.registration_id
                JOIN courses_session s ON s.id = r.session_id
                JOIN outreach_selfassessment qa ON qa.registration_id = pa.registration_id AND qa.kind = 'pre'
                JOIN outreach_skillscore pre ON pre.assessment_id = qa.id AND pre.item_id = post.item_id
                WHERE s.starts_at >= %(p0)s AND s.starts_at < %(p1)s
                GROUP BY post.item_id, pre.score, post.score"""):
            sums[item][0] += n
            sums[item][1] += n if pre < 2 else 0
            sums[item][2] += n if pre < 2 and post >= 2 else 0
        return dict(sums)

    def foundation(self):
        foundation = """SELECT 1 FROM outreach_skillscore sc JOIN outreach_skillitem i ON i.id = sc.item_id
            WHERE sc.assessment_id = a.id AND i."group" = 'foundation'"""
        answered, reached = self._query(f"""SELECT COUNT(*),
            COALESCE(SUM(CASE WHEN NOT EXISTS ({foundation} AND sc.score < 2) THEN 1 ELSE 0 END), 0)
            FROM outreach_selfassessment a JOIN courses_registration r ON r.id = a.registration_id
            JOIN courses_session s ON s.id = r.session_id
            WHERE a.kind = 'post' AND s.starts_at >= %(p0)s AND s.starts_at < %(p1)s
            AND EXISTS ({foundation})""")[0]
        return answered, reached

    def consultation_topics(self):
        return dict(self._query("""SELECT t.consultationtopic_id, COUNT(*) FROM outreach_consultation c
            JOIN outreach_consultation_topics t ON t.consultation_id = c.id
            WHERE c.date >= %(d0)s AND c.date < %(d1)s GROUP BY t.consultationtopic_id""",
                                {"d0": self.dates[0], "d1": self.dates[1]}))


# --- the measurements -----------------------------------------------------------------------------------------

def measure() -> None:
    from courses.models import Participant, Registration, Session
    from outreach import metrics, summaries, summary_refresh
    from outreach.models import ConsultationTopic, SkillItem

    today = metrics.municipal_today()
    fiscal_year = metrics.fiscal_year_of(today)
    city = metrics.Filters(fiscal_year=fiscal_year)
    in_year = metrics.registrations(city).count()
    _out(f"data: {Session.objects.count():,} sessions, {Participant.objects.count():,} participants, "
         f"{Registration.objects.count():,} registrations ({in_year:,} in FY{fiscal_year}); database "
         f"{connection.vendor}")

    # As cron does: every fiscal year with data (the dashboard's monthly chart shows three).
    for refresh in summary_refresh.refresh_years():
        _out(f"refresh of the summaries, FY{refresh.fiscal_year}: {refresh.seconds * 1000:.0f} ms")
        _fill_partner_summaries(refresh)
    now = summaries.SummaryRefresh.objects.get(fiscal_year=fiscal_year).as_of
    sql = HandSql(fiscal_year, now)
    years = [fiscal_year - 1, fiscal_year]
    item_ids = {item.pk: item.number for item in SkillItem.objects.all()}
    topic_names = {topic.pk: str(topic) for topic in ConsultationTopic.objects.all()}

    figures = metrics.summary(city)
    checks = [
        # name, the dashboard's call, the hand-written query, how to compare it with the ORM's result
        # On the raw rows, as of the refresh too (sessions may have ended since).
        ("summary", lambda: metrics.summary(city, now=now if summaries.is_plain() else None), sql.summary,
         _same_summary),
        ("kpi_progress", lambda: metrics.kpi_progress(city, today=today, figures=figures), None, None),
        ("attendance_by_band(ward)", lambda: metrics.attendance_by_band(city, by="ward"), sql.by_ward,
         lambda orm, raw: orm.values == raw),
        ("attendance_by_band(topic)", lambda: metrics.attendance_by_band(city, by="topic"), sql.by_topic,
         lambda orm, raw: orm.values == raw),
        ("monthly_attendance(2 FYs)", lambda: metrics.monthly_attendance(city, years), lambda: sql.monthly(years),
         lambda orm, raw: orm.values == raw),
        ("reach", lambda: metrics.reach(city), sql.reach_participants,
         lambda orm, raw: orm.participants.values == raw),
        ("skills", lambda: metrics.skills(city), sql.skills,
         lambda orm, raw: {row.number: [row.pairs, row.below_own_before, row.reached_own] for row in orm if row.pairs}
         == {item_ids[item]: value for item, value in raw.items()}),
        ("foundation_on_my_own", lambda: metrics.foundation_on_my_own(city), sql.foundation,
         lambda orm, raw: orm == (metrics.rate(raw[1], raw[0]), raw[0])),
        ("consultation_figures", lambda: metrics.consultation_figures(city), sql.consultation_topics,
         lambda orm, raw: {name: n for name, n in orm.by_topic if n} == {topic_names[k]: n for k, n in raw.items()}),
        ("divide_gap", lambda: metrics.divide_gap(), None, None),
    ]

    _out()
    _out(f"Default view, FY{fiscal_year}, city-wide (ms)      summaries      raw rows (ORM)   hand SQL  same")
    _out(f"{'':44} cold   warm      cold    warm      warm")
    totals = defaultdict(float)
    for name, call, hand, same in checks:
        cold, warm, result = _timed(call)
        plain_cold, plain_warm, plain_result = _timed(_plain(call), runs=2)
        line = f"  {name:41} {cold:6.1f} {warm:6.1f}  {plain_cold:8.1f} {plain_warm:7.1f}"
        if hand is not None:
            _cold, sql_warm, raw = _timed(hand, runs=2)
            with summaries.plain():
                agrees = same(plain_result, raw) and same(result, raw)
            line += f"  {sql_warm:8.1f}  {'yes' if agrees else 'NO'}"
            if not agrees:
                raise AssertionError(f"{name}: the hand-written SQL gives other figures")
        else:
            line += f"  {'-':>8}  {'yes' if result == plain_result else 'NO'}"
        _out(line)
        totals["summaries cold"] += cold
        totals["summaries warm"] += warm
        totals["raw cold"] += plain_cold
        totals["raw warm"] += plain_warm
    _out(f"  {'sum':41} {totals['summaries cold']:6.1f} {totals['summaries warm']:6.1f}  "
         f"{totals['raw cold']:8.1f} {totals['raw warm']:7.1f}")

    _out()
    _out("Whole view, all figures in turn (goal < 1,000 ms)          cold     warm")
    organiser = (Session.objects.filter(starts_at__gte=city.period()[0]).values("organiser_id")
                 .annotate(n=Count("pk")).order_by("-n").values_list("organiser_id", flat=True).first())
    for label, filters, plain in [
        ("city-wide (summaries)", city, False),
        ("city-wide (raw rows)", city, True),
        ("partner staff, largest partner (raw rows)", city.with_(scope=frozenset([organiser])), False),
        ("city-wide, one month (raw rows)", city.with_(month=6), False),
        ("city-wide, one topic (raw rows)", city.with_(topic=_busiest_topic(city)), False),
    ]:
        def view(filters=filters):
            return _default_view(filters, today, years)

        cold, warm, _result = _timed(_plain(view) if plain else view, runs=2 if plain else 3)
        _out(f"  {label:56} {cold:7.0f}  {warm:7.0f}")

    from outreach.dashboard import data_version

    cold, warm, _result = _timed(lambda: data_version(today=today), runs=3)
    _out(f"  {'(the dashboard page also runs outreach.dashboard.data_version)':56} {cold:7.0f}  {warm:7.0f}")

    _charts(city, today)
    _pages(fiscal_year)
    _open_data(fiscal_year)


def _same_summary(orm, raw) -> bool:
    return {**orm.__dict__, "as_of": None} == {**raw.__dict__, "as_of": None}


def _busiest_topic(filters):
    from outreach import metrics

    row = (metrics.attendances(filters).values("session__course__topics").annotate(n=Count("pk"))
           .order_by("-n").first())
    return row["session__course__topics"]


def _default_view(filters, today, years):
    from outreach import metrics

    figures = metrics.summary(filters)
    metrics.kpi_progress(filters, today=today, figures=figures)
    metrics.attendance_by_band(filters, by="ward")
    metrics.attendance_by_band(filters, by="topic")
    metrics.monthly_attendance(filters, years)
    metrics.reach(filters)
    metrics.skills(filters)
    metrics.foundation_on_my_own(filters)
    metrics.consultation_figures(filters)
    metrics.divide_gap()


def _charts(city, today) -> None:
    from outreach.dashboard import CHARTS, Dashboard

    _out()
    _out("Charts, city-wide (ms; goal: data < ~300)          data    data + SVG   data + PNG")
    for name, spec in CHARTS.items():
        _cold, data, _result = _timed(lambda spec=spec: spec.data(Dashboard(city, today=today)), runs=3)
        _cold, svg, _result = _timed(lambda spec=spec: spec.render(Dashboard(city, today=today), "svg"), runs=2)
        _cold, png, _result = _timed(lambda spec=spec: spec.render(Dashboard(city, today=today), "png"), runs=2)
        _out(f"  {name:46} {data:7.1f}  {svg:11.1f}  {png:11.1f}")


# The annual report must cost at most this many times the dashboard page, both timed in the same run.
REPORT_GOAL_RATIO = 1.5


def _pages(fiscal_year: int, *, runs: int = 3) -> dict[str, float]:
    """The dashboard page and the annual report page (HTML, and the report's PDF), city-wide, as an analyst sees
    them: each request timed whole through the test client (session, permissions, figures, template). The two
    pages are timed alternately, so that a change in the machine's load weighs on both; the ratio of their warm
    medians is the figure to compare between runs and machines (goal: report ≤ 1.5 × dashboard). The load
    average is printed before and after."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _created = get_user_model().objects.get_or_create(
        username="bench-analyst", defaults={"is_superuser": True, "is_staff": True})
    client = Client()
    client.force_login(user)
    query = f"?fiscal_year={fiscal_year}"
    pages = [("dashboard page", f"/admin/outreach/dashboard/{query}"),
             ("annual report page", f"/admin/outreach/reports/annual/{query}"),
             ("annual report PDF", f"/admin/outreach/reports/annual/{query}&format=pdf")]
    _out()
    _out(f"Pages, FY{fiscal_year}, city-wide (ms)   load average before: {_load()}")
    _out(f"  {'':44} cold     warm   ×dashboard")
    timings: dict[str, list[float]] = defaultdict(list)
    cold: dict[str, float] = {}
    for attempt in range(runs + 1):
        for label, url in pages:
            if attempt == 0:
                connection.close()
            started = time.perf_counter()
            response = client.get(url, HTTP_HOST="localhost")
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise AssertionError(f"{url}: {response.status_code}")
            if attempt == 0:
                cold[label] = elapsed
            else:
                timings[label].append(elapsed)
    warm = {label: statistics.median(values) for label, values in timings.items()}
    for label, _url in pages:
        _out(f"  {label:44} {cold[label]:6.0f}  {warm[label]:7.0f}   {warm[label] / warm['dashboard page']:6.2f}")
    ratio = warm["annual report page"] / warm["dashboard page"]
    _out(f"  annual report / dashboard: {ratio:.2f} (goal ≤ {REPORT_GOAL_RATIO}: "
         f"{'met' if ratio <= REPORT_GOAL_RATIO else 'NOT met'})   load average after: {_load()}")
    return warm


def _fill_partner_summaries(refresh) -> None:
    """The partner comparison's summaries of a refreshed year (outreach.metrics.refresh_partner_summaries), as the
    refresh fills them once outreach.summary_refresh calls it; timed, since the refresh pays for them."""
    from django.db import transaction

    from outreach import metrics

    if not hasattr(metrics, "refresh_partner_summaries"):  # the code before issue 19
        return
    started = time.perf_counter()
    with transaction.atomic():
        metrics.refresh_partner_summaries(refresh.fiscal_year, refresh.as_of)
    _out(f"  partner summaries, FY{refresh.fiscal_year}: {(time.perf_counter() - started) * 1000:.0f} ms "
         "(added to the refresh)")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _open_data(fiscal_year: int) -> None:
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    _out()
    _out("Open data (ms)                                 first bytes     whole file    size")
    client = Client()
    for label, name, args in [("event list CSV (sessions to come)", "outreach:events_csv", []),
                              (f"participation CSV FY{fiscal_year - 1}", "outreach:participation_csv",
                               [fiscal_year - 1])]:
        try:
            url = reverse(name, args=args)
        except NoReverseMatch:
            _out(f"  {label}: not routed")
            continue
        for _attempt in range(2):  # the second run is reported (warm)
            started = time.perf_counter()
            response = client.get(url, HTTP_HOST="localhost")
            chunks = iter(response.streaming_content) if response.streaming else iter([response.content])
            first = next(chunks, b"")
            first_ms = (time.perf_counter() - started) * 1000
            size = len(first) + sum(len(chunk) for chunk in chunks)
            whole_ms = (time.perf_counter() - started) * 1000
        _out(f"  {label:46} {first_ms:8.0f}  {whole_ms:13.0f}  {size / 1024:6.0f} KiB  ({response.status_code})")


def main() -> int:
    """`python -m benchmarks.bench_outreach`: on DATABASE_URL's own database, seeded once."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings.test")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    _out(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    _seed(SCALE)
    if "--pages" in sys.argv[1:]:  # only the dashboard and annual report pages, on fresh summaries
        from outreach import metrics, summary_refresh

        for refresh in summary_refresh.refresh_years():
            _fill_partner_summaries(refresh)
        _pages(metrics.fiscal_year_of(metrics.municipal_today()))
        return 0
    measure()
    return 0


if __name__ == "__main__":
    sys.exit(main())
