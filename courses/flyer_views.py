"""Flyers as PDFs (courses.flyers says what is on one): public addresses, like the class listing they print.

/classes/<course page id>/flyer.pdf — one course; /flyers/<ward code>/<YYYY-MM>.pdf — a ward and a month (listed at
/flyers/). An unknown
course, ward or month is the site's 404 page in the visitor's language. The flyer itself is always Japanese with an
English line, whatever the address's language: it is pinned up in a ward office, not read on a screen.

Anyone may ask for a flyer, and WeasyPrint takes about a second of CPU to make one, so a PDF is kept in the cache
under the hash of its HTML: the same dates and seat counts are rendered once, and a browser that has that version
gets 304 Not Modified. A changed seat count is a new HTML, hence a new PDF. Shared caches may keep a flyer for five
minutes, as they keep the public calendar feeds.
"""

import hashlib

from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils import timezone, translation
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_safe

from cms import pdf
from cms.models import SiteSettings
from courses import flyers
from courses.models import CoursePage
from partners.models import Ward

CACHE_SECONDS = 24 * 60 * 60  # a PDF under its content hash never goes stale; this only frees the space
MAX_AGE = 300


def _course(page_id: int) -> CoursePage:
    if page_id >= 2**31:  # no such page; Django does not range-check a primary key in a lookup
        raise Http404
    return get_object_or_404(CoursePage.objects.live().public(), pk=page_id)


def _pdf_response(request, flyer: flyers.Flyer, filename: str) -> HttpResponse:
    site_settings = SiteSettings.for_request(request)
    html = render_to_string("courses/flyer.html", {
        "flyer": flyer, "phone": site_settings.phone_number, "phone_hours": site_settings.phone_hours,
        "strips": range(flyers.STRIPS)})
    digest = hashlib.sha256(html.encode()).hexdigest()
    etag = f'"{digest[:32]}"'
    response = get_conditional_response(request, etag=etag)
    if response is None:
        key = f"flyer-pdf:{digest}"
        content = cache.get(key)
        if content is None:
            content = pdf.render(html)
            cache.set(key, content, CACHE_SECONDS)
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return response


@require_safe
def course_flyer(request, page_id: int):
    course = _course(page_id)
    with translation.override("ja"):  # a Japanese poster; its English line is written in English in the template
        flyer = flyers.course_flyer(course, request=request)
        return _pdf_response(request, flyer, f"flyer-course-{course.pk}.pdf")


@require_safe
def ward_flyer(request, code: str, month: str):
    ward = get_object_or_404(Ward, code=code)
    first = flyers.parse_month(month)
    if first is None:
        raise Http404
    with translation.override("ja"):
        flyer = flyers.ward_flyer(ward, first)
        return _pdf_response(request, flyer, f"flyer-{ward.code}-{first:%Y-%m}.pdf")


def _months_from(today, count: int) -> list:
    months, year, month = [], today.year, today.month
    for _ in range(count):
        months.append(today.replace(year=year, month=month, day=1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


@require_safe
def flyer_index(request):
    """/flyers/: each ward's flyer for this month and the next two, for ward-office and partner staff to print
    (a course's own flyer is linked from its page)."""
    return TemplateResponse(request, "courses/flyer_index.html", {
        "wards": Ward.objects.all(), "months": _months_from(timezone.localdate(), 3)})


@require_safe
def course_short(request, page_id: int):
    """/classes/<id>/: the short address printed on a flyer's tear-off strips, typed by hand; the course page."""
    return redirect(_course(page_id).get_url(request))
