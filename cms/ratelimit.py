"""Rate limits on the public endpoints that write (registration, cancel, self-assessment) and on the admin login,
and the page shown when a limit or the admin login lockout (django-axes) stops a request.

Limits are per client address and endpoint, in settings.DEKIRU_RATE_LIMITS (cms.settings.security). A request over
the limit gets HTTP 429 with Retry-After and a translated page, before the view runs: nothing is written.

Counting is django-ratelimit's: fixed windows in Django's default cache, which every app server shares. Only its
counting function is used, so the package is deliberately not in INSTALLED_APPS: its system check accepts nothing
but memcached and django-redis. The database cache (our default) does not increment atomically, so two
simultaneous requests can read the same count and a burst may get a few requests past the limit. That is acceptable
for a guard against floods, which is all this is; REDIS_URL gives atomic counters.

Client addresses
----------------
X-Forwarded-For is believed only from a peer in DEKIRU_TRUSTED_PROXIES (networks): the header is then read from the
right, skipping the trusted proxies' own hops, and the first address that is not a trusted proxy is the client.
From anyone else the header is the client's own claim and is ignored, so rotating it cannot buy a fresh counter.
(DEKIRU_TRUSTED_PROXY_COUNT, which trusted the N-th entry whoever sent it, is no longer used: `manage.py check`
warns while it is set.)

Sign-in limit per account
-------------------------
django-axes locks one account from one address, and the per-address limit stops one address from trying many
accounts; neither stops guesses at one account spread over many addresses. `AccountSignInLimitBackend` does: after
DEKIRU_SIGNIN_ACCOUNT_FAILURES failed sign-ins for one username, from any addresses, each further attempt must wait
1, 2, 4, 8 … seconds after the previous failure, up to DEKIRU_SIGNIN_BACKOFF_MAX_MINUTES. An attempt made during
the wait is refused before the password is checked, even the right one, and is not counted (so hammering does not
lengthen the wait of the real person, nor give the attacker anything). The count is forgotten after a successful
sign-in or DEKIRU_SIGNIN_ACCOUNT_WINDOW_MINUTES without a failure. Unknown usernames are counted and refused exactly
like real ones, with the same message: the answer never tells whether an account exists. When an account reaches
the limit, once per episode, an entry is written to its audit log (unknown usernames have no log to write to; a
warning goes to the application log for both).

The count lives in the default cache, which every app server shares. Each sign-in attempt at one account holds a
short lock (an atomic `cache.add`, an INSERT into the database cache or SET NX in Redis) while it reads the count,
checks the password and writes the count back, so parallel attempts at one account are taken one at a time and none
is lost or slips through at the moment a wait ends. An attempt that cannot get the lock within LOCK_WAIT_SECONDS is
refused like one during a wait.

The backend wraps Django's ModelBackend (the password check itself) and is listed before it; ModelBackend stays in
the list for the permission checks and for sessions it signed in. Every `authenticate()` passes through it: the
Wagtail login and the invitation form's "already accepted" sign-in. Two-factor codes need nothing more: django-otp
throttles each device in the database (the wait doubles after each wrong code), whatever the address.
"""

import hashlib
import ipaddress
import logging
import math
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache, wraps

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.core import checks
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_ratelimit.core import get_usage

from cms.audit import log

logger = logging.getLogger(__name__)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(configured: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for item in configured:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:  # the settings refuse these at start-up; an override in a test may still hold one
            logger.warning("DEKIRU_TRUSTED_PROXIES: %r is not a network; ignored.", item)
    return tuple(networks)


def trusted_proxy_networks() -> tuple[IPNetwork, ...]:
    return _networks(tuple(getattr(settings, "DEKIRU_TRUSTED_PROXIES", ())))


def _address(value: str) -> IPAddress:
    """An address as a proxy writes it: optionally with a port ("192.0.2.1:5678", "[2001:db8::1]:443"); IPv4
    mapped into IPv6 ("::ffff:192.0.2.1") as IPv4. ValueError for anything else."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:value.index("]")] if "]" in value else value
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    address = ipaddress.ip_address(value)
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def from_trusted_proxy(request: HttpRequest) -> bool:
    """The request's peer (REMOTE_ADDR) is one of DEKIRU_TRUSTED_PROXIES: headers it adds may be believed."""
    try:
        peer = _address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return _is_trusted(peer, trusted_proxy_networks())


def client_ip(request: HttpRequest) -> str:
    """The client's address (module docstring): REMOTE_ADDR, unless that is a trusted proxy; then the first address
    in X-Forwarded-For, read from the right, that is not a trusted proxy (each proxy appends the address it received
    the request from). If every entry is a trusted proxy, the leftmost; an entry that is not an address ends the walk
    at the last trusted hop."""
    remote = request.META.get("REMOTE_ADDR", "")
    networks = trusted_proxy_networks()
    try:
        peer = _address(remote)
    except ValueError:
        return remote
    if not networks or not _is_trusted(peer, networks):
        return remote
    client = peer
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        try:
            address = _address(hop)
        except ValueError:
            break
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)


@checks.register(checks.Tags.security)
def check_trusted_proxies(app_configs=None, **kwargs):
    """`manage.py check`: DEKIRU_TRUSTED_PROXY_COUNT is no longer read (module docstring). Registered when this
    module is imported, which cms.two_factor does when the apps are ready."""
    if not getattr(settings, "DEKIRU_TRUSTED_PROXY_COUNT", 0):
        return []
    if trusted_proxy_networks():
        hint = "Remove DEKIRU_TRUSTED_PROXY_COUNT: DEKIRU_TRUSTED_PROXIES alone decides which proxies are believed."
    else:
        hint = ("Set DEKIRU_TRUSTED_PROXIES to the networks of your load balancers and proxies (e.g. 10.0.0.0/8), "
                "then remove DEKIRU_TRUSTED_PROXY_COUNT. Until then every client counts as the proxy's address.")
    return [checks.Warning(
        "DEKIRU_TRUSTED_PROXY_COUNT is set but no longer used: X-Forwarded-For is believed only from the proxies "
        "in DEKIRU_TRUSTED_PROXIES.", hint=hint, id="dekiru.W002")]


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
    account from one address, this stops one address from trying many accounts. It also turns the per-account limit
    (AccountSignInLimitBackend) into the 429 page: before the view when the account is known to be waiting (no
    password check, nothing counted), after it when the backend refused the attempt. (Wagtail's login view cannot be
    decorated where it is defined.)"""

    def __init__(self, get_response: Callable):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path_info == _admin_login_path():
            if (wait := seconds_to_wait(request, "admin_login")) is not None:
                return too_many_requests(request, retry_after=wait, message=_login_message(wait))
            username = request.POST.get("username", "")
            if username and account_limit_enabled() and (wait := account_wait(account_key(username))):
                return account_limited(request, wait)
        response = self.get_response(request)
        if (wait := getattr(request, ACCOUNT_WAIT_ATTRIBUTE, None)) is not None:
            return account_limited(request, wait)
        return response


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


# --- Sign-in limit per account (module docstring) --------------------------------------------------------------

LOG_ACCOUNT_LIMITED = "cms.signin.account_limited"
ACCOUNT_WAIT_ATTRIBUTE = "dekiru_account_wait"  # set on the request when the backend refused an attempt
LOCK_SECONDS = 10  # a lock left by a crashed process is given up after this
LOCK_WAIT_SECONDS = 3  # how long an attempt waits for another attempt at the same account to finish
_LOCK_POLL_SECONDS = 0.05
_STATE_PREFIX = "signin:account:"
_LOCK_PREFIX = "signin:lock:"
_ADDRESSES_KEPT = 50  # distinct client keys remembered per account, for the alert's figure


def account_limit_enabled() -> bool:
    return bool(getattr(settings, "DEKIRU_SIGNIN_ACCOUNT_LIMIT_ENABLED", True))


def _failures_allowed() -> int:
    return max(int(getattr(settings, "DEKIRU_SIGNIN_ACCOUNT_FAILURES", 10)), 1)


def _max_wait() -> int:
    return max(int(float(getattr(settings, "DEKIRU_SIGNIN_BACKOFF_MAX_MINUTES", 15)) * 60), 1)


def _window() -> int:
    """Seconds without a failure after which an account's count is forgotten: at least twice the longest wait, so a
    count is never forgotten while its wait runs."""
    window = int(float(getattr(settings, "DEKIRU_SIGNIN_ACCOUNT_WINDOW_MINUTES", 60)) * 60)
    return max(window, 2 * _max_wait())


def account_key(username: str) -> str:
    """Whose count an attempt is: the username as typed, NFKC-normalised and case-folded (so "Aiko" and "ａｉｋｏ"
    count against "aiko" whatever the database's collation), hashed (no usernames in the cache)."""
    normalised = unicodedata.normalize("NFKC", str(username)).strip().casefold()
    return hashlib.sha256(normalised.encode()).hexdigest()[:40]


def backoff_seconds(failures: int) -> int:
    """The wait after the `failures`-th failure in a row: none below the limit, then 1, 2, 4 … seconds, capped."""
    allowed = _failures_allowed()
    if failures < allowed:
        return 0
    return min(2 ** min(failures - allowed, 30), _max_wait())


def _state(key: str) -> dict:
    return cache.get(_STATE_PREFIX + key) or {}


def account_wait(key: str) -> int:
    """Seconds until the account may be tried again (0: now). Reads the shared cache; takes no lock."""
    state = _state(key)
    wait = backoff_seconds(state.get("failures", 0))
    if not wait:
        return 0
    left = state.get("last", 0) + wait - time.time()
    return math.ceil(left) if left > 0 else 0


@contextmanager
def _account_turn(key: str) -> Iterator[bool]:
    """Hold the account's lock (module docstring); yields False when another attempt held it too long."""
    lock = _LOCK_PREFIX + key
    for _attempt in range(int(LOCK_WAIT_SECONDS / _LOCK_POLL_SECONDS)):
        if cache.add(lock, 1, LOCK_SECONDS):
            break
        time.sleep(_LOCK_POLL_SECONDS)
    else:
        yield False
        return
    try:
        yield True
    finally:
        cache.delete(lock)


def _client(request: HttpRequest | None) -> str:
    return client_key("signin", request) if request is not None else ""


def _record_failure(key: str, username: str, request: HttpRequest | None) -> None:
    state = _state(key)
    failures = state.get("failures", 0) + 1
    addresses = list(state.get("addresses", []))
    client = _client(request)
    if client and client not in addresses and len(addresses) < _ADDRESSES_KEPT:
        addresses.append(client)
    alerted = state.get("alerted", False)
    if failures >= _failures_allowed() and not alerted:
        alerted = True
        _alert(username, failures=failures, addresses=len(addresses))
    cache.set(_STATE_PREFIX + key, {"failures": failures, "last": time.time(), "addresses": addresses,
                                    "alerted": alerted}, _window())


def _alert(username: str, *, failures: int, addresses: int) -> None:
    """The account reached the limit: an entry in its audit log (once per episode; none for an unknown username,
    which has no log), and a warning in the application log without the username."""
    user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
    logger.warning("Sign-in limit reached for %s after %d failed attempts from %d addresses.",
                   f"user {user.pk}" if user else "an unknown username", failures, addresses)
    if user is not None:
        log(user, LOG_ACCOUNT_LIMITED, data={"failures": failures, "addresses": addresses,
                                             "wait_seconds": backoff_seconds(failures)})


def reset_account(username: str) -> None:
    """Forget an account's failures (after a successful sign-in; an administrator may call it too)."""
    cache.delete(_STATE_PREFIX + account_key(username))


def _refuse(request: HttpRequest | None, wait: int):
    if request is not None:
        setattr(request, ACCOUNT_WAIT_ATTRIBUTE, max(wait, 1))
    raise PermissionDenied("sign-in paused for this account")


class AccountSignInLimitBackend(BaseBackend):
    """Django's ModelBackend password check under the per-account limit (module docstring). Listed before
    ModelBackend; a wrong password raises PermissionDenied, which Django reports as a failed sign-in
    (user_login_failed, counted by django-axes too) without asking the backends after it again."""

    _model_backend = ModelBackend()

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None or not account_limit_enabled():
            return None  # nothing to check here: the backends after this one decide
        key = account_key(username)
        with _account_turn(key) as turn:
            if not turn:
                _refuse(request, LOCK_WAIT_SECONDS)
            if wait := account_wait(key):
                _refuse(request, wait)
            user = self._model_backend.authenticate(request, username=username, password=password, **kwargs)
            if user is None:
                _record_failure(key, username, request)
                raise PermissionDenied("wrong username or password")
            cache.delete(_STATE_PREFIX + key)
            return user

    def get_user(self, user_id):
        return self._model_backend.get_user(user_id)


def account_limited(request: HttpRequest, wait: int) -> HttpResponse:
    """The 429 page of the per-account limit: the same words for every username, known or not."""
    if wait < 60:
        message = ngettext(
            "Signing in to this account is paused after many failed attempts. Please wait %(count)d second and "
            "try again.",
            "Signing in to this account is paused after many failed attempts. Please wait %(count)d seconds and "
            "try again.", wait) % {"count": wait}
    else:
        minutes = _minutes(wait)
        message = ngettext(
            "Signing in to this account is paused after many failed attempts. Please wait %(count)d minute and "
            "try again.",
            "Signing in to this account is paused after many failed attempts. Please wait %(count)d minutes and "
            "try again.", minutes) % {"count": minutes}
    return too_many_requests(request, retry_after=wait, message=message)
