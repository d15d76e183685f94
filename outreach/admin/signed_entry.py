"""What the admin's staff entry of residents' answers shares: the can-do checks (outreach.admin.assessments, under
/admin/can-do/) and the follow-ups (outreach.followup_admin, under /admin/follow-ups/). Residents answer on their
signed link; staff type in paper sheets (or phone answers) or hand over the tablet, through the same three pages:

- the start page: find a registration number, or pick a session from a paginated list (`EntryIndexView`);
- a session's people, each with how to enter their answers (`EntrySessionView`);
- one person's answers: the questions, the current answers shown, a refusal instead of the form when the rules
  say no (`EntryView`: the subclass loads, builds the form and records; the flow is here).

Who: viewing needs outreach.view_selfassessment and courses.view_registration; entering needs
outreach.add_ and change_selfassessment too. Sessions and registrations are loaded only through the user's partner
scope (`partners.permissions.scope`), so another partner's ids give 404. The templates share
templates/outreach/includes/_entry_index.html and _entry_form.html.
"""

from abc import ABC, abstractmethod

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.urls import include, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from courses import privacy
from courses.admin.roster import person_label
from courses.models import Registration, Session
from outreach.assessment_forms import FindRegistrationForm
from partners import permissions

VIEW_PERMISSIONS = ("outreach.view_selfassessment", "courses.view_registration")
ENTER_PERMISSIONS = ("outreach.add_selfassessment", "outreach.change_selfassessment")
SESSIONS_PER_PAGE = 20


def can_view(user) -> bool:
    return user.is_active and user.has_perms(VIEW_PERMISSIONS)


def can_enter(user) -> bool:
    return can_view(user) and user.has_perms(ENTER_PERMISSIONS)


def visible_sessions(user):
    return permissions.scope(Session.objects.all(), user)


def visible_registrations(user):
    return permissions.scope(Registration.objects.all(), user, "session__organiser")


class SignedEntryBaseView(WagtailAdminTemplateMixin, View):
    """Permission check before anything is loaded; sessions and registrations only through the user's scope.
    Subclasses name their start page (`index_url_name`) and its breadcrumb label (`index_label`)."""

    header_icon = "tasks"
    enter_required = False
    index_url_name = ""
    index_label = ""

    def dispatch(self, request, *args, **kwargs):
        if not can_view(request.user) or (self.enter_required and not can_enter(request.user)):
            raise PermissionDenied  # the admin turns this into a redirect home with a message
        privacy.rights(request.user)  # what of people the user sees; its query also answers the partner scope's
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": reverse(self.index_url_name), "label": str(self.index_label)},
                *self.get_extra_breadcrumbs()]

    def get_extra_breadcrumbs(self):
        return [{"url": None, "label": self.get_page_title()}]

    def render(self, status=200, **context):
        return self.render_to_response(self.get_context_data(**context), status=status)


class EntrySessionView(SignedEntryBaseView):
    """A session's people; the course's title is the page's."""

    def get_page_title(self):
        return str(self.session.course.display_title())

    def load_session(self, session_id):
        """The session (404 outside the user's scope)."""
        sessions = visible_sessions(self.request.user).select_related("course", "venue", "organiser")
        self.session = get_object_or_404(sessions, pk=session_id)
        return self.session


class EntryIndexView(SignedEntryBaseView, ABC):
    """Find whose answers to enter: a registration number (`found_url`), or a session of `sessions()`: those of
    the user's scope in the feature's window of time (`session_window`), not cancelled, newest first, with the
    feature's counts (`session_counts`)."""

    found_fields = ("pk",)
    recent_days = 0

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": None, "label": self.get_page_title()}]

    def sessions(self):
        return (visible_sessions(self.request.user).filter(self.session_window(timezone.now()))
                .exclude(status=Session.Status.CANCELLED).annotate(**self.session_counts())
                .select_related("course", "venue", "organiser").order_by("-starts_at", "-pk"))

    @abstractmethod
    def session_window(self, now) -> Q:
        """Which sessions the list offers, by their times."""

    @abstractmethod
    def session_counts(self) -> dict:
        """The annotations each listed session carries (named as the template reads them)."""

    @abstractmethod
    def found_url(self, registration) -> str:
        """Where a registration number found leads."""

    def index_context(self) -> dict:
        return {}

    def get(self, request):
        find_form = FindRegistrationForm(request.GET if "registration" in request.GET else None)
        if find_form.is_bound and find_form.is_valid():
            registration = (visible_registrations(request.user).filter(pk=find_form.cleaned_data["registration"])
                            .only(*self.found_fields).first())
            if registration is not None:
                return redirect(self.found_url(registration))
            find_form.add_error("registration", _("No booking with this number was found among your sessions."))
        page = Paginator(self.sessions(), SESSIONS_PER_PAGE).get_page(request.GET.get("p"))
        return self.render(find_form=find_form, page_obj=page, sessions=page.object_list, recent_days=self.recent_days,
                           **self.index_context(), status=400 if find_form.errors else 200)


class EntryView(SignedEntryBaseView):
    """One person's answers. The subclass's `setup_entry(registration_id, **url arguments)` checks the arguments,
    calls `load_registration` and sets `refusal`; `make_form`, `record` (raising `error_class`), `saved_message`,
    `back_url`, `session_url` and `entry_context` say the rest."""

    enter_required = True
    registration_related = ("participant", "session", "session__course", "session__venue", "session__organiser")
    error_class = Exception

    def get_extra_breadcrumbs(self):
        return [{"url": self.session_url(), "label": str(self.session.course.display_title())},
                {"url": None, "label": f"{self.label}: {self.get_page_title()}"}]

    def load_registration(self, registration_id):
        registrations = visible_registrations(self.request.user).select_related(*self.registration_related)
        self.registration = get_object_or_404(registrations, pk=registration_id)
        self.session = self.registration.session
        self.label = person_label(self.registration, show_names=privacy.can_see_names(self.request.user))

    def render_entry(self, form, status=200):
        return self.render(registration=self.registration, session=self.session, label=self.label,
                           source=self.source, form=form, refusal=self.refusal.message if self.refusal else "",
                           back_url=self.back_url(), **self.entry_context(), status=status)

    def get(self, request, registration_id, **arguments):
        self.setup_entry(registration_id, **arguments)
        return self.render_entry(None if self.refusal else self.make_form())

    def post(self, request, registration_id, **arguments):
        self.setup_entry(registration_id, **arguments)
        if self.refusal:
            messages.error(request, self.refusal.message)
            return self.render_entry(None, status=400)
        form = self.make_form(request.POST)
        if form.is_valid():
            try:
                self.record(form)
            except self.error_class as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, self.saved_message())
                return redirect(self.back_url())
        messages.error(request, _("Nothing was saved: please answer the questions marked below."))
        return self.render_entry(form, status=400)


# --- Registration with Wagtail -------------------------------------------------------------------------------


class EntryMenuItem(MenuItem):
    """Shown to those the views let in (the views enforce it; the menu just does not offer a dead end)."""

    def is_shown(self, request):
        return can_view(request.user)


def entry_urls(prefix: str, namespace: str, *, index, session, entry, entry_route: str):
    patterns = [
        path("", index.as_view(), name="index"),
        path("sessions/<int:session_id>/", session.as_view(), name="session"),
        path(entry_route, entry.as_view(), name="enter"),
    ]
    return [path(prefix, include((patterns, namespace), namespace=namespace))]


def register_log_actions(actions, labels):
    for action, label in labels.items():
        actions.register_action(action, label, label)
