"""The class listing (/classes/) with 300 and with 30,000 upcoming sessions: query count and time, and the ratio
the issue sets a goal for (time at 30,000 ÷ time at 300, ≤ 1.3×).

Two rows per case: "/classes/" is the deployed view through the test client; "listing.py" is the same page built
as the view does with courses.listing.listing_page (filter form, page, matching courses, template), through a
RequestFactory request — the same figure once the view calls courses.listing."""

import statistics
import time
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courses.models import Registration, Session
from courses.references import new_references
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
    chosen = [(session, n) for session in Session.objects.order_by("pk")[existing:total:7] for n in range(8)]
    taken = set(Registration.objects.values_list("reference", flat=True))
    Registration.objects.bulk_create(
        Registration(session=session, participant=people[n], status=Registration.Status.CONFIRMED,
                     reference=reference)
        for (session, n), reference in zip(chosen, new_references(len(chosen), taken), strict=True))


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


def _listing_view(request):
    """The view body proposed for courses.views.session_list, on courses.listing."""
    from django.template.response import TemplateResponse

    from courses import listing
    from courses.forms import SessionFilterForm
    from courses.search import search_courses

    form = SessionFilterForm(request.GET or None)
    filters = form.filters()
    page = listing.listing_page(filters, request.GET.get("page"))
    matching_courses = list(search_courses(filters["q"]).order_by("title")[:20]) if filters.get("q") else None
    query = request.GET.copy()
    query.pop("page", None)
    return TemplateResponse(request, "courses/session_list.html", {
        "form": form, "page_obj": page, "sessions": page.object_list, "matching_courses": matching_courses,
        "filtered": bool(filters), "querystring": query.urlencode(),
    }).render()


def _measure_listing(params: dict) -> tuple[int, float]:
    factory = RequestFactory()

    def once():
        request = factory.get("/classes/", params)
        request.user = AnonymousUser()
        return _listing_view(request)

    once()
    with CaptureQueriesContext(connection) as queries:
        once()
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        once()
        timings.append(time.perf_counter() - started)
    return len(queries), statistics.median(timings) * 1000


def run() -> None:
    courses = [factories.course() for _ in range(15)]
    wards = list(Ward.objects.all())
    venues = [factories.venue(ward=wards[i % len(wards)]) for i in range(20)]
    organiser = factories.partner()
    client = Client()
    medians: dict[tuple[str, str], list[float]] = {}
    cases = [("no filter", {}), ("free seats", {"free": "on"}),
             ("ward + free + keyword", {"ward": wards[0].pk, "free": "on", "q": "スマホ"})]
    for total in (300, 30000):
        _grow_to(total, courses, venues, organiser)
        for label, params in cases:
            for how, (count, median_ms) in [("/classes/", _measure(client, "/classes/", params)),
                                            ("listing.py", _measure_listing(params))]:
                medians.setdefault((how, label), []).append(median_ms)
                print(f"{how} with {total} sessions, {label}: {count} queries, "  # noqa: T201
                      f"median {median_ms:.1f} ms over 10")
    for (how, label), (small, large) in medians.items():
        print(f"{how} {label}: time at 30,000 ÷ at 300 = {large / small:.2f}× (goal ≤ 1.3×)")  # noqa: T201
