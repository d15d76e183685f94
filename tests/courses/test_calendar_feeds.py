"""The .ics downloads and feeds over HTTP, and their interop with Mozilla's ical.js (tests/js/parse_ics.mjs)."""

import json
import shutil
import subprocess
from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone
from django.utils.http import http_date

from courses import services
from courses.models import Session
from courses.tokens import registration_token
from partners.feeds import feed_token, get_or_create_feed
from partners.models import Ward
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
ROOT = Path(__file__).resolve().parents[2]
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def _uids(response) -> list[str]:
    return [str(e["uid"]) for e in icalendar.Calendar.from_ical(response.content).walk("VEVENT")]


def _uid(session) -> str:
    return f"session-{session.pk}@127.0.0.1"


def test_all_feed_http_headers(client, site):
    session = factories.session()
    response = client.get("/calendar/sessions.ics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="dekiru-sessions.ics"'
    assert response["ETag"].startswith('"')
    assert response["Last-Modified"] == http_date(int(session.updated_at.timestamp()))
    assert _uids(response) == [_uid(session)]


def test_etag_and_last_modified_give_304_until_something_changes(client, site):
    session = factories.session()
    first = client.get("/calendar/sessions.ics")
    etag = first["ETag"]
    again = client.get("/calendar/sessions.ics", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    since = client.get("/calendar/sessions.ics", headers={"if-modified-since": first["Last-Modified"]})
    assert since.status_code == 304
    services.cancel_session(session=Session.objects.get(pk=session.pk), reason="台風")
    changed = client.get("/calendar/sessions.ics", headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert b"STATUS:CANCELLED" in changed.content


def test_cancelled_session_stays_until_over(client, site):
    upcoming = services.cancel_session(session=factories.session(), reason="台風")
    running = services.cancel_session(session=factories.session(starts_in=timedelta(hours=-1)), reason="雨")
    over = factories.session(starts_in=timedelta(hours=-3))
    uids = _uids(client.get("/calendar/sessions.ics"))
    assert _uid(upcoming) in uids and _uid(running) in uids
    assert _uid(over) not in uids


def test_feeds_filter_by_course_ward_and_partner(client, site):
    wards = list(Ward.objects.order_by("sort_order")[:2])
    partner_a, partner_b = factories.partner(), factories.partner()
    course_a = factories.course(owner=partner_a)
    a = factories.session(course_page=course_a, venue=factories.venue(ward=wards[0]))
    b = factories.session(organiser=partner_b, venue=factories.venue(ward=wards[1]))
    assert _uids(client.get(f"/calendar/courses/{course_a.pk}.ics")) == [_uid(a)]
    assert _uids(client.get(f"/calendar/wards/{wards[0].code}.ics")) == [_uid(a)]
    assert _uids(client.get(f"/calendar/wards/{wards[1].code}.ics")) == [_uid(b)]
    assert _uids(client.get(f"/calendar/partners/{partner_a.pk}.ics")) == [_uid(a)]
    assert _uids(client.get(f"/calendar/partners/{partner_b.pk}.ics")) == [_uid(b)]
    response = client.get(f"/calendar/partners/{partner_b.pk}.ics")
    assert response["Content-Disposition"] == f'attachment; filename="dekiru-partner-{partner_b.pk}.ics"'


def test_unknown_filters_are_404(client, site):
    factories.session()
    for url in ("/calendar/courses/999999.ics", "/calendar/wards/000000.ics", "/calendar/partners/999999.ics",
                "/sessions/999999/calendar.ics", "/registrations/not-a-token/calendar.ics"):
        assert client.get(url).status_code == 404, url


def test_unpublished_course_is_404_and_not_in_feed(client, site):
    session = factories.session()
    session.course.unpublish()
    assert client.get(f"/calendar/courses/{session.course.pk}.ics").status_code == 404
    assert client.get(f"/sessions/{session.pk}/calendar.ics").status_code == 404
    assert _uids(client.get("/calendar/sessions.ics")) == []


def test_session_download(client, site):
    session = factories.session()
    response = client.get(f"/sessions/{session.pk}/calendar.ics")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="dekiru-session-{session.pk}.ics"'
    assert _uids(response) == [_uid(session)]


def test_english_feed_is_in_english(client, site):
    session = factories.session()
    event = icalendar.Calendar.from_ical(client.get("/en/calendar/sessions.ics").content).walk("VEVENT")[0]
    assert str(event["summary"]) == session.course.title_en
    event = icalendar.Calendar.from_ical(client.get("/calendar/sessions.ics").content).walk("VEVENT")[0]
    assert str(event["summary"]) == session.course.title


def test_personal_ics_has_cancel_link_and_no_one_else(client, site):
    session = factories.session()
    mine = factories.registration(session_obj=session)
    other = factories.registration(session_obj=session)
    response = client.get(f"/registrations/{registration_token(mine)}/calendar.ics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert "private" in response["Cache-Control"]
    description = vobject.readOne(response.content.decode()).vevent.description.value
    assert "http://testserver" + mine.get_cancel_url() in description
    assert other.get_cancel_url() not in description
    for person in (mine.participant, other.participant):
        assert person.name.encode() not in response.content
        assert person.phone.encode() not in response.content
    tampered = registration_token(mine)[:-2] + "xx"
    assert client.get(f"/registrations/{tampered}/calendar.ics").status_code == 404


def test_warm_feed_query_count_does_not_grow(client, site, django_assert_max_num_queries):
    course = factories.course()
    organiser = factories.partner()
    venue = factories.venue()
    start = timezone.now() + timedelta(days=1)

    def add(n):
        Session.objects.bulk_create(
            Session(course=course, organiser=organiser, venue=venue, capacity=5, starts_at=start + timedelta(hours=i),
                    ends_at=start + timedelta(hours=i, minutes=90))
            for i in range(n))

    add(3)
    client.get("/calendar/sessions.ics")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert len(_uids(client.get("/calendar/sessions.ics"))) == 3
    add(30)
    client.get("/calendar/sessions.ics")
    with CaptureQueriesContext(connection) as large:
        assert len(_uids(client.get("/calendar/sessions.ics"))) == 33
    assert len(large) == len(small)
    with django_assert_max_num_queries(5):
        client.get("/calendar/sessions.ics")


def _served_feeds(client) -> dict[str, bytes]:
    wards = list(Ward.objects.order_by("sort_order")[:2])
    partner = factories.partner()
    course = factories.course(owner=partner, title="講座, 初級; \\ 改行\nあり", title_en="Basics, part 1; A\\B")
    sessions = [factories.session(course_page=course, venue=factories.venue(ward=wards[0])),
                factories.session(starts_in=timedelta(days=9), venue=factories.venue(ward=wards[1], latitude=None,
                                                                                     longitude=None))]
    services.cancel_session(session=sessions[1], reason="講師の都合")
    mine = factories.registration(session_obj=sessions[0])
    staff = get_user_model().objects.create_user("feed-staff")
    feed = get_or_create_feed(membership=add_membership(partner=partner, user=staff, role="manager"))
    urls = [f"/calendar/staff/{feed_token(feed)}.ics", f"/en/calendar/staff/{feed_token(feed)}.ics",
            "/calendar/sessions.ics", "/en/calendar/sessions.ics", f"/calendar/courses/{course.pk}.ics",
            f"/calendar/wards/{wards[0].code}.ics", f"/calendar/wards/{wards[1].code}.ics",
            f"/calendar/partners/{partner.pk}.ics", f"/sessions/{sessions[0].pk}/calendar.ics",
            f"/en/sessions/{sessions[1].pk}/calendar.ics", f"/registrations/{registration_token(mine)}/calendar.ics"]
    feeds = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        feeds[url] = response.content
    return feeds


def _python_events(data: bytes) -> list[dict]:
    events = []
    for event in icalendar.Calendar.from_ical(data).walk("VEVENT"):
        events.append({"uid": str(event["uid"]), "summary": str(event["summary"]),
                       "start": event.decoded("dtstart").isoformat(), "end": event.decoded("dtend").isoformat(),
                       "tzid": event["dtstart"].params["TZID"], "status": str(event["status"]),
                       "sequence": int(event["sequence"]), "description": str(event["description"])})
    vobject_events = [{"uid": e.uid.value, "summary": e.summary.value, "start": e.dtstart.value.isoformat(),
                       "end": e.dtend.value.isoformat(), "status": e.status.value,
                       "sequence": int(e.sequence.value)}
                      for e in vobject.readOne(data.decode()).vevent_list]
    assert vobject_events == [{k: v for k, v in e.items() if k not in ("tzid", "description")} for e in events]
    return events


def test_every_served_feed_parses_the_same_in_ical_js(client, site):
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "ical.js").exists():
        pytest.skip("node or node_modules/ical.js missing: run `npm install`")
    feeds = _served_feeds(client)
    statuses = set()
    for url, data in feeds.items():
        result = subprocess.run([node, "tests/js/parse_ics.mjs"], input=data, capture_output=True, cwd=ROOT,
                                check=True, timeout=60)
        from_js = json.loads(result.stdout)
        from_python = _python_events(data)
        assert from_js == from_python, url
        assert from_js, url
        statuses |= {e["status"] for e in from_js}
    assert statuses == {"CONFIRMED", "CANCELLED"}


def test_add_to_calendar_include(rf, site):
    from urllib.parse import parse_qs, urlsplit

    from django.template.loader import render_to_string

    session = factories.session()
    request = rf.get("/")
    html = render_to_string("includes/add_to_calendar.html",
                            {"session": session, "feed_url": "/calendar/sessions.ics"}, request=request)
    assert f'href="/sessions/{session.pk}/calendar.ics"' in html
    assert 'href="webcal://testserver/calendar/sessions.ics"' in html
    assert 'href="http://testserver/calendar/sessions.ics"' in html
    links = {urlsplit(href).netloc: href for href in
             (part.split('"')[0].replace("&amp;", "&") for part in html.split('href="')[1:])}
    google = parse_qs(urlsplit(links["calendar.google.com"]).query)
    utc = "%Y%m%dT%H%M%SZ"
    assert google["action"] == ["TEMPLATE"]
    assert google["text"] == [session.course.title]
    assert google["dates"] == [f"{session.starts_at.astimezone(UTC):{utc}}/{session.ends_at.astimezone(UTC):{utc}}"]
    assert session.venue.name in google["location"][0]
    outlook = parse_qs(urlsplit(links["outlook.live.com"]).query)
    assert outlook["subject"] == [session.course.title]
    assert outlook["startdt"] == [session.starts_at.astimezone(TOKYO).isoformat()]
    assert outlook["enddt"] == [session.ends_at.astimezone(TOKYO).isoformat()]
    assert session.course.summary in outlook["body"][0]
    personal = render_to_string("includes/add_to_calendar.html",
                                {"session": session, "ics_url": "/registrations/abc/calendar.ics"}, request=request)
    assert 'href="/registrations/abc/calendar.ics"' in personal and "webcal://" not in personal


@pytest.mark.django_db
def test_the_registration_form_does_not_offer_add_to_calendar(client, site):
    """"Add to calendar" comes after registering (the confirmation page), not on the form (issue 16)."""
    session = factories.session()
    body = client.get(f"/en/sessions/{session.pk}/register/").content.decode()
    assert f"/sessions/{session.pk}/calendar.ics" not in body
    assert "calendar.google.com/calendar/render" not in body
    assert "outlook.live.com" not in body


# --- Cold feeds: a bounded number of queries on any cache backend; public feeds reach six months ahead ------------

from datetime import datetime  # noqa: E402

from django.core.cache import caches  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from courses import calendar_views, ical  # noqa: E402

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "speed-feeds"}}


def _add_sessions(count, *, course=None, organiser=None):
    course = course or factories.course()
    organiser = organiser or factories.partner()
    venue = factories.venue()
    start = timezone.now() + timedelta(days=1)
    Session.objects.bulk_create(
        Session(course=course, organiser=organiser, venue=venue, capacity=5, starts_at=start + timedelta(hours=i),
                ends_at=start + timedelta(hours=i, minutes=90))
        for i in range(count))
    return course, organiser


def _cold_queries(client, url) -> int:
    caches["default"].clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


# On locmem: page restrictions of public(), the key rows, the sessions to build, and one the request itself makes.
# The database cache adds the cache reads (the site root, the cached body, the fragments in one read) and two bulk
# writes (the fragments, then the body: savepoint, count, delete, insert, release each): 22, for 3 events or 300.
# Before, each fragment was its own set() of about five queries.
@pytest.mark.parametrize(("caches_setting", "expected"), [(None, 22), (LOCMEM, 4)])
def test_a_cold_feed_costs_the_same_queries_for_3_or_300_events(client, site, caches_setting, expected):
    with override_settings(**({"CACHES": caches_setting} if caches_setting else {})):
        course, organiser = _add_sessions(3)
        assert _cold_queries(client, "/calendar/sessions.ics") == expected
        _add_sessions(297, course=course, organiser=organiser)
        assert _cold_queries(client, "/calendar/sessions.ics") == expected
        assert len(_uids(client.get("/calendar/sessions.ics"))) == 300


def test_the_bulk_cache_write_is_what_the_database_cache_reads(site):
    backend = caches["default"]
    backend.set("ical:test:old", b"old")
    ical.cache_set_many(backend, {"ical:test:old": b"new", "ical:test:other": {"a": [1, 2]}})
    assert backend.get_many(["ical:test:old", "ical:test:other"]) == {
        "ical:test:old": b"new", "ical:test:other": {"a": [1, 2]}}
    assert backend.has_key("ical:test:other")
    ical.cache_set_many(backend, {})  # nothing to write: no error


def test_a_staff_feed_cold_is_bounded_too(client, site):
    user = get_user_model().objects.create_user("speed-staff")
    course, organiser = _add_sessions(3)
    feed = get_or_create_feed(membership=add_membership(partner=organiser, user=user, role="manager"))
    url = f"/calendar/staff/{feed_token(feed)}.ics"
    small = _cold_queries(client, url)
    _add_sessions(60, course=course, organiser=organiser)
    assert _cold_queries(client, url) == small


def test_public_feeds_reach_six_months_ahead_and_say_so(client, site):
    course = factories.course()
    soon = factories.session(course_page=course, starts_in=timedelta(days=30))
    later = factories.session(course_page=course, starts_in=timedelta(days=200))  # past the six months
    for url in ("/calendar/sessions.ics", f"/calendar/courses/{course.pk}.ics",
                f"/calendar/partners/{soon.organiser.pk}.ics"):
        response = client.get(url)
        assert _uids(response) == [_uid(soon)], url
        calendar = icalendar.Calendar.from_ical(response.content)
        assert "6か月以内" in str(calendar["X-WR-CALDESC"])
        assert str(calendar["DESCRIPTION"]) == str(calendar["X-WR-CALDESC"])
    english = icalendar.Calendar.from_ical(client.get("/en/calendar/sessions.ics").content)
    assert str(english["X-WR-CALDESC"]).startswith("Classes starting in the next 6 months.")
    with override_settings(DEKIRU_PUBLIC_FEED_MONTHS=12):
        assert _uids(client.get("/calendar/sessions.ics")) == [_uid(soon), _uid(later)]
    # the single session download and the personal calendar are not bounded
    assert _uids(client.get(f"/sessions/{later.pk}/calendar.ics")) == [_uid(later)]


@pytest.mark.parametrize(("start", "months", "expected"), [
    (datetime(2027, 1, 31, 10, tzinfo=TOKYO), 1, datetime(2027, 2, 28, 10, tzinfo=TOKYO)),
    (datetime(2027, 8, 15, 9, tzinfo=TOKYO), 6, datetime(2028, 2, 15, 9, tzinfo=TOKYO)),
    (datetime(2027, 12, 31, 23, tzinfo=TOKYO), 2, datetime(2028, 2, 29, 23, tzinfo=TOKYO)),
])
def test_months_ahead_keeps_the_local_time_and_clamps_the_day(start, months, expected):
    assert calendar_views.months_ahead(start, months) == expected
