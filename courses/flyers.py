"""Flyers (チラシ) for ward offices and community centres: an A4 poster in large print, Japanese with an English line,
for one course (its next dates) or for one ward and month (every class in the ward's venues that month, by course).
What goes on one: the dates and times (翌 after midnight), the place, the seats left or 満席（キャンセル待ち受付中）,
the phone number to book, a QR code to the page and tear-off strips with the phone number and a short address.

A flyer is public information printed once and pinned up for weeks: it carries no personal data, lists only
scheduled sessions of public courses that have not started, and says how many seats were left when it was printed
(the page behind the QR code has the live figure). The pure parts (which sessions, the QR code, the addresses)
live here; courses.flyer_views answers HTTP and makes the PDF (cms.pdf).
"""

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import urlencode, urlsplit

import segno
from django.urls import reverse
from django.utils import timezone

from cms.sending import absolute
from courses.models import CoursePage, Session
from courses.services import public_sessions
from partners.models import Ward

# A poster, not a listing: the next few dates in print, the rest behind the QR code.
COURSE_LIMIT = 8
# A ward's month: the lines of its table that fit on one A4 sheet at the flyer's type size (course headings and
# dates alike) beside the heading, the booking box and the strips. A month with many full classes (two lines for
# 満席（キャンセル待ち受付中）) may still run onto a second page, whose foot has the strips again.
WARD_LINES = 12
# Tear-off strips along the bottom edge (a cut every 21 mm across the 190 mm of an A4 sheet's print area).
STRIPS = 9


@dataclass
class Flyer:
    """What a flyer shows. `groups` pairs each course with its listed sessions (one group on a course's flyer);
    `more` counts the sessions left off for room; `url` is the absolute address behind the QR code and
    `short_url` an address short enough to type from a tear-off strip (a course's /classes/<id>/, which redirects
    to its page; for a ward, the class listing)."""

    title: str
    title_en: str
    groups: list[tuple[CoursePage, list[Session]]]
    more: int
    url: str
    short_url: str
    course: CoursePage | None = None
    ward: Ward | None = None
    month: date | None = None
    qr: str = field(init=False)

    def __post_init__(self):
        self.qr = qr_svg(self.url)

    @property
    def session_count(self) -> int:
        return sum(len(sessions) for _course, sessions in self.groups)


def qr_svg(url: str) -> str:
    """The QR code of `url` as inline SVG, sized by the stylesheet (viewBox only), with the quiet zone of four
    modules that print scanners need. Error correction M at least (segno raises it when the size allows): a poster
    gets creased and written on."""
    return segno.make(url, error="m").svg_inline(scale=1, border=4, omitsize=True, dark="#000")


def short_form(url: str) -> str:
    """https://classes.city.example.jp/classes/12/ → classes.city.example.jp/classes/12/: what a person types."""
    parts = urlsplit(url)
    return parts.netloc + parts.path + (f"?{parts.query}" if parts.query else "")


def _upcoming(now: datetime):
    """Scheduled sessions of public courses that have not started, with seat counts, in date order."""
    return (public_sessions().with_counts()
            .filter(status=Session.Status.SCHEDULED, starts_at__gt=now)
            .select_related("course", "venue", "venue__ward")
            .order_by("starts_at", "pk"))


def course_flyer(course: CoursePage, *, now: datetime | None = None, limit: int = COURSE_LIMIT,
                 request=None) -> Flyer:
    """The flyer of one course: its next `limit` dates; the QR code opens the course page (its address in the
    active language; `request` lets Wagtail reuse the site's root paths)."""
    now = now or timezone.now()
    upcoming = _upcoming(now).filter(course=course)
    sessions = list(upcoming[:limit + 1])
    more = 0
    if len(sessions) > limit:  # one more than shown says there are more; counted only then
        more = upcoming.count() - limit
        sessions = sessions[:limit]
    for session in sessions:
        session.course = course  # the page already loaded, with its specific fields
    short = absolute(reverse("courses:course_short", args=[course.pk]))
    return Flyer(title=course.title, title_en=course.title_en, course=course,
                 groups=[(course, sessions)] if sessions else [], more=more,
                 url=absolute(course.get_url(request)), short_url=short_form(short))


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The first moment of `month` and of the next one, in the city's time zone."""
    zone = timezone.get_current_timezone()
    days = calendar.monthrange(month.year, month.month)[1]
    first = datetime(month.year, month.month, 1, tzinfo=zone)
    following = date(month.year, month.month, days).toordinal() + 1
    return first, datetime.combine(date.fromordinal(following), datetime.min.time(), tzinfo=zone)


def ward_flyer(ward: Ward, month: date, *, now: datetime | None = None, lines: int = WARD_LINES) -> Flyer:
    """The flyer of a ward and month: the upcoming sessions in the ward's venues that month, grouped by course
    (courses in the order of their first date), as many as fit in `lines` table lines (a course's heading takes
    one, each date one): every date up to some day, never a gap. The QR code opens the class listing filtered to
    the ward and the month."""
    now = now or timezone.now()
    start, end = month_bounds(month)
    sessions = _upcoming(now).filter(venue__ward=ward, starts_at__gte=start, starts_at__lt=end)
    candidates = list(sessions[:lines])  # a heading and a date each at least: never more than `lines` fit
    groups: dict[int, tuple[CoursePage, list[Session]]] = {}
    used = listed = 0
    for session in candidates:
        cost = 1 if session.course_id in groups else 2
        if used + cost > lines:
            break
        used, listed = used + cost, listed + 1
        groups.setdefault(session.course_id, (session.course, []))[1].append(session)
    # Counted only when the query may have stopped short of the month's last session.
    more = (sessions.count() if len(candidates) == lines else len(candidates)) - listed
    last_day = date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])
    query = urlencode({"ward": ward.pk, "date_from": month.isoformat(), "date_to": last_day.isoformat()})
    url = absolute(f"{reverse('courses:session_list')}?{query}")
    return Flyer(title=ward.name, title_en=ward.name_en, ward=ward, month=month, groups=list(groups.values()),
                 more=more, url=url, short_url=short_form(absolute(reverse("courses:session_list"))))


def parse_month(value: str) -> date | None:
    """2026-12 → date(2026, 12, 1); None for anything else (a 404, never a 500)."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", value):  # ASCII digits only: int() would take ２０２６ too
        return None
    year, month = int(value[:4]), int(value[5:])
    if not (1 <= month <= 12 and 1900 <= year <= 9998):
        return None
    return date(year, month, 1)
