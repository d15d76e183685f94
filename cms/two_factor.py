"""Two-factor sign-in to the admin (django-otp): an authenticator app (TOTP) plus single-use backup codes.

Who must use it
---------------
- The roles in settings.DEKIRU_2FA_REQUIRED_ROLES (default: the city administrator, whose account can create
  accounts, grant roles and export or erase anyone's personal data) and, with DEKIRU_2FA_REQUIRE_SUPERUSERS,
  superusers: they cannot open any admin page until they have set up an authenticator app.
- Everyone else with admin access may turn it on from their account page; once on, it is asked for at every
  sign-in like for the required roles.

How a sign-in goes
------------------
Password (Wagtail's login form, with django-axes' lockout and the per-address rate limit) → this module's
`TwoFactorMiddleware` sends an unverified session to /admin/two-factor/verify/ (a code from the app or a backup
code) or, for a required role without a device, to /admin/two-factor/setup/. Only the sign-in, sign-out and these
pages (and static files) are reachable in between. The middleware guards /admin/ and /documents/; the public site
and the token-addressed pages (calendar feeds, self-assessment links) need no sign-in.

What the middleware costs
-------------------------
`TwoFactorMiddleware` is django-otp's OTPMiddleware (which loads the verifying device from the session: one query
per request, for verified sessions only) plus the policy. The policy (required? has a device?) is worked out in
one query when someone signs in (`user_logged_in`) and kept in the session with its time; it is worked out again
when older than POLICY_TTL, so a role given or a device removed mid-session applies within minutes without a query
on every admin page.

Wrong codes are throttled per device by django-otp (the wait doubles after each failure: 1 s, 2 s, 4 s, …); the
verify page also has the per-address rate limit of the admin login. A token is accepted once (TOTP refuses a code
already used; a backup code is deleted when used). Changes are in the audit log of the user account.

Lost phone: the person uses a backup code, then sets up the app again; without one, a city administrator resets
their two-factor from the access review (`reset`), and they set it up again at their next sign-in.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from urllib.parse import quote

import django_otp
import segno
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models import BooleanField, Case, Exists, OuterRef, Value, When
from django.dispatch import receiver
from django.http import HttpRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_otp.middleware import OTPMiddleware
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key

from cms.audit import log
from cms.ratelimit import LOG_ACCOUNT_LIMITED
from cms.roles import CITY_ADMINISTRATOR

SESSION_KEY = "dekiru_2fa"
PENDING_KEY = "dekiru_2fa_pending_key"  # the key of an authenticator being set up
POLICY_TTL = 300  # seconds: how long the policy kept in the session is trusted
BACKUP_CODE_COUNT = 10
TOTP_NAME = "authenticator"
BACKUP_NAME = "backup"
# Paths the middleware guards; everything else (public site, feeds, health probes) is not the admin.
GUARDED_PREFIXES = ("/admin/", "/documents/")
# Reachable before the second factor: sign in and out, the two-factor pages, and what those pages load (the admin's
# translations catalogue and icon sprite: redirected, the sprite's script would paste the page into the page).
OPEN_URL_NAMES = ("wagtailadmin_login", "wagtailadmin_logout", "two_factor_verify", "two_factor_setup",
                  "wagtailadmin_javascript_catalog", "wagtailadmin_sprite")

LOG_SET_UP = "cms.two_factor.set_up"
LOG_TURNED_OFF = "cms.two_factor.turned_off"
LOG_RESET = "cms.two_factor.reset"
LOG_BACKUP_CODES = "cms.two_factor.backup_codes"
LOG_ACTIONS = {
    LOG_SET_UP: gettext_noop("Two-factor authentication set up"),
    LOG_TURNED_OFF: gettext_noop("Two-factor authentication turned off"),
    LOG_RESET: gettext_noop("Two-factor authentication reset by an administrator"),
    LOG_BACKUP_CODES: gettext_noop("New two-factor backup codes made"),
    # The per-account sign-in limit (cms.ratelimit) is sign-in security too: its alert is listed with these.
    LOG_ACCOUNT_LIMITED: gettext_noop("Sign-in paused after many failed attempts"),
}


class TwoFactorError(Exception):
    """A refused change; `message` is translated and safe to show."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def _real(user):
    """The user object behind request.user's lazy wrappers (Wagtail's audit log looks up the model by type)."""
    while isinstance(user, SimpleLazyObject):
        if user._wrapped is empty:
            user._setup()
        user = user._wrapped
    return user


# --- Policy ----------------------------------------------------------------------------------------------------

def required_roles() -> tuple[str, ...]:
    return tuple(getattr(settings, "DEKIRU_2FA_REQUIRED_ROLES", ()))


def superusers_required() -> bool:
    return bool(getattr(settings, "DEKIRU_2FA_REQUIRE_SUPERUSERS", False))


def _confirmed_device_exists():
    return (Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
            | Exists(StaticDevice.objects.filter(user=OuterRef("pk"), confirmed=True, token_set__isnull=False)))


def annotate_two_factor(users):
    """Annotate a user queryset with `two_factor_required` and `has_two_factor` (subqueries, no extra query)."""
    from django.contrib.auth.models import Group

    required = Exists(Group.objects.filter(user=OuterRef("pk"), name__in=required_roles()))
    if superusers_required():
        required = Case(When(is_superuser=True, then=Value(True)), default=required, output_field=BooleanField())
    return users.annotate(two_factor_required=required, has_two_factor=_confirmed_device_exists())


@dataclass(frozen=True)
class Status:
    required: bool
    has_device: bool


def status(user) -> Status:
    """Is two-factor required of this user, and have they set it up? One query."""
    row = annotate_two_factor(get_user_model().objects.filter(pk=user.pk)).values(
        "two_factor_required", "has_two_factor").first()
    if row is None:
        return Status(required=False, has_device=False)
    return Status(required=bool(row["two_factor_required"]), has_device=bool(row["has_two_factor"]))


def has_admin_access(user) -> bool:
    return user.is_active and (user.is_superuser or user.has_perm("wagtailadmin.access_admin"))


def remember(request: HttpRequest, user) -> Status:
    """Work out the policy for this user and keep it in the session (module docstring)."""
    current = status(user)
    request.session[SESSION_KEY] = {"user": user.pk, "at": time.time(), "required": current.required,
                                    "device": current.has_device}
    return current


def forget(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)


def session_status(request: HttpRequest, user) -> Status:
    kept = request.session.get(SESSION_KEY)
    if not kept or kept.get("user") != user.pk or time.time() - kept.get("at", 0) > POLICY_TTL:
        return remember(request, user)
    return Status(required=kept["required"], has_device=kept["device"])


@receiver(user_logged_in, dispatch_uid="dekiru_two_factor_policy")
def _remember_at_sign_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        remember(request, user)


def is_verified(user) -> bool:
    return bool(getattr(user, "is_verified", None) and user.is_verified())


class TwoFactorMiddleware(OTPMiddleware):
    """django-otp's middleware (request.user.is_verified()) plus the sign-in policy of the module docstring."""

    def __call__(self, request):
        self._install_lazy_accessors(request)
        response = self.check(request)
        return response if response is not None else self.get_response(request)

    def check(self, request):
        if not request.path.startswith(GUARDED_PREFIXES) or request.path in _open_paths():
            return None
        user = request.user
        if not user.is_authenticated or not has_admin_access(user):
            return None
        current = session_status(request, user)
        if not current.has_device and not current.required:
            return None
        if is_verified(user):
            return None
        target = "two_factor_verify" if current.has_device else "two_factor_setup"
        return redirect(f"{reverse(target)}?next={quote(request.get_full_path())}")


_OPEN_PATHS: frozenset[str] | None = None


def _open_paths() -> frozenset[str]:
    global _OPEN_PATHS
    if _OPEN_PATHS is None:
        paths = set()
        for name in OPEN_URL_NAMES:
            try:
                paths.add(reverse(name))
            except Exception:  # noqa: BLE001 - a URL missing from this configuration is simply not open
                pass
        _OPEN_PATHS = frozenset(paths)
    return _OPEN_PATHS


# --- Devices ---------------------------------------------------------------------------------------------------

def normalise_token(token: str) -> str:
    """Codes as people type them: spaces and hyphens dropped, full-width digits and letters made ASCII."""
    import unicodedata

    return "".join(ch for ch in unicodedata.normalize("NFKC", token or "") if ch not in " -\u3000\t").lower()


def pending_device(request: HttpRequest) -> TOTPDevice:
    """The authenticator being set up: an unsaved device whose key waits in the session (no row until the first
    code proves the app has it; the same key across reloads, so a scanned code stays valid)."""
    key = request.session.get(PENDING_KEY)
    if not key:
        key = request.session[PENDING_KEY] = default_key()
    return TOTPDevice(user=request.user, name=TOTP_NAME, key=key, confirmed=False)


def secret_for_typing(device: TOTPDevice) -> str:
    """The key in base32 groups of four, for typing into an app when the QR code cannot be scanned."""
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))


def qr_svg(device: TOTPDevice, *, title: str) -> str:
    """The set-up QR code as inline SVG (no image request, nothing sent to a third party)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, border=2, title=title, dark="#000",
                                                                light="#fff")


def confirm_setup(request: HttpRequest, user, token: str) -> list[str] | None:
    """Check a first code from the app being set up. Right: the device is saved confirmed (replacing any earlier
    authenticator), the session verified, and new backup codes returned to show once. Wrong: None."""
    device = pending_device(request)
    try:
        number = int(normalise_token(token))
    except ValueError:
        return None
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if not totp.verify(number, device.tolerance):
        return None
    device.last_t, device.drift, device.confirmed = totp.t(), totp.drift, True
    with transaction.atomic():
        TOTPDevice.objects.select_for_update().filter(user=user).delete()
        device.save()
        codes = _new_backup_codes(user)
        log(_real(user), LOG_SET_UP, user=_real(user))
    request.session.pop(PENDING_KEY, None)
    django_otp.login(request, device)
    remember(request, user)
    return codes


def _new_backup_codes(user) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(user=user, name=BACKUP_NAME,
                                                          defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def new_backup_codes(user) -> list[str]:
    """Replace the backup codes (the old ones stop working); returns the new ones, to show once."""
    with transaction.atomic():
        codes = _new_backup_codes(user)
        log(_real(user), LOG_BACKUP_CODES, user=_real(user))
    return codes


def backup_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@dataclass
class VerifyResult:
    device: object | None = None
    locked_until: object | None = None  # when too many wrong codes: the earliest time to try again


def verify(request: HttpRequest, user, token: str) -> VerifyResult:
    """Check a code from the app, or a backup code, against the user's devices; on success the session is
    verified. Each device throttles wrong codes (module docstring)."""
    token = normalise_token(token)
    locked_until = None
    device = None
    with transaction.atomic():
        for candidate in django_otp.devices_for_user(user, confirmed=True, for_verify=True):
            allowed, info = candidate.verify_is_allowed()
            if not allowed:
                until = (info or {}).get("locked_until")
                locked_until = max(locked_until, until) if locked_until and until else (until or locked_until)
                continue
            if candidate.verify_token(token):
                device = candidate
                break
    if device is None:
        return VerifyResult(locked_until=locked_until)
    django_otp.login(request, device)
    remember(request, user)
    return VerifyResult(device=device)


def turn_off(request: HttpRequest, user) -> None:
    """Remove one's own two-factor (refused when one's role requires it)."""
    if status(user).required:
        raise TwoFactorError(_("Your role requires two-factor authentication: it cannot be turned off."))
    with transaction.atomic():
        _delete_devices(user)
        log(_real(user), LOG_TURNED_OFF, user=_real(user))
    remember(request, user)


def reset(*, user, actor) -> int:
    """An administrator removes someone's devices (lost phone, no backup code left). Returns how many devices were
    removed. Their sessions verified by a removed device stop being verified at their next request."""
    if actor is not None and actor.pk == user.pk:
        raise TwoFactorError(_("Reset your own two-factor authentication from your account page."))
    if user.is_superuser and not getattr(actor, "is_superuser", False):
        raise TwoFactorError(_("Only a superuser can reset a superuser's two-factor authentication."))
    with transaction.atomic():
        removed = _delete_devices(user)
        log(_real(user), LOG_RESET, user=_real(actor) if actor is not None else None,
            data={"devices_removed": removed, "at": timezone.now().isoformat()})
    return removed


def _delete_devices(user) -> int:
    """Delete every device of the user (authenticators, set up or not, and backup codes); returns how many."""
    totp = TOTPDevice.objects.filter(user=user)
    static = StaticDevice.objects.filter(user=user)
    count = totp.count() + static.count()
    StaticToken.objects.filter(device__user=user).delete()
    totp.delete()
    static.delete()
    return count


# --- Deployment check ------------------------------------------------------------------------------------------

def check_city_administrators_need_two_factor(app_configs=None, **kwargs):
    """`manage.py check --deploy`: warn when the city administrator role may sign in with a password alone."""
    from django.core.checks import Warning as CheckWarning

    if CITY_ADMINISTRATOR in required_roles():
        return []
    return [CheckWarning(
        "The city administrator role may sign in without two-factor authentication.",
        hint="Leave DEKIRU_2FA_REQUIRED_ROLES unset, or include 'City administrator' in it.",
        id="dekiru.W001")]
