"""schema.org Event JSON-LD for a course page's sessions (outreach.jsonld builds it).

    {% load outreach_jsonld %}
    {% block extra_head %}{% course_events_jsonld page sessions %}{% endblock %}
"""

import logging

from django import template
from django.urls import reverse
from django.utils.translation import get_language

from cms.models import MunicipalitySettings
from outreach import jsonld

register = template.Library()
logger = logging.getLogger(__name__)

# Search engines ask for a large image in 16:9, 4:3 or 1:1.
IMAGE_FILTER = "fill-1200x675"


def course_image_url(course, request) -> str:
    """The absolute address of the first image in the course description shown, or "" (the site has no default
    image to fall back on)."""
    body = course.body_en if (get_language() or "ja").startswith("en") and course.body_en else course.body
    for block in body:
        if block.block_type == "image" and block.value is not None:
            try:
                rendition = block.value.get_rendition(IMAGE_FILTER)
            except Exception:  # a missing or unreadable file must not break the page
                logger.warning("No rendition for image %s of course %s", block.value.pk, course.pk, exc_info=True)
                return ""
            return request.build_absolute_uri(rendition.url)
    return ""


@register.simple_tag(takes_context=True)
def course_events_jsonld(context, course, sessions):
    """One Event per session in `sessions` (the course page's upcoming sessions, cancelled ones included)."""
    request = context.get("request")
    if request is None or not sessions:
        return ""
    municipality = jsonld.Municipality.of(MunicipalitySettings.load(request_or_site=request))
    page_url = request.build_absolute_uri(course.get_url(request=request))
    image_url = course_image_url(course, request)
    events = [
        jsonld.session_event(
            session, course=course, page_url=page_url, municipality=municipality, image_url=image_url,
            register_url=request.build_absolute_uri(reverse("courses:register", args=[session.pk])))
        for session in sessions
    ]
    return jsonld.script(events)
