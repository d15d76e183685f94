"""The class listing (/classes/) with 300 and with 30,000 upcoming sessions, unfiltered and with each filter: query
count and time, and the ratio the issue sets a goal for (time at 30,000 ÷ time at 300, ≤ 1.3×).

Two rows per case, both on the deployed code (nothing here copies it): "/classes/" is the view
(courses.views.session_list) through the test client, middleware, template and all; "listing_page" is
courses.listing.listing_page alone, with the filters as SessionFilterForm cleans them — the database part of the
page, which is what could grow with the number of sessions.

After each growth the tables are analysed on PostgreSQL, as autovacuum does within a minute of such a change: a
planner that still believes the table holds 300 rows sorts all 30,000 to hand back twenty, which no deployed
database does for long (the figures without it are the "no ANALYZE" run: `BENCH_LISTING_ANALYZE=0`)."""

import os
import statistics
import time
from datetime import timedelta

from django.db import connection
from django.test import Client
from django.utils import timezone

from courses import listing
from courses.forms import SessionFilterForm
from courses.models import Registration, Session, Topic
from courses.references import new_references
from partners.models import Ward
from tests import factories

REPEAT = 20


def _catalogue():
    """Fifteen courses (a third of them about LINE, the rest smartphone basics), in three topics, at twenty venues
    spread over the wards."""
    topics = [Topic.objects.create(name=f"分野{n}", name_en=f"Topic {n}", slug=f"bench-topic-{n}") for n in range(3)]
    courses = [factories.course(topics=[topics[i % 3]],
                                **({"title": f"LINEで家族とつながろう{i}"} if i % 3 == 2 else {}))
               for i in range(15)]
    wards = list(Ward.objects.all())
    venues = [factories.venue(ward=wards[i % len(wards)]) for i in range(20)]
    return courses, venues, wards, topics


def _grow_to(total: int, courses, venues, organiser) -> None:
    """Sessions an hour apart from tomorrow on, every seventh with eight confirmed registrations (of twelve)."""
    existing = Session.objects.count()
    start = timezone.now() + timedelta(days=1)
    Session.objects.bulk_create(
        Session(course=courses[i % len(courses)], organiser=organiser, venue=venues[i % len(venues)],
                starts_at=start + timedelta(hours=i), ends_at=start + timedelta(hours=i, minutes=90), capacity=12)
        for i in range(existing, total))
    people = [factories.participant() for _ in range(8)]
    chosen = [(session, n) for session in Session.objects.order_by("pk")[existing:total:7] for n in range(8)]
    taken = set(Registration.objects.values_list("reference", flat=True))
    Registration.objects.bulk_create(
        Registration(session=session, participant=people[n], status=Registration.Status.CONFIRMED,
                     reference=reference)
        for (session, n), reference in zip(chosen, new_references(len(chosen), taken), strict=True))
    if connection.vendor == "postgresql" and os.environ.get("BENCH_LISTING_ANALYZE", "1") != "0":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _timed(once) -> tuple[int, float, float]:
    """(queries of one call, median and fastest milliseconds over REPEAT calls), after one warming call. On a
    shared machine the fastest call is the figure least disturbed by the other work; both are printed. The queries are
    counted by an execute wrapper: the client's request signals may reconnect (CONN_MAX_AGE), which empties the
    connection's query log under CaptureQueriesContext (it then reported 0 queries for the view)."""
    once()
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        once()
    timings = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        once()
        timings.append(time.perf_counter() - started)
    return len(queries), statistics.median(timings) * 1000, min(timings) * 1000


def _view(client: Client, params: dict):
    def once():
        response = client.get("/classes/", params)
        assert response.status_code == 200, response.status_code
    return once


def _listing_page(params: dict):
    def once():
        form = SessionFilterForm(params)
        page = listing.listing_page(form.filters(), 1)
        assert len(page.object_list) > 0, params
    return once


def _cases(wards, topics) -> list[tuple[str, dict]]:
    today = timezone.localdate()
    return [
        ("no filter", {}),
        ("ward", {"ward": wards[0].pk}),
        ("topic", {"topic": topics[0].slug}),
        ("level", {"level": "beginner"}),
        ("device", {"device": "iphone"}),
        ("dates (a week)", {"date_from": (today + timedelta(days=2)).isoformat(),
                            "date_to": (today + timedelta(days=9)).isoformat()}),
        ("keyword", {"q": "LINE"}),
        ("free seats", {"free": "on"}),
        ("ward + free + keyword", {"ward": wards[0].pk, "free": "on", "q": "スマホ"}),
    ]


def run() -> None:
    courses, venues, wards, topics = _catalogue()
    organiser = factories.partner()
    client = Client()
    cases = _cases(wards, topics)
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for total in (300, 30000):
        _grow_to(total, courses, venues, organiser)
        for label, params in cases:
            for how, once in [("/classes/", _view(client, params)), ("listing_page", _listing_page(params))]:
                count, median_ms, fastest_ms = _timed(once)
                figures.setdefault((how, label), []).append((median_ms, fastest_ms))
                print(f"{how} with {total} sessions, {label}: {count} queries, "  # noqa: T201
                      f"median {median_ms:.1f} ms, fastest {fastest_ms:.1f} ms over {REPEAT}")
    for (how, label), ((small, small_fastest), (large, large_fastest)) in figures.items():
        print(f"{how} {label}: time at 30,000 ÷ at 300 = {large / small:.2f}× median, "  # noqa: T201
              f"{large_fastest / small_fastest:.2f}× fastest (goal ≤ 1.3×)")
