"""The check-in QR in templates: `{% load checkin_tags %}<img src="{% checkin_qr registration %}" …>` on the
resident's page and the booking slip, without the views having to pass it (courses.checkin)."""

from django import template

from courses import checkin

register = template.Library()


@register.simple_tag
def checkin_qr(registration) -> str:
    """The booking's check-in QR as an SVG data: URI."""
    return checkin.qr_svg_data_uri(registration)


@register.filter
def shows_checkin_qr(registration) -> bool:
    """Whether a booking has a QR to show: a booking that may still come to its session (confirmed, or on the
    waiting list, whose code starts working when they are given a seat), of a session that is not cancelled."""
    return (registration.status in (registration.Status.CONFIRMED, registration.Status.WAITLISTED)
            and not registration.session.is_cancelled)
