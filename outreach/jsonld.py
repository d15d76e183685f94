"""schema.org Event structured data (JSON-LD) for sessions, so that search engines can show the classes.

Pure functions: data in, dictionaries or markup out. One Event per session (search engines want one per
occurrence), cancelled sessions included until they end, with eventStatus EventCancelled so the cancellation is
seen. The postal address is the official Japanese one in every language; names and descriptions follow the page.
An online session's location is a VirtualLocation whose url is the course page: the meeting link itself is only
for registered participants. A cancelled session has no offer (there is nothing to book); an offer links to the
registration form only while the form takes bookings, like the page's own links.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.safestring import mark_safe

from cms.i18n import localized
from courses import services
from courses.ical import TZ

SCHEMA = "https://schema.org"
SCHEDULED = f"{SCHEMA}/EventScheduled"
CANCELLED = f"{SCHEMA}/EventCancelled"
OFFLINE = f"{SCHEMA}/OfflineEventAttendanceMode"
ONLINE = f"{SCHEMA}/OnlineEventAttendanceMode"
MIXED = f"{SCHEMA}/MixedEventAttendanceMode"
IN_STOCK = f"{SCHEMA}/InStock"
SOLD_OUT = f"{SCHEMA}/SoldOut"
PRE_ORDER = f"{SCHEMA}/PreOrder"


@dataclass(frozen=True)
class Municipality:
    prefecture_name: str
    name: str

    @classmethod
    def of(cls, settings) -> Municipality:
        return cls(prefecture_name=settings.prefecture_name, name=settings.name)


def iso(value: datetime) -> str:
    """ISO 8601 in Japan time: 2026-05-01T14:00:00+09:00."""
    return timezone.localtime(value, TZ).isoformat(timespec="seconds")


def street_address(address: str, municipality: Municipality, ward_name: str = "") -> str:
    """The address without the prefecture, city and ward that addressRegion and addressLocality carry."""
    rest = (address or "").strip()
    for prefix in (municipality.prefecture_name, municipality.name, ward_name):
        if prefix and rest.startswith(prefix) and rest[len(prefix):].strip():
            rest = rest[len(prefix):].strip()
    return rest


def place(venue, municipality: Municipality) -> dict:
    ward_name = venue.ward.name if venue.ward_id else ""
    address = {
        "@type": "PostalAddress",
        "streetAddress": street_address(venue.address, municipality, ward_name),
        "addressLocality": f"{municipality.name}{ward_name}",
        "addressRegion": municipality.prefecture_name,
        "addressCountry": "JP",
    }
    if venue.postal_code:
        address["postalCode"] = venue.postal_code
    data = {"@type": "Place", "name": localized(venue, "name"), "address": address}
    if venue.latitude is not None and venue.longitude is not None:
        data["geo"] = {"@type": "GeoCoordinates", "latitude": float(venue.latitude),
                       "longitude": float(venue.longitude)}
    return data


def availability(session, *, now: datetime) -> str:
    """PreOrder before registration opens; SoldOut once it has closed or when every seat is taken (the waiting
    list is still open then, but a seat is not); InStock otherwise."""
    reason = services.booking_refusal(session, now=now)
    if isinstance(reason, services.RegistrationNotOpen):
        return PRE_ORDER
    if reason is not None or session.seats_left <= 0:
        return SOLD_OUT
    return IN_STOCK


def offer(session, *, course, page_url: str, register_url: str, now: datetime) -> dict:
    """The offer of a session that is not cancelled. Its url is the registration form while the form takes
    bookings (seats or the waiting list), the course page otherwise, as the page's own links do."""
    data = {
        "@type": "Offer",
        "price": course.fee,
        "priceCurrency": "JPY",
        "availability": availability(session, now=now),
        "url": register_url if services.booking_refusal(session, now=now) is None else page_url,
    }
    valid_from = session.registration_opens_at or session.created_at
    data["validFrom"] = iso(valid_from)
    if session.registration_closes >= valid_from:
        data["validThrough"] = iso(session.registration_closes)
    return data


def session_event(session, *, course, page_url: str, register_url: str, municipality: Municipality,
                  image_url: str = "", now: datetime | None = None) -> dict:
    """The Event of one session of `course` (pass the course: no query for it). `session` needs its seat counts
    (Session.objects.with_counts()), venue with ward, and organiser loaded."""
    now = now or timezone.now()
    venue, partner = session.venue, session.organiser
    online = bool(session.online_url)
    locations = []
    if venue is not None:
        locations.append(place(venue, municipality))
    if online or venue is None:
        locations.append({"@type": "VirtualLocation", "url": page_url})
    mode = MIXED if venue is not None and online else (OFFLINE if venue is not None else ONLINE)
    organizer = {"@type": "Organization", "name": localized(partner, "name")}
    if partner.website:
        organizer["url"] = partner.website
    event = {
        "@context": SCHEMA,
        "@type": "Event",
        "name": localized(course, "title"),
        "description": localized(course, "summary"),
        "startDate": iso(session.starts_at),
        "endDate": iso(session.ends_at),
        "eventStatus": CANCELLED if session.is_cancelled else SCHEDULED,
        "eventAttendanceMode": mode,
        "location": locations[0] if len(locations) == 1 else locations,
        "organizer": organizer,
        "url": page_url,
    }
    if image_url:
        event["image"] = [image_url]
    if not session.is_cancelled:
        event["offers"] = offer(session, course=course, page_url=page_url, register_url=register_url, now=now)
    return event


# What <, > and & become inside the script element, so that no text (a course title "</script><script>…") can
# end it or start markup. JSON reads the escapes back as the same characters.
_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_ESCAPES)


def script(data) -> str:
    """<script type="application/ld+json"> with `data`, safe to put in a page whatever the text it contains."""
    return mark_safe(f'<script type="application/ld+json">{dumps(data)}</script>')
