"""The last seat goes to exactly one person, across database connections, on PostgreSQL.

In the spirit of pretix's tests: many threads (each with its own PostgreSQL connection, as separate processes
or app servers would have) race through the registration service for the last seats of one session. A control
run removes the row lock and shows that the same race then overbooks: the lock is what keeps the count right.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import close_old_connections, connection

from courses import services
from courses.models import Registration, Session
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.clock]

RACERS = 24
CAPACITY = 10
ALREADY_BOOKED = 7  # so the racers fight for the last 3 seats


def race(session: Session, racers: int = RACERS):
    """Start `racers` threads at once, each registering a different person. Returns the errors raised."""
    barrier = threading.Barrier(racers)
    errors: list[BaseException] = []

    def book(n: int):
        try:
            barrier.wait(timeout=30)
            services.register(session=session, participant=services.ParticipantDetails(
                name=f"競争 太郎{n}", kana="キョウソウ タロウ", phone=f"0801234{n:04d}", age_band="70-74",
                consent=True))
        except BaseException as exc:  # noqa: BLE001 — every failure counts
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=book, args=(n,)) for n in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def slow_count(monkeypatch):
    """Widen the race window: hold for 50 ms between counting seats and writing the registration."""
    real_count = services._seated_count

    def count_then_pause(session):
        seated = real_count(session)
        time.sleep(0.05)
        return seated

    monkeypatch.setattr(services, "_seated_count", count_then_pause)


@pytest.fixture
def nearly_full_session(site):
    session = factories.session(capacity=CAPACITY)
    for _ in range(ALREADY_BOOKED):
        factories.registration(session_obj=session)
    return session


def counts(session):
    statuses = list(session.registrations.values_list("status", flat=True))
    return statuses.count(Registration.Status.CONFIRMED), statuses.count(Registration.Status.WAITLISTED)


def test_last_seats_go_to_exactly_capacity_people(nearly_full_session, monkeypatch):
    slow_count(monkeypatch)
    started = time.perf_counter()
    errors = race(nearly_full_session)
    elapsed = time.perf_counter() - started

    confirmed, waitlisted = counts(nearly_full_session)
    assert errors == []
    assert confirmed == CAPACITY
    assert waitlisted == RACERS - (CAPACITY - ALREADY_BOOKED)
    positions = sorted(nearly_full_session.registrations.filter(status="waitlisted")
                       .values_list("waitlist_position", flat=True))
    assert positions == list(range(1, waitlisted + 1))
    print(f"\n{RACERS} racers for {CAPACITY - ALREADY_BOOKED} seats: {confirmed} confirmed, "  # noqa: T201
          f"{waitlisted} waitlisted, 0 errors, {elapsed:.2f}s")


def test_control_without_the_row_lock_the_same_race_overbooks(nearly_full_session, monkeypatch):
    """Proof that the test above tests the lock: remove it and the session is overbooked."""
    slow_count(monkeypatch)
    monkeypatch.setattr(services, "_lock_session",
                        lambda session_id, **also: Session.objects.select_related("course").annotate(**also)
                        .get(pk=session_id))
    race(nearly_full_session)

    confirmed, _waitlisted = counts(nearly_full_session)
    print(f"\ncontrol without the row lock: {confirmed} confirmed for a capacity of {CAPACITY}")  # noqa: T201
    assert confirmed > CAPACITY, "without the lock the race should overbook; if not, the race is not racing"


def test_double_click_from_two_connections_registers_once(site, monkeypatch):
    """The same person submitting twice at the same moment (a double click) gets one registration."""
    slow_count(monkeypatch)
    session = factories.session(capacity=5)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def submit():
        try:
            barrier.wait(timeout=30)
            results.append(services.register(session=session, participant=services.ParticipantDetails(
                name="二重 押子", kana="ニジュウ オシコ", phone="090-1111-2222", consent=True)))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert sorted(r.created for r in results) == [False, True]
    assert session.registrations.count() == 1


def test_last_seats_across_processes(nearly_full_session):
    """Separate OS processes (as separate app servers would be) race for the last 3 seats."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "cms.settings.test"}
    processes = 8
    start_at = time.time() + 4  # every process has set up Django by then
    procs = [subprocess.Popen([sys.executable, "-m", "tests.courses.race_worker", str(nearly_full_session.pk),
                               str(n), str(start_at)], env=env, cwd=Path(__file__).resolve().parents[2],
                              stdout=subprocess.PIPE, text=True) for n in range(processes)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]

    assert not [o for o in outputs if not o.startswith(("confirmed", "waitlisted"))], outputs
    assert outputs.count("confirmed") == CAPACITY - ALREADY_BOOKED
    confirmed, waitlisted = counts(nearly_full_session)
    assert (confirmed, waitlisted) == (CAPACITY, processes - (CAPACITY - ALREADY_BOOKED))
