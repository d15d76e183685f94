from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import MenuItem
from wagtail.admin.ui.components import Component
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from cms.models import HomePageSection
from cms.roles import is_city_staff
from courses import channel_budget, services
from courses.admin import data_requests as data_request_admin
from courses.admin import series as series_views
from courses.admin.message_log import messages_viewset
from courses.admin.roster import roster_viewset
from courses.admin.sessions import session_viewset
from courses.admin.spreadsheets import spreadsheets_viewset
from courses.attendance import LOG_ACTIONS as ATTENDANCE_LOG_ACTIONS
from courses.emergency import LOG_ACTION as EMERGENCY_LOG_ACTION
from courses.health import outbox_check
from courses.models import Topic
from courses.page_access import sync_partner_page_access
from courses.viewsets import call_centre_viewset
from partners.models import Ward


@hooks.register("register_log_actions")
def register_course_log_actions(actions):
    actions.register_action("courses.registration.confirmed", _("Registration confirmed"),
                            _("Registration confirmed"))
    actions.register_action("courses.registration.waitlisted", _("Added to the waiting list"),
                            _("Added to the waiting list"))
    actions.register_action("courses.registration.promoted", _("Promoted from the waiting list"),
                            _("Promoted from the waiting list"))
    actions.register_action("courses.registration.cancelled", _("Registration cancelled"),
                            _("Registration cancelled"))
    actions.register_action("courses.registration.moved", _("Registration moved to another session"),
                            _("Registration moved to another session"))
    actions.register_action("courses.participant.merged", _("Participant records merged"),
                            _("Participant records merged"))
    actions.register_action("courses.session.cancelled", _("Session cancelled"), _("Session cancelled"))
    actions.register_action("courses.session.moved", _("Session changed"), _("Session changed"))
    actions.register_action("courses.message.retried", _("Message queued to be sent again"),
                            _("Message queued to be sent again"))
    actions.register_action("courses.message.called", _("Resident phoned with the message"),
                            _("Resident phoned with the message"))
    actions.register_action("courses.series.changed", _("Future sessions of the series changed"),
                            _("Future sessions of the series changed"))
    actions.register_action("courses.series.cancelled", _("Future sessions of the series cancelled"),
                            _("Future sessions of the series cancelled"))
    actions.register_action(channel_budget.AUDIT_ACTION, _("Monthly cap of a message channel reached"),
                            _("Monthly cap of a message channel reached"))


@hooks.register("home_page_sections", order=10)
def home_wards_section(request):
    """The home page's buttons per ward, each opening the class finder for that ward."""
    return HomePageSection("courses/home/wards.html", {"wards": list(Ward.objects.all())})


@hooks.register("home_page_sections", order=20)
def home_next_sessions_section(request):
    """The home page's next classes with free seats, with why each cannot be booked if it cannot."""
    sessions = list(services.find_sessions(free=True)[:6])
    for session in sessions:
        session.refusal = services.refusal_reason(session)
    return HomePageSection("courses/home/next_sessions.html", {"sessions": sessions})


hooks.register("readiness_checks", outbox_check)
# A partner or its staff changed: its staff's page permissions on its course pages follow.
hooks.register("partner_changed", sync_partner_page_access)


class TopicViewSet(SnippetViewSet):
    model = Topic
    icon = "tag"
    list_display = ["name", "name_en", "slug"]


register_snippet(TopicViewSet)

# Personal-data requests: find, export and erase a participant's data.
hooks.register("register_admin_viewset", data_request_admin.register_data_request_viewset)
hooks.register("register_log_actions", data_request_admin.register_data_request_log_actions)


@hooks.register("register_admin_viewset")
def register_call_centre_viewset():
    return call_centre_viewset


@hooks.register("register_admin_viewset")
def register_messages_viewset():
    return messages_viewset


@hooks.register("register_admin_urls")
def register_series_urls():
    return [
        path("series/", series_views.SeriesIndexView.as_view(), name="courses_series_index"),
        path("series/new/", series_views.CreateSeriesView.as_view(), name="courses_series_new"),
        path("series/<int:pk>/", series_views.SeriesDetailView.as_view(), name="courses_series_detail"),
        path("series/<int:pk>/change/", series_views.SeriesChangeView.as_view(), name="courses_series_change"),
        path("series/<int:pk>/cancel/", series_views.SeriesCancelView.as_view(), name="courses_series_cancel"),
        path("series/<int:pk>/sessions/<int:session_id>/", series_views.OccurrenceView.as_view(),
             name="courses_series_occurrence"),
    ]


class SeriesMenuItem(MenuItem):
    def is_shown(self, request):
        return request.user.has_perm("courses.view_session")


@hooks.register("register_admin_menu_item")
def register_series_menu_item():
    return SeriesMenuItem(_("Weekly series"), reverse("courses_series_index"), icon_name="date", order=160)


@hooks.register("register_admin_viewset")
def register_roster_viewset():
    return roster_viewset


@hooks.register("register_log_actions")
def register_attendance_log_actions(actions):
    for action, label in ATTENDANCE_LOG_ACTIONS.items():
        actions.register_action(action, label, label)


@hooks.register("register_admin_viewset")
def register_spreadsheets_viewset():
    return spreadsheets_viewset


@hooks.register("register_log_actions")
def register_spreadsheet_log_actions(actions):
    actions.register_action("courses.spreadsheet.exported", _("Spreadsheet exported"), _("Spreadsheet exported"))
    actions.register_action("courses.spreadsheet.imported", _("Spreadsheet imported"), _("Spreadsheet imported"))


@hooks.register("register_admin_viewset")
def register_session_viewset():
    return session_viewset


@hooks.register("register_log_actions")
def register_session_log_actions(actions):
    actions.register_action(EMERGENCY_LOG_ACTION, _("Emergency cancellation of sessions"),
                            _("Emergency cancellation of sessions"))


class ChannelUsagePanel(Component):
    """City staff see this month's SMS and LINE use and cost against their budgets on the admin home, with a warning
    when a cap is reached or nearly reached (courses.channel_budget)."""

    name = "dekiru_channel_usage"
    order = 55

    def __init__(self, request):
        self.request = request

    def render_html(self, parent_context=None):
        return render_to_string("courses/admin/_channel_usage.html", channel_budget.usage_panel_context(),
                                request=self.request)


@hooks.register("construct_homepage_panels")
def add_channel_usage_panel(request, panels):
    """City staff who may read the message log (the costs are the city's: partner staff do not see them)."""
    user = request.user
    if user.is_active and user.has_perm("courses.view_outgoingmessage") and is_city_staff(user):
        panels.append(ChannelUsagePanel(request))
