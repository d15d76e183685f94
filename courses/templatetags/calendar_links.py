"""Links for "Add to calendar": Google Calendar and Outlook compose links, the .ics URL, and feed subscribe links.

    {% load calendar_links %}
    {% google_calendar_url session %}  {% outlook_calendar_url session %}  {% session_ics_url session %}
    {% calendar_feed_links "/calendar/sessions.ics" as feed %}  {{ feed.webcal }}  {{ feed.https }}
"""

from datetime import UTC
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.translation import get_language

from courses import ical

register = template.Library()


def _language() -> str:
    return (get_language() or "ja").split("-")[0]


def _details(session, context) -> tuple[str, str, str]:
    request = context.get("request")
    base_url = request.build_absolute_uri("/").rstrip("/") if request else ""
    language = _language()
    event = ical.session_event(session, language=language, base_url=base_url)
    return str(event["summary"]), str(event["description"]), str(event["location"])


@register.simple_tag(takes_context=True)
def google_calendar_url(context, session) -> str:
    """https://calendar.google.com/calendar/render?action=TEMPLATE&text=…&dates=<UTC start>/<UTC end>&…"""
    text, details, location = _details(session, context)
    fmt = "%Y%m%dT%H%M%SZ"
    dates = f"{session.starts_at.astimezone(UTC):{fmt}}/{session.ends_at.astimezone(UTC):{fmt}}"
    query = urlencode({"action": "TEMPLATE", "text": text, "dates": dates, "details": details,
                       "location": location, "ctz": ical.TIMEZONE})
    return f"https://calendar.google.com/calendar/render?{query}"


@register.simple_tag(takes_context=True)
def outlook_calendar_url(context, session) -> str:
    """https://outlook.live.com/calendar/0/deeplink/compose?subject=…&startdt=…&enddt=…&location=…&body=…"""
    subject, body, location = _details(session, context)
    query = urlencode({"path": "/calendar/action/compose", "rru": "addevent", "subject": subject,
                       "startdt": session.starts_at.astimezone(ical.TZ).isoformat(),
                       "enddt": session.ends_at.astimezone(ical.TZ).isoformat(),
                       "location": location, "body": body})
    return f"https://outlook.live.com/calendar/0/deeplink/compose?{query}"


@register.simple_tag
def session_ics_url(session) -> str:
    return reverse("courses:session_ics", args=[session.pk])


@register.simple_tag(takes_context=True)
def calendar_feed_links(context, feed_path: str) -> dict:
    """Subscribe links for a feed path: {"https": "https://host/…ics", "webcal": "webcal://host/…ics"}."""
    request = context.get("request")
    absolute = request.build_absolute_uri(feed_path) if request else feed_path
    scheme, sep, rest = absolute.partition("://")
    webcal = f"webcal://{rest}" if sep else absolute
    return {"https": absolute, "webcal": webcal}
