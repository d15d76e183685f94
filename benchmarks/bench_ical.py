"""iCalendar feeds with 5,000 upcoming sessions (about 4,400 of them within the public feeds' six months): bare
icalendar (build + serialise the feed's events), the cold feed (empty cache: the key query, the load, every event
built, the bulk cache writes) and the ratio cold ÷ bare (goal ≤ 1.2×, issue 18), the cold feed's query count, the
warm feed (goal: under 200 ms) and the 304 answer for an unchanged feed. Runs on the configured cache (the database
cache without REDIS_URL)."""

import os
import statistics
import time
from datetime import timedelta

from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from icalendar import Calendar

from courses import ical
from courses.calendar_views import public_feed_sessions
from courses.models import Registration, Session
from partners.models import Ward
from tests import factories

TOTAL = 5000
URL = "/calendar/sessions.ics"


def _median_ms(func, runs: int = 5) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def _bare_icalendar(sessions) -> dict[str, float]:
    started = time.perf_counter()
    calendar = Calendar()
    calendar.add("prodid", ical.PRODID)
    calendar.add("version", "2.0")
    for session in sessions:
        calendar.add_component(ical.session_event(session, language="ja", base_url="http://testserver"))
    built = time.perf_counter()
    calendar.add_missing_timezones()
    timezones = time.perf_counter()
    calendar.to_ical()
    done = time.perf_counter()
    return {"build": built - started, "timezones": timezones - built, "to_ical": done - timezones,
            "total": done - started}


def run() -> None:
    courses = [factories.course() for _ in range(15)]
    wards = list(Ward.objects.all())
    venues = [factories.venue(ward=wards[i % len(wards)]) for i in range(20)]
    organiser = factories.partner()
    start = timezone.now() + timedelta(days=1)
    existing = Session.objects.count()
    Session.objects.bulk_create(
        Session(course=courses[i % len(courses)], organiser=organiser, venue=venues[i % len(venues)],
                starts_at=start + timedelta(hours=i), ends_at=start + timedelta(hours=i, minutes=90), capacity=12)
        for i in range(existing, TOTAL))
    sessions = list(public_feed_sessions().select_related("course", "venue"))
    bares = [_bare_icalendar(sessions) for _ in range(3)]
    bare = min(bares, key=lambda b: b["total"])
    print(f"bare icalendar, {len(sessions)} events: build {bare['build'] * 1000:.0f} ms, "  # noqa: T201
          f"add_missing_timezones {bare['timezones'] * 1000:.0f} ms, to_ical {bare['to_ical'] * 1000:.0f} ms, "
          f"total {bare['total'] * 1000:.0f} ms (best of 3)")

    client = Client()
    colds = []
    for _ in range(3):
        cache.clear()
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL)
        colds.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    cold = min(colds)
    events = response.content.count(b"BEGIN:VEVENT")
    assert events == len(sessions)
    print(f"{URL} cold (empty cache), {events} events: {cold:.0f} ms (best of 3), {len(queries)} queries")  # noqa: T201
    ratio = cold / (bare["total"] * 1000)
    print(f"cold feed ÷ bare icalendar, same {events} events: {ratio:.2f}× (goal ≤ 1.2×); "  # noqa: T201
          f"load average {os.getloadavg()[0]:.2f}")
    warm = _median_ms(lambda: client.get(URL))
    verdict = "ok" if warm < 200 else "OVER the 200 ms goal"
    print(f"{URL} warm: median {warm:.1f} ms over 5 ({verdict})")  # noqa: T201
    etag = response["ETag"]
    not_modified = _median_ms(lambda: client.get(URL, headers={"if-none-match": etag}))
    assert client.get(URL, headers={"if-none-match": etag}).status_code == 304
    print(f"{URL} 304 (If-None-Match): median {not_modified:.1f} ms over 5")  # noqa: T201
    changed = Session.objects.order_by("pk").last()
    changed.notes = "変更"
    changed.save()
    started = time.perf_counter()
    client.get(URL)
    one_changed = (time.perf_counter() - started) * 1000
    print(f"{URL} after one session changed (fragments from the cache where they survived culling): "  # noqa: T201
          f"{one_changed:.0f} ms")

    # A partner's private staff feed (all 5,000 sessions are this partner's): seat counts in every event.
    from django.contrib.auth import get_user_model

    from partners.feeds import feed_token, get_or_create_feed
    from partners.services import add_membership

    user = get_user_model().objects.create_user("bench-staff")
    feed = get_or_create_feed(membership=add_membership(partner=organiser, user=user, role="manager"))
    staff_url = f"/calendar/staff/{feed_token(feed)}.ics"
    started = time.perf_counter()
    response = client.get(staff_url)
    staff_cold = (time.perf_counter() - started) * 1000
    staff_warm = _median_ms(lambda: client.get(staff_url))
    print(f"staff feed cold, {response.content.count(b'BEGIN:VEVENT')} events: {staff_cold:.0f} ms; "  # noqa: T201
          f"warm: median {staff_warm:.1f} ms over 5")
    Registration.objects.create(session=changed, participant=factories.participant(),
                                status=Registration.Status.CONFIRMED)
    started = time.perf_counter()
    client.get(staff_url)
    print(f"staff feed after one booking (one event rebuilt): {(time.perf_counter() - started) * 1000:.0f} ms")  # noqa: T201
