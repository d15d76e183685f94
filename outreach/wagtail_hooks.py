"""Wires the outreach admin into Wagtail: one "Outreach" menu section whose items the outreach modules register
with the `register_outreach_menu_item` hook, and the modules that register their own views and hooks."""

from django import forms
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import Menu, SubmenuMenuItem
from wagtail.admin.panels import FieldPanel
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from cms.models import FooterLink
from outreach import followup_admin
from outreach.admin import assessments as assessment_admin
from outreach.admin import consultations as consultation_admin
from outreach.admin import dashboard as dashboard_admin
from outreach.admin import planning as planning_admin
from outreach.admin import reference as reference_admin
from outreach.admin import reports as report_admin
from outreach.assessment_tokens import add_check_links
from outreach.followup_personal_data import follow_ups_section
from outreach.models import ConsultationTopic, FollowUpTask, Framework, FrameworkTheme, SkillItem
from outreach.personal_data import self_assessments_section

outreach_menu = Menu(register_hook_name="register_outreach_menu_item", construct_hook_name="construct_outreach_menu")


class OutreachMenuItem(SubmenuMenuItem):
    def is_shown(self, request):
        return bool(outreach_menu.menu_items_for_request(request))


@hooks.register("register_admin_menu_item")
def register_outreach_menu():
    return OutreachMenuItem(_("Outreach"), outreach_menu, name="outreach", icon_name="view", order=150)


@hooks.register("footer_links")
def open_data_link(request):
    """Open data is linked from every public page's footer, as municipal sites do."""
    return FooterLink(label=gettext("Open data"), url=reverse("outreach:opendata"))


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
    # The course topics are check boxes (the planning view's consultations per topic read them).
    panels = [FieldPanel("name"), FieldPanel("name_en"), FieldPanel("sort_order"),
              FieldPanel("course_topics", widget=forms.CheckboxSelectMultiple)]


# The can-do check links in the booking confirmation and the after-session thanks (courses.emails).
hooks.register("construct_message_context", add_check_links)
# A participant's self-assessments in their personal-data view and export (courses.data_requests).
hooks.register("personal_data_sections", self_assessments_section)
hooks.register("personal_data_sections", follow_ups_section)

# The admin pages: URLs, the Outreach menu's items, the dashboard panel and the audit-log actions.
hooks.register("register_outreach_menu_item", assessment_admin.register_assessment_menu_item)
hooks.register("register_admin_urls", assessment_admin.register_assessment_urls)
hooks.register("register_log_actions", assessment_admin.register_assessment_log_actions)
hooks.register("register_admin_urls", consultation_admin.register_consultation_urls)
hooks.register("register_outreach_menu_item", consultation_admin.register_consultation_entry_menu_item)
hooks.register("register_outreach_menu_item", consultation_admin.register_consultation_list_menu_item)
hooks.register("register_log_actions", consultation_admin.register_consultation_log_actions)
hooks.register("construct_homepage_panels", dashboard_admin.add_dashboard_panel)
hooks.register("register_outreach_menu_item", dashboard_admin.register_dashboard_menu_item)
hooks.register("register_admin_urls", dashboard_admin.register_dashboard_urls)
hooks.register("register_log_actions", dashboard_admin.register_dashboard_log_actions)
hooks.register("register_outreach_menu_item", planning_admin.register_planning_menu_item)
hooks.register("register_admin_urls", planning_admin.register_planning_urls)
hooks.register("register_log_actions", planning_admin.register_planning_log_actions)
hooks.register("register_admin_urls", reference_admin.register_reference_urls)
hooks.register("register_outreach_menu_item", reference_admin.register_reference_menu_item)
hooks.register("register_log_actions", reference_admin.register_reference_log_actions)
hooks.register("register_outreach_menu_item", report_admin.register_annual_report_menu_item)
hooks.register("register_outreach_menu_item", report_admin.register_partner_report_menu_item)
hooks.register("register_admin_urls", report_admin.register_report_urls)
hooks.register("register_log_actions", report_admin.register_report_log_actions)


class FollowUpTaskViewSet(SnippetViewSet):
    """The follow-up questions (a month after the class): reworded, switched off or related to can-do items by
    staff. A question with answers cannot be deleted (its answers keep it); switch it off instead."""

    model = FollowUpTask
    icon = "help"
    list_display = ["number", "text", "text_en", "active"]
    list_filter = ["active"]
    panels = [FieldPanel("number"), FieldPanel("slug"), FieldPanel("text"), FieldPanel("text_en"),
              FieldPanel("related_items", widget=forms.CheckboxSelectMultiple), FieldPanel("active")]


class FrameworkViewSet(SnippetViewSet):
    model = Framework
    icon = "list-ul"
    list_display = ["name", "name_en", "code", "sort_order"]


class FrameworkThemeViewSet(SnippetViewSet):
    """The mapping of the can-do items and follow-up questions onto each framework's themes: data staff edit, which
    the annual report's framework section reads (outreach.followups.framework_report)."""

    model = FrameworkTheme
    icon = "list-ul"
    list_display = ["name", "name_en", "framework", "sort_order"]
    list_filter = ["framework"]
    panels = [FieldPanel("framework"), FieldPanel("code"), FieldPanel("name"), FieldPanel("name_en"),
              FieldPanel("sort_order"), FieldPanel("skill_items", widget=forms.CheckboxSelectMultiple),
              FieldPanel("follow_up_tasks", widget=forms.CheckboxSelectMultiple)]


# The follow-up a month after the class: staff entry (paper, phone, tablet) and its audit-log actions.
hooks.register("register_outreach_menu_item", followup_admin.register_follow_up_menu_item)
hooks.register("register_admin_urls", followup_admin.register_follow_up_urls)
hooks.register("register_log_actions", followup_admin.register_follow_up_log_actions)

register_snippet(SkillItemViewSet)
register_snippet(ConsultationTopicViewSet)
register_snippet(FollowUpTaskViewSet)
register_snippet(FrameworkViewSet)
register_snippet(FrameworkThemeViewSet)
