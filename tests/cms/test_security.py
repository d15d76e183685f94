"""Security headers: the Content-Security-Policy of the public site and of the Wagtail admin (cms.csp,
cms.settings.security), the HTTPS headers and cookies of the production settings, and CSRF on every form."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.template import Context, Template
from django.test import Client, RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, path

from cms.csp import CSPMiddleware
from cms.settings.security import SERVER_ERROR_TEMPLATE, public_policy
from courses.models import Participant, Registration
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

TEMPLATES = Path(settings.BASE_DIR) / "templates"
OUR_APPS = ("cms", "courses", "outreach", "partners")


def policy(response, header="Content-Security-Policy") -> dict[str, list[str]]:
    directives = {}
    for part in response[header].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def public_paths(site) -> dict[str, str]:
    session = factories.session()
    registration = factories.registration(session_obj=session)
    course = session.course.url
    return {"home": "/", "home-en": "/en/", "course": course, "register": f"/sessions/{session.pk}/register/",
            "classes": "/classes/", "calendar": "/calendar/", "registration": registration.get_manage_url(),
            "cancel": registration.get_cancel_url(), "opendata": "/opendata/", "not-found": "/no-such-page/"}


# --- Content-Security-Policy -----------------------------------------------------------------------------------


def test_public_pages_have_the_strict_policy(client, site):
    for name, url in public_paths(site).items():
        response = client.get(url, follow=True)
        assert response.status_code in (200, 404), name
        csp = policy(response)
        assert csp["script-src"] == ["'self'"], name  # no inline scripts, no eval, and no nonce nobody used
        assert csp["style-src"] == ["'self'"], name
        assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"], name
        assert csp["img-src"] == ["'self'", "data:"], name
        assert csp["frame-ancestors"] == ["'none'"], name
        assert csp["form-action"] == ["'self'"] and csp["base-uri"] == ["'self'"], name
        assert "unsafe-inline" not in response["Content-Security-Policy"], name


def test_the_admin_has_its_own_policy_without_eval(client, site):
    admin = get_user_model().objects.create_superuser(username="admin", password="x", email="a@example.jp")
    for url, logged_in in [("/admin/login/", False), ("/admin/", True), ("/admin/pages/", True)]:
        if logged_in:
            client.force_login(admin)
        response = client.get(url)
        assert response.status_code == 200, url
        csp = policy(response)
        assert csp["script-src"] == ["'self'", "'unsafe-inline'"], url  # Wagtail's inline scripts; no eval
        assert csp["style-src"] == ["'self'", "'unsafe-inline'"], url
        assert csp["frame-ancestors"] == ["'self'"], url  # the page editor's preview is an admin page in a frame
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'self'"], url
        assert csp["form-action"] == ["'self'"], url
        assert "nonce-" not in response["Content-Security-Policy"], url  # a nonce would switch 'unsafe-inline' off


def test_a_template_that_uses_the_nonce_gets_it_in_the_policy():
    template = Template('<script nonce="{{ request.csp_nonce }}">go()</script><style nonce="{{ request.csp_nonce }}">'
                        "</style>")
    request = RequestFactory().get("/classes/")
    middleware = CSPMiddleware(lambda request: HttpResponse(template.render(Context({"request": request}))))

    response = middleware(request)

    nonce = re.search(r'nonce="([^"]+)"', response.content.decode()).group(1)
    assert len(nonce) >= 22
    assert policy(response)["script-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert policy(response)["style-src"] == ["'self'", f"'nonce-{nonce}'"]


def test_wagtail_previews_get_the_admin_policy():
    """The page editor's preview renders a public page through a stand-in request at the public path, for a frame
    inside the admin: the public frame-ancestors 'none' would blank it."""
    request = RequestFactory().get("/courses/city/some-course/")
    request.is_dummy = True  # set by Wagtail's make_preview_request

    response = CSPMiddleware(lambda request: HttpResponse("<h1>preview</h1>"))(request)

    assert policy(response)["frame-ancestors"] == ["'self'"]


def test_report_only_mode_sends_the_same_policies_without_enforcing_them(client, site):
    with override_settings(CONTENT_SECURITY_POLICY=None,
                           CONTENT_SECURITY_POLICY_REPORT_ONLY={"DIRECTIVES": public_policy()}):
        public = client.get("/")
        admin = client.get("/admin/login/")
    assert "Content-Security-Policy" not in public and "Content-Security-Policy" not in admin
    assert policy(public, "Content-Security-Policy-Report-Only")["script-src"] == ["'self'"]
    assert "'unsafe-inline'" in policy(admin, "Content-Security-Policy-Report-Only")["script-src"]


def broken_view(request):
    raise RuntimeError("boom")


urlpatterns = [path("broken/", broken_view)]


@override_settings(ROOT_URLCONF=__name__)
def test_the_server_error_page_keeps_its_style_under_the_policy():
    """500.html is rendered without a request, so no nonce: its style attribute is allowed by its hash alone."""
    response = Client(raise_request_exception=False).get("/broken/")

    assert response.status_code == 500
    csp = policy(response)
    assert csp["style-src"] == ["'self'"]
    assert csp["style-src-attr"][0] == "'unsafe-hashes'" and len(csp["style-src-attr"]) == 2
    import base64
    import hashlib

    style = re.search(r'style="([^"]*)"', response.content.decode()).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert csp["style-src-attr"][1] == f"'sha256-{digest}'"


def public_templates():
    for template in sorted(TEMPLATES.rglob("*.html")):
        relative = template.relative_to(TEMPLATES)
        if "admin" not in relative.parts and relative.parts[0] != "emails":
            yield relative, template.read_text(encoding="utf-8")


def test_public_templates_have_nothing_inline_that_the_policy_blocks():
    """The strict policy only holds if templates keep to it: no inline event handlers or javascript: links,
    a nonce on any inline <script>/<style> (JSON-LD is data, not script; a script file of the site's own static
    files is allowed by 'self'), no style attributes but 500.html's."""
    problems = []
    for relative, text in public_templates():
        for tag in re.findall(r"<(?:script|style)\b[^>]*>", text):
            own_file = re.search(r"src=\"\{% static '[^']+\.js' %\}\"", tag)
            if "csp_nonce" not in tag and "application/ld+json" not in tag and not own_file:
                problems.append(f"{relative}: {tag}")
        problems += [f"{relative}: {m}" for m in re.findall(r"\son[a-z]+\s*=|javascript:", text, re.IGNORECASE)]
        if re.search(r"\sstyle=", text) and relative != SERVER_ERROR_TEMPLATE.relative_to(TEMPLATES):
            problems.append(f"{relative}: style attribute")
    assert not problems, "\n".join(problems)


# --- HTTPS headers and cookies (production settings) -------------------------------------------------------------

PRODUCTION_SETTINGS = [
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_CONTENT_TYPE_NOSNIFF", "SECURE_REFERRER_POLICY",
    "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY", "X_FRAME_OPTIONS", "DEBUG", "MIDDLEWARE", "AUTHENTICATION_BACKENDS",
    "DEKIRU_TRUSTED_PROXIES", "DEKIRU_ADMIN_IDLE_MINUTES", "DEKIRU_ADMIN_SESSION_HOURS", "SESSION_COOKIE_AGE",
]


@pytest.fixture(scope="module")
def production():
    """The settings cms.settings.production really makes (in a process of its own: settings load once)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cms.settings.production", "DJANGO_SECRET_KEY": "x" * 50,
           "DJANGO_ALLOWED_HOSTS": "dekiru.example.jp"}
    for name in [name for name in env if name.startswith(("DJANGO_SECURE_", "DEKIRU_CSP_", "DEKIRU_TRUSTED_",
                                                          "DEKIRU_ADMIN_"))]:
        env.pop(name)
    code = ("import json, django; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n) for n in {PRODUCTION_SETTINGS!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=settings.BASE_DIR, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def test_production_settings_turn_on_https_protections(production):
    assert production["DEBUG"] is False
    assert production["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600 and production["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert production["SECURE_SSL_REDIRECT"] and production["SECURE_CONTENT_TYPE_NOSNIFF"]
    assert production["SECURE_REFERRER_POLICY"] == "same-origin"
    assert production["SESSION_COOKIE_SECURE"] and production["CSRF_COOKIE_SECURE"]
    assert production["SESSION_COOKIE_HTTPONLY"] and production["X_FRAME_OPTIONS"] == "DENY"
    middleware = production["MIDDLEWARE"]
    assert "cms.csp.CSPMiddleware" in middleware and middleware[-1] == "axes.middleware.AxesMiddleware"
    assert middleware.index("cms.ratelimit.AdminLoginRateLimitMiddleware") > middleware.index(
        "django.contrib.auth.middleware.AuthenticationMiddleware")
    # Staff sessions are timed after the messages (their note) and before any view.
    assert middleware.index("cms.middleware.AdminSessionTimeoutMiddleware") == middleware.index(
        "django.contrib.messages.middleware.MessageMiddleware") + 1
    # axes' lockout first, then the per-account limit around ModelBackend's password check (cms.ratelimit).
    assert production["AUTHENTICATION_BACKENDS"] == ["axes.backends.AxesStandaloneBackend",
                                                     "cms.ratelimit.AccountSignInLimitBackend",
                                                     "django.contrib.auth.backends.ModelBackend"]
    assert production["DEKIRU_TRUSTED_PROXIES"] == []  # X-Forwarded-For believed from nobody by default
    assert production["DEKIRU_ADMIN_IDLE_MINUTES"] == 30 and production["DEKIRU_ADMIN_SESSION_HOURS"] == 12
    assert production["SESSION_COOKIE_AGE"] == 12 * 3600


def test_production_responses_carry_the_security_headers(client, site, production):
    https = {name: production[name] for name in PRODUCTION_SETTINGS[:10]}
    https["SECURE_PROXY_SSL_HEADER"] = tuple(https["SECURE_PROXY_SSL_HEADER"])
    with override_settings(**https):
        redirect = client.get("/")
        response = client.get("/", HTTP_X_FORWARDED_PROTO="https")
        session = factories.session()
        with override_settings(RATELIMIT_ENABLE=False):
            client.get(f"/sessions/{session.pk}/register/", HTTP_X_FORWARDED_PROTO="https")

    assert redirect.status_code == 301 and redirect["Location"].startswith("https://")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == f"max-age={production['SECURE_HSTS_SECONDS']}; includeSubDomains"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert policy(response)["frame-ancestors"] == ["'none'"]
    assert client.cookies["csrftoken"]["secure"]


# --- CSRF ----------------------------------------------------------------------------------------------------------


def test_every_post_form_in_the_templates_carries_the_csrf_token():
    missing = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        for form in re.findall(r"<form\b[^>]*>.*?</form>", text, re.DOTALL | re.IGNORECASE):
            if re.search(r'method="post"', form, re.IGNORECASE) and "{% csrf_token %}" not in form:
                missing.append(f"{template.relative_to(TEMPLATES)}: {form[:80]}")
    assert not missing, "\n".join(missing)


def our_views(resolver=None):
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            yield from our_views(pattern)
        elif isinstance(pattern, URLPattern):
            view = pattern.callback
            module = getattr(view, "__module__", "") or ""
            if module.split(".")[0] in OUR_APPS:
                yield pattern, view


# Providers' webhooks: called by LINE, SendGrid and Twilio, never by a browser with our cookies, so there is no CSRF
# token to check — each request's signature is checked instead, before anything is read from it (tests of each).
SIGNED_WEBHOOKS = {"line/webhook", "hooks/sendgrid/events", "hooks/twilio/status", "hooks/twilio/incoming"}


def test_no_view_of_ours_is_exempt_from_csrf():
    views = list(our_views())
    assert len(views) > 10
    assert [str(p.pattern) for p, view in views if getattr(view, "csrf_exempt", False)
            and str(p.pattern) not in SIGNED_WEBHOOKS] == []


def test_a_registration_without_the_csrf_token_is_refused(site):
    session = factories.session()
    url = f"/sessions/{session.pk}/register/"
    browser = Client(enforce_csrf_checks=True)
    data = {"booking_for": "self", "name": "川崎 花子", "kana": "カワサキ ハナコ", "phone": "09012345678",
            "age_band": Participant.AgeBand.AGE_70_74, "ward": "outside", "consent": "on",
            "notify_by": "call", "step": "register"}

    assert browser.post(url, data).status_code == 403
    assert not Registration.objects.exists()

    browser.get(url)
    response = browser.post(url, {**data, "csrfmiddlewaretoken": browser.cookies["csrftoken"].value})
    assert response.status_code == 302 and Registration.objects.count() == 1
