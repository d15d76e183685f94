"""「LINEで受け取る」 in templates: the confirmation page, the confirmation e-mail and the printed slip
(courses.line_linking.offer_for). Nothing when LINE is not offered, so those pages cost no query more then."""

from django import template

from courses import line_linking

register = template.Library()


@register.simple_tag
def line_offer(registration):
    """The booking's LINE offer (a LineOffer, or None): `{% line_offer registration as offer %}`."""
    if registration is None:
        return None
    return line_linking.offer_for(registration)
