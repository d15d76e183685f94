"""The SMS residents receive: one short line per message kind, in the resident's language, with the booking
reference and a link to the personal page for the details (the e-mail's full text is on that page).

SMS is paid per segment. Japanese text is sent as UCS-2: 70 characters in a single segment, 67 per part when
concatenated (GSM-7 text: 160 / 153, the extension characters counting twice). Every text is kept to at most
MAX_SEGMENTS: when a long course title would push it over, the title is shortened with "…" (the link carries the
rest). Pure: takes an OutgoingMessage with its registration and session loaded, returns text.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.urls import reverse
from django.utils import dateformat, timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from cms.i18n import localized
from cms.sending import absolute
from courses import short_links
from courses.models import OutgoingMessage, waitlist_rank

Kind = OutgoingMessage.Kind
MAX_SEGMENTS = 2

# %(title)s the course, %(when)s its short date and time, %(ref)s the booking reference, %(url)s the personal page.
TEXTS = {
    Kind.CONFIRMED: _("[Dekiru] Booked: %(title)s %(when)s. Ref %(ref)s. Details/cancel: %(url)s"),
    Kind.WAITLISTED: _("[Dekiru] Waiting list no. %(rank)s: %(title)s %(when)s. Ref %(ref)s. Details: %(url)s"),
    Kind.PROMOTED: _("[Dekiru] A seat is now yours: %(title)s %(when)s. Ref %(ref)s. Details: %(url)s"),
    Kind.REMINDER: _("[Dekiru] Reminder: %(title)s %(when)s. Ref %(ref)s. Details: %(url)s"),
    Kind.CANCELLED_BY_RESIDENT: _("[Dekiru] Cancelled: %(title)s %(when)s. Ref %(ref)s. %(url)s"),
    Kind.SESSION_CANCELLED: _("[Dekiru] Class cancelled: %(title)s %(when)s. Ref %(ref)s. Details: %(url)s"),
    Kind.SESSION_MOVED: _("[Dekiru] Class changed: %(title)s, now %(when)s. Ref %(ref)s. Details: %(url)s"),
    Kind.AFTER_SESSION: _("[Dekiru] Thank you for coming to %(title)s. More classes: %(url)s"),
    Kind.RESENT: _("[Dekiru] Your booking: %(title)s %(when)s. Ref %(ref)s. Details: %(url)s"),
    # The link is the follow-up form's (message.context["follow_up_url"], set by the outreach app).
    Kind.FOLLOW_UP: _("[Dekiru] A month after %(title)s: have you tried it on your own? Ref %(ref)s. %(url)s"),
}

# GSM 03.38: the basic set (one septet) and the extension table (two septets: escape + character).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int


def segments(text: str) -> Segments:
    """How many SMS segments `text` takes, as carriers count them."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text):
        units = sum(2 if ch in GSM_EXTENDED else 1 for ch in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    count = 1 if units <= single else -(-units // part)
    return Segments(encoding=encoding, units=units, count=count)


def short_when(starts_at: datetime) -> str:
    """1月5日(火)10:00 / Tue 5 Jan, 10:00: short enough for an SMS."""
    local = timezone.localtime(starts_at)
    return pgettext("SMS date", "%(weekday)s %(day)s %(month)s, %(time)s") % {
        "weekday": dateformat.format(local, "D"), "day": local.day, "month": dateformat.format(local, "M"),
        "time": local.strftime("%H:%M")}


def render_sms(message: OutgoingMessage, *, now: datetime | None = None) -> str:
    """The SMS text of `message` in its language, at most MAX_SEGMENTS long."""
    registration = message.registration
    session = registration.session
    with translation.override(message.language or settings.LANGUAGE_CODE):
        if message.kind == Kind.AFTER_SESSION:
            url = absolute(reverse("courses:session_list"))
        elif message.kind == Kind.FOLLOW_UP and message.context.get("follow_up_url"):
            url = message.context["follow_up_url"]
        else:
            url = absolute(short_links.short_path(registration) or registration.get_manage_url())
        params = {"when": short_when(session.starts_at), "ref": registration.reference_display, "url": url,
                  "rank": waitlist_rank(registration) or "-"}
        title = localized(session.course, "title")
        template = str(TEXTS[message.kind])
        text = template % {**params, "title": title}
        keep = len(title)
        while segments(text).count > MAX_SEGMENTS and keep > 4:
            keep -= 1
            text = template % {**params, "title": title[:keep] + "…"}
    return " ".join(text.split())
