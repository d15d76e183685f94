"""The load test's preparation command and its database check (provision/management/commands/loadtest_prepare.py).

A tiny burst through the public registration form (Django's test client, CSRF enforced, as the locustfile sends it)
must leave exactly min(capacity, people) confirmed per session and nobody registered twice; on PostgreSQL the same
burst runs from parallel threads, each with its own database connection. The checker must also catch an overbooked
session, so that the load test's "OK" means something.
"""

import json
import re
import threading
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from courses import services
from courses.models import CoursePage, Registration, Session
from partners.models import Ward
from provision.management.commands.loadtest_prepare import check_burst
from tests import factories

pytestmark = pytest.mark.clock

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    # Every request of the test client comes from one address; the per-address limit is not what is tested here.
    settings.RATELIMIT_ENABLE = False


def prepare(tmp_path, **options) -> dict:
    path = tmp_path / "run.json"
    call_command("loadtest_prepare", output=str(path), **options)
    return json.loads(path.read_text(encoding="utf-8"))


def submit(run: dict, n: int, *, client: Client | None = None, times: int = 1) -> list[int]:
    """Resident n opens the form of session n mod S and sends it `times` times (a double click). HTTP statuses."""
    client = client or Client(enforce_csrf_checks=True)
    path = run["sessions"][n % len(run["sessions"])]["register_path"]
    form = client.get(path)
    assert form.status_code == 200
    token = CSRF_FIELD.search(form.content.decode()).group(1)
    data = {"csrfmiddlewaretoken": token, "booking_for": "self", "name": f"{run['name_prefix']}{n}",
            "kana": "フカシケン タロウ", "phone": f"090{n:08d}", "email": f"lt-{n}@example.jp", "age_band": "70-74",
            "ward": str(Ward.objects.order_by("pk").first().pk), "consent": "on",
            "notify_by": "email", "step": "register"}
    return [client.post(path, data).status_code for _ in range(times)]


@pytest.mark.django_db
def test_prepare_creates_open_sessions_on_a_live_course(site, tmp_path):
    run = prepare(tmp_path, sessions=3, capacity=2)

    assert len(run["sessions"]) == 3
    sessions = Session.objects.filter(pk__in=[s["id"] for s in run["sessions"]])
    assert sorted(s.capacity for s in sessions) == [2, 2, 2]
    for session in sessions:
        services.check_open_for_registration(session)  # raises if closed, past or cancelled
    course = CoursePage.objects.get(slug="loadtest-burst")
    assert course.live and run["course_url"] == course.url
    assert Client().get(run["sessions"][0]["register_path"]).status_code == 200

    again = prepare(tmp_path, sessions=2, capacity=5)  # a second run: new sessions, same course, new run tag
    assert {s["id"] for s in again["sessions"]}.isdisjoint({s["id"] for s in run["sessions"]})
    assert again["run"] != run["run"] and CoursePage.objects.filter(slug="loadtest-burst").count() == 1


@pytest.mark.django_db
def test_burst_through_the_form_confirms_exactly_min_capacity_people(site, tmp_path):
    run = prepare(tmp_path, sessions=3, capacity=3)
    # 8 residents over 3 sessions: 3, 3 and 2 people; the last resident double-clicks.
    statuses = [status for n in range(7) for status in submit(run, n)] + submit(run, 7, times=2)

    assert statuses == [302] * 9
    ids = [s["id"] for s in run["sessions"]]
    result = check_burst(ids, name_prefix=run["name_prefix"], expected_people=8)
    assert result.ok, result.problems
    assert [(s.people, s.seated, s.waitlisted) for s in result.sessions] == [(3, 3, 0), (3, 3, 0), (2, 2, 0)]

    more = [submit(run, n)[0] for n in range(8, 11)]  # one more person per session: the first two are full now
    assert more == [302, 302, 302]
    result = check_burst(ids, name_prefix=run["name_prefix"], expected_people=11)
    assert result.ok, result.problems
    assert [(s.seated, s.waitlisted) for s in result.sessions] == [(3, 1), (3, 1), (3, 0)]
    assert (result.seated, result.duplicates, result.duplicate_people) == (9, 0, 0)

    call_command("loadtest_prepare", check=str(tmp_path / "run.json"), expected_people=11)  # exit 0


@pytest.mark.django_db
def test_check_catches_overbooking_and_duplicates(site, tmp_path):
    run = prepare(tmp_path, sessions=1, capacity=2)
    session = Session.objects.get(pk=run["sessions"][0]["id"])
    person = factories.participant()
    for _ in range(3):  # written past the services: three seats taken on a session of two
        factories.registration(session_obj=session)
    factories.registration(session_obj=session, participant=person, status=Registration.Status.CANCELLED)

    result = check_burst([session.pk], expected_people=3)
    assert not result.ok
    assert any("OVERBOOKED" in problem for problem in result.problems)
    with pytest.raises(SystemExit):
        call_command("loadtest_prepare", check=str(tmp_path / "run.json"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_burst_on_postgres_leaves_no_overbooking(site, tmp_path):
    run = prepare(tmp_path, sessions=2, capacity=4)
    people = 16
    barrier = threading.Barrier(people)
    statuses, errors = [], []

    def resident(n):
        try:
            client = Client(enforce_csrf_checks=True)
            barrier.wait(timeout=30)
            statuses.extend(submit(run, n, client=client, times=2 if n == 0 else 1))
        except BaseException as exc:  # noqa: BLE001 — every failure counts
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=resident, args=(n,)) for n in range(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert sorted(statuses) == [302] * (people + 1)
    result = check_burst([s["id"] for s in run["sessions"]], name_prefix=run["name_prefix"], expected_people=people)
    assert result.ok, result.problems
    assert [(s.seated, s.waitlisted) for s in result.sessions] == [(4, 4), (4, 4)]


# --- The locustfile reads the form's choices from the page, and counts a 400 as a failure --------------------------

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

LOADTEST = Path(__file__).resolve().parents[1] / "loadtest"


def _loadtest_module(name: str):
    """loadtest/<name>.py, loaded by path: the folder is not a package (locust puts it on sys.path itself)."""
    spec = importlib.util.spec_from_file_location(name, LOADTEST / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_the_form_choices_are_read_from_the_page_whatever_the_ward_ids(site, tmp_path):
    # Wards whose ids are nowhere near 1–7, as on a database seeded twice.
    wards = [Ward.objects.create(pk=9000 + i, code=f"9{i:05d}", name=f"区{i}", name_en=f"Ward {i}",
                                 sort_order=900 + i) for i in range(3)]
    run = prepare(tmp_path, sessions=1, capacity=5)
    path = run["sessions"][0]["register_path"]
    formfill = _loadtest_module("formfill")
    choices = formfill.form_choices(Client().get(path).content.decode())
    ward_ids = [str(pk) for pk in Ward.objects.order_by("sort_order").values_list("pk", flat=True)]
    assert [value for value in choices["ward"] if value in ward_ids] == ward_ids  # every ward, in the form's order
    assert "70-74" in choices["age_band"]
    assert formfill.pick(choices, "ward", choices["ward"].index(str(wards[2].pk))) == str(wards[2].pk)
    assert formfill.pick(choices, "age_band", 0, preferred="70-74") == "70-74"
    with pytest.raises(KeyError):
        formfill.pick(choices, "no_such_field", 0)

    # What the locustfile sends, built from those choices, registers (302), never a 400 re-render.
    client = Client(enforce_csrf_checks=True)
    page = client.get(path).content.decode()
    choices = formfill.form_choices(page)
    data = {"csrfmiddlewaretoken": CSRF_FIELD.search(page).group(1), "booking_for": "self",
            "name": f"{run['name_prefix']}0", "kana": "フカシケン タロウ", "phone": "09000000000",
            "email": "lt-0@example.jp", "age_band": formfill.pick(choices, "age_band", 0, preferred="70-74"),
            "ward": str(wards[0].pk), "consent": "on", "step": "register"}
    assert data["ward"] in choices["ward"]
    if "device" in choices:
        data["device"] = formfill.pick(choices, "device", 0, preferred="android")
    if "notify_by" in choices:
        data["notify_by"] = formfill.pick(choices, "notify_by", 0, preferred="email")
    assert client.post(path, data).status_code == 302


def test_form_choices_parse_selects_and_radios_and_skip_the_prompt():
    page = """<select name="ward" id="id_ward"><option value="" selected>選んでください</option>
      <option value="12">中央区</option><option value="15">北区</option></select>
      <input type="radio" name="booking_for" value="self" checked> <input type="radio" name="booking_for"
      value="family"> <input type="text" name="name" value="x">"""
    assert _loadtest_module("formfill").form_choices(page) == {"ward": ["12", "15"], "booking_for": ["self", "family"]}


def test_the_locustfile_counts_a_400_as_a_failure_and_hard_codes_no_ward():
    source = (LOADTEST / "locustfile.py").read_text(encoding="utf-8")
    branch = source[source.index("elif code == 400:"):source.index("elif code == 429:")]
    assert "response.failure(" in branch and "response.success()" not in branch
    assert "1 + n % 7" not in source
    assert 'pick(choices, "ward", n)' in source


# --- The burst's residents arrive at random moments, not in locust's clumps ---------------------------------------


def test_the_residents_of_one_second_arrive_spread_over_it():
    """Locust starts a second's 25 residents at the same instant; each waits a random moment of that second first
    (loadtest/arrivals.py). The same number waits the same (a run can be repeated); a spread of 0 keeps the clumps."""
    arrival_delay = _loadtest_module("arrivals").arrival_delay
    delays = [arrival_delay(n, 1.0) for n in range(1000)]
    assert all(0 <= d < 1 for d in delays)
    # Every tenth of the second gets its share (100 of 1,000 expected; the seeds are fixed, so this never flakes).
    per_tenth = Counter(int(d * 10) for d in delays)
    assert sorted(per_tenth) == list(range(10)) and all(70 <= per_tenth[t] <= 130 for t in range(10)), per_tenth
    # No clump: the residents started together (25 a second) do not press in the same few milliseconds.
    for second in range(0, 1000, 25):
        clump = sorted(delays[second:second + 25])
        assert clump[-1] - clump[0] > 0.5, second
    assert delays == [arrival_delay(n, 1.0) for n in range(1000)]
    assert {arrival_delay(n, 0) for n in range(100)} == {0.0}


def test_the_locustfile_waits_for_the_arrival_before_the_form():
    source = (LOADTEST / "locustfile.py").read_text(encoding="utf-8")
    task = source[source.index("    def register(self):"):source.index("    def _register(self):")]
    assert task.index("gevent.sleep(arrival_delay(self.number, ARRIVAL_SPREAD))") < task.index("self._register()")
