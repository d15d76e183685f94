"""Security hardening shared by every settings module (applied at the end of base.py).

Content-Security-Policy (django-csp), per-client rate limits on the public endpoints that write (cms.ratelimit),
the admin login lockout (django-axes), the per-account sign-in limit (cms.ratelimit), the trusted proxies, and the
staff sessions' idle timeout and lifetime (cms.middleware). The HTTPS-only settings (HSTS, secure cookies, SSL
redirect) stay in production.py: a local run over plain HTTP must keep working. Every tunable is read from the
environment.
"""

import base64
import hashlib
import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path

from csp.constants import NONCE, NONE, SELF, UNSAFE_HASHES, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def trusted_proxies(items: list[str]) -> list[str]:
    """The networks of DEKIRU_TRUSTED_PROXIES, checked ("10.0.0.0/8", "192.0.2.7", "2001:db8::/32")."""
    networks = []
    for item in items:
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError as exc:
            raise ImproperlyConfigured(f"DEKIRU_TRUSTED_PROXIES: {item!r} is not an address or network "
                                       "(e.g. 10.0.0.0/8).") from exc
    return networks


def _insert_after(middleware: list[str], anchor: str, name: str) -> None:
    middleware.insert(middleware.index(anchor) + 1, name)


# --- Content-Security-Policy ---------------------------------------------------------------------------------
SERVER_ERROR_TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "500.html"


def style_attribute_hashes(template: Path) -> list[str]:
    """CSP hashes of the style="…" attributes of a template that is rendered without a request (500.html: no nonce
    is possible there), so that exactly those attributes, and no others, are allowed."""
    try:
        text = template.read_text(encoding="utf-8")
    except OSError:
        return []
    digests = {base64.b64encode(hashlib.sha256(value.encode()).digest()).decode()
               for value in re.findall(r'\sstyle="([^"]*)"', text)}
    return [f"'sha256-{digest}'" for digest in sorted(digests)]


# The public site has no scripts or inline styles of its own: only same-origin files, plus whatever a template
# marks with the per-request nonce (`nonce="{{ request.csp_nonce }}"`; django-csp leaves the nonce out of the header
# when no template asked for it). The one exception is the server error page's style attribute, allowed by its hash.
# Extra image origins (an S3 or CDN host for media) come from the environment.
def public_policy() -> dict:
    error_page_styles = style_attribute_hashes(SERVER_ERROR_TEMPLATE)
    return {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "style-src-attr": [UNSAFE_HASHES, *error_page_styles] if error_page_styles else None,
        "img-src": [SELF, "data:", *_env_list("DEKIRU_CSP_IMG_SRC")],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": _env_list("DEKIRU_CSP_REPORT_URI") or None,
    }


# The Wagtail admin still writes inline <script> blocks (inline panels, date pickers, our own roster and report
# screens) and style="" attributes, so it needs 'unsafe-inline' for scripts and styles; nothing in it needs eval.
# No nonce here: a nonce in script-src makes browsers ignore 'unsafe-inline'. Frames: the page editor's live
# preview is an admin URL shown in an iframe of the admin itself. blob: images are the upload previews.
# No third-party origin: avatars are not fetched from Gravatar, and Wagtail's "new version" check (from
# releases.wagtail.org) is only allowed when it is switched on.
def admin_policy(*, update_check: bool = False) -> dict:
    return {
        "default-src": [SELF],
        "script-src": [SELF, UNSAFE_INLINE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:", *_env_list("DEKIRU_CSP_IMG_SRC")],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF, *(["https://releases.wagtail.org"] if update_check else [])],
        "frame-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [SELF],
        "report-uri": _env_list("DEKIRU_CSP_REPORT_URI") or None,
    }


def apply(settings: dict) -> None:
    """Add the security apps, middleware and policies to the settings module's namespace `settings`."""
    # django-ratelimit is used for its counter only and is deliberately not an app: see cms.ratelimit.
    settings["INSTALLED_APPS"] = [*settings["INSTALLED_APPS"], "csp", "axes", "django_otp",
                                  "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static"]

    middleware = list(settings["MIDDLEWARE"])
    # CSP: as far out as possible so every response gets the header (after WhiteNoise when it is there: static
    # files need no policy). cms.csp swaps in the admin policy under /admin/.
    static = "whitenoise.middleware.WhiteNoiseMiddleware"
    _insert_after(middleware, static if static in middleware else "django.middleware.security.SecurityMiddleware",
                  "cms.csp.CSPMiddleware")
    # The admin login's per-address limit needs the language (for its message) and request.user (for the page).
    _insert_after(middleware, "django.contrib.auth.middleware.AuthenticationMiddleware",
                  "cms.ratelimit.AdminLoginRateLimitMiddleware")
    # Two-factor sign-in (cms.two_factor): after authentication, which it needs; before the admin's views.
    _insert_after(middleware, "cms.ratelimit.AdminLoginRateLimitMiddleware", "cms.two_factor.TwoFactorMiddleware")
    # Staff sessions' idle timeout and lifetime (cms.middleware): after messages, whose note it leaves for the
    # login page. It reads the session only when the request carries a session cookie: the public site is untouched.
    _insert_after(middleware, "django.contrib.messages.middleware.MessageMiddleware",
                  "cms.middleware.AdminSessionTimeoutMiddleware")
    # django-axes turns a lockout flagged during authentication into its response: last, as its docs ask.
    middleware.append("axes.middleware.AxesMiddleware")
    settings["MIDDLEWARE"] = middleware

    report_only = _env_bool("DEKIRU_CSP_REPORT_ONLY", False)  # to try a changed policy on a live site first
    policy = {"DIRECTIVES": public_policy()}
    settings["CONTENT_SECURITY_POLICY"] = None if report_only else policy
    settings["CONTENT_SECURITY_POLICY_REPORT_ONLY"] = policy if report_only else None
    # Upgrades come with the lock file and a deployment, not from the admin: the dashboard's upgrade notice only
    # talks to a third party from every staff browser. Staff avatars: Wagtail would ask Gravatar for each staff
    # member's (hashed) e-mail address; its default avatar, or an uploaded one, stays on our server.
    update_check = _env_bool("DEKIRU_WAGTAIL_UPDATE_CHECK", False)
    settings["WAGTAIL_ENABLE_UPDATE_CHECK"] = update_check
    settings["WAGTAIL_GRAVATAR_PROVIDER_URL"] = None
    settings["DEKIRU_ADMIN_CSP_DIRECTIVES"] = admin_policy(update_check=update_check)

    # --- Client addresses -------------------------------------------------------------------------------------
    # X-Forwarded-For is believed only from these networks (the load balancers and proxies in front, CIDRs,
    # comma-separated): any client can write the header, so from anyone else it is ignored (cms.ratelimit).
    # Empty (the default): REMOTE_ADDR is the client. A typo stops the start rather than trusting nobody silently.
    settings["DEKIRU_TRUSTED_PROXIES"] = trusted_proxies(_env_list("DEKIRU_TRUSTED_PROXIES"))
    # No longer used (it trusted the N-th entry from whoever sent it); `manage.py check` warns while it is set.
    settings["DEKIRU_TRUSTED_PROXY_COUNT"] = int(os.environ.get("DEKIRU_TRUSTED_PROXY_COUNT", "0"))

    # --- Rate limits (cms.ratelimit) ----------------------------------------------------------------------------
    # Per client address and endpoint, "<count>/<period>" (s, m, h, d). Generous: residents often share one
    # address (a community centre's Wi-Fi after a class, carrier-grade NAT on phones), while a flood makes thousands.
    settings["RATELIMIT_ENABLE"] = _env_bool("DEKIRU_RATELIMIT_ENABLED", True)
    settings["DEKIRU_RATE_LIMITS"] = {
        "registration": os.environ.get("DEKIRU_RATE_LIMIT_REGISTRATION", "20/m"),
        "cancel": os.environ.get("DEKIRU_RATE_LIMIT_CANCEL", "20/m"),
        "self_assessment": os.environ.get("DEKIRU_RATE_LIMIT_SELF_ASSESSMENT", "60/m"),
        "admin_login": os.environ.get("DEKIRU_RATE_LIMIT_ADMIN_LOGIN", "30/m"),
        "invitation": os.environ.get("DEKIRU_RATE_LIMIT_INVITATION", "10/m"),
    }
    # The counters live in the default cache, shared by every app server. If the cache cannot count (a lost
    # increment on the database cache), let the request through rather than refuse a resident.
    settings["RATELIMIT_FAIL_OPEN"] = True
    settings["RATELIMIT_CACHE_PREFIX"] = "ratelimit:"

    # --- Admin login lockout (django-axes) -----------------------------------------------------------------------
    # axes' backend refuses a locked-out login before Django's ModelBackend checks the password.
    # Then the per-account limit (cms.ratelimit.AccountSignInLimitBackend) checks the password with ModelBackend's
    # code; ModelBackend stays listed for permissions and the sessions it signed in.
    settings["AUTHENTICATION_BACKENDS"] = [
        "axes.backends.AxesStandaloneBackend",
        "cms.ratelimit.AccountSignInLimitBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    settings["AXES_ENABLED"] = _env_bool("DEKIRU_LOGIN_LOCKOUT_ENABLED", True)
    settings["AXES_FAILURE_LIMIT"] = int(os.environ.get("DEKIRU_LOGIN_FAILURE_LIMIT", "5"))
    settings["AXES_COOLOFF_TIME"] = timedelta(minutes=float(os.environ.get("DEKIRU_LOGIN_COOLOFF_MINUTES", "15")))
    # One account from one address: someone guessing a colleague's password cannot lock that colleague out
    # everywhere, and one office's mistyped passwords do not lock the whole office (the per-address rate limit
    # above covers guessing many accounts from one address).
    settings["AXES_LOCKOUT_PARAMETERS"] = [["username", "ip_address"]]
    settings["AXES_RESET_ON_SUCCESS"] = True
    settings["AXES_CLIENT_IP_CALLABLE"] = "cms.ratelimit.client_ip"
    settings["AXES_LOCKOUT_CALLABLE"] = "cms.ratelimit.login_locked_out"
    # Attempts are kept in the database (shared by all app servers); successful logins are not logged a second
    # time (User.last_login is enough), and Django's own admin site, where axes would list them, is not installed.
    settings["AXES_DISABLE_ACCESS_LOG"] = True
    settings["AXES_ENABLE_ADMIN"] = False

    # --- Sign-in limit per account (cms.ratelimit) ----------------------------------------------------------------
    # Guesses at one account from many addresses: after this many failures in a row (any addresses), each attempt
    # waits 1, 2, 4 … seconds after the last failure, at most the maximum; forgotten after a successful sign-in or
    # the window without failures. 10 failures then the doubling: about 115 guesses a day at most per account.
    settings["DEKIRU_SIGNIN_ACCOUNT_LIMIT_ENABLED"] = _env_bool("DEKIRU_SIGNIN_ACCOUNT_LIMIT_ENABLED", True)
    settings["DEKIRU_SIGNIN_ACCOUNT_FAILURES"] = int(os.environ.get("DEKIRU_SIGNIN_ACCOUNT_FAILURES", "10"))
    settings["DEKIRU_SIGNIN_BACKOFF_MAX_MINUTES"] = float(os.environ.get("DEKIRU_SIGNIN_BACKOFF_MAX_MINUTES", "15"))
    settings["DEKIRU_SIGNIN_ACCOUNT_WINDOW_MINUTES"] = float(
        os.environ.get("DEKIRU_SIGNIN_ACCOUNT_WINDOW_MINUTES", "60"))

    # --- Staff sessions (cms.middleware.AdminSessionTimeoutMiddleware) -----------------------------------------------
    # Signed out after this many minutes without a request, and this many hours after signing in, whatever the
    # activity (a borrowed or shared computer, a stolen session cookie). A password change or deactivation ends
    # the other sessions at once (Django's session auth hash; ModelBackend refuses inactive users).
    settings["DEKIRU_ADMIN_IDLE_MINUTES"] = float(os.environ.get("DEKIRU_ADMIN_IDLE_MINUTES", "30"))
    settings["DEKIRU_ADMIN_SESSION_HOURS"] = float(os.environ.get("DEKIRU_ADMIN_SESSION_HOURS", "12"))
    # The cookie outlives neither: Django's own expiry as a backstop (it refreshes only when the session is saved).
    settings["SESSION_COOKIE_AGE"] = int(settings["DEKIRU_ADMIN_SESSION_HOURS"] * 3600)

    # --- Two-factor sign-in (cms.two_factor, django-otp) ---------------------------------------------------------
    # Roles (cms.roles group names, comma-separated) that must use it; everyone else with admin access may.
    settings["DEKIRU_2FA_REQUIRED_ROLES"] = (_env_list("DEKIRU_2FA_REQUIRED_ROLES")
                                             if "DEKIRU_2FA_REQUIRED_ROLES" in os.environ else ["City administrator"])
    settings["DEKIRU_2FA_REQUIRE_SUPERUSERS"] = _env_bool("DEKIRU_2FA_REQUIRE_SUPERUSERS", True)
    # The name the authenticator app shows for the account ("Dekiru: username").
    settings["OTP_TOTP_ISSUER"] = os.environ.get("DEKIRU_2FA_ISSUER", "Dekiru")
    # Staff invitations (partners.invitations): how long an e-mailed link works.
    settings["DEKIRU_INVITATION_DAYS"] = int(os.environ.get("DEKIRU_INVITATION_DAYS", "7"))
