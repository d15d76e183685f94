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


@register.simple_tag
def session_when(session):
    """Date and time range of a session: 2026年12月3日（木）14:00〜15:30."""
    return pgettext("session date and time range", "%(date)s, %(start)s–%(end)s") % {
        "date": long_date(session.starts_at), "start": hour_minute(session.starts_at),
        "end": hour_minute(session.ends_at)}


@register.filter
def phone(value):
    return format_phone(value or "")
