"""The page cache (cms.page_cache): anonymous visitors' public pages from the shared cache, never stale after a
committed change, never a signed-in person's or a personal page, one entry per language and reading aids.

The cache serves only requests outside a transaction (nothing uncommitted is ever kept), so these tests are
transactional, and it is off in the test settings: each test here turns it on. "Fresh" is the same request with
the cache off. Pages differ between two fresh renders only in the random masks of their CSRF tokens, which `body`
blanks; the tokens a hit carries are checked to be the visitor's own.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client, RequestFactory, override_settings
from django.urls import resolve, reverse
from django.utils import timezone, translation

from cms import page_cache
from cms.display import SIZE_COOKIE
from cms.furigana import COOKIE as FURIGANA_COOKIE
from cms.models import MunicipalitySettings
from courses import services
from courses.models import Registration, Session
from partners.models import Ward
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True)]

TOKEN = re.compile(rb'(name="csrfmiddlewaretoken" value=")([^"]*)(")')
HEADER = "X-Dekiru-Cache"


@pytest.fixture(autouse=True)
def cache_on(settings):
    settings.DEKIRU_PAGE_CACHE_SECONDS = 30
    cache.delete(page_cache.GENERATION_KEY)  # entries of earlier tests belong to a generation no one reads again


@pytest.fixture
def course(site):
    """A course with a date, and its page's Japanese address (page.url follows the language last active)."""
    page = factories.course(title="スマホはじめて講座キャッシュ")
    session = factories.session(course_page=page, capacity=10)
    with translation.override("ja"):
        page.path_ja = page.url
    return page, session


def get(path: str, client: Client | None = None, **extra):
    response = (client or Client()).get(path, **extra)
    assert response.status_code == 200, (path, response.status_code)
    return response


def body(response) -> bytes:
    return TOKEN.sub(rb"\1\3", response.content)


def fresh(path: str, **extra) -> bytes:
    with override_settings(DEKIRU_PAGE_CACHE_SECONDS=0):
        response = get(path, **extra)
    assert HEADER not in response
    return body(response)


def cached(path: str, **extra):
    """Fill the entry, then the hit."""
    get(path, **extra)
    response = get(path, **extra)
    assert response[HEADER] == "hit", path
    return response


def pages(course) -> list[str]:
    page, _ = course
    return ["/classes/", page.path_ja, "/en/classes/"]


def assert_shows_at_once(course, change) -> None:
    """Each page cached, the change made, the next request a miss equal to a fresh page, and not the page before."""
    before = {path: body(cached(path)) for path in pages(course)}
    change()
    for path in pages(course):
        after = get(path)
        assert after[HEADER] == "miss", path
        assert body(after) == fresh(path), path
        assert body(after) != before[path], f"{path}: the change is not on the page, so the test shows nothing"


# --- Hits --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/classes/", "course", "/courses/", "/en/classes/", "/classes/?page=1"])
def test_a_hit_after_a_miss_is_the_fresh_page_with_the_same_headers(course, path):
    path = course[0].path_ja if path == "course" else path
    miss = get(path)
    hit = get(path)
    assert (miss[HEADER], hit[HEADER]) == ("miss", "hit")
    assert hit["Age"] == "0" and "Age" not in miss
    assert body(hit) == body(miss) == fresh(path)
    assert len(hit.content) == len(miss.content)
    ours = {HEADER, "Age"}
    assert {k: v for k, v in hit.items() if k not in ours} == {k: v for k, v in miss.items() if k not in ours}
    assert hit["Content-Type"] == "text/html; charset=utf-8" and hit["Content-Language"] in ("ja", "en")
    assert "Content-Security-Policy" in hit and hit["X-Frame-Options"] == "DENY"


def test_a_head_request_is_answered_from_the_entry(course):
    get("/classes/")
    response = Client().head("/classes/")
    assert response[HEADER] == "hit" and response.content == b""


def test_a_hit_carries_the_visitors_own_csrf_tokens_and_sets_the_cookie_as_a_fresh_page_does(course):
    first = Client(enforce_csrf_checks=True)
    miss = get("/classes/", client=first)
    visitor = Client(enforce_csrf_checks=True)
    hit = get("/classes/", client=visitor)
    assert hit[HEADER] == "hit"
    tokens = [match.group(2).decode() for match in TOKEN.finditer(hit.content)]
    # The language and reading-aid forms share one masked token, as on a fresh page: a new one for this visitor.
    assert len(tokens) == 2 and len(set(tokens)) == 1
    assert len(set(TOKEN.findall(miss.content))) == 1 and tokens[0] not in miss.content.decode()
    assert "csrftoken" in hit.cookies and "Cookie" in hit["Vary"]
    assert first.cookies["csrftoken"].value != visitor.cookies["csrftoken"].value
    # The token works for this visitor: the reading-aids form is accepted, not refused with 403.
    response = visitor.post(reverse("set_display"), {"csrfmiddlewaretoken": tokens[1], "text_size": "large",
                                                     "next": "/classes/"})
    assert response.status_code == 302 and response.cookies[SIZE_COOKIE].value == "large"
    # A visitor who already has the cookie keeps it: their tokens unmask to it.
    again = get("/classes/", client=visitor)
    assert again[HEADER] == "miss"  # the text-size cookie is another entry
    again = get("/classes/", client=visitor)
    assert again[HEADER] == "hit"
    token = TOKEN.search(again.content).group(2).decode()
    response = visitor.post(reverse("set_display"), {"csrfmiddlewaretoken": token, "text_size": "standard",
                                                     "next": "/classes/"})
    assert response.status_code == 302


# --- Changes show at once -------------------------------------------------------------------------------------


def test_a_registration_shows_on_the_listing_and_the_course_page_at_once(course):
    _, session = course

    def book():
        services.register(session=session, participant=services.ParticipantDetails(
            name="川崎 太郎", kana="カワサキ タロウ", phone="09011112222", age_band="75-79", consent=True))

    assert_shows_at_once(course, book)
    assert session.registrations.count() == 1


def test_a_registration_through_the_form_shows_at_once(course):
    page, session = course
    path = reverse("courses:register", args=[session.pk])
    ward = Ward.objects.order_by("sort_order").first()

    def book_through_the_form():
        client = Client()
        data = {"booking_for": "self", "name": "川崎 次郎", "kana": "カワサキ ジロウ", "phone": "09033334444",
                "email": "", "age_band": "75-79", "ward": ward.pk, "device": "android", "accessibility_needs": "",
                "consent": "on", "notify_by": "call"}
        review = client.post(path, data)
        assert review.status_code == 200
        answers = {name: value for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)"', review.content.decode())
            if name != "csrfmiddlewaretoken"}
        done = client.post(path, {**answers, "step": "register"})
        assert done.status_code == 302, done.content.decode()[:2000]

    assert_shows_at_once(course, book_through_the_form)
    assert session.registrations.count() == 1


def test_a_cancellation_shows_at_once(course):
    _, session = course
    registration = factories.registration(session_obj=session)
    assert_shows_at_once(course, lambda: services.cancel_registration(registration=registration))
    assert Registration.objects.get(pk=registration.pk).status == Registration.Status.CANCELLED


def test_a_new_session_shows_at_once(course):
    page, _ = course
    assert_shows_at_once(course, lambda: factories.session(course_page=page, starts_in=timedelta(days=9)))


def test_a_change_made_without_signals_shows_at_once(course):
    """QuerySet.update() sends no post_save: the cache sees the UPDATE statement itself."""
    _, session = course
    assert_shows_at_once(course, lambda: Session.objects.filter(pk=session.pk).update(capacity=3))


def test_a_venue_name_shows_at_once(course):
    _, session = course

    def rename():
        session.venue.name = "新しい名前の市民館"
        session.venue.save()

    assert_shows_at_once(course, rename)


def test_a_ward_name_shows_at_once(course):
    _, session = course

    def rename():
        ward = session.venue.ward
        ward.name, ward.name_en = "新区", "Shin"
        ward.save()

    assert_shows_at_once(course, rename)


def test_the_municipality_settings_show_at_once(course):
    def rename():
        settings = MunicipalitySettings.load()
        settings.name, settings.name_en = "キャッシュ市", "Cache City"
        settings.save()

    assert_shows_at_once(course, rename)


def test_an_unpublished_course_goes_at_once(course):
    page, _ = course
    get(page.path_ja)
    before = body(cached("/classes/"))
    assert get(page.path_ja)[HEADER] == "hit"
    page.unpublish()
    assert Client().get(page.path_ja).status_code == 404
    after = get("/classes/")
    assert after[HEADER] == "miss" and body(after) == fresh("/classes/") != before


def test_a_change_rolled_back_leaves_the_entries(course):
    """Nothing changed, so nothing needs to go — and nothing of the rolled-back change is ever shown."""
    _, session = course
    before = {path: body(cached(path)) for path in pages(course)}
    with pytest.raises(RuntimeError), transaction.atomic():
        services.register(session=session, participant=services.ParticipantDetails(
            name="川崎 太郎", kana="カワサキ タロウ", phone="09011112222", age_band="75-79", consent=True))
        raise RuntimeError
    for path in pages(course):
        response = get(path)
        assert response[HEADER] == "hit" and body(response) == before[path] == fresh(path)


def test_a_page_is_never_kept_from_inside_a_transaction(course):
    with transaction.atomic():
        Session.objects.filter(pk=course[1].pk).update(capacity=4)
        response = get("/classes/")
        assert HEADER not in response
    assert get("/classes/")[HEADER] == "miss"


def test_one_transaction_bumps_once(course):
    _, session = course
    with transaction.atomic():
        Session.objects.filter(pk=session.pk).update(capacity=4)
        factories.registration(session_obj=session)
        factories.registration(session_obj=session)
        bumps = [entry for entry in connection.run_on_commit if entry[1] is page_cache._bump]
    assert len(bumps) == 1


# --- Who never gets or fills an entry -----------------------------------------------------------------------------


def test_signed_in_staff_neither_get_nor_fill_an_entry(course, django_user_model):
    staff = django_user_model.objects.create_superuser("editor", "editor@example.jp", "pw")
    client = Client()
    client.force_login(staff)
    get("/classes/")  # an anonymous visitor fills it
    response = get("/classes/", client=client)
    assert HEADER not in response and response.wsgi_request.user == staff
    cache.delete(page_cache.GENERATION_KEY)
    assert HEADER not in get("/classes/", client=client)
    assert get("/classes/")[HEADER] == "miss"  # staff filled nothing


@pytest.mark.parametrize("cookie", ["sessionid", "messages"])
def test_a_session_or_messages_cookie_is_never_served_from_the_cache(course, cookie):
    get("/classes/")
    client = Client()
    client.cookies[cookie] = "anything"
    assert HEADER not in get("/classes/", client=client)


def test_personal_and_form_pages_are_never_cached(course):
    _, session = course
    registration = factories.registration(session_obj=session)
    from courses.tokens import registration_token

    token = registration_token(registration)
    for path in [reverse("courses:register", args=[session.pk]), reverse("courses:registration", args=[token]),
                 reverse("courses:cancel", args=[token]), "/healthz", reverse("courses:feed_all")]:
        for _ in range(2):
            response = Client().get(path)
            assert HEADER not in response, path
    request = RequestFactory().get("/admin/")
    assert not page_cache.applies_to(request)
    assert not page_cache.applies_to(RequestFactory().post("/classes/"))


def _entry(path: str, response, **meta):
    request = RequestFactory().get(path)
    request.resolver_match = resolve(path)
    request.META.update(meta)
    return page_cache.entry_for(request, response, "g")


def test_a_response_that_sets_a_cookie_or_forbids_caching_is_not_kept(site):
    from django.http import HttpResponse

    assert _entry("/classes/", HttpResponse("<p>ok</p>")) is not None
    with_cookie = HttpResponse("<p>ok</p>")
    with_cookie.set_cookie("choice", "1")
    assert _entry("/classes/", with_cookie) is None
    for value in ["private", "no-cache", "no-store, max-age=0"]:
        response = HttpResponse("<p>ok</p>")
        response["Cache-Control"] = value
        assert _entry("/classes/", response) is None, value
    varies = HttpResponse("<p>ok</p>")
    varies["Vary"] = "Cookie"
    assert _entry("/classes/", varies) is None
    assert _entry("/classes/", HttpResponse("{}", content_type="application/json")) is None
    assert _entry("/classes/", HttpResponse("<p>no</p>", status=404)) is None
    assert _entry("/healthz", HttpResponse("<p>ok</p>")) is None  # not on the allowlist


def test_a_csrf_token_used_other_than_in_a_form_input_is_not_kept(site):
    from django.http import HttpResponse
    from django.middleware.csrf import get_token

    request = RequestFactory().get("/classes/")
    request.resolver_match = resolve("/classes/")
    token = get_token(request)
    in_form = f'<form><input type="hidden" name="csrfmiddlewaretoken" value="{token}"></form>'
    assert page_cache.entry_for(request, HttpResponse(in_form), "g").chunks[1] == b'"></form>'
    in_data = f'<div data-csrf="{token}"></div>'
    assert page_cache.entry_for(request, HttpResponse(in_form + in_data), "g") is None
    other = RequestFactory().get("/classes/")
    get_token(other)  # another visitor's token in this request's page: never cut out and handed on
    assert page_cache.entry_for(other, HttpResponse(in_form), "g") is None


# --- The key ------------------------------------------------------------------------------------------------------


def test_languages_and_reading_aids_are_entries_of_their_own(course):
    variants = [("/classes/", {}), ("/en/classes/", {}), ("/classes/", {FURIGANA_COOKIE: "on"}),
                ("/classes/", {SIZE_COOKIE: "x-large"}), ("/classes/?easy=1", {})]
    bodies = []
    for path, cookies in variants:
        client = Client()
        client.cookies.load(cookies)
        assert get(path, client=client)[HEADER] == "miss", (path, cookies)
        hit = get(path, client=client)
        assert hit[HEADER] == "hit"
        bodies.append(body(hit))
        with override_settings(DEKIRU_PAGE_CACHE_SECONDS=0):
            assert body(get(path, client=client)) == bodies[-1]
    assert len(set(bodies[:4])) == 4  # ?easy=1 changes only course pages that have plain-Japanese texts
    assert b"<ruby>" in bodies[2] and b"text-x-large" in bodies[3]


def test_an_unknown_reading_aid_value_is_the_standard_entry(course):
    get("/classes/")
    client = Client()
    client.cookies[SIZE_COOKIE] = "enormous"
    assert get("/classes/", client=client)[HEADER] == "hit"


# --- Time and cost -----------------------------------------------------------------------------------------------


@pytest.mark.clock
def test_an_entry_lives_at_most_the_configured_seconds(course, settings):
    settings.DEKIRU_PAGE_CACHE_SECONDS = 30
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert get("/classes/")[HEADER] == "miss"
        clock.shift(timedelta(seconds=29))
        hit = get("/classes/")
        assert hit[HEADER] == "hit" and hit["Age"] == "29"
        clock.shift(timedelta(seconds=2))
        assert get("/classes/")[HEADER] == "miss"


def test_zero_seconds_turns_the_cache_off(course, settings):
    settings.DEKIRU_PAGE_CACHE_SECONDS = 0
    get("/classes/")
    assert HEADER not in get("/classes/")


def test_a_hit_is_one_query_on_the_database_cache(course, django_assert_num_queries):
    get("/classes/")
    with django_assert_num_queries(1):  # the generation and the entry, in one SELECT of the cache table
        assert get("/classes/")[HEADER] == "hit"


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                       "LOCATION": "page-cache-test"}})
def test_a_hit_makes_no_query_with_a_memory_cache_like_redis(course, django_assert_num_queries):
    get(course[0].path_ja)
    with django_assert_num_queries(0):
        assert get(course[0].path_ja)[HEADER] == "hit"


# --- What counts as a change --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sql", "bumps"), [
    ('SELECT "courses_session"."id" FROM "courses_session" WHERE "courses_session"."id" = %s FOR UPDATE', False),
    ('INSERT INTO "courses_registration" ("session_id") VALUES (%s) RETURNING "courses_registration"."id"', True),
    ('UPDATE "courses_session" SET "capacity" = %s WHERE "courses_session"."id" = %s', True),
    ('DELETE FROM "partners_venue" WHERE "partners_venue"."id" IN (%s)', True),
    ('UPDATE "wagtailcore_page" SET "live" = false WHERE "id" = %s', True),
    ('UPDATE "cms_municipalitysettings" SET "name" = %s', True),
    ('WITH locked AS (SELECT 1) INSERT INTO "courses_registration" ("id") SELECT 1 FROM locked', True),
    ('INSERT INTO "courses_outgoingmessage" ("registration_id") SELECT "id" FROM "courses_registration" '
     'ON CONFLICT DO NOTHING', False),
    ('UPDATE "courses_outgoingmessage" SET "status" = %s WHERE "registration_id" IN '
     '(SELECT "id" FROM "courses_registration")', False),
    ('INSERT INTO "django_session" ("session_key") VALUES (%s)', False),
    ('UPDATE "dekiru_cache" SET "value" = %s', False),
    ('INSERT INTO "wagtailcore_modellogentry" ("label") VALUES (%s)', False),
    ('TRUNCATE "courses_session", "partners_venue" RESTART IDENTITY CASCADE;', True),
])
def test_which_statements_bump_the_generation(sql, bumps):
    assert page_cache.writes_watched_table(sql) is bumps
