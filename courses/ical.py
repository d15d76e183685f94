"""iCalendar (RFC 5545) for sessions: pure functions that take data and return events or bytes.

One VEVENT per session (no RRULE): every session has its own capacity, roster and status, and the pages list
sessions one by one, so the calendars do the same.

Speed: serialising thousands of events with icalendar per request is too slow, so each session's VEVENT text is
cached (`event_fragments`) under a key that changes whenever anything shown in the event changes, and feeds are
assembled from the fragments inside one VCALENDAR with its VTIMEZONE (`assemble_calendar`).

The fragments are read with one get_many and written with one bulk write (`cache_set_many`), so a feed costs the
same few queries on any cache backend however many events it has. Django's database cache (the default without
Redis) writes set_many one key at a time, about five queries each (count, select, insert, savepoints): a cold feed
of 3,000 events took 26 s. Here its rows are written with one DELETE and one INSERT per batch of rows.
"""

import base64
import hashlib
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import DatabaseError, connections, router, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from icalendar import Alarm, Calendar, Event

from cms.i18n import localized

TIMEZONE = "Asia/Tokyo"
TZ = ZoneInfo(TIMEZONE)
PRODID = "-//Dekiru//Smartphone classes//JA"
# Bump when the shape of the VEVENT changes, so that cached fragments of the old shape are ignored.
FRAGMENT_VERSION = 1


def uid_domain() -> str:
    """The domain in every UID. From the configured site address, never the request's host, so a session's UID is
    the same whichever address the calendar was fetched from."""
    return urlsplit(settings.WAGTAILADMIN_BASE_URL).hostname or "dekiru"


def session_uid(session) -> str:
    return f"session-{session.pk}@{uid_domain()}"


def course_url(course, *, base_url: str, language: str) -> str:
    with translation.override(language):
        path = course.get_url(request=None, current_site=None) or ""
    if path.startswith(("http://", "https://")):
        return path
    return base_url.rstrip("/") + path


def _location(session) -> str:
    venue = session.venue
    if venue is None:
        return _("Online")
    return ", ".join(part for part in (localized(venue, "name"), localized(venue, "address")) if part)


def _seats_line(seats: "Seats") -> str:
    line = _("Seats: %(booked)d of %(capacity)d booked.") % {"booked": seats.booked, "capacity": seats.capacity}
    if seats.waiting:
        line += " " + _("Waiting list: %(count)d.") % {"count": seats.waiting}
    return line


def _description(session, *, url: str, cancel_url: str | None, seats: "Seats | None" = None,
                 reference: str = "") -> str:
    course = session.course
    parts = [_seats_line(seats)] if seats else []
    if reference:
        parts.append(_("Booking reference: %(reference)s") % {"reference": reference})
    parts.append(localized(course, "summary"))
    bring = localized(course, "what_to_bring")
    if bring:
        parts.append(_("What to bring: %(items)s") % {"items": bring})
    notes = localized(session, "notes")
    if notes:
        parts.append(notes)
    if session.is_cancelled and session.cancellation_reason:
        parts.append(_("This session has been cancelled: %(reason)s") % {"reason": session.cancellation_reason})
    parts.append(_("Details: %(url)s") % {"url": url})
    if cancel_url:
        parts.append(_("To cancel your place: %(url)s") % {"url": cancel_url})
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Seats:
    """Seat counts, shown only in a partner's private staff feed."""

    booked: int
    capacity: int
    waiting: int

    @classmethod
    def of(cls, session) -> "Seats":
        return cls(booked=session.confirmed_count, capacity=session.capacity, waiting=session.waitlist_count)


def session_summary(session, *, language: str, seats: Seats | None = None) -> str:
    with translation.override(language):
        title = localized(session.course, "title", language)
        if session.is_cancelled:
            return _("Cancelled: %(title)s") % {"title": title}
        if seats:
            return _("%(title)s (%(booked)d/%(capacity)d)") % {
                "title": title, "booked": seats.booked, "capacity": seats.capacity}
        return title


# The personal calendar's reminder: the day before, at the time the class starts.
REMINDER_BEFORE = timedelta(days=1)


def reminder_alarm(session) -> Alarm:
    """A VALARM shown the day before the session (TRIGGER;RELATED=START:-P1D), in the active language."""
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -REMINDER_BEFORE)
    alarm.add("description", _("Tomorrow at %(time)s: %(title)s") % {
        "time": session.starts_at.astimezone(TZ).strftime("%H:%M"), "title": localized(session.course, "title")})
    return alarm


def session_event(session, *, language: str, base_url: str, cancel_url: str | None = None,
                  url: str | None = None, seats: Seats | None = None, reference: str = "",
                  reminder: bool = False) -> Event:
    """The VEVENT of one session in `language`. `cancel_url`, `reference` (the booking reference, grouped) and
    `reminder` (a VALARM the day before) are only for the personal calendar of one registration: nothing else
    about any participant goes into an event, and public feeds carry no alarm (subscribers would get one for every
    class). `seats` only for a partner's private staff feed."""
    with translation.override(language):
        url = url or course_url(session.course, base_url=base_url, language=language)
        event = Event()
        event.add("uid", session_uid(session))
        # DTSTAMP is the last change, not the time of the request: the bytes of an unchanged event stay the same,
        # so it can be cached and the feed's ETag holds.
        event.add("dtstamp", session.updated_at)
        event.add("last-modified", session.updated_at)
        event.add("sequence", session.sequence)
        event.add("dtstart", session.starts_at.astimezone(TZ))
        event.add("dtend", session.ends_at.astimezone(TZ))
        event.add("status", "CANCELLED" if session.is_cancelled else "CONFIRMED")
        event.add("summary", session_summary(session, language=language, seats=seats))
        event.add("location", _location(session))
        venue = session.venue
        if venue is not None and venue.latitude is not None and venue.longitude is not None:
            event.add("geo", (float(venue.latitude), float(venue.longitude)))
        event.add("url", url)
        event.add("description", _description(session, url=url, cancel_url=cancel_url, seats=seats,
                                              reference=reference))
        event.add("transp", "OPAQUE")
        if reminder and not session.is_cancelled:
            event.add_component(reminder_alarm(session))
    return event


@cache
def _vtimezone() -> bytes:
    """The VTIMEZONE for Asia/Tokyo as icalendar generates it (no DST since 1951, so the same for any dates)."""
    calendar = Calendar()
    event = Event()
    event.add("dtstart", datetime(2026, 1, 1, 10, tzinfo=TZ))
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return b"".join(tz.to_ical() for tz in calendar.walk("VTIMEZONE"))


def _calendar_head(*, name: str, method: str, description: str = "") -> Calendar:
    # A calendar's name is one line; icalendar does not escape line breaks in X- properties.
    name = " ".join(name.split())
    description = " ".join(description.split())
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", TIMEZONE)
    if description:
        # RFC 7986 DESCRIPTION, and X-WR-CALDESC for the calendar apps that only read that one.
        calendar.add("description", description)
        calendar.add("x-wr-caldesc", description)
    return calendar


def assemble_calendar(fragments: Iterable[bytes], *, name: str, method: str = "PUBLISH",
                      description: str = "") -> bytes:
    """One VCALENDAR (with the VTIMEZONE) around already serialised VEVENTs; `description` says what the calendar
    holds (a public feed: how far ahead it reaches)."""
    head = _calendar_head(name=name, method=method, description=description).to_ical()
    end = b"END:VCALENDAR\r\n"
    assert head.endswith(end)
    return b"".join([head[: -len(end)], _vtimezone(), *fragments, end])


def build_calendar(events_or_sessions: Iterable, *, name: str, language: str, method: str = "PUBLISH",
                   base_url: str = "") -> bytes:
    """A whole calendar from events (or sessions, built in `language` with links under `base_url`), uncached."""
    fragments = []
    for item in events_or_sessions:
        event = item if isinstance(item, Event) else session_event(item, language=language, base_url=base_url)
        fragments.append(event.to_ical())
    return assemble_calendar(fragments, name=name, method=method)


# --- Cached fragments -------------------------------------------------------------------------------------------

# What a fragment's cache key is made of, readable with one values_list() query (no model instances): the session
# (updated_at, sequence), the venue's shown fields (venues have no change timestamp) and the course's last
# publication. A staff feed's rows add the seat counts (STAFF_KEY_FIELDS, from Session.objects.with_counts()).
KEY_FIELDS = ("pk", "sequence", "updated_at", "venue__name", "venue__name_en", "venue__address", "venue__address_en",
              "venue__latitude", "venue__longitude", "course__last_published_at")
STAFF_KEY_FIELDS = (*KEY_FIELDS, "confirmed_count", "waitlist_count")


def key_values(session) -> tuple:
    venue = session.venue
    venue_values = ((venue.name, venue.name_en, venue.address, venue.address_en, venue.latitude, venue.longitude)
                    if venue is not None else (None,) * 6)
    return (session.pk, session.sequence, session.updated_at, *venue_values, session.course.last_published_at)


def _marker(*values) -> str:
    return hashlib.sha1("\x1f".join("" if v is None else str(v) for v in values).encode()).hexdigest()[:16]


def fragment_key(session_or_values, *, language: str, base_url: str, staff: bool = False) -> str:
    """Changes whenever anything the event shows changes (see KEY_FIELDS), and with the language and the site
    address the links point to. Takes a session or a row of KEY_FIELDS (STAFF_KEY_FIELDS when `staff`)."""
    return fragment_keys([session_or_values], language=language, base_url=base_url, staff=staff)[0]


def fragment_keys(sessions_or_rows: Iterable, *, language: str, base_url: str, staff: bool = False) -> list[str]:
    """fragment_key() of each; the language/site suffix and each venue's digest are computed once. A staff
    fragment (with seat counts) has its own key, which also changes with the counts."""
    suffix = f"{language}:{_marker(base_url, uid_domain())}"
    venue_markers = {}
    keys = []
    for item in sessions_or_rows:
        values = item if isinstance(item, tuple) else key_values(item)
        if staff:
            if not isinstance(item, tuple):
                values = (*values, item.confirmed_count, item.waitlist_count)
            *values, booked, waiting = values
            seats_marker = f":staff:{booked}:{waiting}"
        else:
            seats_marker = ""
        pk, sequence, updated_at, *venue_values, published = values
        venue_values = tuple(venue_values)
        venue_marker = venue_markers.get(venue_values)
        if venue_marker is None:
            venue_marker = venue_markers[venue_values] = _marker(*venue_values)
        keys.append(f"ical:v{FRAGMENT_VERSION}:{pk}:{sequence}:{updated_at.timestamp()}:{venue_marker}:"
                    f"{published.timestamp() if published else ''}:{suffix}{seats_marker}")
    return keys


def _cache():
    return caches[getattr(settings, "DEKIRU_ICAL_CACHE", "default")]


FRAGMENT_TIMEOUT = 60 * 60 * 24 * 30


def cache_set_many(cache_backend, mapping: dict, *, timeout: int = FRAGMENT_TIMEOUT) -> None:
    """cache_backend.set_many(mapping) in a bounded number of queries on every backend: locmem, Redis (pipelined)
    and memcached already do; Django's DatabaseCache sets key by key, so its rows are written here in bulk."""
    if not mapping:
        return
    if isinstance(cache_backend, DatabaseCache):
        _database_cache_set_many(cache_backend, mapping, timeout)
    else:
        cache_backend.set_many(mapping, timeout=timeout)


def _max_query_params(connection) -> int:
    """Parameters one statement may carry. Django says 999 for SQLite, the old default; SQLite since 3.32 allows
    32,766, which it reports, so a feed's fragments go in one INSERT rather than one per 333."""
    limit = connection.features.max_query_params or 30_000
    if connection.vendor == "sqlite":
        import sqlite3  # only for the limit's constant, on SQLite

        connection.ensure_connection()
        limit = max(limit, connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return min(limit, 30_000)


def _database_cache_set_many(cache_backend: DatabaseCache, mapping: dict, timeout) -> None:
    """What DatabaseCache.set() stores (the made key, the base64 pickle, the expiry to the second), for many keys at
    once: one COUNT (to cull like set() does when the table is full), then per batch one DELETE of the keys and one
    multi-row INSERT, in one transaction. A concurrent writer of the same key makes the batch fail and roll back:
    like DatabaseCache, a failed write is silently dropped (the next feed writes it again)."""
    timeout = cache_backend.get_backend_timeout(timeout)
    expires = datetime.max if timeout is None else datetime.fromtimestamp(
        timeout, tz=UTC if settings.USE_TZ else None)
    db = router.db_for_write(cache_backend.cache_model_class)
    connection = connections[db]
    quote = connection.ops.quote_name
    table = quote(cache_backend._table)
    expires = connection.ops.adapt_datetimefield_value(expires.replace(microsecond=0))
    rows = [(cache_backend.make_and_validate_key(key),
             base64.b64encode(pickle.dumps(value, cache_backend.pickle_protocol)).decode("latin1"), expires)
            for key, value in mapping.items()]
    per_batch = max(1, _max_query_params(connection) // 3)
    try:
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 (the table name is quoted)
            count = cursor.fetchone()[0]
            if count + len(rows) > cache_backend._max_entries:
                cache_backend._cull(db, cursor, timezone.now().replace(microsecond=0), count)
            for start in range(0, len(rows), per_batch):
                batch = rows[start:start + per_batch]
                marks = ", ".join(["%s"] * len(batch))
                cursor.execute(f"DELETE FROM {table} WHERE {quote('cache_key')} IN ({marks})",  # noqa: S608
                               [row[0] for row in batch])
                values = ", ".join(["(%s, %s, %s)"] * len(batch))
                cursor.execute(
                    f"INSERT INTO {table} ({quote('cache_key')}, {quote('value')}, {quote('expires')}) "  # noqa: S608
                    f"VALUES {values}", [value for row in batch for value in row])
    except DatabaseError:
        pass


def event_fragments(sessions: list, *, language: str, base_url: str) -> list[bytes]:
    """The serialised VEVENT of each session, from the cache where possible (one cache read for all of them)."""
    keys = fragment_keys(sessions, language=language, base_url=base_url)
    return _fragments(keys, [s.pk for s in sessions], lambda pks: sessions, language=language, base_url=base_url)


def _fragments(keys: list[str], pks: list[int], load_sessions, *, language: str, base_url: str,
               staff: bool = False) -> list[bytes]:
    cache_backend = _cache()
    found = cache_backend.get_many(keys)
    missing_pks = {pk for key, pk in zip(keys, pks, strict=True) if key not in found}
    built = {}
    if missing_pks:
        course_urls = {}
        for session in load_sessions(missing_pks):
            if session.pk not in missing_pks:
                continue
            if session.course_id not in course_urls:
                course_urls[session.course_id] = course_url(session.course, base_url=base_url, language=language)
            key = fragment_key(session, language=language, base_url=base_url, staff=staff)
            built[key] = session_event(session, language=language, base_url=base_url,
                                       url=course_urls[session.course_id],
                                       seats=Seats.of(session) if staff else None).to_ical()
        cache_set_many(cache_backend, built)
    # A session changed between the key query and the load: its fresh fragment is under its new key (and one
    # deleted meanwhile is left out).
    by_pk = {int(key.split(":")[2]): fragment for key, fragment in built.items()}
    return [found.get(key) or built.get(key) or by_pk.get(pk, b"") for key, pk in zip(keys, pks, strict=True)]


def feed_etag(keys: list[str], *, name: str, language: str, description: str = "") -> str:
    digest = hashlib.sha1(f"{name}\x1f{language}\x1f{FRAGMENT_VERSION}\x1f{description}".encode())
    for key in keys:
        digest.update(key.encode())
    return digest.hexdigest()


def feed_body(rows: list[tuple], keys: list[str], etag: str, load_sessions, *, name: str, language: str,
              base_url: str, staff: bool = False, description: str = "") -> bytes:
    """The calendar for the sessions of `rows` (KEY_FIELDS values in feed order, `keys` their fragment keys): the
    whole calendar is cached under its ETag, the VEVENTs one by one; `load_sessions(pks)` loads (with course and
    venue, and seat counts for a `staff` feed) the sessions whose VEVENT must be built."""
    cache_backend = _cache()
    feed_key = f"ical:feed:{etag}"
    body = cache_backend.get(feed_key)
    if body is None:
        fragments = _fragments(keys, [row[0] for row in rows], load_sessions, language=language, base_url=base_url,
                               staff=staff)
        body = assemble_calendar(fragments, name=name, description=description)
        cache_set_many(cache_backend, {feed_key: body})
    return body


def feed_last_modified(rows: list[tuple]) -> datetime | None:
    published = KEY_FIELDS.index("course__last_published_at")
    stamps = [row[2] for row in rows] + [row[published] for row in rows if row[published]]
    return max(stamps) if stamps else None
