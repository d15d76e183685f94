"""Requests no view should see, and staff sessions that have run out."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import SuspiciousOperation
from django.dispatch import receiver
from django.urls import reverse
from django.utils.translation import ngettext


class NulCharacterInRequest(SuspiciousOperation):
    """A NUL character in the path or the query string: no address of the site holds one, and PostgreSQL refuses
    it in any query (a 500 deep in a view). Django answers a SuspiciousOperation with its 400 page."""


def reject_nul_characters(get_response):
    """Refuse, with 400, a request whose path or query string holds a NUL (%00), before any view or page route
    passes it to the database. Form fields refuse NULs themselves (Django's ProhibitNullCharactersValidator)."""

    def middleware(request):
        if "\x00" in request.path or any("\x00" in key or any("\x00" in value for value in values)
                                          for key, values in request.GET.lists()):
            raise NulCharacterInRequest("NUL character in the request's address")
        return get_response(request)

    return middleware


# --- Staff sessions ----------------------------------------------------------------------------------------------

SESSION_TIMES_KEY = "dekiru_session_times"  # {"since": sign-in time, "seen": last request}, seconds since the epoch
SEEN_RESOLUTION = 60  # seconds: "seen" is rewritten at most this often, not on every request (a session write each)
ADMIN_PREFIX = "/admin/"


def idle_seconds() -> float:
    return float(getattr(settings, "DEKIRU_ADMIN_IDLE_MINUTES", 30)) * 60


def lifetime_seconds() -> float:
    return float(getattr(settings, "DEKIRU_ADMIN_SESSION_HOURS", 12)) * 3600


@receiver(user_logged_in, dispatch_uid="dekiru_session_times")
def _start_session_clock(sender, request, user, **kwargs):
    """Both clocks start at sign-in (a sign-in again in the same session starts them again)."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SESSION_TIMES_KEY] = {"since": now, "seen": now}


def _expiry_message(reason: str) -> str:
    if reason == "idle":
        minutes = max(round(idle_seconds() / 60), 1)
        return ngettext(
            "You were signed out because nothing was done for %(count)d minute. Please sign in again.",
            "You were signed out because nothing was done for %(count)d minutes. Please sign in again.",
            minutes) % {"count": minutes}
    hours = max(round(lifetime_seconds() / 3600), 1)
    return ngettext(
        "You were signed out because %(count)d hour has passed since you signed in. Please sign in again.",
        "You were signed out because %(count)d hours have passed since you signed in. Please sign in again.",
        hours) % {"count": hours}


class AdminSessionTimeoutMiddleware:
    """Sign staff out after DEKIRU_ADMIN_IDLE_MINUTES without a request, and DEKIRU_ADMIN_SESSION_HOURS after
    signing in whatever they do. In the admin the person is sent to the login page with a note saying why (and
    back to the page afterwards); elsewhere the request simply goes on signed out.

    Residents have no accounts, and a request without a session cookie is passed on untouched: the session is not
    read, so public pages gain no `Vary: Cookie` and no query. A session from before this middleware (no times yet)
    starts its clocks at its next request. A password change ends the person's other sessions through Django's
    session auth hash (Wagtail's own password change keeps the session that made it); a deactivated user is no
    longer loaded by ModelBackend, and their sessions are then emptied here at their next request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.SESSION_COOKIE_NAME not in request.COOKIES or not hasattr(request, "session"):
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is None:
            return self.get_response(request)
        if not user.is_authenticated:
            if AUTH_SESSION_KEY in request.session:
                # Signed in as someone who can no longer be loaded (deactivated, deleted): end it for good, so that
                # reactivating the account does not bring old sessions back.
                request.session.flush()
            return self.get_response(request)
        reason = self.expired(request)
        if reason is None:
            return self.get_response(request)
        logout(request)
        if not request.path.startswith(ADMIN_PREFIX):
            return self.get_response(request)
        messages.warning(request, _expiry_message(reason))
        login_url = reverse("wagtailadmin_login")
        next_url = request.get_full_path() if request.method == "GET" else ADMIN_PREFIX
        return redirect_to_login(next_url, login_url=login_url)

    @staticmethod
    def expired(request) -> str | None:
        """"idle", "lifetime" or None; keeps the session's times up to date."""
        now = time.time()
        times = request.session.get(SESSION_TIMES_KEY)
        if not isinstance(times, dict) or "since" not in times or "seen" not in times:
            request.session[SESSION_TIMES_KEY] = {"since": now, "seen": now}
            return None
        if now - times["since"] >= lifetime_seconds():
            return "lifetime"
        if now - times["seen"] >= idle_seconds():
            return "idle"
        if now - times["seen"] >= SEEN_RESOLUTION:
            request.session[SESSION_TIMES_KEY] = {**times, "seen": now}
        return None
