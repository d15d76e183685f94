"""Short personal links for SMS: /s/<registration id>-<key>/ redirects to the registration's own page.

The personal page's address (courses:registration) carries a signed token of about 90 characters; with it a
Japanese SMS (UCS-2, 67 characters per part) would take three or four segments. The short link carries the same
secret (Registration.token_key, 16 random bytes) and nothing more, and is checked the same way (constant-time), so it
opens exactly what the long link opens. Route name "sms_link" (root URLconf); courses.sms_texts falls back to the
long link when the route is not installed.
"""

from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch, path, reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache

from courses.models import Registration

ROUTE_NAME = "sms_link"


def short_path(registration: Registration) -> str | None:
    """The short link's path, or None when the route is not installed."""
    try:
        return reverse(ROUTE_NAME, args=[f"{registration.pk}-{registration.token_key}"])
    except NoReverseMatch:
        return None


@never_cache
def open_short_link(request, code: str):
    pk, _sep, key = code.partition("-")
    if not pk.isdigit() or not key:
        raise Http404("Invalid link")
    registration = get_object_or_404(Registration.objects.only("pk", "token_key"), pk=int(pk))
    if not constant_time_compare(key, registration.token_key):
        raise Http404("Invalid link")
    return redirect(registration.get_manage_url())


urlpatterns = [path("s/<str:code>/", open_short_link, name=ROUTE_NAME)]
