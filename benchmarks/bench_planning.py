"""The planning view (outreach.planning, issue 21): the time of the planning computation at the demo's size
(`manage.py seed_demo`: ~300 sessions, ~4,000 registrations) and at the bench data's size (`manage.py bench_seed`:
at scale 1, 50,000 sessions, 100,000 participants, 1,000,000 registrations), on the same throwaway database, one
after the other (the demo's data is seeded in a transaction that is rolled back).

At each size, with the form's default inputs (what the page shows first):
- the figures (`planning.planning_data`: all grouped queries in the database), cold (new connection) and warm;
- the model's data (`build_problem`), the integer programme (`solve_ip`, CBC) and the greedy (`solve_greedy`);
- the whole planning page and, as the baseline measured in the same run, the outreach dashboard page (on its
  summaries, refreshed first as every night), both as a city analyst sees them through the test client, timed
  alternately so a change in the machine's load weighs on both; the ratio planning ÷ dashboard of their warm
  medians is the figure to compare between runs and machines.
The load average is printed before and after each size (the machine is shared).

`python -m benchmarks benchmarks.bench_planning` (SQLite, or DATABASE_URL's PostgreSQL). DEKIRU_BENCH_PLANNING_SCALE
sets bench_seed's scale (default 1; 0.1 for a quick look).
"""

import os
import statistics
import sys
import time

from django.db import connection, transaction

SCALE = float(os.environ.get("DEKIRU_BENCH_PLANNING_SCALE", "1"))
WARM_RUNS = 3


def _out(line: str = "") -> None:
    print(line, flush=True)  # noqa: T201


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


class _Rollback(Exception):
    pass


def run() -> None:
    from django.core.management import call_command

    from courses.models import Session

    if Session.objects.exists():
        raise SystemExit("bench_planning needs an empty database: it seeds the demo's data, then bench_seed's.")
    try:
        with transaction.atomic():
            started = time.perf_counter()
            try:
                call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115 (closed at exit)
                label = "demo (seed_demo)"
            except Exception as error:  # noqa: BLE001 (another part's failure: measure at the demo's size anyway)
                _out(f"seed_demo failed ({type(error).__name__}: {error}); bench_seed at the demo's size instead")
                call_command("bench_seed", "--scale", "0.006", stdout=open(os.devnull, "w"))  # noqa: SIM115
                label = "demo-sized (bench_seed --scale 0.006)"
            _out(f"seeded {label} in {time.perf_counter() - started:.1f} s")
            measure(label)
            raise _Rollback
    except _Rollback:
        pass
    started = time.perf_counter()
    call_command("bench_seed", "--scale", str(SCALE), stdout=open(os.devnull, "w"))  # noqa: SIM115
    _out(f"seeded bench_seed --scale {SCALE} in {time.perf_counter() - started:.1f} s")
    measure(f"bench (bench_seed --scale {SCALE})")


def _timed(function, *, runs: int = WARM_RUNS) -> tuple[float, float, object]:
    """(cold ms, warm median ms, result): cold on a new connection (outside a transaction), warm the median of
    `runs` more calls."""
    if not connection.in_atomic_block:
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


def measure(label: str) -> None:
    from courses.models import Registration, Session
    from outreach import metrics, planning
    from outreach.admin.planning import PlanningForm

    _out()
    _out(f"== {label}: {Session.objects.count():,} sessions, {Registration.objects.count():,} registrations; "
         f"load average before: {_load()}")
    today = metrics.municipal_today()
    cold, warm, data = _timed(lambda: planning.planning_data(today=today))
    _out(f"  figures (planning_data)          cold {cold:8.0f} ms   warm {warm:8.0f} ms   "
         f"{len(data.wards)} wards × {len(data.topics)} topics")
    inputs = PlanningForm(None, defaults=data.defaults, today=today).inputs()
    _out(f"  default inputs: N={inputs.sessions}, {len(inputs.months)} months, {inputs.seats} seats, "
         f"{inputs.venue_sessions}/venue, {inputs.partner_sessions}/partner, {inputs.instructors} instructors")
    _cold, problem_ms, problem = _timed(lambda: planning.build_problem(data, inputs))
    _cold, ip_ms, ip = _timed(lambda: planning.solve_ip(problem))
    _cold, greedy_ms, greedy = _timed(lambda: planning.solve_greedy(problem))
    _cold, plan_ms, plan = _timed(lambda: planning.make_plan(data, inputs))
    _out(f"  model data (build_problem)                         warm {problem_ms:8.1f} ms")
    _out(f"  integer programme (solve_ip, CBC)                  warm {ip_ms:8.0f} ms   {ip.sessions} sessions placed, "
         f"objective {ip.objective:.1f} ({ip.status})")
    _out(f"  greedy (solve_greedy)                              warm {greedy_ms:8.1f} ms   objective "
         f"{greedy.objective:.1f} ({greedy.objective / ip.objective if ip.objective else 1:.3f} of the optimum)")
    _out(f"  whole plan (make_plan: both + the rows' why)      warm {plan_ms:8.0f} ms   {len(plan.rows)} rows")
    _out(f"  planning computation (figures + plan)              warm {warm + plan_ms:8.0f} ms")
    from outreach import summary_refresh

    started = time.perf_counter()
    summary_refresh.refresh_years()  # the dashboard reads its summaries, as after the nightly refresh
    _out(f"  (the dashboard's summaries refreshed in {time.perf_counter() - started:.1f} s)")
    _pages()
    _out(f"  load average after: {_load()}")


def _pages(*, runs: int = WARM_RUNS) -> None:
    """The planning page against the dashboard page (the baseline), alternately, as a city analyst."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _created = get_user_model().objects.get_or_create(
        username="bench-planner", defaults={"is_superuser": True, "is_staff": True})
    client = Client()
    client.force_login(user)
    pages = [("dashboard page (baseline)", "/admin/outreach/dashboard/"),
             ("planning page", "/admin/outreach/planning/")]
    timings: dict[str, list[float]] = {label: [] for label, _url in pages}
    cold: dict[str, float] = {}
    for attempt in range(runs + 1):
        for label, url in pages:
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
        _out(f"  {label:48} first {cold[label]:8.0f} ms   warm {warm[label]:8.0f} ms")
    _out(f"  planning page ÷ dashboard page (warm): {warm['planning page'] / warm['dashboard page (baseline)']:.2f}")


if __name__ == "__main__":
    sys.exit("Run it under the benchmark runner: python -m benchmarks benchmarks.bench_planning")
