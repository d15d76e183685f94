from django.http import HttpResponseForbidden
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.snippets.models import register_snippet

from partners.admin import invitations as invitation_admin
from partners.admin import staff as staff_admin
from partners.admin.feeds import MyCalendarFeedsView
from partners.permissions import is_city_staff
from partners.viewsets import PartnersGroup

register_snippet(PartnersGroup)

# Staff invitations.
hooks.register("register_admin_urls", invitation_admin.register_invitation_urls)
hooks.register("register_settings_menu_item", invitation_admin.register_invitations_menu_item)
hooks.register("register_log_actions", invitation_admin.register_invitation_log_actions)
# The access review and staff deactivation.
hooks.register("register_admin_urls", staff_admin.register_staff_urls)
hooks.register("register_reports_menu_item", staff_admin.register_access_review_menu_item)
hooks.register("register_log_actions", staff_admin.register_staff_log_actions)
hooks.register("after_edit_user", staff_admin.end_memberships_of_deactivated_user)


@hooks.register("register_admin_urls")
def register_feed_urls():
    return [path("my-calendar-feeds/", MyCalendarFeedsView.as_view(), name="partners_my_calendar_feeds")]


@hooks.register("register_account_menu_item")
def register_feed_account_item(request):
    # On the account page rather than in the main menu, which would cost a membership query on every admin page.
    return {"url": reverse("partners_my_calendar_feeds"), "label": _("My calendar feeds"),
            "help_text": _("A private calendar of your organisation's sessions with seat counts, for your phone.")}


@hooks.register("register_log_actions")
def register_feed_log_actions(actions):
    actions.register_action("partners.feed.created", _("Calendar feed created"), _("Calendar feed created"))
    actions.register_action("partners.feed.regenerated", _("Calendar feed given a new address"),
                            _("Calendar feed given a new address"))
    actions.register_action("partners.feed.revoked", _("Calendar feed turned off"), _("Calendar feed turned off"))


@hooks.register("construct_reports_menu")
def hide_city_only_reports(request, menu_items):
    if not is_city_staff(request.user):
        menu_items[:] = [item for item in menu_items if item.name != "site-history"]


@hooks.register("before_move_page")
def refuse_a_move_the_user_may_not_make(request, page, destination):
    """Wagtail's move confirmation page renders the page's (draft) title before checking any permission; a
    partner's staff must not read another partner's draft that way."""
    if not page.permissions_for_user(request.user).can_move_to(destination):
        return HttpResponseForbidden()
    return None
