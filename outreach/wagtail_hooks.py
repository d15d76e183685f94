"""Wires the outreach admin into Wagtail: one "Outreach" menu section whose items the outreach modules register
with the `register_outreach_menu_item` hook, and the modules that register their own views and hooks."""

from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import Menu, SubmenuMenuItem
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

# Each of these registers its admin URLs, menu items and log actions with Wagtail's hooks on import.
from outreach import assessment_admin, consultation_admin, dashboard_admin, reference_admin, report_admin  # noqa: F401
from outreach.assessment_tokens import add_check_links
from outreach.models import ConsultationTopic, SkillItem
from outreach.personal_data import self_assessments_section

outreach_menu = Menu(register_hook_name="register_outreach_menu_item", construct_hook_name="construct_outreach_menu")


class OutreachMenuItem(SubmenuMenuItem):
    def is_shown(self, request):
        return bool(outreach_menu.menu_items_for_request(request))


@hooks.register("register_admin_menu_item")
def register_outreach_menu():
    return OutreachMenuItem(_("Outreach"), outreach_menu, name="outreach", icon_name="view", order=150)


class SkillItemViewSet(SnippetViewSet):
    """The can-do items are data: the city can reword them (Japanese and English) without a release."""

    model = SkillItem
    icon = "tick-inverse"
    list_display = ["number", "text", "text_en", "group"]
    list_filter = ["group"]


class ConsultationTopicViewSet(SnippetViewSet):
    model = ConsultationTopic
    icon = "help"
    list_display = ["name", "name_en", "sort_order"]


# The can-do check links in the booking confirmation and the after-session thanks (courses.emails).
hooks.register("construct_message_context", add_check_links)
# A participant's self-assessments in their personal-data view and export (courses.data_requests).
hooks.register("personal_data_sections", self_assessments_section)

register_snippet(SkillItemViewSet)
register_snippet(ConsultationTopicViewSet)
