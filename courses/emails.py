"""Rendering the messages residents receive: subject, plain text and HTML in the person's language, and the
personal calendar file. Pure with respect to sending: takes an OutgoingMessage (with its registration and session
loaded) and returns text; courses.outbox decides when to send.

Templates: templates/emails/<kind>.txt and .html (both extend emails/base.*). Subjects are translated here.
Wording is short and plain, for residents many of whom are over 65; the HTML uses large type (20 px) and a
single column without images.

Extension point: the `construct_message_context` hook (a function taking the message and its template context) lets
another app add to a message's context — the outreach app adds the can-do check links through `followup_links`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext
from wagtail import hooks

from cms.i18n import localized
from cms.models import SiteSettings
from cms.sending import absolute, base_url
from cms.templatetags.dekiru import end_of, hour_minute, long_date
from courses import ical
from courses.models import OutgoingMessage, Registration, waitlist_rank
from partners.models import Venue

Kind = OutgoingMessage.Kind

SUBJECTS = {
    Kind.CONFIRMED: _("Your booking is confirmed: %(course)s (%(date)s)"),
    Kind.WAITLISTED: _("You are on the waiting list: %(course)s (%(date)s)"),
    Kind.PROMOTED: _("You now have a seat: %(course)s (%(date)s)"),
    Kind.REMINDER: _("Reminder: %(course)s on %(date)s"),
    Kind.CANCELLED_BY_RESIDENT: _("Your booking is cancelled: %(course)s (%(date)s)"),
    Kind.SESSION_CANCELLED: _("Class cancelled: %(course)s (%(date)s)"),
    Kind.SESSION_MOVED: _("Class changed: %(course)s"),
    Kind.AFTER_SESSION: _("Thank you for coming: %(course)s"),
    Kind.RESENT: _("Your booking (sent again): %(course)s (%(date)s)"),
    Kind.FOLLOW_UP: _("A month after the class: %(course)s"),
}

# Inline styles (many mail clients drop <style>): large type, high contrast, one column.
_FONT = "'Hiragino Sans','Hiragino Kaku Gothic ProN','Noto Sans JP',Meiryo,'Segoe UI',sans-serif"
STYLES = {
    "body": "margin:0;padding:0;background-color:#ffffff;",
    "wrap": f"max-width:640px;margin:0 auto;padding:24px 16px;font-family:{_FONT};font-size:20px;line-height:1.7;"
            "color:#1a1a1a;",
    "h1": "margin:0 0 20px;font-size:26px;line-height:1.4;color:#0b3d91;",
    "p": "margin:0 0 18px;font-size:20px;line-height:1.7;",
    "important": "margin:0 0 18px;padding:12px 16px;border-left:6px solid #0b5cad;background-color:#eef4fb;"
                 "font-size:20px;line-height:1.7;",
    "box": "margin:0 0 20px;padding:16px;border:2px solid #0b5cad;border-radius:8px;",
    "label": "margin:0;font-size:18px;font-weight:bold;color:#3d3d3d;",
    "fact": "margin:0 0 14px;font-size:20px;line-height:1.6;",
    "button": "display:inline-block;padding:14px 24px;background-color:#0b5cad;color:#ffffff;font-size:20px;"
              "font-weight:bold;text-decoration:none;border-radius:8px;",
    "link": "color:#0b5cad;font-size:20px;text-decoration:underline;",
    "rule": "margin:28px 0 16px;border:0;border-top:1px solid #999999;",
    "small": "margin:0 0 10px;font-size:18px;line-height:1.6;color:#3d3d3d;",
}

# Messages that carry the personal calendar file, when the person has a seat.
WITH_CALENDAR = {Kind.CONFIRMED, Kind.PROMOTED, Kind.SESSION_MOVED, Kind.RESENT}
# Messages that carry the check-in QR (courses.checkin) as an attached image: what the resident shows at the door.
WITH_CHECKIN_QR = {Kind.CONFIRMED, Kind.PROMOTED, Kind.REMINDER, Kind.SESSION_MOVED, Kind.RESENT}

@dataclass
class Attachment:
    filename: str
    content: bytes
    mimetype: str


@dataclass
class RenderedMessage:
    subject: str
    text: str
    html: str
    attachments: list[Attachment] = field(default_factory=list)


def when(starts_at: datetime, ends_at: datetime) -> str:
    """2027年1月5日（火） 10:00〜11:30 / Tue 5 January 2027, 10:00–11:30, in the active language; an end after
    midnight reads 〜翌0:30 / –0:30 (next day)."""
    return pgettext("session date and time range", "%(date)s, %(start)s–%(end)s") % {
        "date": long_date(starts_at), "start": hour_minute(starts_at), "end": end_of(starts_at, ends_at)}


def _place(venue) -> str:
    if venue is None:
        return str(_("Online"))
    return localized(venue, "name")


def _changes(message: OutgoingMessage, session) -> list[dict]:
    """What changed, as label / before / after rows, from the context the move recorded."""
    changes = message.context.get("changes", {})
    rows = []
    if "starts_at" in changes or "ends_at" in changes:
        before_start = parse_datetime(changes["starts_at"][0]) if "starts_at" in changes else session.starts_at
        before_end = parse_datetime(changes["ends_at"][0]) if "ends_at" in changes else session.ends_at
        if (before_start, before_end) != (session.starts_at, session.ends_at):
            rows.append({"label": _("Date and time"), "before": when(before_start, before_end),
                         "after": when(session.starts_at, session.ends_at)})
    if "venue" in changes and changes["venue"][0] != session.venue_id:
        old_id = changes["venue"][0]
        old_venue = Venue.objects.filter(pk=old_id).first() if old_id else None
        rows.append({"label": _("Place"), "before": _place(old_venue) if old_venue or not old_id else "",
                     "after": _place(session.venue)})
    return rows


_memo: ContextVar[dict | None] = ContextVar("dekiru_email_memo", default=None)


@contextmanager
def shared_lookups() -> Iterator[None]:
    """While a worker drains many messages: look up what every message shows the same (the site's enquiry phone,
    each course's address) once per drain instead of once per message."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def _memoized(key, compute):
    memo = _memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _load_enquiries() -> dict:
    """The enquiry phone number and hours from the site settings, if set."""
    from wagtail.models import Site

    site = Site.objects.filter(is_default_site=True).first()
    if site is None:
        return {}
    site_settings = SiteSettings.for_site(site)
    return {"enquiry_phone": site_settings.phone_number, "enquiry_hours": localized(site_settings, "phone_hours")}


def calendar_file(registration: Registration, *, language: str, with_cancel_link: bool = True) -> Attachment:
    """The personal .ics of one registration: the session with this registration's cancel link, nothing about
    anyone else (as courses.calendar_views.registration_ics serves it)."""
    session = registration.session
    cancel_url = absolute(registration.get_cancel_url()) if with_cancel_link else None
    event = ical.session_event(session, language=language, base_url=base_url(), cancel_url=cancel_url,
                               reference=registration.reference_display,
                               reminder=registration.status == Registration.Status.CONFIRMED)
    content = ical.build_calendar([event], name=localized(session.course, "title", language), language=language)
    return Attachment(filename=f"dekiru-session-{session.pk}.ics", content=content, mimetype="text/calendar")


def context_for(message: OutgoingMessage, *, now: datetime | None = None) -> dict:
    """The template context of a message, in the active language."""
    registration = message.registration
    session = registration.session
    course = session.course
    status = registration.status
    Status = Registration.Status
    has_seat = status == Status.CONFIRMED and not session.is_cancelled
    can_cancel = status in (Status.CONFIRMED, Status.WAITLISTED) and not session.is_cancelled \
        and session.starts_at > (now or timezone.now())
    moved_from = message.context.get("moved_from")
    context = {
        "message": message, "kind": message.kind, "language": translation.get_language(),
        "by_phone": message.channel == OutgoingMessage.Channel.PHONE,
        "name": message.to_name, "to_booker": message.to_booker, "person": registration.participant.name,
        "registration": registration, "session": session, "course": course, "venue": session.venue,
        "reference": registration.reference_display,  # 受付番号, grouped to read aloud: in every message
        "course_title": localized(course, "title"), "when": when(session.starts_at, session.ends_at),
        "what_to_bring": localized(course, "what_to_bring"), "notes": localized(session, "notes"),
        "has_seat": has_seat, "is_waitlisted": status == Status.WAITLISTED,
        "waitlist_rank": waitlist_rank(registration) if status == Status.WAITLISTED else None,
        "cancel_url": absolute(registration.get_cancel_url()) if can_cancel else "",
        "manage_url": absolute(registration.get_manage_url()),
        "course_url": _memoized(("course_url", course.pk, translation.get_language()), lambda: ical.course_url(
            course, base_url=base_url(), language=translation.get_language())),
        "find_url": absolute(reverse("courses:session_list")),
        "reason": message.context.get("reason") or session.cancellation_reason,
        "changes": _changes(message, session) if message.kind == Kind.SESSION_MOVED else [],
        "moved_from": when(parse_datetime(moved_from["starts_at"]), parse_datetime(moved_from["ends_at"]))
        if moved_from else "",
        "with_calendar": message.kind in WITH_CALENDAR and has_seat and message.channel == "email",
        "with_checkin_qr": message.kind in WITH_CHECKIN_QR and has_seat and message.channel == "email",
        # Filled by the outreach app (can-do checks) through the construct_message_context hook.
        "followup_links": [],
        "styles": STYLES,
        **_memoized(("enquiries", translation.get_language()), _load_enquiries),
    }
    for hook in hooks.get_hooks("construct_message_context"):
        hook(message, context)
    return context


def render(message: OutgoingMessage, *, now: datetime | None = None) -> RenderedMessage:
    """Subject, text and HTML of `message` in its language, from the current data of its registration and
    session, with the calendar file where the message carries one."""
    with translation.override(message.language or settings.LANGUAGE_CODE):
        context = context_for(message, now=now)
        session = context["session"]
        subject = SUBJECTS[message.kind] % {"course": context["course_title"], "date": long_date(session.starts_at)}
        subject = " ".join(str(subject).split())
        context["subject"] = subject
        text = render_to_string(f"emails/{message.kind}.txt", context).strip() + "\n"
        html = render_to_string(f"emails/{message.kind}.html", context)
        attachments = []
        if context["with_calendar"]:
            attachments.append(calendar_file(message.registration, language=translation.get_language()))
        if context["with_checkin_qr"]:
            # courses.checkin marks attendance through the services, which queue messages through this module.
            from courses import checkin

            attachments.append(Attachment(filename=f"checkin-{message.registration.reference}.png",
                                          content=checkin.qr_png(message.registration), mimetype="image/png"))
    return RenderedMessage(subject=subject, text=_tidy(text), html=html, attachments=attachments)


def _tidy(text: str) -> str:
    """No runs of blank lines from template tags in the plain text."""
    lines, blank = [], False
    for line in text.splitlines():
        line = line.rstrip()
        if not line:
            if not blank and lines:
                lines.append("")
            blank = True
            continue
        blank = False
        lines.append(line)
    return "\n".join(lines).strip() + "\n"


def build_email(message: OutgoingMessage, rendered: RenderedMessage, *, connection=None) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(subject=rendered.subject, body=rendered.text,
                                   from_email=settings.DEFAULT_FROM_EMAIL, to=[message.to_email],
                                   connection=connection)
    email.attach_alternative(rendered.html, "text/html")
    for attachment in rendered.attachments:
        email.attach(attachment.filename, attachment.content, attachment.mimetype)
    # SendGrid has no idempotency key: the outbox row and the attempt travel with the request (cms.mail puts them
    # in the personalization's custom_args) and come back in SendGrid's events, so a second copy can be traced.
    email.custom_args = custom_args(message)
    return email


def custom_args(message: OutgoingMessage) -> dict[str, str]:
    """What identifies this send at the provider: the outbox row, its logical key and the attempt (no personal
    data: the key names the registration by its number)."""
    return {"dekiru_outbox_id": str(message.pk), "dekiru_key": message.key, "dekiru_attempt": str(message.attempts + 1)}
