"""Rate limits on the public endpoints that write (registration, cancel, self-assessment) and on the admin login,
and the page shown when a limit or the admin login lockout (django-axes) stops a request.

Limits are per client address and endpoint, in settings.DEKIRU_RATE_LIMITS (cms.settings.security). A request over
the limit gets HTTP 429 with Retry-After and a translated page, before the view runs: nothing is written.

Counting is django-ratelimit's: fixed windows in Django's default cache, which every app server shares. Only its
counting function is used, so the package is deliberately not in INSTALLED_APPS: its system check accepts nothing
but memcached and django-redis. The database cache (our default) does not increment atomically, so two
simultaneous requests can read the same count and a burst may get a few requests past the limit. That is acceptable
for a guard against floods, which is all this is; REDIS_URL gives atomic counters.
"""

import ipaddress
import math
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_ratelimit.core import get_usage


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the address the outermost of DEKIRU_TRUSTED_PROXY_COUNT trusted
    proxies saw (each appends the address it received the request from to X-Forwarded-For)."""
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.DEKIRU_TRUSTED_PROXY_COUNT
    if count > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(forwarded) >= count:
            try:
                return str(ipaddress.ip_address(forwarded[-count]))
            except ValueError:
                pass
    return remote


def client_key(group: str, request: HttpRequest) -> str:
    """What one client is: its address, or its /64 network for IPv6 (one household or phone gets a whole /64)."""
    address = client_ip(request)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _rate(group: str, request: HttpRequest) -> str | None:
    return settings.DEKIRU_RATE_LIMITS.get(group)


def seconds_to_wait(request: HttpRequest, group: str) -> int | None:
    """Count this request against `group`'s limit: None if it may go on, else the seconds until the window ends."""
    usage = get_usage(request, group=group, key=client_key, rate=_rate, increment=True)
    if usage is None or not usage["should_limit"]:
        return None
    return max(usage["time_left"], 1)


def too_many_requests(request: HttpRequest, *, retry_after: int | None, message: str) -> HttpResponse:
    """The 429 page: what happened and when to try again, in the visitor's language."""
    response = render(request, "429.html", {"message": message}, status=429)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    add_never_cache_headers(response)
    return response


def _minutes(seconds: int) -> int:
    return max(math.ceil(seconds / 60), 1)


def _form_message(seconds: int) -> str:
    minutes = _minutes(seconds)
    return ngettext(
        "This form was sent too many times in a short while, so it was not saved. "
        "Please wait %(minutes)d minute and try again.",
        "This form was sent too many times in a short while, so it was not saved. "
        "Please wait %(minutes)d minutes and try again.",
        minutes) % {"minutes": minutes}


def _login_message(seconds: int) -> str:
    minutes = _minutes(seconds)
    return ngettext(
        "Too many sign-in attempts from your network. Please wait %(minutes)d minute and try again.",
        "Too many sign-in attempts from your network. Please wait %(minutes)d minutes and try again.",
        minutes) % {"minutes": minutes}


def ratelimit_post(group: str) -> Callable:
    """Limit the POST requests of a view per client address (settings.DEKIRU_RATE_LIMITS[group])."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method == "POST" and (wait := seconds_to_wait(request, group)) is not None:
                return too_many_requests(request, retry_after=wait, message=_form_message(wait))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _admin_login_path() -> str | None:
    try:
        return reverse("wagtailadmin_login")
    except NoReverseMatch:  # a URLconf without the admin
        return None


class AdminLoginRateLimitMiddleware:
    """Limit sign-in attempts to the Wagtail admin per client address, whatever the account: django-axes locks one
    account from one address, this stops one address from trying many accounts. (Wagtail's login view cannot be
    decorated where it is defined.)"""

    def __init__(self, get_response: Callable):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (request.method == "POST" and request.path_info == _admin_login_path()
                and (wait := seconds_to_wait(request, "admin_login")) is not None):
            return too_many_requests(request, retry_after=wait, message=_login_message(wait))
        return self.get_response(request)


def login_locked_out(request: HttpRequest, original_response: HttpResponse | None,
                     credentials: dict | None) -> HttpResponse:
    """django-axes' lockout response (AXES_LOCKOUT_CALLABLE): too many failed sign-ins for one account from one
    address."""
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    if cool_off is None:
        return too_many_requests(request, retry_after=None, message=_(
            "Signing in to this account is blocked after too many failed attempts. "
            "Please ask the city's administrator to unblock it."))
    seconds = max(int(cool_off.total_seconds()), 1)
    minutes = _minutes(seconds)
    message = ngettext(
        "Too many failed sign-in attempts for this account. For its safety, signing in is paused for "
        "%(minutes)d minute. Please try again later.",
        "Too many failed sign-in attempts for this account. For its safety, signing in is paused for "
        "%(minutes)d minutes. Please try again later.",
        minutes) % {"minutes": minutes}
    return too_many_requests(request, retry_after=seconds, message=message)
