"""Template helpers for bilingual content, dates and phone numbers."""

from django import template
from django.utils import dateformat, timezone
from django.utils.translation import pgettext

from cms.i18n import localized as localized_value
from cms.normalize import format_phone

register = template.Library()


@register.filter
def localized(obj, field):
    """{{ course|localized:"summary" }}: the English text for English visitors when there is one."""
    return localized_value(obj, field)


@register.filter
def long_date(value):
    """12月3日（木） / Thu 3 December 2026, in the visitor's language and the city's time zone."""
    return dateformat.format(timezone.localtime(value), pgettext("date format with weekday", "D j F Y"))


@register.filter
def hour_minute(value):
    return dateformat.format(timezone.localtime(value), "H:i")


def end_of(starts_at, ends_at) -> str:
    """The end time of something that starts at `starts_at`: 15:30; 翌0:30 / 0:30 (next day) when it ends on the
    next local date (a class after midnight); the end's date as well when it is later still."""
    start, end = timezone.localtime(starts_at), timezone.localtime(ends_at)
    days = (end.date() - start.date()).days
    if days <= 0:
        return hour_minute(end)
    if days == 1:
        return pgettext("end time on the next day", "%(time)s (next day)") % {
            "time": dateformat.format(end, "G:i")}
    return f"{long_date(end)} {hour_minute(end)}"


@register.filter
def end_time(session):
    """{{ session|end_time }}: where a session's end time is shown (see end_of)."""
    return end_of(session.starts_at, session.ends_at)


@register.simple_tag
def session_when(session):
    """Date and time range of a session: 2026年12月3日（木）14:00〜15:30 (〜翌0:30 after midnight)."""
    return pgettext("session date and time range", "%(date)s, %(start)s–%(end)s") % {
        "date": long_date(session.starts_at), "start": hour_minute(session.starts_at),
        "end": end_time(session)}


@register.filter
def phone(value):
    return format_phone(value or "")
