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

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from courses import privacy
from courses.admin.roster import can_view_rosters, person_label
from courses.models import Registration
from outreach import assessments
from outreach.admin import signed_entry
from outreach.admin.signed_entry import (
    ENTER_PERMISSIONS,
    SESSIONS_PER_PAGE,
    VIEW_PERMISSIONS,
    EntryIndexView,
    EntryMenuItem,
    EntrySessionView,
    SignedEntryBaseView,
    can_enter,
    can_view,
    entry_urls,
    register_log_actions,
    visible_registrations,
    visible_sessions,
)
from outreach.assessment_forms import SelfAssessmentForm
from outreach.models import SelfAssessment
from partners import permissions

__all__ = ["ENTER_PERMISSIONS", "SESSIONS_PER_PAGE", "VIEW_PERMISSIONS", "can_enter", "can_view",
           "visible_registrations", "visible_sessions"]

URL_NAMESPACE = "self_assessment"
TABLET, PAPER = "tablet", "paper"
SOURCES = {TABLET: SelfAssessment.Source.TABLET, PAPER: SelfAssessment.Source.PAPER}
KINDS = (SelfAssessment.Kind.PRE, SelfAssessment.Kind.POST)
# Sessions offered on the start page: the last RECENT_DAYS (paper sheets are typed in afterwards) and the next days.
RECENT_DAYS = 60
AHEAD_DAYS = 7
# The people a check can be about: those with a seat (no-shows took no course; the waiting list has no seat).
PEOPLE_STATUSES = (Registration.Status.CONFIRMED, Registration.Status.ATTENDED)


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


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


class AssessmentBaseView(SignedEntryBaseView):
    """Permission check before anything is loaded; sessions and registrations only through the user's scope
    (outreach.admin.signed_entry)."""

    index_url_name = f"{URL_NAMESPACE}:index"
    index_label = gettext_lazy("Can-do checks")


class IndexView(AssessmentBaseView, EntryIndexView):
    """Find whom to enter a check for: a registration number, or a recent session (newest first)."""

    template_name = "outreach/admin/assessment_index.html"
    page_title = gettext_lazy("Can-do checks")
    found_fields = ("pk", "session_id")
    recent_days = RECENT_DAYS

    def found_url(self, registration):
        return session_url(registration.session_id, PAPER, registration.pk)

    def session_window(self, now):
        return Q(starts_at__gte=now - timedelta(days=RECENT_DAYS), starts_at__lt=now + timedelta(days=AHEAD_DAYS))

    def session_counts(self):
        return {"people_count": _count_people(), "pre_count": _count_assessments(SelfAssessment.Kind.PRE),
                "post_count": _count_assessments(SelfAssessment.Kind.POST)}

    def index_context(self):
        ids = permissions.partner_ids(self.request.user)
        return {"show_organiser": ids is None or len(ids) > 1}


class SessionPeopleView(AssessmentBaseView, EntrySessionView):
    """The people with a seat in one session, each with a "before" and an "after" button that says whether it
    was done. `?source=tablet` (at the class, the default) or `?source=paper` (typing in sheets)."""

    template_name = "outreach/admin/assessment_session.html"

    def get(self, request, session_id):
        session = self.load_session(session_id)
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


class EntryView(AssessmentBaseView, signed_entry.EntryView):
    """One person's check of one kind: the questions of the course, the current answers shown. On the tablet
    every question must be answered; from paper a question left blank may stay blank."""

    template_name = "outreach/admin/assessment_entry.html"
    registration_related = ("participant", "participant__ward", "session", "session__course", "session__venue",
                            "session__organiser")
    error_class = assessments.AssessmentError

    def get_page_title(self):
        return SelfAssessment.Kind(self.kind).label

    def session_url(self):
        return session_url(self.session.pk, self.source)

    def back_url(self):
        return session_url(self.session.pk, self.source, self.registration.pk)

    def setup_entry(self, registration_id, kind, source):
        if kind not in KINDS or source not in SOURCES:
            raise Http404
        self.kind, self.source = kind, source
        self.load_registration(registration_id)
        self.assessment = SelfAssessment.objects.filter(registration=self.registration, kind=kind).first()
        self.refusal = assessments.refusal(self.registration, kind)

    def make_form(self, data=None):
        previous = assessments.previous_scores(self.registration, self.kind)  # a query even when none: fixed count
        items = assessments.course_items(self.session.course)
        return SelfAssessmentForm(data, items=items, previous=previous, require_all=self.source == TABLET,
                                  prefix="check")

    def entry_context(self):
        return {"kind": self.kind, "assessment": self.assessment}

    def record(self, form):
        assessments.record_self_assessment(registration=self.registration, kind=self.kind, scores=form.scores(),
                                           source=SOURCES[self.source], actor=self.request.user)

    def saved_message(self):
        return _("%(name)s: can-do check saved (%(kind)s).") % {
            "name": self.label, "kind": SelfAssessment.Kind(self.kind).label}


# --- Registration with Wagtail -------------------------------------------------------------------------------


class AssessmentMenuItem(EntryMenuItem):
    """Shown to those the views let in (the views enforce it; the menu just does not offer a dead end)."""


def register_assessment_menu_item():
    return AssessmentMenuItem(gettext_lazy("Can-do checks"), reverse("self_assessment:index"), name="can_do_checks",
                              icon_name="tasks", order=200)


def register_assessment_urls():
    return entry_urls("can-do/", URL_NAMESPACE, index=IndexView, session=SessionPeopleView, entry=EntryView,
                      entry_route="registrations/<int:registration_id>/<str:kind>/<str:source>/")


def register_assessment_log_actions(actions):
    register_log_actions(actions, assessments.LOG_ACTIONS)
