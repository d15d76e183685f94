"""Content-Security-Policy: one strict policy for the public site, a looser one for the Wagtail admin.

The policies themselves are in cms.settings.security. Wagtail's admin views cannot be decorated one by one, so this
middleware chooses by path: requests under the admin's URL (and Wagtail's previews) get DEKIRU_ADMIN_CSP_DIRECTIVES.
A view that sets its own policy with django-csp's decorators (@csp, @csp_update, @csp_replace) keeps it.

Templates that need an inline <script> or <style> on the public site give it the nonce:
    <script nonce="{{ request.csp_nonce }}">…</script>
"""

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.urls import NoReverseMatch, reverse


def is_admin_request(request: HttpRequest) -> bool:
    """Under the admin's URL, or Wagtail's stand-in request for a preview: it renders a public page at the public
    path, but for the editor's preview frame inside the admin (a public policy's frame-ancestors 'none' would
    blank it)."""
    if getattr(request, "is_dummy", False):
        return True
    try:
        return request.path_info.startswith(reverse("wagtailadmin_home"))
    except NoReverseMatch:  # a URLconf without the admin
        return False


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp's middleware, with the admin policy for admin paths."""

    def get_policy_parts(self, request: HttpRequest, response: HttpResponseBase,
                         report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        setting = "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY"
        if parts.config is None and getattr(settings, setting, None) and is_admin_request(request):
            parts.config = settings.DEKIRU_ADMIN_CSP_DIRECTIVES
        return parts
