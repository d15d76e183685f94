"""Pages of sessions for the public listings: the class listing (/classes/) and a course page's dates.

Why a module of its own: a listing's cost must follow the size of the page, not the size of the table. Django's
Paginator slices the queryset it is given, so with seat counts annotated and venue, ward and organiser joined,
the database sorts every matching session with its joins and subqueries to hand back twenty (at 30,000 upcoming
sessions the page query alone took 174 ms on SQLite). Here a page is three small queries instead:

1. COUNT(*) over the bare sessions table (no joins the filters do not need, no seat counts unless the "free seats"
   filter asks for them);
2. the ids of one page, ordered by (starts_at, id) — which the starts_at index hands over in order, so the
   database reads one page of index entries, not the table;
3. those sessions with their seat counts, course, venue, ward and organiser.

The count is bounded too: past DEKIRU_LISTING_COUNT_LIMIT matching dates (default 1,000, fifty pages) the listing
says "more than 1,000" instead of counting on — nobody pages through more, they narrow the search — so counting
reads at most that many index entries.

Which sessions the listing shows is the rule of courses.services.find_sessions; matching_sessions below applies the
same filters, written so that the database can walk the starts_at index in date order (the public-course test is
an EXISTS per row rather than an IN list, which SQLite would answer from the course_id index and then sort; on
PostgreSQL the filters on the course and the ward are id lists, whose row counts its planner can estimate: see
matching_sessions).
tests/courses/test_listing.py checks that both give the same sessions for every filter.
"""

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connection
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from courses.models import CoursePage, Session
from courses.search import search_courses
from partners.models import Venue

# Twenty dates a page on /classes/ (unchanged), and on a course page by default: a course with 2,000 upcoming
# sessions was one 2.9 MB page.
PAGE_SIZE = 20


def count_limit() -> int:
    """How many matching dates the class listing counts before it says "more than" (DEKIRU_LISTING_COUNT_LIMIT)."""
    return max(PAGE_SIZE, int(getattr(settings, "DEKIRU_LISTING_COUNT_LIMIT", 1000)))


def course_page_size() -> int:
    """Dates per page on a course page (DEKIRU_COURSE_PAGE_SESSIONS, default 20)."""
    return max(1, int(getattr(settings, "DEKIRU_COURSE_PAGE_SESSIONS", PAGE_SIZE)))


class SessionPaginator(Paginator):
    """A Paginator that counts and slices bare session ids and loads only the page's sessions in full.

    `object_list` is the filtered, ordered queryset of the listing (its annotations and joins are not used to
    count or to pick the page); `load(ids)` returns the page's sessions, in any order, with whatever the cards
    show (seat counts, related rows)."""

    def __init__(self, object_list: QuerySet, per_page: int, *, load, limit: int | None = None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._load = load
        self.limit = limit

    @property
    def count(self) -> int:
        """The number of matching sessions, or `limit` when there are more (then `more` is True). Cached like
        Paginator.count; a bare COUNT(*) without select_related joins (Django drops annotations the filters do not
        use, so seat counts are computed only with the "free seats" filter)."""
        if "_count" not in self.__dict__:
            bare = self.object_list.select_related(None).order_by()
            if self.limit is None:
                self.__dict__["_count"], self.more = bare.count(), False
            else:
                found = bare.values("pk")[:self.limit + 1].count()
                self.__dict__["_count"], self.more = min(found, self.limit), found > self.limit
        return self.__dict__["_count"]

    @property
    def more(self) -> bool:
        """True when more sessions match than the listing counts (the count stopped at `limit`)."""
        self.count  # noqa: B018 (counting sets it)
        return self.__dict__["more"]

    @more.setter
    def more(self, value: bool) -> None:
        self.__dict__["more"] = value

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        ids = list(self.object_list.select_related(None).values_list("pk", flat=True)[bottom:top])
        by_id = {session.pk: session for session in self._load(ids)} if ids else {}
        return self._get_page([by_id[pk] for pk in ids if pk in by_id], number, self)

    def get_page(self, number) -> Page:
        """Like Paginator.get_page: a bad or too large number shows the first or the last page, never an error."""
        try:
            number = self.validate_number(number)
        except PageNotAnInteger:
            number = 1
        except EmptyPage:
            number = self.num_pages
        return self.page(number)


def _with_cards(ids: Iterable[int]) -> QuerySet:
    """Sessions as the listing cards show them: seat counts, course, venue, ward and organiser in one query."""
    return (Session.objects.with_counts().filter(pk__in=list(ids))
            .select_related("course", "venue", "venue__ward", "organiser"))


def _mark_refusals(page: Page, *, now=None) -> Page:
    # The booking rules live in the services, which import this app's models; this module is imported by views.
    from courses.services import refusal_reason

    for session in page:
        session.refusal = refusal_reason(session, now=now)
    return page


def _day_start(day: date) -> datetime:
    """The first instant of `day` in the current time zone (the listing's dates are the city's dates)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def matching_sessions(*, q: str = "", ward=None, topic=None, level: str = "", device: str = "", date_from=None,
                      date_to=None, free: bool = False, now=None) -> QuerySet:
    """The sessions courses.services.find_sessions lists (upcoming, scheduled, of live public courses, filtered),
    bare and in date order: no joins or seat counts beyond what the filters need.

    Written so that the database walks the starts_at index in date order and stops after a page:
    - the dates are a range of starts_at (the city's midnights), not the local date of each row;
    - on PostgreSQL, the filters on the course (keyword, topic, level, phone) and the ward are first turned into
      lists of course and venue ids (one small query each, over the courses and the venues, whatever the number
      of sessions). A list is a cheap test per row and the planner estimates it from the column's statistics;
      behind joins and EXISTS it guessed a handful of matching dates, and then found, checked (seat counts
      included) and sorted every one of thousands instead of reading the first twenty in date order (EXPLAIN
      ANALYZE at 30,000 sessions: 18 ms instead of 0.1 ms with statistics, 240 ms without);
    - on SQLite, whose planner would answer an id list from the course_id or venue_id index and then sort every
      matching row, they stay EXISTS tests per row."""
    now = now or timezone.now()
    sessions = (Session.objects.filter(status=Session.Status.SCHEDULED, starts_at__gt=now)
                .order_by("starts_at", "pk"))
    as_lists = connection.vendor == "postgresql"
    courses = CoursePage.objects.live().public()
    by_course = bool(q or topic is not None or level or device)
    if q:
        courses = search_courses(q, courses)
    if topic is not None:
        courses = courses.filter(Exists(CoursePage.topics.through.objects.filter(
            coursepage_id=OuterRef("pk"), topic=topic)))
    if level:
        courses = courses.filter(level=level)
    if device:
        # A class for "any smartphone" suits every phone.
        courses = courses.filter(device__in=[device, CoursePage.Device.ANY])
    if as_lists and by_course:
        sessions = sessions.filter(course_id__in=list(courses.order_by().values_list("pk", flat=True)))
    else:
        sessions = sessions.filter(Exists(courses.order_by().filter(pk=OuterRef("course_id"))))
    if ward is not None:
        venues = Venue.objects.filter(ward=ward).order_by().values_list("pk", flat=True)
        if as_lists:
            sessions = sessions.filter(venue_id__in=list(venues))
        else:
            sessions = sessions.filter(Exists(venues.filter(pk=OuterRef("venue_id"))))
    if date_from:
        sessions = sessions.filter(starts_at__gte=_day_start(date_from))
    if date_to:
        sessions = sessions.filter(starts_at__lt=_day_start(date_to + timedelta(days=1)))
    if free:
        sessions = sessions.with_counts().filter(capacity__gt=F("confirmed_count"))
    return sessions


def listing_page(filters: dict, page_number, *, per_page: int = PAGE_SIZE, now=None) -> Page:
    """One page of /classes/ for the valid `filters` of SessionFilterForm: three queries for the sessions (a
    bounded count, the page's ids, the page's sessions) plus one for public() page restrictions and, on PostgreSQL,
    one for the ids of the matching courses (with a keyword, topic, level or phone) and one for the ward's venues
    (with a ward), whatever the number of sessions. Each session on the page carries `refusal` (why it cannot be
    booked now, or None); `page.paginator.more` is True when more than `page.paginator.count` dates match."""
    paginator = SessionPaginator(matching_sessions(**filters, now=now), per_page, load=_with_cards,
                                 limit=count_limit())
    return _mark_refusals(paginator.get_page(page_number), now=now)


def course_sessions_page(course: CoursePage, page_number, *, per_page: int | None = None, now=None) -> Page:
    """One page of a course page's upcoming dates (sessions not yet ended, in date order), `per_page` at a time
    (default DEKIRU_COURSE_PAGE_SESSIONS). Three queries whatever the number of sessions; each session carries
    `refusal` and its `course` is the page itself (the cards link back to it without a query each)."""
    now = now or timezone.now()
    upcoming = Session.objects.filter(course=course, ends_at__gt=now).order_by("starts_at", "pk")

    def load(ids):
        rows = list(Session.objects.with_counts().filter(pk__in=list(ids))
                    .select_related("venue", "venue__ward", "organiser"))
        for session in rows:
            session.course = course
        return rows

    paginator = SessionPaginator(upcoming, per_page or course_page_size(), load=load)
    return _mark_refusals(paginator.get_page(page_number), now=now)


def page_links(page: Page, *, around: int = 2) -> list[int | None]:
    """Page numbers to link to, for paging without JavaScript: the first, the last and `around` on each side of
    the current page, with None where numbers are left out (shown as "…"). [1, None, 4, 5, 6, 7, 8, None, 40]"""
    last = page.paginator.num_pages
    wanted = {1, last, *range(page.number - around, page.number + around + 1)}
    numbers = sorted(n for n in wanted if 1 <= n <= last)
    links: list[int | None] = []
    for n in numbers:
        if links and n - links[-1] > 1:
            links.append(None)
        links.append(n)
    return links
