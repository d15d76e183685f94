"""Can-do checks (できることチェック) in the admin, under /admin/can-do/ (namespace "self_assessment"):

- the tablet at the class: an instructor opens a session's people (from the roster) and hands the tablet to one
  attendee, who answers the same questions as on the public page (source "tablet", entered by the instructor);
- typing in paper sheets: find the session (or the registration number), then the person, and enter the answers
  (source "paper"); a question left blank on the sheet may stay blank.

Thin views: the rules are in outreach.assessments; a refusal becomes a notice or a form error and changes nothing.

Who: viewing the lists needs outreach.view_selfassessment and courses.view_registration (they show names, to those
who may see them: courses.privacy; city analysts see booking numbers);
entering needs outreach.add_ and change_selfassessment too (partner managers and instructors, call-centre
operators, city programme officers). Partner staff see only their own partner's sessions: sessions and
registrations are loaded through `partners.permissions.scope`, so another partner's ids give 404. City staff
(call-centre operators included) see every session.
"""

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import include, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from courses import privacy
from courses.admin.roster import can_view_rosters, person_label
from courses.models import Registration, Session
from outreach import assessments
from outreach.assessment_forms import FindRegistrationForm, SelfAssessmentForm
from outreach.models import SelfAssessment
from partners import permissions

URL_NAMESPACE = "self_assessment"
VIEW_PERMISSIONS = ("outreach.view_selfassessment", "courses.view_registration")
ENTER_PERMISSIONS = ("outreach.add_selfassessment", "outreach.change_selfassessment")
TABLET, PAPER = "tablet", "paper"
SOURCES = {TABLET: SelfAssessment.Source.TABLET, PAPER: SelfAssessment.Source.PAPER}
KINDS = (SelfAssessment.Kind.PRE, SelfAssessment.Kind.POST)
# Sessions offered on the start page: the last RECENT_DAYS (paper sheets are typed in afterwards) and the next days.
RECENT_DAYS = 60
AHEAD_DAYS = 7
SESSIONS_PER_PAGE = 20
# The people a check can be about: those with a seat (no-shows took no course; the waiting list has no seat).
PEOPLE_STATUSES = (Registration.Status.CONFIRMED, Registration.Status.ATTENDED)


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


def can_view(user) -> bool:
    return user.is_active and user.has_perms(VIEW_PERMISSIONS)


def can_enter(user) -> bool:
    return can_view(user) and user.has_perms(ENTER_PERMISSIONS)


def visible_sessions(user):
    return permissions.scope(Session.objects.all(), user)


def visible_registrations(user):
    return permissions.scope(Registration.objects.all(), user, "session__organiser")


def _source(value: str | None) -> str:
    return value if value in SOURCES else TABLET


def session_url(session_id: int, source: str, registration_id: int | None = None) -> str:
    address = f"{url('session', session_id)}?source={source}"
    return f"{address}#person-{registration_id}" if registration_id else address


def _count_assessments(kind: str):
    counted = (SelfAssessment.objects.filter(registration__session=OuterRef("pk"), kind=kind)
               .order_by().values("registration__session").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _count_people():
    counted = (Registration.objects.filter(session=OuterRef("pk"), status__in=PEOPLE_STATUSES)
               .order_by().values("session").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


class AssessmentBaseView(WagtailAdminTemplateMixin, View):
    """Permission check before anything is loaded; sessions and registrations only through the user's scope."""

    header_icon = "tasks"
    enter_required = False

    def dispatch(self, request, *args, **kwargs):
        if not can_view(request.user) or (self.enter_required and not can_enter(request.user)):
            raise PermissionDenied  # the admin turns this into a redirect home with a message
        privacy.rights(request.user)  # what of people the user sees; its query also answers the partner scope's
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": url("index"), "label": _("Can-do checks")},
                *self.get_extra_breadcrumbs()]

    def get_extra_breadcrumbs(self):
        return [{"url": None, "label": self.get_page_title()}]

    def render(self, status=200, **context):
        return self.render_to_response(self.get_context_data(**context), status=status)


class IndexView(AssessmentBaseView):
    """Find whom to enter a check for: a registration number, or a recent session (newest first)."""

    template_name = "outreach/admin/assessment_index.html"
    page_title = gettext_lazy("Can-do checks")

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": None, "label": self.get_page_title()}]

    def get(self, request):
        find_form = FindRegistrationForm(request.GET if "registration" in request.GET else None)
        if find_form.is_bound and find_form.is_valid():
            registration = (visible_registrations(request.user)
                            .filter(pk=find_form.cleaned_data["registration"]).only("pk", "session_id").first())
            if registration is not None:
                return redirect(session_url(registration.session_id, PAPER, registration.pk))
            find_form.add_error("registration", _("No booking with this number was found among your sessions."))
        now = timezone.now()
        sessions = (visible_sessions(request.user)
                    .filter(starts_at__gte=now - timedelta(days=RECENT_DAYS),
                            starts_at__lt=now + timedelta(days=AHEAD_DAYS))
                    .exclude(status=Session.Status.CANCELLED)
                    .annotate(people_count=_count_people(), pre_count=_count_assessments(SelfAssessment.Kind.PRE),
                              post_count=_count_assessments(SelfAssessment.Kind.POST))
                    .select_related("course", "venue", "organiser").order_by("-starts_at", "-pk"))
        page = Paginator(sessions, SESSIONS_PER_PAGE).get_page(request.GET.get("p"))
        ids = permissions.partner_ids(request.user)
        return self.render(find_form=find_form, page_obj=page, sessions=page.object_list,
                           show_organiser=ids is None or len(ids) > 1, recent_days=RECENT_DAYS,
                           status=400 if find_form.errors else 200)


class SessionPeopleView(AssessmentBaseView):
    """The people with a seat in one session, each with a "before" and an "after" button that says whether it
    was done. `?source=tablet` (at the class, the default) or `?source=paper` (typing in sheets)."""

    template_name = "outreach/admin/assessment_session.html"

    def get_page_title(self):
        return str(self.session.course.display_title())

    def get(self, request, session_id):
        sessions = visible_sessions(request.user).select_related("course", "venue", "organiser")
        self.session = session = get_object_or_404(sessions, pk=session_id)
        source = _source(request.GET.get("source"))
        people = list(session.registrations.filter(status__in=PEOPLE_STATUSES)
                      .select_related("participant", "participant__ward")
                      .order_by("participant__kana", "participant__name", "pk"))
        done = {(registration_id, kind): entered for registration_id, kind, entered in
                SelfAssessment.objects.filter(registration__session=session)
                .values_list("registration_id", "kind", "submitted_at")}
        may_enter = can_enter(request.user)
        show_names = privacy.can_see_names(request.user)
        rows = []
        for registration in people:
            registration.session = session  # the rules read the session: no query per person
            checks = []
            for kind in KINDS:
                refusal = assessments.refusal(registration, kind)
                checks.append({
                    "kind": kind, "label": SelfAssessment.Kind(kind).label,
                    "done_at": done.get((registration.pk, kind)),
                    "url": url("enter", registration.pk, kind, source) if may_enter and refusal is None else "",
                    "refusal": refusal.message if refusal else ""})
            rows.append({"registration": registration, "label": person_label(registration, show_names=show_names),
                         "checks": checks})
        return self.render(session=session, rows=rows, source=source, may_enter=may_enter, show_names=show_names,
                           tablet_url=session_url(session.pk, TABLET), paper_url=session_url(session.pk, PAPER),
                           roster_url=reverse("roster:session", args=[session.pk])
                           if can_view_rosters(request.user) else "")


class EntryView(AssessmentBaseView):
    """One person's check of one kind: the questions of the course, the current answers shown. On the tablet
    every question must be answered; from paper a question left blank may stay blank."""

    template_name = "outreach/admin/assessment_entry.html"
    enter_required = True

    def get_page_title(self):
        return SelfAssessment.Kind(self.kind).label

    def get_extra_breadcrumbs(self):
        return [{"url": session_url(self.session.pk, self.source), "label": str(self.session.course.display_title())},
                {"url": None, "label": f"{self.label}: {self.get_page_title()}"}]

    def setup_entry(self, registration_id, kind, source):
        if kind not in KINDS or source not in SOURCES:
            raise Http404
        self.kind, self.source = kind, source
        registrations = visible_registrations(self.request.user).select_related(
            "participant", "participant__ward", "session", "session__course", "session__venue",
            "session__organiser")
        self.registration = get_object_or_404(registrations, pk=registration_id)
        self.session = self.registration.session
        self.label = person_label(self.registration, show_names=privacy.can_see_names(self.request.user))
        self.assessment = SelfAssessment.objects.filter(registration=self.registration, kind=kind).first()
        self.refusal = assessments.refusal(self.registration, kind)

    def make_form(self, data=None):
        previous = assessments.previous_scores(self.registration, self.kind)  # a query even when none: fixed count
        items = assessments.course_items(self.session.course)
        return SelfAssessmentForm(data, items=items, previous=previous, require_all=self.source == TABLET,
                                  prefix="check")

    def render_entry(self, form, status=200):
        return self.render(registration=self.registration, session=self.session, label=self.label, kind=self.kind,
                           source=self.source, form=form, assessment=self.assessment,
                           refusal=self.refusal.message if self.refusal else "",
                           back_url=session_url(self.session.pk, self.source, self.registration.pk), status=status)

    def get(self, request, registration_id, kind, source):
        self.setup_entry(registration_id, kind, source)
        return self.render_entry(None if self.refusal else self.make_form())

    def post(self, request, registration_id, kind, source):
        self.setup_entry(registration_id, kind, source)
        if self.refusal:
            messages.error(request, self.refusal.message)
            return self.render_entry(None, status=400)
        form = self.make_form(request.POST)
        if form.is_valid():
            try:
                assessments.record_self_assessment(registration=self.registration, kind=kind, scores=form.scores(),
                                                   source=SOURCES[source], actor=request.user)
            except assessments.AssessmentError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("%(name)s: can-do check saved (%(kind)s).") % {
                    "name": self.label, "kind": SelfAssessment.Kind(kind).label})
                return redirect(session_url(self.session.pk, source, self.registration.pk))
        messages.error(request, _("Nothing was saved: please answer the questions marked below."))
        return self.render_entry(form, status=400)


# --- Registration with Wagtail -------------------------------------------------------------------------------


class AssessmentMenuItem(MenuItem):
    """Shown to those the views let in (the views enforce it; the menu just does not offer a dead end)."""

    def is_shown(self, request):
        return can_view(request.user)


def register_assessment_menu_item():
    return AssessmentMenuItem(gettext_lazy("Can-do checks"), reverse("self_assessment:index"), name="can_do_checks",
                              icon_name="tasks", order=200)


def register_assessment_urls():
    patterns = [
        path("", IndexView.as_view(), name="index"),
        path("sessions/<int:session_id>/", SessionPeopleView.as_view(), name="session"),
        path("registrations/<int:registration_id>/<str:kind>/<str:source>/", EntryView.as_view(), name="enter"),
    ]
    return [path("can-do/", include((patterns, URL_NAMESPACE), namespace=URL_NAMESPACE))]


def register_assessment_log_actions(actions):
    for action, label in assessments.LOG_ACTIONS.items():
        actions.register_action(action, label, label)
