"""iCalendar downloads and subscribable feeds. The calendars are built by courses.ical; these views only choose
the sessions, and answer HTTP (content type, filename, ETag, Last-Modified, 304)."""

import calendar
import hashlib
from datetime import datetime

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from cms.i18n import localized
from courses import ical
from courses.models import CoursePage, Registration, Session
from courses.tokens import registration_from_token
from partners.feeds import feed_from_token
from partners.models import Partner, Ward


def _language() -> str:
    return (get_language() or "ja").split("-")[0]


def _base_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def public_feed_months() -> int:
    """How many months ahead public feeds reach (DEKIRU_PUBLIC_FEED_MONTHS, default 6)."""
    return max(1, int(getattr(settings, "DEKIRU_PUBLIC_FEED_MONTHS", 6)))


def months_ahead(moment: datetime, months: int) -> datetime:
    """The same local time `months` calendar months later (the 31st becomes the month's last day)."""
    local = timezone.localtime(moment)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    return local.replace(year=year, month=month, day=min(local.day, calendar.monthrange(year, month)[1]))


def feed_horizon(now: datetime | None = None) -> datetime:
    """Public feeds list the sessions that start before this: a subscribed calendar asks again every few hours,
    and a feed of every session ever planned years ahead would cost the server and the phone for nothing."""
    return months_ahead(now or timezone.now(), public_feed_months())


def feed_description() -> str:
    """What a public feed says about itself (X-WR-CALDESC / DESCRIPTION): how far ahead it reaches."""
    months = public_feed_months()
    return ngettext(
        "Classes starting in the next month. Later dates appear as the month goes by.",
        "Classes starting in the next %(months)d months. Later dates appear as the months go by.",
        months) % {"months": months}


def feed_sessions(**filters):
    """Sessions of live courses that are not over yet, cancelled ones included: subscribed calendars must see the
    cancellation, so an event stays in the feed until it has ended."""
    return (Session.objects.filter(ends_at__gt=timezone.now(), **filters)
            .filter(course__in=CoursePage.objects.live().public().values("pk")).order_by("starts_at", "pk"))


def public_feed_sessions(**filters):
    """feed_sessions() that start within the next DEKIRU_PUBLIC_FEED_MONTHS months: what the public feeds list
    (the open data keeps every planned session)."""
    return feed_sessions(**filters).filter(starts_at__lt=feed_horizon())


def _load_sessions(pks) -> list[Session]:
    return list(Session.objects.filter(pk__in=pks).select_related("course", "venue"))


def _calendar_response(request, *, body_func, etag: str, last_modified, filename: str, private: bool = False):
    """Answer 304 when the client's copy is current, otherwise the calendar from `body_func()`."""
    etag = f'"{etag}"'
    last_modified_ts = int(last_modified.timestamp()) if last_modified else None
    response = get_conditional_response(request, etag=etag, last_modified=last_modified_ts)
    if response is None:
        response = HttpResponse(body_func(), content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["ETag"] = etag
    if last_modified_ts is not None:
        response["Last-Modified"] = http_date(last_modified_ts)
    response["Cache-Control"] = "private, no-cache" if private else "public, max-age=300"
    response["Vary"] = "Accept-Language, Cookie"
    return response


def _feed(request, sessions, *, name: str, filename: str, description: str = ""):
    """A feed of `sessions` (a queryset): one query reads what the cache keys need, answers 304 from that alone,
    and serves the calendar from the cache when nothing changed. Cold, a few more: the cached body, the cached
    fragments (one read), the sessions to build, one bulk write — whatever the number of events."""
    language, base_url = _language(), _base_url(request)
    rows = list(sessions.values_list(*ical.KEY_FIELDS))
    keys = ical.fragment_keys(rows, language=language, base_url=base_url)
    etag = ical.feed_etag(keys, name=name, language=language, description=description)

    def body():
        return ical.feed_body(rows, keys, etag, _load_sessions, name=name, language=language, base_url=base_url,
                              description=description)

    return _calendar_response(request, body_func=body, etag=etag, last_modified=ical.feed_last_modified(rows),
                              filename=filename)


@require_safe
def all_sessions_feed(request):
    return _feed(request, public_feed_sessions(), name=_("Dekiru: all smartphone classes"),
                 filename="dekiru-sessions.ics", description=feed_description())


@require_safe
def course_feed(request, page_id: int):
    if page_id >= 2**31:  # no such page; a page's key is a foreign key, which Django does not range-check
        raise Http404
    course = get_object_or_404(CoursePage.objects.live().public(), pk=page_id)
    name = _("Dekiru: %(course)s") % {"course": localized(course, "title")}
    return _feed(request, public_feed_sessions(course=course), name=name, filename=f"dekiru-course-{course.pk}.ics",
                 description=feed_description())


@require_safe
def ward_feed(request, code: str):
    ward = get_object_or_404(Ward, code=code)
    name = _("Dekiru: classes in %(ward)s") % {"ward": localized(ward, "name")}
    return _feed(request, public_feed_sessions(venue__ward=ward), name=name, filename=f"dekiru-ward-{ward.code}.ics",
                 description=feed_description())


@require_safe
def partner_feed(request, partner_id: int):
    partner = get_object_or_404(Partner, pk=partner_id, is_active=True)
    name = _("Dekiru: classes by %(partner)s") % {"partner": localized(partner, "name")}
    return _feed(request, public_feed_sessions(organiser=partner), name=name,
                 filename=f"dekiru-partner-{partner.pk}.ics", description=feed_description())


def _load_sessions_with_counts(pks) -> list[Session]:
    return list(Session.objects.with_counts().filter(pk__in=pks).select_related("course", "venue"))


@require_safe
def staff_feed(request, token: str):
    """A partner staff member's private feed: every session their partner organises that is not over yet (draft
    courses included), with seat counts. 404 for a revoked, regenerated or tampered address. Only an ETag (no
    Last-Modified): the counts change without the sessions changing."""
    feed = feed_from_token(token)
    partner = feed.membership.partner
    language, base_url = _language(), _base_url(request)
    sessions = (Session.objects.with_counts().filter(organiser=partner, ends_at__gt=timezone.now())
                .order_by("starts_at", "pk"))
    rows = list(sessions.values_list(*ical.STAFF_KEY_FIELDS))
    keys = ical.fragment_keys(rows, language=language, base_url=base_url, staff=True)
    name = _("Dekiru staff: %(partner)s") % {"partner": localized(partner, "name")}
    etag = ical.feed_etag(keys, name=name, language=language)

    def body():
        return ical.feed_body(rows, keys, etag, _load_sessions_with_counts, name=name, language=language,
                              base_url=base_url, staff=True)

    response = _calendar_response(request, body_func=body, etag=etag, last_modified=None,
                                  filename=f"dekiru-staff-{partner.pk}.ics", private=True)
    response["X-Robots-Tag"] = "noindex"
    return response


@require_safe
def session_ics(request, session_id: int):
    session = get_object_or_404(
        Session.objects.filter(course__in=CoursePage.objects.live().public().values("pk"))
        .select_related("course"), pk=session_id)
    return _feed(request, Session.objects.filter(pk=session.pk), name=localized(session.course, "title"),
                 filename=f"dekiru-session-{session.pk}.ics")


@require_safe
def registration_ics(request, token: str):
    """The resident's own calendar file: the session with their cancel link, and nothing about anyone else."""
    registration = registration_from_token(token, Registration.objects.select_related(
        "session", "session__course", "session__venue"))
    session = registration.session
    language, base_url = _language(), _base_url(request)
    can_cancel = registration.status in (Registration.Status.CONFIRMED, Registration.Status.WAITLISTED) \
        and session.starts_at > timezone.now()
    cancel_url = request.build_absolute_uri(registration.get_cancel_url()) if can_cancel else None
    # The reminder only for a seat: someone waiting may never get one.
    reminder = registration.status == Registration.Status.CONFIRMED
    key = ical.fragment_key(session, language=language, base_url=base_url)
    etag = hashlib.sha1(f"{key}\x1f{registration.status}\x1f{cancel_url}\x1f{registration.reference}\x1falarm"
                        .encode()).hexdigest()

    def body():
        event = ical.session_event(session, language=language, base_url=base_url, cancel_url=cancel_url,
                                   reference=registration.reference_display, reminder=reminder)
        return ical.build_calendar([event], name=localized(session.course, "title"), language=language)

    return _calendar_response(request, body_func=body, etag=etag,
                              last_modified=max(session.updated_at, registration.updated_at),
                              filename=f"dekiru-session-{session.pk}.ics", private=True)

