"""The class listing: filters, pages, keyword search in Japanese and English, and a bounded query count."""

import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from courses.models import CoursePage, Registration, Session, Topic
from courses.search import search_courses
from partners.models import Ward
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
URL = "/classes/"


def titles(response):
    return [s.course.title for s in response.context["sessions"]]


@pytest.fixture
def catalogue(site):
    """Three courses with different topics, levels and devices, each with one session in its own ward."""
    wards = list(Ward.objects.order_by("sort_order"))
    basics = Topic.objects.create(name="基本操作", name_en="Basics", slug="basics")
    safety = Topic.objects.create(name="安全・詐欺対策", name_en="Staying safe", slug="safety")
    courses = {
        "android": factories.course(title="はじめてのスマホ教室（Android）", title_kana="ハジメテノスマホキョウシツ",
                                    title_en="Smartphone basics (Android)", device=CoursePage.Device.ANDROID,
                                    summary="電源の入れ方から学びます。", topics=[basics]),
        "scam": factories.course(title="だまされない！スマホ安全教室",
                                 title_kana="ダマサレナイスマホアンゼンキョウシツ",
                                 title_en="Staying safe: scams", summary="不審なSMSの見分け方を学びます。",
                                 summary_en="Spot scam text messages.", level=CoursePage.Level.INTERMEDIATE,
                                 topics=[safety]),
        "line": factories.course(title="LINEで家族とつながろう", title_kana="ラインデカゾクトツナガロウ",
                                 title_en="Keep in touch on LINE", device=CoursePage.Device.IPHONE,
                                 summary="写真の送り方を練習します。"),
    }
    sessions = {
        "android": factories.session(course_page=courses["android"], venue=factories.venue(ward=wards[0]),
                                     starts_in=timedelta(days=3)),
        "scam": factories.session(course_page=courses["scam"], venue=factories.venue(ward=wards[1]),
                                  starts_in=timedelta(days=10), capacity=1),
        "line": factories.session(course_page=courses["line"], venue=factories.venue(ward=wards[2]),
                                  starts_in=timedelta(days=20)),
    }
    factories.registration(session_obj=sessions["scam"])  # full
    return courses, sessions, wards


@pytest.mark.parametrize(("query", "expected"), [
    ("スマホ", {"android", "scam"}),           # part of a Japanese title, no spaces around it
    ("すまほ", {"android", "scam"}),           # typed in hiragana
    ("ｽﾏﾎ", {"android", "scam"}),             # typed in half-width katakana
    ("教室", {"android", "scam"}),
    ("家族", {"line"}),
    ("見分け", {"scam"}),                       # part of a summary
    ("android", {"android"}),                  # English, any case
    ("ＬＩＮＥ", {"line"}),                     # full-width Latin letters
    ("Scam", {"scam"}),                        # English summary / title
    ("スマホ 安全", {"scam"}),                  # every term must match
    ("スマホ　安全", {"scam"}),                 # ideographic space between terms
    ("詐欺", {"scam"}),                         # topic name
    ("staying safe", {"scam"}),
    ("カゾク", {"line"}),                       # the kana reading
    ("存在しない講座", set()),
])
def test_keyword_search_finds_any_part_in_japanese_and_english(catalogue, query, expected):
    courses, _sessions, _wards = catalogue
    found = {key for key, course in courses.items() if course in search_courses(query)}
    assert found == expected


def test_listing_shows_upcoming_scheduled_sessions_only(client, catalogue):
    courses, sessions, _wards = catalogue
    factories.session(course_page=courses["android"], starts_in=timedelta(days=-2))  # past
    cancelled = factories.session(course_page=courses["android"], starts_in=timedelta(days=5))
    Session.objects.filter(pk=cancelled.pk).update(status=Session.Status.CANCELLED, cancellation_reason="台風")
    response = client.get(URL)
    assert response.status_code == 200
    assert [s.pk for s in response.context["sessions"]] == [sessions[k].pk for k in ("android", "scam", "line")]


@pytest.mark.parametrize(("params", "expected"), [
    (lambda w: {"ward": w[1].pk}, ["scam"]),
    (lambda w: {"topic": "safety"}, ["scam"]),
    (lambda w: {"level": "intermediate"}, ["scam"]),
    (lambda w: {"device": "iphone"}, ["scam", "line"]),        # "any smartphone" suits an iPhone too
    (lambda w: {"device": "android"}, ["android", "scam"]),
    (lambda w: {"free": "on"}, ["android", "line"]),
    (lambda w: {"q": "スマホ", "free": "on"}, ["android"]),
    (lambda w: {"date_from": (timezone.localdate() + timedelta(days=5)).isoformat()}, ["scam", "line"]),
    (lambda w: {"date_to": (timezone.localdate() + timedelta(days=12)).isoformat()}, ["android", "scam"]),
    (lambda w: {"ward": "not-a-ward", "level": "nonsense"}, ["android", "scam", "line"]),  # bad values ignored
])
def test_filters(client, catalogue, params, expected):
    courses, _sessions, wards = catalogue
    response = client.get(URL, params(wards))
    assert response.status_code == 200
    assert titles(response) == [courses[k].title for k in expected]


def test_keyword_search_lists_matching_courses_in_english(client, catalogue):
    response = client.get("/en" + URL, {"q": "scam"})
    body = response.content.decode()
    assert "Staying safe: scams" in body
    assert "1 date found." in body


def test_full_session_offers_the_waiting_list(client, catalogue):
    factories.registration(session_obj=catalogue[1]["scam"], status=Registration.Status.WAITLISTED)
    response = client.get("/en" + URL, {"topic": "safety"})
    body = response.content.decode()
    assert "Join the waiting list" in body
    assert "1 person waiting" in body


def make_sessions(course, count):
    venue = factories.venue()
    organiser = factories.partner()
    start = timezone.now() + timedelta(days=1)
    Session.objects.bulk_create(
        Session(course=course, organiser=organiser, venue=venue, starts_at=start + timedelta(hours=3 * i),
                ends_at=start + timedelta(hours=3 * i + 2), capacity=10) for i in range(count))


def test_pages_of_twenty(client, site):
    make_sessions(factories.course(), 45)
    first = client.get(URL)
    third = client.get(URL, {"page": 3})
    assert len(first.context["sessions"]) == 20
    assert len(third.context["sessions"]) == 5
    assert client.get(URL, {"page": 99}).context["page_obj"].number == 3


@pytest.mark.parametrize("count", [30, 300])
def test_query_count_does_not_grow_with_the_number_of_sessions(client, site, count, django_assert_num_queries,
                                                               is_postgres):
    course = factories.course()
    make_sessions(course, count)
    first = Session.objects.order_by("starts_at").first()
    for _ in range(3):
        factories.registration(session_obj=first)
    factories.registration(session_obj=first, status=Registration.Status.WAITLISTED)
    ward = Ward.objects.first()
    client.get(URL)  # warm the site-root cache
    # the ten of every page, the ward checked, the classes about the keyword (two); on PostgreSQL the ids of the
    # matching courses and of the ward's venues (LISTING_QUERIES below has every filter). Issue 18: one fewer, the
    # privacy page read with the site settings (cms.models.SiteSettings.select_related).
    with django_assert_num_queries(15 if is_postgres else 13):
        response = client.get(URL, {"ward": ward.pk, "free": "on", "q": "スマホ"})
    assert response.status_code == 200
    with django_assert_num_queries(10):
        response = client.get(URL)
    assert len(response.context["sessions"]) == 20


def test_bad_filter_values_are_ignored_with_a_message(client, catalogue):
    response = client.get("/en" + URL, {"ward": "999999", "date_from": "yesterday", "level": "beginner"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "These filters could not be used and were ignored: Ward, From." in body
    assert len(response.context["sessions"]) == 2  # the valid level filter still applies


def test_the_month_calendar_says_which_filters_it_ignored(client, site):
    response = client.get("/en/calendar/2027/1/", {"topic": "no-such-topic"})
    assert response.status_code == 200
    assert "These filters could not be used and were ignored: Topic." in response.content.decode()


# --- After a search, the answer opens at the results ------------------------------------------------------------


def test_the_filter_form_sends_the_person_to_the_results(client, catalogue):
    body = client.get(URL).content.decode()
    assert 'action="/classes/#results"' in body  # without JavaScript the browser opens the answer there
    assert body.count('id="results"') == 1
    assert '<h2 id="results" tabindex="-1">' in body  # focusable, so the fragment also moves the focus
    assert "<title>講座を探す" in body  # nothing searched yet: the plain title


@pytest.mark.parametrize(("lang", "params", "title"), [
    ("ja", {"ward": "first"}, "<title>1件の日程が見つかりました: 講座を探す"),
    ("en", {"ward": "first"}, "<title>1 date found: Find a class"),
    ("en", {"free": "on"}, "<title>2 dates found: Find a class"),
    ("en", {"q": "存在しない講座"}, "<title>0 dates found: Find a class"),
])
def test_the_title_says_what_the_search_found(client, catalogue, lang, params, title):
    _courses, _sessions, wards = catalogue
    params = {key: (wards[0].pk if value == "first" else value) for key, value in params.items()}
    body = client.get(("/en" if lang == "en" else "") + URL, params).content.decode()
    assert title in body
    assert 'action="/en/classes/#results"' in body or 'action="/classes/#results"' in body


def test_a_keyword_search_opens_at_the_classes_about_it(client, catalogue):
    body = client.get("/en" + URL, {"q": "scam"}).content.decode()
    assert body.count('id="results"') == 1
    assert re.search(r'<h2 id="results" tabindex="-1">Classes about “scam”</h2>', body)
    assert '<h2 id="dates" tabindex="-1">Dates</h2>' in body


def test_the_next_page_opens_at_the_dates(client, site):
    make_sessions(factories.course(), 25)
    body = client.get(URL, {"free": "on"}).content.decode()
    assert 'free=on&amp;page=2#results"' in body
    with_keyword = client.get(URL, {"q": "スマホ"}).content.decode()  # the classes about it come first
    assert "page=2#dates" in with_keyword


# --- courses.listing: a page costs the same whatever the number of sessions ----------------------------------------

from django.core.paginator import Paginator  # noqa: E402
from django.test import override_settings  # noqa: E402

from courses import listing, services  # noqa: E402
from courses.forms import SessionFilterForm  # noqa: E402


@pytest.mark.parametrize("params", [
    lambda w: {},
    lambda w: {"ward": w[1].pk},
    lambda w: {"topic": "safety"},
    lambda w: {"level": "intermediate"},
    lambda w: {"device": "iphone"},
    lambda w: {"free": "on"},
    lambda w: {"q": "スマホ", "free": "on"},
    lambda w: {"q": "スマホ 安全"},
    lambda w: {"date_from": (timezone.localdate() + timedelta(days=5)).isoformat(),
               "date_to": (timezone.localdate() + timedelta(days=12)).isoformat()},
])
def test_the_bare_listing_query_finds_what_the_service_finds(catalogue, params):
    """listing.matching_sessions is find_sessions written for the index: the same sessions, in the same order."""
    courses, _sessions, wards = catalogue
    factories.session(course_page=courses["android"], starts_in=timedelta(days=-2))  # past
    draft = factories.course(title="下書きの講座")
    factories.session(course_page=draft, starts_in=timedelta(days=4))
    draft.unpublish()
    filters = SessionFilterForm(params(wards)).filters()
    assert (list(listing.matching_sessions(**filters).values_list("pk", flat=True))
            == list(services.find_sessions(**filters).values_list("pk", flat=True)))


@pytest.mark.parametrize("count", [30, 300])
def test_a_listing_page_is_four_queries_whatever_the_number_of_sessions(site, count, django_assert_num_queries,
                                                                       is_postgres):
    make_sessions(factories.course(), count)
    first = Session.objects.order_by("starts_at").first()
    factories.registration(session_obj=first)
    # page restrictions of public(), the bounded count, the page's ids, the page's sessions with their cards
    with django_assert_num_queries(4):
        page = listing.listing_page({}, 2)
    assert page.number == 2 and len(page.object_list) == min(20, count - 20)
    assert page.paginator.count == count and not page.paginator.more
    assert [s.starts_at for s in page] == sorted(s.starts_at for s in page)
    assert all(s.refusal is None for s in page)
    # On PostgreSQL the course filters (here the keyword) and the ward are first read as lists of course and venue
    # ids, one small query each (listing.matching_sessions says why); on SQLite they are EXISTS tests per row.
    ward = Ward.objects.first()
    with django_assert_num_queries(6 if is_postgres else 4):
        listing.listing_page({"q": "スマホ", "ward": ward, "free": True}, 1)


# The class listing's queries, per filter, whatever the number of sessions: (SQLite, PostgreSQL). Every page has the
# same ten (the site and its settings, the form's choices, the page restrictions of public() and the three session
# queries of courses.listing; issue 18: the privacy page is read with the site settings, one fewer — and inside a
# test's transaction the page frame is read afresh: a running server reads it from cms.page_frame's memo, 3 fewer);
# a ward or a topic in the address is one more query to check it; a keyword lists the classes about it (public()
# again and the courses); on PostgreSQL, the filters on the course (keyword, topic, level, phone) are one more query
# for the courses' ids and the ward one more for its venues' ids (listing.matching_sessions).
LISTING_QUERIES = {
    "no filter": (10, 10),
    "ward": (11, 12),
    "topic": (11, 12),
    "level": (10, 11),
    "device": (10, 11),
    "dates": (10, 10),
    "keyword": (12, 13),
    "free seats": (10, 10),
    "everything": (14, 16),
}


def _listing_params(case, ward, topic):
    today = timezone.localdate()
    dates = {"date_from": today.isoformat(), "date_to": (today + timedelta(days=40)).isoformat()}
    return {
        "no filter": {}, "ward": {"ward": ward.pk}, "topic": {"topic": topic.slug}, "level": {"level": "beginner"},
        "device": {"device": "iphone"}, "dates": dates, "keyword": {"q": "スマホ"}, "free seats": {"free": "on"},
        "everything": {"q": "スマホ", "ward": ward.pk, "topic": topic.slug, "level": "beginner", "device": "iphone",
                       "free": "on", **dates},
    }[case]


@pytest.mark.parametrize("case", list(LISTING_QUERIES))
def test_the_listing_query_count_is_pinned_for_every_filter_and_does_not_grow(client, site, case, is_postgres,
                                                                              django_assert_num_queries):
    ward = Ward.objects.order_by("sort_order").first()
    topic = Topic.objects.create(name="基本操作", name_en="Basics", slug="basics")
    course = factories.course(topics=[topic])
    venue = factories.venue(ward=ward)
    organiser = factories.partner()
    params = _listing_params(case, ward, topic)
    expected = LISTING_QUERIES[case][1 if is_postgres else 0]
    client.get(URL)  # warm the site-root cache
    for total in (30, 300):
        start = timezone.now() + timedelta(hours=1)
        existing = Session.objects.count()
        Session.objects.bulk_create(
            Session(course=course, organiser=organiser, venue=venue, starts_at=start + timedelta(minutes=7 * i),
                    ends_at=start + timedelta(minutes=7 * i + 60), capacity=2) for i in range(existing, total))
        factories.registration(session_obj=Session.objects.order_by("-starts_at").first())  # one seat of two
        with django_assert_num_queries(expected):
            response = client.get(URL, params)
        assert response.status_code == 200
        assert not response.context["form"].ignored
        assert len(response.context["sessions"]) == 20
        assert response.context["page_obj"].paginator.count == total


@pytest.mark.parametrize("field", ["date_from", "date_to"])
def test_the_date_filters_are_the_city_dates_at_midnight(site, field):
    """The dates are ranges of starts_at from the city's midnights: the same sessions as the local date of each."""
    course = factories.course()
    day = timezone.localdate() + timedelta(days=10)
    midnight = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    venue, organiser = factories.venue(), factories.partner()
    for offset in (timedelta(minutes=-1), timedelta(0), timedelta(hours=23, minutes=59), timedelta(days=1)):
        Session.objects.create(course=course, organiser=organiser, venue=venue, starts_at=midnight + offset,
                               ends_at=midnight + offset + timedelta(hours=1), capacity=10)
    filters = {field: day}
    listed = list(listing.matching_sessions(**filters).values_list("starts_at", flat=True))
    assert listed == list(services.find_sessions(**filters).values_list("starts_at", flat=True))
    # from the day: its midnight, its last minute and the next midnight; until the day: the minute before it too
    assert len(listed) == 3


def test_the_listing_pages_match_django_pagination(site):
    make_sessions(factories.course(), 45)
    expected = Paginator(services.find_sessions(), listing.PAGE_SIZE)
    for number in (1, 2, 3):
        assert ([s.pk for s in listing.listing_page({}, number)]
                == [s.pk for s in expected.page(number).object_list])
    assert listing.listing_page({}, 99).number == 3  # too far: the last page
    assert listing.listing_page({}, "abc").number == 1  # not a number: the first


@override_settings(DEKIRU_LISTING_COUNT_LIMIT=25)
def test_the_count_stops_at_the_limit(site):
    make_sessions(factories.course(), 45)
    page = listing.listing_page({}, 1)
    assert page.paginator.count == 25
    assert page.paginator.more
    assert page.paginator.num_pages == 2
    assert len(listing.listing_page({}, 2).object_list) == 20  # the pages it counts are whole


def test_a_course_page_lists_one_page_of_its_upcoming_dates(site, django_assert_num_queries):
    course = factories.course()
    make_sessions(course, 45)
    factories.session(course_page=course, starts_in=timedelta(days=-3))  # over: not listed
    factories.session(course_page=factories.course())  # another course
    with django_assert_num_queries(3):  # count, the page's ids, the page's sessions
        first = listing.course_sessions_page(course, None)
        assert all(session.course is course for session in first)  # no query per card
    assert len(first.object_list) == 20 and first.paginator.count == 45
    last = listing.course_sessions_page(course, "3")
    assert len(last.object_list) == 5
    every = [s.pk for n in (1, 2, 3) for s in listing.course_sessions_page(course, n)]
    assert every == list(course.get_upcoming_sessions().order_by("starts_at", "pk").values_list("pk", flat=True))
    with override_settings(DEKIRU_COURSE_PAGE_SESSIONS=10):
        assert listing.course_sessions_page(course, 1).paginator.num_pages == 5


def test_page_links_leave_out_the_middle(site):
    make_sessions(factories.course(), 20 * 40)
    page = listing.listing_page({}, 6)
    assert listing.page_links(page) == [1, None, 4, 5, 6, 7, 8, None, 40]
    assert listing.page_links(listing.listing_page({}, 1)) == [1, 2, 3, None, 40]
