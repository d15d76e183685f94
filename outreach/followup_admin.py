"""Follow-ups in the admin, under /admin/follow-ups/ (namespace "follow_up"): staff type in the answers of a paper
sheet, of a phone call from the call list, or hand the tablet to a resident at a later class.

Who: the people who enter can-do checks (view/add/change self-assessments and view registrations), within their
partner scope (another partner's registration gives 404): the pages share their views with the can-do checks'
(outreach.admin.signed_entry). Thin views: the rules are in outreach.followups (attended, class not cancelled; not
limited in time for staff).
"""

from datetime import timedelta

from django.db.models import Count, Q
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from courses import privacy
from courses.admin.roster import person_label
from courses.models import Registration
from outreach import followups
from outreach.admin import signed_entry
from outreach.admin.signed_entry import (
    EntryIndexView,
    EntryMenuItem,
    EntrySessionView,
    can_enter,
    entry_urls,
    register_log_actions,
)
from outreach.followup_forms import FollowUpForm
from outreach.models import FollowUp

URL_NAMESPACE = "follow_up"
SOURCES = {"paper": FollowUp.Source.PAPER, "phone": FollowUp.Source.PHONE, "tablet": FollowUp.Source.TABLET}
# Sessions offered on the start page: those that ended in the last RECENT_DAYS (follow-ups come back for weeks).
RECENT_DAYS = 120


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


class FollowUpBaseView(signed_entry.SignedEntryBaseView):
    index_url_name = f"{URL_NAMESPACE}:index"
    index_label = gettext_lazy("Follow-ups")


class IndexView(FollowUpBaseView, EntryIndexView):
    """Find whose answers to enter: a registration number, or a session that ended in the last RECENT_DAYS."""

    template_name = "outreach/followup/admin_index.html"
    page_title = gettext_lazy("Follow-ups")
    recent_days = RECENT_DAYS

    def found_url(self, registration):
        return url("enter", registration.pk, "paper")

    def session_window(self, now):
        return Q(ends_at__lte=now, ends_at__gt=now - timedelta(days=RECENT_DAYS))

    def session_counts(self):
        attended = Q(registrations__status=Registration.Status.ATTENDED)
        return {"attended_count": Count("registrations", filter=attended),
                "answered_count": Count("registrations", filter=attended & Q(registrations__follow_up__isnull=False))}


class SessionPeopleView(FollowUpBaseView, EntrySessionView):
    """The people who attended one session, each with whether their follow-up is recorded and how to enter it."""

    template_name = "outreach/followup/admin_session.html"

    def get(self, request, session_id):
        session = self.load_session(session_id)
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


class EntryView(FollowUpBaseView, signed_entry.EntryView):
    """One person's follow-up: every question, the current answers shown (nothing chosen on a first entry)."""

    template_name = "outreach/followup/admin_entry.html"
    page_title = gettext_lazy("Follow-up")
    error_class = followups.FollowUpError

    def session_url(self):
        return url("session", self.session.pk)

    def back_url(self):
        return f"{url('session', self.session.pk)}#person-{self.registration.pk}"

    def setup_entry(self, registration_id, source):
        if source not in SOURCES:
            raise Http404
        self.source = source
        self.load_registration(registration_id)
        self.follow_up = FollowUp.objects.filter(registration=self.registration).first()
        self.refusal = followups.refusal(self.registration)

    def make_form(self, data=None):
        return FollowUpForm(data, tasks=followups.asked_tasks(),
                            previous=followups.previous_answers(self.registration), prefix="follow_up")

    def entry_context(self):
        return {"source_label": dict(_source_labels())[self.source], "follow_up": self.follow_up}

    def record(self, form):
        followups.record_follow_up(registration=self.registration, answers=form.answers(),
                                   source=SOURCES[self.source], actor=self.request.user)

    def saved_message(self):
        return _("%(name)s: follow-up saved.") % {"name": self.label}


class FollowUpMenuItem(EntryMenuItem):
    pass


def register_follow_up_menu_item():
    return FollowUpMenuItem(gettext_lazy("Follow-ups"), reverse("follow_up:index"), name="follow_ups",
                            icon_name="tasks", order=210)


def register_follow_up_urls():
    return entry_urls("follow-ups/", URL_NAMESPACE, index=IndexView, session=SessionPeopleView, entry=EntryView,
                      entry_route="registrations/<int:registration_id>/<str:source>/")


def register_follow_up_log_actions(actions):
    register_log_actions(actions, followups.LOG_ACTIONS)
