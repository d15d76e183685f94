"""Registration throughput through the service, and the course page's cost with many sessions."""

import statistics
import time
from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from courses import services
from courses.models import Registration
from tests import factories

REGISTRATIONS = 300
SESSIONS_ON_PAGE = 60


def run() -> None:
    session = factories.session(capacity=REGISTRATIONS // 2)
    timings = []
    for n in range(REGISTRATIONS):
        started = time.perf_counter()
        services.register(session=session, participant=services.ParticipantDetails(
            name=f"測定 太郎{n}", kana="ソクテイ タロウ", phone=f"090{n:08d}", age_band="70-74", consent=True))
        timings.append(time.perf_counter() - started)
    confirmed = session.registrations.filter(status=Registration.Status.CONFIRMED).count()
    timings.sort()
    print(f"register(): {REGISTRATIONS} calls, {REGISTRATIONS / sum(timings):.0f}/s, "  # noqa: T201
          f"median {statistics.median(timings) * 1000:.1f} ms, p95 {timings[int(len(timings) * 0.95)] * 1000:.1f} ms "
          f"({confirmed} confirmed, {REGISTRATIONS - confirmed} waitlisted)")

    course = session.course
    for i in range(SESSIONS_ON_PAGE):
        factories.session(course_page=course, starts_in=timedelta(days=2 + i), capacity=10)
    client = Client()
    client.get(course.url)  # warm caches (site root, templates)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(course.url)
        elapsed = time.perf_counter() - started
    query_count = len(queries)  # read now: the next request resets the connection's query log
    assert response.status_code == 200
    page_timings = []
    for _ in range(20):
        started = time.perf_counter()
        client.get(course.url)
        page_timings.append(time.perf_counter() - started)
    print(f"course page with {SESSIONS_ON_PAGE + 1} sessions: {query_count} queries, "  # noqa: T201
          f"first {elapsed * 1000:.0f} ms, median {statistics.median(page_timings) * 1000:.1f} ms over 20")
