"""The public month calendar: a server-rendered table of a month's sessions, filtered by ward and topic.

No JavaScript: filters are a GET form, the previous and next months are links. On a phone the same table is
re-flowed by CSS into a list by day (calendar.css), so screen readers get one copy of the content.
"""

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import dateformat, formats, timezone
from django.utils.translation import pgettext

from courses import services
from courses.forms import SessionFilterForm
from courses.models import CoursePage, Session

MIN_YEAR, MAX_YEAR = 2000, 2100
# Japanese calendars start the week on Sunday (日).
FIRST_WEEKDAY = calendar.SUNDAY


@dataclass
class Day:
    date: date
    in_month: bool
    is_today: bool = False
    sessions: list = field(default_factory=list)

    @property
    def label(self) -> str:
        """12月3日（木） / Thu 3 December 2026: the day's heading in the list shown on a phone."""
        return dateformat.format(self.date, pgettext("date format with weekday", "D j F Y"))


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next month, in the city's time zone (Asia/Tokyo)."""
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    tz = timezone.get_default_timezone()
    return datetime(year, month, 1, tzinfo=tz), datetime(next_year, next_month, 1, tzinfo=tz)


def month_sessions(*, year: int, month: int, ward=None, topic=None):
    """Every session of a live, public course that starts in the month, past days included, scheduled or
    cancelled; seat counts annotated, course, venue and ward joined: one query whatever the number
    (and Wagtail's look-up of view restrictions for public())."""
    start, end = month_bounds(year, month)
    sessions = (Session.objects.with_counts()
                .filter(starts_at__gte=start, starts_at__lt=end,
                        status__in=[Session.Status.SCHEDULED, Session.Status.CANCELLED],
                        course__in=CoursePage.objects.live().public().values("pk"))
                .select_related("course", "venue", "venue__ward")
                .order_by("starts_at", "pk"))
    if ward is not None:
        sessions = sessions.filter(venue__ward=ward)
    if topic is not None:
        sessions = sessions.filter(course__topics=topic)
    return sessions


def month_weeks(year: int, month: int, sessions, *, today: date) -> list[list[Day]]:
    """The weeks of the month, Sunday first, each day with its sessions (by the date in Asia/Tokyo)."""
    days = {}
    weeks = []
    for week in calendar.Calendar(FIRST_WEEKDAY).monthdatescalendar(year, month):
        row = []
        for day in week:
            row.append(Day(date=day, in_month=day.month == month, is_today=day == today))
            if day.month == month:
                days[day] = row[-1]
        weeks.append(row)
    for session in sessions:
        days[timezone.localdate(session.starts_at)].sessions.append(session)
    return weeks


def _state(session, now: datetime) -> str:
    """What a calendar cell says about a session: cancelled, over, open for registration, full, or not open."""
    if session.is_cancelled:
        return "cancelled"
    if session.starts_at <= now:
        return "past"
    if services.booking_refusal(session, now=now):
        return "closed"
    return "open" if session.seats_left else "full"


def _month_url(year: int, month: int, query: str) -> str | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    url = reverse("courses:month_calendar", kwargs={"year": year, "month": month})
    return f"{url}?{query}" if query else url


def current_month(request):
    """/calendar/: this month, in Asia/Tokyo. Filters are kept."""
    today = timezone.localdate()
    url = reverse("courses:month_calendar", kwargs={"year": today.year, "month": today.month})
    query = request.GET.urlencode()
    return redirect(f"{url}?{query}" if query else url)


def month_calendar(request, year: int, month: int):
    """One month of classes as a table (a list by day on a phone), filtered by ward and topic (GET)."""
    if not (MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12):
        raise Http404("No such month.")
    form = SessionFilterForm(request.GET or None)
    filters = {name: value for name, value in form.filters().items() if name in ("ward", "topic")}
    sessions = list(month_sessions(year=year, month=month, **filters))
    now = timezone.now()
    for session in sessions:
        session.calendar_state = _state(session, now)
    weeks = month_weeks(year, month, sessions, today=timezone.localdate(now))
    # Only the filters that were valid are carried to the neighbouring months.
    querystring = urlencode({name: request.GET[name] for name in ("ward", "topic") if name in filters})
    first = date(year, month, 1)
    previous = (year - 1, 12) if month == 1 else (year, month - 1)
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    return TemplateResponse(request, "courses/month_calendar.html", {
        "form": form, "weeks": weeks, "weekdays": weeks[0], "month_start": first,
        "month_name": formats.date_format(first, "YEAR_MONTH_FORMAT"),
        "previous_url": _month_url(*previous, querystring),
        "previous_name": formats.date_format(date(*previous, 1), "YEAR_MONTH_FORMAT"),
        "next_url": _month_url(*following, querystring),
        "next_name": formats.date_format(date(*following, 1), "YEAR_MONTH_FORMAT"),
        "session_count": len(sessions), "filtered": bool(filters),
    })
