"""The class listing (/classes/) with 300 and with 3,000 upcoming sessions: query count and time."""

import statistics
import time
from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courses.models import Registration, Session
from partners.models import Ward
from tests import factories


def _grow_to(total: int, courses, venues, organiser) -> None:
    existing = Session.objects.count()
    start = timezone.now() + timedelta(days=1)
    Session.objects.bulk_create(
        Session(course=courses[i % len(courses)], organiser=organiser, venue=venues[i % len(venues)],
                starts_at=start + timedelta(hours=i), ends_at=start + timedelta(hours=i, minutes=90), capacity=12)
        for i in range(existing, total))
    people = [factories.participant() for _ in range(8)]
    Registration.objects.bulk_create(
        Registration(session=session, participant=people[n], status=Registration.Status.CONFIRMED)
        for session in Session.objects.order_by("pk")[existing:total:7] for n in range(8))


def _measure(client: Client, url: str, params: dict) -> tuple[int, float]:
    client.get(url, params)
    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    count = len(queries)
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        client.get(url, params)
        timings.append(time.perf_counter() - started)
    return count, statistics.median(timings) * 1000


def run() -> None:
    courses = [factories.course() for _ in range(15)]
    wards = list(Ward.objects.all())
    venues = [factories.venue(ward=wards[i % len(wards)]) for i in range(20)]
    organiser = factories.partner()
    client = Client()
    for total in (300, 30000):
        _grow_to(total, courses, venues, organiser)
        for label, params in [("no filter", {}), ("ward + free + keyword", {"ward": wards[0].pk, "free": "on",
                                                                            "q": "スマホ"})]:
            count, median_ms = _measure(client, "/classes/", params)
            print(f"/classes/ with {total} sessions, {label}: {count} queries, "  # noqa: T201
                  f"median {median_ms:.1f} ms over 10")
