"""An admin page a role may not open says so, instead of returning the person to the admin home.

Wagtail answers a PermissionDenied raised in an admin view (its own, and Dekiru's views built on its generic
views: /admin/sessions/new/ for an analyst) by queueing "Sorry, you do not have permission to access this area."
and redirecting to the admin home (wagtail.admin.auth.permission_denied). Staff who typed or followed an address
then land on the dashboard and do not know why. This middleware turns that redirect into a 403 page in the admin's
own layout that says which page was refused, which roles the person holds, and whom to ask; the queued message is
withdrawn, so it does not show up again on the next page.

Dekiru's own views already answer 403 (or 404 for another partner's object): they are left alone.
"""

from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from wagtail.users.models import UserProfile

from cms import roles

WAGTAIL_REFUSAL = "Sorry, you do not have permission to access this area."


def _wagtail_refused(request, response) -> bool:
    if response.status_code != 302 or request.method not in ("GET", "HEAD"):
        return False
    if response.get("Location") != reverse("wagtailadmin_home"):
        return False
    storage = getattr(request, "_messages", None)
    queued = getattr(storage, "_queued_messages", [])
    refusal = _(WAGTAIL_REFUSAL)
    return any(_is_refusal(message, refusal) for message in queued)


def _is_refusal(message, refusal: str) -> bool:
    """Wagtail's admin messages are its rendered message snippet: the text is inside, in the admin's language."""
    text = str(message.message)
    return WAGTAIL_REFUSAL in text or refusal in text


def _withdraw_refusal(request) -> None:
    storage = request._messages
    refusal = _(WAGTAIL_REFUSAL)
    storage._queued_messages = [message for message in storage._queued_messages
                                if not _is_refusal(message, refusal)]


def explain_admin_refusals(get_response):
    """Place after MessageMiddleware: a Wagtail refusal of an admin page becomes a 403 that says why."""

    def middleware(request):
        response = get_response(request)
        if not request.path.startswith("/admin/") or not getattr(request.user, "is_authenticated", False):
            return response
        if not _wagtail_refused(request, response):
            return response
        _withdraw_refusal(request)
        # In the person's admin language, as Wagtail's own views are (wagtail.admin.auth.require_admin_access).
        with translation.override(UserProfile.get_for_user(request.user).get_preferred_language()):
            held = [str(roles.ROLE_LABELS[name]) for name in roles.ALL_ROLES
                    if name in roles.role_names(request.user)]
            refused = TemplateResponse(request, "cms/admin/refused.html", {
                "page_title": _("You cannot open this page"), "refused_path": request.path, "held_roles": held,
            }, status=403)
            return refused.render()

    return middleware
