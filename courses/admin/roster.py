"""The tablet at the door: today's classes, the roster with attended / no-show buttons and walk-ins, a printable
sign-in sheet, and fast entry of the paper sheet afterwards; check-in by the resident's QR code (the camera scan
panel, js/checkin-scan.js) or their typed booking reference, and their booking slip. All under /admin/roster/
(`roster_viewset`).

Thin views: every change goes through courses/attendance.py; a refusal (AttendanceError) becomes an admin message
or a form error and changes nothing.

Who: anyone who may view sessions and registrations sees rosters; only those who may change registrations get the
buttons (a POST without that permission is answered 403). Partner staff see only their own partner's sessions:
every session is loaded through `partners.permissions.scope`, so another partner's ids give 404. What each user sees
of the people (names and kana, who booked for them, accessibility needs) is courses.privacy's: city analysts, who
may open rosters for the counts, see each person as a booking number.
"""

from datetime import date, datetime, time, timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponseBadRequest, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.viewsets.base import ViewSet

from cms import pdf
from courses import attendance, checkin, privacy
from courses.admin.call_centre import can_use_call_centre
from courses.forms import DECLINED, StaffResidenceField
from courses.models import Participant, Registration, Session
from courses.views import slip_pdf
from partners import permissions

URL_NAMESPACE = "roster"
VIEW_PERMISSIONS = ("courses.view_session", "courses.view_registration")
CHANGE_PERMISSION = "courses.change_registration"
UPCOMING_DAYS = 7
SHEET_ROWS_PER_PAGE = 25
SHEET_MIN_BLANK_ROWS = 5
PAPER_WALK_IN_ROWS = 5
PAPER_WALK_IN_ROWS_MAX = 50

Status = Registration.Status


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


def can_view_rosters(user) -> bool:
    return user.is_active and user.has_perms(VIEW_PERMISSIONS)


def can_change_attendance(user) -> bool:
    return can_view_rosters(user) and user.has_perm(CHANGE_PERMISSION)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def _count_of(*statuses):
    """Number of a session's registrations in `statuses`, as a subquery (computed for the listed rows only)."""
    counted = (Registration.objects.filter(session=OuterRef("pk"), status__in=statuses)
               .order_by().values("session").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def visible_sessions(user):
    return permissions.scope(Session.objects.all(), user)


def person_label(registration: Registration, *, show_names: bool) -> str:
    """How a person is named on the roster; a walk-in without a name by age band and ward. For a user who may not
    see names (courses.privacy), by the booking's number."""
    if not show_names:
        return privacy.masked_person(registration)
    person = registration.participant
    if person.name:
        return person.name
    if registration.channel == Registration.Channel.WALK_IN:
        return _("Walk-in (%(age_band)s, %(ward)s)") % {
            "age_band": person.get_age_band_display(), "ward": residence_label(person)}
    return str(person)


def residence_label(person: Participant) -> str:
    """Where a person lives, as the roster shows it: the ward, "Outside the city", "Prefer not to say", or "-"
    when it was never asked."""
    if person.ward_id:
        return str(person.ward)
    return str(person.get_residence_display()) if person.residence else "-"


class RosterGroups:
    """The people of a session in one query, as the roster shows them: the booked people with a seat (by kana),
    the walk-ins (in the order they came) and the waiting list (in its order). Each gets `.label`, its number
    instead of the name unless `show_names`."""

    def __init__(self, session: Session, *, show_names: bool):
        people = list(session.registrations.filter(status__in=Registration.ACTIVE)
                      .select_related("participant", "participant__ward")
                      .order_by("participant__kana", "participant__name", "pk"))
        for registration in people:
            registration.label = person_label(registration, show_names=show_names)
        seated = [r for r in people if r.status in Registration.SEATED]
        self.booked = [r for r in seated if r.channel != Registration.Channel.WALK_IN]
        self.walk_ins = sorted((r for r in seated if r.channel == Registration.Channel.WALK_IN), key=lambda r: r.pk)
        self.waiting = sorted((r for r in people if r.status == Status.WAITLISTED), key=lambda r: r.waitlist_position)


def closed_reason(session: Session) -> str:
    """Why attendance cannot be taken now (empty when it can)."""
    if session.is_cancelled:
        return _("This session was cancelled: there is no attendance to take.")
    if attendance.can_take_attendance(session):
        return ""
    opens, closes = attendance.attendance_window(session)
    if timezone.now() < opens:
        return _("Attendance can be taken from %(date)s, the day of the session.") % {
            "date": f"{timezone.localtime(opens):%Y-%m-%d}"}
    return _("Attendance for this session could be entered until %(date)s and is now closed.") % {
        "date": f"{timezone.localtime(closes):%Y-%m-%d}"}


# --- Forms --------------------------------------------------------------------------------------------------


def _age_band_choices():
    return [("", gettext_lazy("Please choose")), *[(v, label) for v, label in Participant.AgeBand.choices if v],
            (DECLINED, Participant.AgeBand.NOT_GIVEN.label)]


class WalkInForm(forms.Form):
    """Someone who came without booking: age band and where they live for the statistics, the name only if they
    give it. Both answers start empty and are required, each with an explicit "Not given" (and "Outside the city"
    for where they live), stored as on the public registration form (courses.forms.RegistrationForm)."""

    age_band = forms.ChoiceField(
        label=gettext_lazy("Age band"), choices=_age_band_choices,
        error_messages={"required": gettext_lazy("Choose the age band (or “Not given”).")})
    ward = StaffResidenceField(
        label=gettext_lazy("Where they live"),
        error_messages={"required": gettext_lazy("Choose the ward, “Outside the city” or “Not given”."),
                        "invalid_choice": gettext_lazy("Choose the ward, “Outside the city” or “Not given”.")})
    name = forms.CharField(label=gettext_lazy("Name (optional)"), max_length=100, required=False)
    kana = forms.CharField(label=gettext_lazy("Name in kana (optional)"), max_length=100, required=False)

    def clean_age_band(self):
        """The stored band; "Not given" is stored as no band."""
        value = self.cleaned_data["age_band"]
        return Participant.AgeBand.NOT_GIVEN.value if value == DECLINED else value

    def walk_in(self) -> dict:
        """The arguments of attendance.add_walk_in (age_band, ward, residence, name, kana)."""
        data = self.cleaned_data
        ward, residence = self.fields["ward"].split(data["ward"])
        return {"age_band": data["age_band"], "ward": ward, "residence": residence, "name": data["name"],
                "kana": data["kana"]}


def walk_in_formset(*args, rows: int = PAPER_WALK_IN_ROWS, **kwargs):
    """`rows` empty walk-in rows (a bound formset takes its number of rows from the data); empty rows are skipped."""
    formset = forms.formset_factory(WalkInForm, extra=rows, max_num=PAPER_WALK_IN_ROWS_MAX,
                                    absolute_max=PAPER_WALK_IN_ROWS_MAX)
    return formset(*args, prefix="walk_in", **kwargs)

UNMARKED, ATTENDED, NO_SHOW = "", "attended", "no_show"
_SHOWN_STATE = {Status.CONFIRMED: UNMARKED, Status.ATTENDED: ATTENDED, Status.NO_SHOW: NO_SHOW,
                Status.WAITLISTED: UNMARKED}
_TO_SERVICE = {UNMARKED: None, ATTENDED: True, NO_SHOW: False}


class PaperEntryForm(forms.Form):
    """The paper sheet, person by person: not marked / attended / no-show, prefilled with the current state.

    Only rows changed on this form are applied (each row remembers what it showed, as a hidden initial value), so
    a mark made at the door meanwhile is not overwritten by a row nobody touched. "Mark all unmarked as attended"
    applies to the rows shown unmarked and left so.
    """

    mark_unmarked_attended = forms.BooleanField(
        label=gettext_lazy("Mark everyone still “not marked” as attended"), required=False)

    def __init__(self, *args, registrations, show_names: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.show_names = show_names
        self.rows = []
        for registration in registrations:
            if registration.status == Status.WAITLISTED:
                choices = [(UNMARKED, gettext_lazy("Did not come")),
                           (ATTENDED, gettext_lazy("Came: give a seat, attended"))]
            else:
                choices = [(UNMARKED, gettext_lazy("Not marked")), (ATTENDED, gettext_lazy("Attended")),
                           (NO_SHOW, gettext_lazy("No-show"))]
            name = f"reg_{registration.pk}"
            self.fields[name] = forms.ChoiceField(
                label=person_label(registration, show_names=show_names), choices=choices, required=False,
                widget=forms.RadioSelect, initial=_SHOWN_STATE[registration.status], show_hidden_initial=True)
            self.rows.append((registration, name))

    def bound_rows(self) -> list[dict]:
        return [{"registration": registration, "field": self[name],
                 "label": person_label(registration, show_names=self.show_names),
                 "hidden_initial": self[name].as_hidden(only_initial=True)} for registration, name in self.rows]

    def changes(self):
        """(registration, field name, attended: True/False/None, or attendance.IF_UNMARKED) for each row to apply."""
        changed = set(self.changed_data)
        for registration, name in self.rows:
            value = self.cleaned_data.get(name) or UNMARKED
            if name in changed:
                yield registration, name, _TO_SERVICE[value]
            elif (value == UNMARKED and self.cleaned_data.get("mark_unmarked_attended")
                  and registration.status != Status.WAITLISTED):
                yield registration, name, attendance.IF_UNMARKED


# --- Views --------------------------------------------------------------------------------------------------


class RosterBaseView(WagtailAdminTemplateMixin, View):
    """Permission check before anything is loaded; sessions only through the user's scope."""

    header_icon = "clipboard-list"
    change_required = False

    def dispatch(self, request, *args, **kwargs):
        if not can_view_rosters(request.user):
            raise PermissionDenied  # the admin turns this into a redirect home with a message
        privacy.rights(request.user)  # what of people the user sees; its query also answers the partner scope's
        if (request.method == "POST" or self.change_required) and not can_change_attendance(request.user):
            return HttpResponseForbidden(_("You may view rosters but not change attendance."))
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": url("today"), "label": _("Today's classes")},
                *self.get_extra_breadcrumbs()]

    def get_extra_breadcrumbs(self):
        return [{"url": None, "label": self.get_page_title()}]

    def load_session(self) -> Session:
        sessions = visible_sessions(self.request.user).select_related("course", "venue", "venue__ward", "organiser")
        self.session = get_object_or_404(sessions, pk=self.kwargs["session_id"])
        return self.session

    def load_registration(self, *statuses) -> Registration:
        """A registration of the (scoped) session in the URL; any other id is 404."""
        registrations = self.session.registrations.select_related("participant", "participant__ward")
        if statuses:
            registrations = registrations.filter(status__in=statuses)
        return get_object_or_404(registrations, pk=self.kwargs["registration_id"])

    def roster_url(self, registration=None) -> str:
        address = url("session", self.session.pk)
        return f"{address}#person-{registration.pk}" if registration is not None else address

    @property
    def shown(self) -> dict:
        """What of people the user may see (courses.privacy), for the templates: show_names, show_notes."""
        user = self.request.user
        return {"show_names": privacy.can_see_names(user), "show_notes": privacy.can_see_notes(user)}

    def label(self, registration) -> str:
        return person_label(registration, show_names=privacy.can_see_names(self.request.user))

    def render(self, status=200, **context):
        return self.render_to_response(self.get_context_data(**self.shown, **context), status=status)


class TodayView(RosterBaseView):
    """The signed-in staff member's classes of a day (today by default), each a tap to its roster; then the
    next seven days. One query for the sessions whatever their number."""

    template_name = "courses/admin/roster/today.html"
    page_title = gettext_lazy("Today's classes")

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": None, "label": self.get_page_title()}]

    def get(self, request):
        today = timezone.localdate()
        day = today
        field = forms.DateField(required=False)
        try:
            day = field.clean(request.GET.get("date", "")) or today
        except forms.ValidationError:
            messages.error(request, _("Not a date: %(value)s") % {"value": request.GET.get("date", "")[:20]})
        until = day + timedelta(days=UPCOMING_DAYS + 1)
        sessions = list(
            visible_sessions(request.user)
            .filter(starts_at__gte=_day_start(day), starts_at__lt=_day_start(until))
            .annotate(seated_count=_count_of(*Registration.SEATED), waitlist_count=_count_of(Status.WAITLISTED),
                      attended_count=_count_of(Status.ATTENDED))
            .select_related("course", "venue", "organiser")
            .order_by("starts_at", "pk"))
        on_day, later = [], {}
        for session in sessions:
            local_day = timezone.localdate(session.starts_at)
            if local_day == day:
                on_day.append(session)
            else:
                later.setdefault(local_day, []).append(session)
        ids = permissions.partner_ids(request.user)
        return self.render(
            day=day, today=today, is_today=day == today, sessions=on_day,
            later=sorted(later.items()), previous_day=day - timedelta(days=1), next_day=day + timedelta(days=1),
            show_organiser=ids is None or len(ids) > 1)


class RosterView(RosterBaseView):
    """The people of one session, with the buttons; the walk-in form; the summary line."""

    template_name = "courses/admin/roster/roster.html"

    def get_page_title(self):
        return str(self.session.course.display_title())

    def get(self, request, session_id):
        self.load_session()
        return self.render_roster()

    def render_roster(self, *, walk_in_form=None, status=200):
        session = self.session
        groups = RosterGroups(session, show_names=privacy.can_see_names(self.request.user))
        summary = attendance.attendance_summary(session)
        reason = closed_reason(session)
        user = self.request.user
        return self.render(
            session=session, booked=groups.booked, walk_ins=groups.walk_ins, waiting=groups.waiting, summary=summary,
            seats_left=max(session.capacity - summary["seated"], 0), closed_reason=reason,
            can_mark=not reason and can_change_attendance(user),
            walk_in_form=walk_in_form or WalkInForm(), can_book=can_use_call_centre(user),
            can_assess=user.has_perm("outreach.add_selfassessment"),
            book_url=reverse("call_centre:book", args=[session.pk]), status=status)


def wants_json(request) -> bool:
    """Whether the roster's script asked for JSON (js/roster-mark.js) rather than the page a form gets."""
    return "application/json" in request.headers.get("Accept", "")


class MarkView(RosterBaseView):
    """POST action=attended | no_show | undo for one person; back to the roster at that person.

    Asked for JSON (Accept: application/json, by js/roster-mark.js: a tap marks in place), the answer is what the
    page needs to follow the server: `ok`, the `message` (done, or why not), the person's row re-rendered as the
    roster shows it (`html`), the `summary` counts, and `reload` when the person moves between the lists (a
    waiting-list person given a seat) so the script loads the roster instead. A refusal is a 409 with the current
    row; an unknown action 400. Nothing goes to the admin messages then (the page is not reloaded to show them)."""

    ACTIONS = {"attended": True, "no_show": False, "undo": None}

    def post(self, request, session_id, registration_id):
        self.load_session()
        registration = self.load_registration(*Registration.ACTIVE)
        action = request.POST.get("action", "")
        as_json = wants_json(request)
        if action not in self.ACTIONS:
            if as_json:
                return JsonResponse({"ok": False, "message": _("Unknown action.")}, status=400)
            return HttpResponseBadRequest(_("Unknown action."))
        label = self.label(registration)
        before = registration.status
        try:
            marked = attendance.mark_attendance(registration=registration, attended=self.ACTIONS[action],
                                                actor=request.user)
        except attendance.AttendanceError as exc:
            message = f"{label}: {exc.message}"
            if as_json:
                return self.json_answer(registration, ok=False, message=message, status=409)
            messages.error(request, message)
            return redirect(self.roster_url(registration))
        done = {Status.ATTENDED: _("%(name)s: attended."), Status.NO_SHOW: _("%(name)s: no-show."),
                Status.CONFIRMED: _("%(name)s: mark undone, not marked yet.")}[marked.status]
        if as_json:
            registration.status = marked.status
            return self.json_answer(registration, ok=True, message=done % {"name": label},
                                    reload=Status.WAITLISTED in (before, marked.status))
        messages.success(request, done % {"name": label})
        return redirect(self.roster_url(marked))

    def json_answer(self, registration, *, ok: bool, message: str, reload: bool = False, status: int = 200):
        """The person's row and the counts as the server now holds them (2 queries: the counts, and the row's status
        when a refusal may mean someone else changed it meanwhile)."""
        if not ok:
            registration.refresh_from_db(fields=["status", "waitlist_position"])
        reload = reload or registration.status == Status.WAITLISTED
        if reload:  # the script loads the roster again: the answer goes with it, as without JavaScript
            (messages.success if ok else messages.error)(self.request, message)
        registration.label = self.label(registration)
        html = "" if reload else render_to_string("courses/admin/roster/_person.html", {
            "registration": registration, "session": self.session,
            "can_mark": not closed_reason(self.session) and can_change_attendance(self.request.user), **self.shown,
        }, request=self.request)
        return JsonResponse({
            "ok": ok, "message": message, "registration": registration.pk, "status": registration.status,
            "html": html, "reload": reload, "roster_url": self.roster_url(registration),
            "summary": attendance.attendance_summary(self.session),
        }, status=status)


class CheckInView(RosterBaseView):
    """POST code=<a scanned check-in code or a typed booking reference>: check the person in at this session
    (courses.checkin.check_in) and say who was marked, or why not.

    The scan panel's script asks for JSON (Accept: application/json) and shows the answer in its live region; the
    typed-reference form without JavaScript is a plain POST answered with the same words as an admin message, back
    on the roster at that person. Always 200 for an answer about the code (a refusal is news for the door, not a
    client error): the script tells "not reached" (no answer) from "refused" (an answer)."""

    def get(self, request, session_id):
        return redirect(url("session", session_id))

    def post(self, request, session_id):
        session = self.load_session()
        outcome = checkin.check_in(request.POST.get("code", "")[:200], session, request.user)
        registration = outcome.registration
        here = registration is not None and registration.session_id == session.pk
        if "application/json" in request.headers.get("Accept", ""):
            return JsonResponse({
                "ok": outcome.ok, "kind": outcome.kind, "message": outcome.message,
                "registration": registration.pk if here else None,
                "status": registration.status if here else None,
                "status_label": (str(registration.get_status_display()) if here else None),
                "summary": attendance.attendance_summary(session) if outcome.kind == checkin.Kind.MARKED else None,
            })
        notify = {checkin.Kind.MARKED: messages.success, checkin.Kind.ALREADY: messages.info}.get(
            outcome.kind, messages.warning if registration is not None else messages.error)
        notify(request, outcome.message)
        return redirect(self.roster_url(registration if here else None))


class SlipView(RosterBaseView):
    """A booking's slip (控え) as a PDF, to print at the door for someone who came without it: the same slip as the
    resident's page (courses.views.slip_pdf). Only for a session the user's partner scope lets them see, and only
    for users who may see names (the slip carries the name)."""

    def get(self, request, session_id, registration_id):
        self.load_session()
        registration = self.load_registration(*Registration.ACTIVE)
        if not privacy.can_see_names(request.user):
            return HttpResponseForbidden(_("You may not see names, so you cannot print a booking slip."))
        registration.session = self.session  # loaded with its course and venue
        return slip_pdf(request, registration)


class WalkInView(RosterView):
    """POST: add a walk-in; form errors are shown on the roster."""

    def get(self, request, session_id):
        return redirect(url("session", session_id))

    def post(self, request, session_id):
        self.load_session()
        form = WalkInForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("The walk-in was not added: choose the age band and where they live."))
            return self.render_roster(walk_in_form=form, status=400)
        try:
            registration = attendance.add_walk_in(session=self.session, **form.walk_in(), actor=request.user)
        except attendance.AttendanceError as exc:
            messages.error(request, exc.message)
            return self.render_roster(walk_in_form=form, status=400)
        messages.success(request, _("Walk-in added: %(name)s.") % {"name": self.label(registration)})
        return redirect(self.roster_url(registration))


class RemoveWalkInView(RosterBaseView):
    def post(self, request, session_id, registration_id):
        self.load_session()
        registration = self.load_registration()
        label = self.label(registration)
        try:
            attendance.remove_walk_in(registration=registration, actor=request.user)
        except attendance.AttendanceError as exc:
            messages.error(request, f"{label}: {exc.message}")
            return redirect(self.roster_url(registration))
        messages.success(request, _("Walk-in removed: %(name)s.") % {"name": label})
        return redirect(self.roster_url())


def sheet_pages(people: list, *, per_page: int = SHEET_ROWS_PER_PAGE, min_blank: int = SHEET_MIN_BLANK_ROWS):
    """Rows of the sign-in sheet in pages of `per_page`: the people, then blank rows for walk-ins that fill the
    last page, at least `min_blank` of them (a new page when the last one has no room)."""
    blank = (per_page - len(people) % per_page) % per_page
    if blank < min_blank:
        blank += per_page
    rows = [{"number": n, "registration": r} for n, r in enumerate(people, start=1)]
    rows += [{"number": n, "registration": None} for n in range(len(people) + 1, len(people) + blank + 1)]
    return [rows[i:i + per_page] for i in range(0, len(rows), per_page)]


class SheetView(RosterBaseView):
    """The printable sign-in sheet: a plain page (no admin chrome), A4 portrait, 25 rows a page."""

    template_name = "courses/admin/roster/sheet.html"

    def get(self, request, session_id):
        session = self.load_session()
        groups = RosterGroups(session, show_names=privacy.can_see_names(request.user))
        pages = sheet_pages([*groups.booked, *groups.walk_ins, *groups.waiting])
        context = {"session": session, "pages": pages, "page_count": len(pages), "roster_url": self.roster_url(),
                   "pdf_url": f"{request.path}?format=pdf", **self.shown}
        if request.GET.get("format") == "pdf":  # the same sheet as a PDF made on the server (cms.pdf)
            html = render_to_string(self.template_name, context | {"pdf": True}, request=request)
            day = timezone.localtime(session.starts_at).strftime("%Y%m%d")
            return pdf.response(html, f"sign-in-sheet-{day}-{session.pk}.pdf")
        return TemplateResponse(request, self.template_name, context)


class PaperEntryView(RosterBaseView):
    """Enter a filled-in paper sheet: every row at once, applied in one transaction or not at all."""

    template_name = "courses/admin/roster/enter.html"
    change_required = True

    def get_page_title(self):
        return _("Enter the paper sheet")

    def get_extra_breadcrumbs(self):
        return [{"url": self.roster_url(), "label": str(self.session.course.display_title())},
                {"url": None, "label": self.get_page_title()}]

    def registrations(self):
        self.groups = RosterGroups(self.session, show_names=privacy.can_see_names(self.request.user))
        return [*self.groups.booked, *self.groups.waiting]

    def entry_form(self, data=None):
        return PaperEntryForm(data, registrations=self.registrations(),
                              show_names=privacy.can_see_names(self.request.user))

    def walk_in_rows(self) -> int:
        try:
            return min(max(int(self.request.GET.get("walk_ins", PAPER_WALK_IN_ROWS)), 1), PAPER_WALK_IN_ROWS_MAX)
        except ValueError:
            return PAPER_WALK_IN_ROWS

    def render_form(self, form, formset, status=200):
        rows = self.walk_in_rows()
        return self.render(session=self.session, form=form, formset=formset, walk_ins=self.groups.walk_ins,
                           closed_reason=closed_reason(self.session), roster_url=self.roster_url(),
                           more_rows_url=f"{url('enter', self.session.pk)}?walk_ins={rows + 5}", status=status)

    def get(self, request, session_id):
        self.load_session()
        return self.render_form(self.entry_form(), walk_in_formset(rows=self.walk_in_rows()))

    def post(self, request, session_id):
        self.load_session()
        form = self.entry_form(request.POST)
        formset = walk_in_formset(request.POST)
        if closed_reason(self.session):
            messages.error(request, closed_reason(self.session))
            return self.render_form(form, formset, status=400)
        if not (form.is_valid() and formset.is_valid()):
            messages.error(request, _("Nothing was saved: please correct the rows marked below."))
            return self.render_form(form, formset, status=400)
        applied = self.apply(form, formset)
        if applied is None:
            messages.error(request, _("Nothing was saved: please correct the rows marked below."))
            return self.render_form(form, formset, status=400)
        messages.success(request, _("The paper sheet was entered: %(marks)d marks changed, %(walk_ins)d walk-ins "
                                    "added.") % applied)
        return redirect(self.roster_url())

    def apply(self, form, formset) -> dict | None:
        """The sheet through attendance.enter_paper_sheet (all or nothing); each refused row gets its message and
        None is returned."""
        changes = list(form.changes())
        rows = [row for row in formset if row.has_changed()]
        result = attendance.enter_paper_sheet(
            session=self.session, marks=[(registration, attended) for registration, _name, attended in changes],
            walk_ins=[row.walk_in() for row in rows], actor=self.request.user)
        for index, message in result.mark_errors.items():
            form.add_error(changes[index][1], message)
        for index, message in result.walk_in_errors.items():
            rows[index].add_error(None, message)
        return {"marks": result.marks, "walk_ins": result.walk_ins} if result.ok else None


# --- ViewSet ------------------------------------------------------------------------------------------------


class RosterMenuItem(MenuItem):
    """Shown to those the views let in (the views enforce it; the menu just does not offer a dead end)."""

    def is_shown(self, request):
        return can_view_rosters(request.user)


class RosterViewSet(ViewSet):
    """/admin/roster/: today's classes, rosters and check-in (buttons, codes, typed references), booking slips,
    sign-in sheets, paper-sheet entry."""

    name = "roster"
    url_namespace = URL_NAMESPACE
    url_prefix = "roster"
    icon = "clipboard-list"
    menu_label = gettext_lazy("Today's classes")
    menu_order = 140  # before the call centre
    add_to_admin_menu = True

    def get_urlpatterns(self):
        return [
            path("", TodayView.as_view(), name="today"),
            path("<int:session_id>/", RosterView.as_view(), name="session"),
            path("<int:session_id>/people/<int:registration_id>/mark/", MarkView.as_view(), name="mark"),
            path("<int:session_id>/check-in/", CheckInView.as_view(), name="check_in"),
            path("<int:session_id>/people/<int:registration_id>/slip.pdf", SlipView.as_view(), name="slip"),
            path("<int:session_id>/walk-ins/", WalkInView.as_view(), name="walk_in"),
            path("<int:session_id>/walk-ins/<int:registration_id>/remove/", RemoveWalkInView.as_view(),
                 name="remove_walk_in"),
            path("<int:session_id>/sheet/", SheetView.as_view(), name="sheet"),
            path("<int:session_id>/enter/", PaperEntryView.as_view(), name="enter"),
        ]

    def get_menu_item(self, order=None):
        return RosterMenuItem(self.menu_label, reverse(self.get_url_name("today")), name=self.menu_name,
                              icon_name=self.menu_icon, order=self.get_menu_item_order(order))


roster_viewset = RosterViewSet()
