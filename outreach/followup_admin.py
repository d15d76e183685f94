"""Follow-ups in the admin, under /admin/follow-ups/ (namespace "follow_up"): staff type in the answers of a paper
sheet, of a phone call from the call list, or hand the tablet to a resident at a later class.

Who: the people who enter can-do checks (outreach.admin.assessments: view/add/change self-assessments and view
registrations), within their partner scope (another partner's registration gives 404). Thin views: the rules are in
outreach.followups (attended, class not cancelled; not limited in time for staff).
"""

from datetime import timedelta

from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import include, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem

from courses import privacy
from courses.admin.roster import person_label
from courses.models import Registration, Session
from outreach import followups
from outreach.admin.assessments import (
    AssessmentBaseView,
    can_enter,
    can_view,
    visible_registrations,
    visible_sessions,
)
from outreach.assessment_forms import FindRegistrationForm
from outreach.followup_forms import FollowUpForm
from outreach.models import FollowUp

URL_NAMESPACE = "follow_up"
SOURCES = {"paper": FollowUp.Source.PAPER, "phone": FollowUp.Source.PHONE, "tablet": FollowUp.Source.TABLET}
# Sessions offered on the start page: those that ended in the last RECENT_DAYS (follow-ups come back for weeks).
RECENT_DAYS = 120
SESSIONS_PER_PAGE = 20


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


class FollowUpBaseView(AssessmentBaseView):
    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": url("index"), "label": _("Follow-ups")},
                *self.get_extra_breadcrumbs()]


class IndexView(FollowUpBaseView):
    """Find whose answers to enter: a registration number, or a session that ended in the last RECENT_DAYS."""

    template_name = "outreach/followup/admin_index.html"
    page_title = gettext_lazy("Follow-ups")

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": None, "label": self.get_page_title()}]

    def get(self, request):
        find_form = FindRegistrationForm(request.GET if "registration" in request.GET else None)
        if find_form.is_bound and find_form.is_valid():
            registration = (visible_registrations(request.user).filter(pk=find_form.cleaned_data["registration"])
                            .only("pk").first())
            if registration is not None:
                return redirect(url("enter", registration.pk, "paper"))
            find_form.add_error("registration", _("No booking with this number was found among your sessions."))
        now = timezone.now()
        attended = Q(registrations__status=Registration.Status.ATTENDED)
        sessions = (visible_sessions(request.user)
                    .filter(ends_at__lte=now, ends_at__gt=now - timedelta(days=RECENT_DAYS))
                    .exclude(status=Session.Status.CANCELLED)
                    .annotate(attended_count=Count("registrations", filter=attended),
                              answered_count=Count("registrations", filter=attended & Q(
                                  registrations__follow_up__isnull=False)))
                    .select_related("course", "venue", "organiser").order_by("-starts_at", "-pk"))
        page = Paginator(sessions, SESSIONS_PER_PAGE).get_page(request.GET.get("p"))
        return self.render(find_form=find_form, page_obj=page, sessions=page.object_list, recent_days=RECENT_DAYS,
                           status=400 if find_form.errors else 200)


class SessionPeopleView(FollowUpBaseView):
    """The people who attended one session, each with whether their follow-up is recorded and how to enter it."""

    template_name = "outreach/followup/admin_session.html"

    def get_page_title(self):
        return str(self.session.course.display_title())

    def get(self, request, session_id):
        sessions = visible_sessions(request.user).select_related("course", "venue", "organiser")
        self.session = session = get_object_or_404(sessions, pk=session_id)
        people = list(session.registrations.filter(status=Registration.Status.ATTENDED)
                      .select_related("participant", "follow_up")
                      .order_by("participant__kana", "participant__name", "pk"))
        show_names = privacy.can_see_names(request.user)
        may_enter = can_enter(request.user) and not session.is_cancelled
        rows = [{"registration": registration, "label": person_label(registration, show_names=show_names),
                 "follow_up": getattr(registration, "follow_up", None),
                 "links": [(label, url("enter", registration.pk, source)) for source, label in _source_labels()]
                 if may_enter else []}
                for registration in people]
        return self.render(session=session, rows=rows, show_names=show_names)


def _source_labels():
    return [("paper", _("From a paper sheet")), ("phone", _("Answers by phone")), ("tablet", _("On the tablet"))]


class EntryView(FollowUpBaseView):
    """One person's follow-up: every question, the current answers shown (nothing chosen on a first entry)."""

    template_name = "outreach/followup/admin_entry.html"
    enter_required = True
    page_title = gettext_lazy("Follow-up")

    def get_extra_breadcrumbs(self):
        return [{"url": url("session", self.session.pk), "label": str(self.session.course.display_title())},
                {"url": None, "label": f"{self.label}: {self.get_page_title()}"}]

    def setup_entry(self, registration_id, source):
        if source not in SOURCES:
            raise Http404
        self.source = source
        registrations = visible_registrations(self.request.user).select_related(
            "participant", "session", "session__course", "session__venue", "session__organiser")
        self.registration = get_object_or_404(registrations, pk=registration_id)
        self.session = self.registration.session
        self.label = person_label(self.registration, show_names=privacy.can_see_names(self.request.user))
        self.follow_up = FollowUp.objects.filter(registration=self.registration).first()
        self.refusal = followups.refusal(self.registration)

    def make_form(self, data=None):
        return FollowUpForm(data, tasks=followups.asked_tasks(),
                            previous=followups.previous_answers(self.registration), prefix="follow_up")

    def render_entry(self, form, status=200):
        return self.render(registration=self.registration, session=self.session, label=self.label,
                           source=self.source, source_label=dict(_source_labels())[self.source], form=form,
                           follow_up=self.follow_up, refusal=self.refusal.message if self.refusal else "",
                           back_url=f"{url('session', self.session.pk)}#person-{self.registration.pk}",
                           status=status)

    def get(self, request, registration_id, source):
        self.setup_entry(registration_id, source)
        return self.render_entry(None if self.refusal else self.make_form())

    def post(self, request, registration_id, source):
        self.setup_entry(registration_id, source)
        if self.refusal:
            messages.error(request, self.refusal.message)
            return self.render_entry(None, status=400)
        form = self.make_form(request.POST)
        if form.is_valid():
            try:
                followups.record_follow_up(registration=self.registration, answers=form.answers(),
                                           source=SOURCES[source], actor=request.user)
            except followups.FollowUpError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("%(name)s: follow-up saved.") % {"name": self.label})
                return redirect(f"{url('session', self.session.pk)}#person-{self.registration.pk}")
        messages.error(request, _("Nothing was saved: please answer the questions marked below."))
        return self.render_entry(form, status=400)


class FollowUpMenuItem(MenuItem):
    def is_shown(self, request):
        return can_view(request.user)


def register_follow_up_menu_item():
    return FollowUpMenuItem(gettext_lazy("Follow-ups"), reverse("follow_up:index"), name="follow_ups",
                            icon_name="tasks", order=210)


def register_follow_up_urls():
    patterns = [
        path("", IndexView.as_view(), name="index"),
        path("sessions/<int:session_id>/", SessionPeopleView.as_view(), name="session"),
        path("registrations/<int:registration_id>/<str:source>/", EntryView.as_view(), name="enter"),
    ]
    return [path("follow-ups/", include((patterns, URL_NAMESPACE), namespace=URL_NAMESPACE))]


def register_follow_up_log_actions(actions):
    for action, label in followups.LOG_ACTIONS.items():
        actions.register_action(action, label, label)
