"""The LINE messages residents receive: one short text per message kind, in the resident's language — what happened,
the class, when and where, the booking reference, and a link to the personal page for everything else (the e-mail's
full text is on that page).

LINE has no segments to pay for (the monthly quota counts one message per push to one person, whatever its length),
so a text may run to a few lines, but it is read on a phone by residents aged 65+: a headline, the facts, one link.
Each message is sent as ONE text message object (units = 1). Pure: takes an OutgoingMessage with its registration and
session loaded, returns the texts to push.
"""

from datetime import datetime

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext, pgettext_lazy

from cms.i18n import localized
from cms.sending import absolute
from courses import emails, short_links
from courses.models import OutgoingMessage, waitlist_rank

Kind = OutgoingMessage.Kind

# The first line of each kind (after "[Dekiru]"). %(rank)s: the place on the waiting list.
HEADLINES = {
    Kind.CONFIRMED: pgettext_lazy("LINE", "Your booking is confirmed."),
    Kind.WAITLISTED: pgettext_lazy("LINE", "You are number %(rank)s on the waiting list. We will tell you if a "
                                           "seat becomes free."),
    Kind.PROMOTED: pgettext_lazy("LINE", "A seat has become free: your booking is confirmed."),
    Kind.REMINDER: pgettext_lazy("LINE", "A reminder of your class."),
    Kind.CANCELLED_BY_RESIDENT: pgettext_lazy("LINE", "Your booking has been cancelled."),
    Kind.SESSION_CANCELLED: pgettext_lazy("LINE", "We are sorry: this class has been cancelled."),
    Kind.SESSION_MOVED: pgettext_lazy("LINE", "Your class has changed. Here are the new details."),
    Kind.AFTER_SESSION: pgettext_lazy("LINE", "Thank you for coming to the class."),
    Kind.RESENT: pgettext_lazy("LINE", "Here are the details of your booking."),
    Kind.FOLLOW_UP: pgettext_lazy("LINE", "It has been a month since your class. How are you getting on?"),
}

# The kinds whose personal page still lets the resident cancel.
CANCELLABLE = frozenset({Kind.CONFIRMED, Kind.WAITLISTED, Kind.PROMOTED, Kind.REMINDER, Kind.RESENT,
                         Kind.SESSION_MOVED})


def personal_link(message: OutgoingMessage) -> str:
    """The absolute link a LINE (or SMS) message carries: the short personal link (courses.short_links) or the
    personal page; for the thanks after a class, the list of classes; for the follow-up, the link its context
    carries."""
    registration = message.registration
    if message.kind == Kind.FOLLOW_UP and (message.context or {}).get("follow_up_url"):
        return absolute(message.context["follow_up_url"])
    if message.kind == Kind.AFTER_SESSION:
        return absolute(reverse("courses:session_list"))
    return absolute(short_links.short_path(registration) or registration.get_manage_url())


def _line(label, value) -> str:
    return pgettext("LINE", "%(label)s: %(value)s") % {"label": label, "value": value}


def render_line(message: OutgoingMessage, *, now: datetime | None = None) -> list[str]:
    """The texts of `message` in its language: one text message object."""
    registration = message.registration
    session = registration.session
    with translation.override(message.language or settings.LANGUAGE_CODE):
        headline = str(HEADLINES[message.kind])
        if "%(rank)s" in headline:
            headline = headline % {"rank": waitlist_rank(registration) or "-"}
        lines = [pgettext("LINE", "[Dekiru] %(headline)s") % {"headline": headline}, "",
                 localized(session.course, "title")]
        if message.kind not in (Kind.AFTER_SESSION, Kind.FOLLOW_UP):
            lines.append(_line(_("Date and time"), emails.when(session.starts_at, session.ends_at)))
            place = localized(session.venue, "name") if session.venue is not None else _("Online")
            lines.append(_line(_("Place"), place))
            reason = (message.context or {}).get("reason", "") if message.kind == Kind.SESSION_CANCELLED else ""
            if reason:
                lines.append(_line(pgettext("LINE", "Reason"), " ".join(str(reason).split())[:200]))
            if registration.reference_display:
                lines.append(_("Booking reference: %(reference)s") % {"reference": registration.reference_display})
        url = personal_link(message)
        if message.kind == Kind.AFTER_SESSION:
            lines.append(pgettext("LINE", "Other classes: %(url)s") % {"url": url})
        elif message.kind == Kind.FOLLOW_UP:
            lines.append(pgettext("LINE", "Tell us here: %(url)s") % {"url": url})
        elif message.kind in CANCELLABLE:
            lines.append(pgettext("LINE", "Details and cancelling: %(url)s") % {"url": url})
        else:
            lines.append(_("Details: %(url)s") % {"url": url})
    return ["\n".join(lines)]
