"""The month calendar page: the grid, sessions on their Tokyo dates, filters, month links, bad input, queries."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from courses.calendar_page import month_sessions, month_weeks
from courses.models import Registration, Session, Topic
from partners.models import Ward
from tests import clock, factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
TOKYO = ZoneInfo("Asia/Tokyo")
# The tests on December 2026 see it from a day before it: its sessions are still to come (booking links, seats left).
BEFORE_DECEMBER = datetime(2026, 11, 20, 10, 0, tzinfo=TOKYO)


def tokyo(*args) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


def add_session(course, starts_at, **fields):
    fields.setdefault("venue", factories.venue())
    fields.setdefault("capacity", 10)
    return Session.objects.create(course=course, organiser=course.owner_partner or factories.partner(),
                                  starts_at=starts_at, ends_at=starts_at + timedelta(hours=2), **fields)


def cell_dates(response):
    """{date: [session pks]} for the days of the month that list sessions."""
    return {day.date: [s.pk for s in day.sessions] for week in response.context["weeks"] for day in week
            if day.sessions}


@pytest.fixture
def december(site):
    """Two courses in different wards and topics, with sessions in December 2026 and around it; the clock stands at
    20 November 2026 (BEFORE_DECEMBER) for the test, whatever the real date."""
    with clock.frozen_at(BEFORE_DECEMBER):
        yield add_december(site)


def add_december(site):
    wards = list(Ward.objects.order_by("sort_order"))
    safety = Topic.objects.create(name="安全・詐欺対策", name_en="Staying safe", slug="safety")
    basics = factories.course(title="はじめてのスマホ教室", title_en="Smartphone basics")
    scam = factories.course(title="スマホ安全教室", title_en="Staying safe: scams", topics=[safety])
    sessions = {
        "basics": add_session(basics, tokyo(2026, 12, 3, 14), venue=factories.venue(ward=wards[0])),
        # 00:30 in Tokyo on 1 December is still 30 November in UTC.
        "midnight": add_session(basics, tokyo(2026, 12, 1, 0, 30), venue=factories.venue(ward=wards[0])),
        "scam": add_session(scam, tokyo(2026, 12, 17, 10), venue=factories.venue(ward=wards[1]), capacity=1),
        "cancelled": add_session(scam, tokyo(2026, 12, 24, 10), venue=factories.venue(ward=wards[1]),
                                 status=Session.Status.CANCELLED, cancellation_reason="台風"),
        "november": add_session(basics, tokyo(2026, 11, 30, 23, 30)),
        "january": add_session(basics, tokyo(2027, 1, 1, 0, 0)),
    }
    factories.registration(session_obj=sessions["scam"])  # full
    return {"wards": wards, "safety": safety, "sessions": sessions, "courses": {"basics": basics, "scam": scam}}


def test_grid_starts_on_sunday_with_whole_weeks():
    weeks = month_weeks(2026, 12, [], today=date(2026, 12, 10))
    assert len(weeks) == 5  # 1 December 2026 is a Tuesday: 29 Nov – 2 Jan
    assert weeks[0][0].date == date(2026, 11, 29) and weeks[0][0].date.weekday() == 6  # Sunday
    assert weeks[0][2].date == date(2026, 12, 1) and weeks[0][2].in_month
    assert not weeks[0][0].in_month and not weeks[-1][-1].in_month
    assert [d.date for w in weeks for d in w if d.is_today] == [date(2026, 12, 10)]
    assert len(month_weeks(2026, 2, [], today=date(2026, 1, 1))) == 4  # February 2026: Sunday 1st to Saturday 28th
    assert len(month_weeks(2026, 5, [], today=date(2026, 1, 1))) == 6  # May 2026: Friday 1st to Sunday 31st


def test_sessions_on_their_day_in_tokyo(client, december):
    s = december["sessions"]
    response = client.get("/calendar/2026/12/")
    assert response.status_code == 200
    assert cell_dates(response) == {date(2026, 12, 1): [s["midnight"].pk], date(2026, 12, 3): [s["basics"].pk],
                                    date(2026, 12, 17): [s["scam"].pk], date(2026, 12, 24): [s["cancelled"].pk]}
    assert s["midnight"].starts_at.astimezone(ZoneInfo("UTC")).day == 30  # really the day before in UTC


def test_past_days_of_the_month_are_shown(client, site):
    course = factories.course()
    past = factories.session(course_page=course, starts_in=-timedelta(days=1) if timezone.localdate().day > 1
                             else timedelta(hours=1))
    today = timezone.localdate()
    response = client.get(f"/calendar/{today.year}/{today.month}/")
    assert past.pk in [pk for pks in cell_dates(response).values() for pk in pks]


def test_unpublished_course_sessions_are_left_out(client, december):
    december["courses"]["scam"].unpublish()
    response = client.get("/calendar/2026/12/")
    assert set(cell_dates(response)) == {date(2026, 12, 1), date(2026, 12, 3)}


def test_japanese_page(client, december):
    body = client.get("/calendar/2026/12/").content.decode()
    assert "<caption>2026年12月</caption>" in body
    headers = body.split("<thead>")[1].split("</thead>")[0]
    assert headers.count('<th scope="col">') == 7
    assert headers.index("日曜日") < headers.index("月曜日")  # the week starts on Sunday
    assert "満席" in body and "中止" in body and "残り10席" in body
    assert "2026年12月3日（木）" in body  # the day heading shown on a phone
    register = f"/sessions/{december['sessions']['basics'].pk}/register/"
    assert f'href="{register}"' in body
    assert 'class="calendar-session calendar-cancelled"' in body


def test_english_page(client, december):
    body = client.get("/en/calendar/2026/12/").content.decode()
    assert "<caption>December 2026</caption>" in body
    assert "Sunday" in body and "Full" in body and "Cancelled" in body and "10 seats left" in body
    assert "Staying safe: scams" in body
    assert 'href="/en/calendar/2026/11/"' in body and 'href="/en/calendar/2027/1/"' in body


def test_today_is_marked(client, site):
    today = timezone.localdate()
    body = client.get(f"/calendar/{today.year}/{today.month}/").content.decode()
    assert body.count('aria-current="date"') == 1
    other = client.get(f"/calendar/{today.year + 1}/{today.month}/").content.decode()
    assert 'aria-current="date"' not in other


@pytest.mark.parametrize(("params", "expected"), [
    (lambda f: {"ward": f["wards"][1].pk}, {date(2026, 12, 17), date(2026, 12, 24)}),
    (lambda f: {"topic": "safety"}, {date(2026, 12, 17), date(2026, 12, 24)}),
    (lambda f: {"ward": f["wards"][0].pk, "topic": "safety"}, set()),
    (lambda f: {"ward": "not-a-ward", "topic": "no-such-topic"}, {date(2026, 12, d) for d in (1, 3, 17, 24)}),
    (lambda f: {"ward": "99999999", "topic": "<script>"}, {date(2026, 12, d) for d in (1, 3, 17, 24)}),
])
def test_filters_and_bad_values_ignored(client, december, params, expected):
    response = client.get("/calendar/2026/12/", params(december))
    assert response.status_code == 200
    assert set(cell_dates(response)) == expected


def test_previous_and_next_month_links_keep_valid_filters(client, december):
    ward = december["wards"][1].pk
    body = client.get("/calendar/2026/12/", {"ward": ward, "topic": "nonsense"}).content.decode()
    assert f'href="/calendar/2026/11/?ward={ward}"' in body
    assert f'href="/calendar/2027/1/?ward={ward}"' in body
    january = client.get("/calendar/2026/1/").content.decode()
    assert 'href="/calendar/2025/12/"' in january and 'href="/calendar/2026/2/"' in january


def test_no_links_beyond_the_range(client, site):
    assert 'rel="prev"' not in client.get("/calendar/2000/1/").content.decode()
    assert 'rel="next"' not in client.get("/calendar/2100/12/").content.decode()


@pytest.mark.parametrize("path", ["/calendar/2026/13/", "/calendar/2026/0/", "/calendar/1900/5/",
                                  "/calendar/2101/1/", "/calendar/99999/1/", "/calendar/2026/x/",
                                  "/en/calendar/2026/13/"])
def test_months_out_of_range_are_not_found(client, site, path):
    assert client.get(path).status_code == 404


def test_calendar_redirects_to_this_month_in_tokyo(client, site):
    today = timezone.localdate()
    response = client.get("/calendar/")
    assert response.status_code == 302
    assert response["Location"] == f"/calendar/{today.year}/{today.month}/"
    assert client.get("/en/calendar/", {"ward": 1})["Location"] == f"/en/calendar/{today.year}/{today.month}/?ward=1"


def test_month_sessions_helper_queries(december, django_assert_num_queries):
    """One query for the sessions, plus Wagtail's look-up of private pages (public())."""
    with django_assert_num_queries(2):
        sessions = list(month_sessions(year=2026, month=12))
        assert [s.venue.ward.name for s in sessions] and [s.course.title for s in sessions]
        assert [s.seats_left for s in sessions] == [10, 10, 0, 10]


@pytest.mark.parametrize("count", [5, 50])
def test_query_count_does_not_grow_with_the_number_of_sessions(client, site, count, django_assert_max_num_queries):
    course = factories.course()
    venue = factories.venue()
    organiser = factories.partner()
    Session.objects.bulk_create(
        Session(course=course, organiser=organiser, venue=venue, capacity=10,
                starts_at=tokyo(2026, 12, 1, 9) + timedelta(hours=13 * i),
                ends_at=tokyo(2026, 12, 1, 11) + timedelta(hours=13 * i)) for i in range(count))
    first = Session.objects.order_by("starts_at").first()
    factories.registration(session_obj=first)
    factories.registration(session_obj=first, status=Registration.Status.WAITLISTED)
    client.get("/calendar/2026/12/")  # warm the site-root cache
    with django_assert_max_num_queries(12):
        response = client.get("/calendar/2026/12/", {"ward": venue.ward_id, "topic": "none"})
    assert response.status_code == 200
    assert response.context["session_count"] == count
