"""Admin for sessions (/admin/sessions/): list with filters, create, edit (move), copy to another date, cancel,
delete an unused one, assign instructors and assistants, and the city's emergency cancellation.

Who sees what is decided by the permission policy registered for Session (courses.permissions): every view
below loads sessions through it, so partner staff get 404 for another partner's session, never its data; the
filter and form choices (courses, venues, organisers, staff) are limited the same way.

Thin views: a change of time, venue or capacity goes through services.move_session and a cancellation through
services.cancel_session, so everyone booked is told; a refusal from a service (RegistrationError) becomes a
form error and nothing is saved. Only notes, the online link and staff are written here directly.

Deleting: only a session nobody ever registered for (the policy says so); otherwise cancel it.
"""

from datetime import datetime, timedelta

import django_filters
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.validators import MinValueValidator
from django.db import transaction
from django.db.models import Count, F, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext
from django.views import View
from wagtail.admin import messages
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.ui.menus import MenuItem
from wagtail.admin.ui.tables import Column, TitleColumn
from wagtail.admin.views import generic
from wagtail.admin.views.generic import history
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets.button import Button, HeaderButton

from cms.templatetags.dekiru import session_when
from courses import emergency, services
from courses.admin.call_centre import can_use_call_centre
from courses.models import CourseGroupPage, CoursePage, Session, SessionStaff
from courses.permissions import session_permission_policy as policy
from partners import permissions as partner_permissions
from partners.models import Partner, Venue, Ward

URL_NAMESPACE = "sessions"
ANY_ACTION = ["view", "add", "change", "delete"]
EMERGENCY_PERMISSION = "courses.change_session"


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


# --- What a user may choose ------------------------------------------------------------------------------------


def courses_for(user):
    """Course pages a user may put sessions on: every course for city staff, the courses under their partners'
    course group pages for partner staff."""
    courses = CoursePage.objects.order_by("title")
    ids = policy.partner_ids(user)
    if ids is None:
        return courses
    in_groups = Q(pk__in=[])
    for group in CourseGroupPage.objects.filter(partner_id__in=ids).only("path", "depth"):
        in_groups |= Q(path__startswith=group.path, depth__gt=group.depth)
    return courses.filter(in_groups)


def venues_for(user):
    """Venues a user may hold sessions at: all for city staff; their partners' own and the city's for partner
    staff."""
    return partner_permissions.usable_venues(policy.partner_ids(user))


def organisers_for(user):
    partners = Partner.objects.filter(is_active=True)
    ids = policy.partner_ids(user)
    return partners if ids is None else partners.filter(pk__in=ids)


def staff_candidates(*, user, session: Session):
    """Who may be assigned to a session: active members of its organiser, the signed-in user when they are city
    staff, and whoever is assigned already (so that saving never drops them silently)."""
    allowed = Q(partner_memberships__partner_id=session.organiser_id, partner_memberships__partner__is_active=True)
    if partner_permissions.is_city_staff(user):
        allowed |= Q(pk=user.pk)
    allowed |= Q(pk__in=SessionStaff.objects.filter(session=session).values("user"))
    return get_user_model().objects.filter(allowed, is_active=True).distinct().order_by("last_name", "first_name",
                                                                                        "username")


def user_label(user) -> str:
    return user.get_full_name() or user.get_username()


def can_cancel_in_emergency(user) -> bool:
    """City staff who may change sessions: city administrators and programme officers."""
    return partner_permissions.is_city_staff(user) and user.has_perm(EMERGENCY_PERMISSION)


def is_understaffed(session) -> bool:
    """From the session's prefetched staff and annotated confirmed count: no query."""
    return SessionStaff.is_understaffed(staff_count=len(session.staff_assignments.all()),
                                        confirmed_count=session.confirmed_count)


def staffing_window() -> timedelta:
    """How far ahead the sessions list warns about staffing (DEKIRU_STAFFING_WARNING_DAYS, default 14): further
    out, staff are still being assigned and a warning on every row is noise."""
    return timedelta(days=getattr(settings, "DEKIRU_STAFFING_WARNING_DAYS", 14))


def warn_understaffed(session, *, now: datetime | None = None) -> bool:
    """Whether the list flags the session: scheduled, not over, starting within the staffing window, and short of
    staff by the rule (SessionStaff.is_understaffed). No query."""
    now = now or timezone.now()
    return (not session.is_cancelled and session.ends_at > now and session.starts_at <= now + staffing_window()
            and is_understaffed(session))


def understaffed_soon(sessions, *, now: datetime | None = None):
    """The sessions `warn_understaffed` flags, as a database filter (the list's 「スタッフ不足」 filter)."""
    now = now or timezone.now()
    staff_count = Subquery(SessionStaff.objects.filter(session=OuterRef("pk")).order_by()
                           .values("session").annotate(n=Count("pk")).values("n"))
    return (sessions.filter(status=Session.Status.SCHEDULED, ends_at__gt=now, starts_at__lte=now + staffing_window())
            .annotate(staff_count_now=Coalesce(staff_count, 0))
            .filter(confirmed_count__gt=F("staff_count_now") * SessionStaff.ATTENDEES_PER_STAFF))


def status_label(session, *, now: datetime | None = None) -> str:
    """What the list says about a session: cancelled, ended, in progress or scheduled — a session in the past is
    never 「開催予定」."""
    now = now or timezone.now()
    if session.is_cancelled:
        return session.get_status_display()
    if session.ends_at <= now:
        return pgettext("session status", "Ended")
    if session.starts_at <= now:
        return pgettext("session status", "In progress")
    return session.get_status_display()


def with_details(sessions):
    """What the session pages show, in a fixed number of queries whatever the number of sessions."""
    return (sessions.with_counts().select_related("course", "venue", "venue__ward", "organiser")
            .prefetch_related(Prefetch("staff_assignments",
                                       queryset=SessionStaff.objects.select_related("user").order_by("role", "pk"))))


def local_times(session) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return session.starts_at.astimezone(tz), session.ends_at.astimezone(tz)


# --- Times entered as a date, a start and an end: a class after midnight is said so, never guessed -------------

END_BEFORE_START = gettext_lazy("The end is before the start. If the class ends after midnight, tick “Ends the next "
                                "day”.")
TOO_LONG_NEXT_DAY = gettext_lazy("With “Ends the next day” ticked, the class would last 24 hours or more. Check the "
                                 "end time.")


def ends_next_day_field(help_text=None) -> forms.BooleanField:
    return forms.BooleanField(
        label=gettext_lazy("Ends the next day"), required=False,
        help_text=help_text or gettext_lazy("Tick this only for a class that ends after midnight: the end time is then "
                                            "on the day after the date."))


def combine_times(day, start, end, *, next_day: bool) -> tuple[datetime, datetime, str | None]:
    """The start and end of a session entered as a local date, a start time, an end time and the “Ends the next
    day” box, and the error for the end time (None when they make sense). An end at or before the start is an
    error unless the box is ticked — it is more often a typing mistake than a class after midnight — and with the
    box ticked the class ends within 24 hours of its start."""
    tz = timezone.get_current_timezone()
    starts_at = datetime.combine(day, start, tzinfo=tz)
    ends_at = datetime.combine(day + timedelta(days=1) if next_day else day, end, tzinfo=tz)
    if ends_at <= starts_at:
        return starts_at, ends_at, END_BEFORE_START
    if ends_at - starts_at >= timedelta(days=1):
        return starts_at, ends_at, TOO_LONG_NEXT_DAY
    return starts_at, ends_at, None


# --- Forms -----------------------------------------------------------------------------------------------------


class UserChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return user_label(obj)


class SessionForm(forms.ModelForm):
    """A new session. Date and times are entered in local time. Partner staff choose among their own partners'
    courses, their venues and the city's; a manager of one partner does not choose the organiser at all."""

    date = forms.DateField(label=gettext_lazy("Date"), widget=forms.DateInput(attrs={"type": "date"},
                                                                              format="%Y-%m-%d"))
    start_time = forms.TimeField(label=gettext_lazy("Start time"),
                                 widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    end_time = forms.TimeField(label=gettext_lazy("End time"),
                               widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    ends_next_day = ends_next_day_field()
    online_url = forms.URLField(label=gettext_lazy("Online link"), required=False, assume_scheme="https")

    class Meta:
        model = Session
        fields = ["course", "organiser", "venue", "online_url", "capacity", "notes", "notes_en"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3}), "notes_en": forms.Textarea(attrs={"rows": 3})}

    field_order = ["course", "organiser", "date", "start_time", "end_time", "ends_next_day", "venue", "online_url",
                   "capacity", "instructors", "assistants", "notes", "notes_en"]
    # Fields whose change moves the session (services.move_session tells everyone booked).
    MOVE_FIELDS = ("date", "start_time", "end_time", "ends_next_day", "venue", "capacity")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["course"].queryset = courses_for(user)
        organisers = organisers_for(user)
        self.fields["organiser"].queryset = organisers
        ids = policy.partner_ids(user)
        if ids is not None and len(ids) == 1 and self.instance.pk is None:
            self.fields["organiser"].initial = next(iter(ids))
            self.fields["organiser"].disabled = True
            self.fields["organiser"].help_text = _("Your organisation.")
        self.fields["venue"].queryset = venues_for(user)
        self.fields["venue"].required = False
        self.fields["venue"].help_text = _("Leave empty for an online session and give the link below.")
        self.fields["capacity"].validators.append(MinValueValidator(1))
        self.fields["capacity"].widget.attrs["min"] = 1

    def clean(self):
        cleaned = super().clean()
        course, organiser = cleaned.get("course"), cleaned.get("organiser")
        if course and organiser and course.owner_partner and course.owner_partner != organiser:
            self.add_error("course", _("A partner's own course is run by that partner."))
        if all(cleaned.get(name) is not None for name in ("date", "start_time", "end_time")):
            cleaned["starts_at"], cleaned["ends_at"], error = combine_times(
                cleaned["date"], cleaned["start_time"], cleaned["end_time"],
                next_day=bool(cleaned.get("ends_next_day")))
            self.keep_unchanged_times(cleaned)
            if error:
                self.add_error("end_time", error)
                del cleaned["starts_at"], cleaned["ends_at"]
            elif self.times_changed(cleaned) and cleaned["starts_at"] <= timezone.now():
                self.add_error("date", _("Choose a time in the future."))
        if "venue" not in self.errors and not cleaned.get("venue") and not cleaned.get("online_url"):
            self.add_error("venue", _("Choose a venue, or give an online link for an online session."))
        return cleaned

    def keep_unchanged_times(self, cleaned) -> None:
        pass

    def times_changed(self, cleaned) -> bool:
        return True  # a new session: its time must be in the future

    def _post_clean(self):
        # Model validation (the check constraints) sees the times the form puts together.
        if "starts_at" in self.cleaned_data:
            self.instance.starts_at = self.cleaned_data["starts_at"]
            self.instance.ends_at = self.cleaned_data["ends_at"]
        super()._post_clean()


class SessionEditForm(SessionForm):
    """An existing session. The course and the organiser stay; the staff are chosen here. Once the session has
    started only the notes and the staff can change."""

    instructors = UserChoiceField(label=gettext_lazy("Instructors"), queryset=get_user_model().objects.none(),
                                  required=False, widget=forms.CheckboxSelectMultiple)
    assistants = UserChoiceField(label=gettext_lazy("Assistants"), queryset=get_user_model().objects.none(),
                                 required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        session = self.instance
        start, end = local_times(session)
        self.before = {"starts_at": session.starts_at, "ends_at": session.ends_at, "venue_id": session.venue_id,
                       "capacity": session.capacity, "online_url": session.online_url, "notes": session.notes,
                       "notes_en": session.notes_en}
        self.initial.update({"date": start.date(), "start_time": start.time(), "end_time": end.time(),
                             "ends_next_day": end.date() > start.date()})
        for name in ("course", "organiser"):
            self.fields[name].disabled = True
            self.fields[name].help_text = ""
        # The current values stay valid choices, even where they are no longer offered to new sessions.
        self.fields["course"].queryset = CoursePage.objects.filter(pk=session.course_id)
        self.fields["organiser"].queryset = Partner.objects.filter(pk=session.organiser_id)
        self.fields["venue"].queryset = venues_for(user) | Venue.objects.filter(pk=session.venue_id)
        candidates = staff_candidates(user=user, session=session)
        assigned = list(session.staff_assignments.all())
        for name, role in (("instructors", SessionStaff.Role.INSTRUCTOR), ("assistants", SessionStaff.Role.ASSISTANT)):
            self.fields[name].queryset = candidates
            self.initial[name] = [a.user_id for a in assigned if a.role == role]
        self.fields["instructors"].help_text = _("Staff of %(organiser)s.") % {"organiser": session.organiser}
        if session.starts_at <= timezone.now():
            for name in (*self.MOVE_FIELDS, "online_url"):
                self.fields[name].disabled = True
                self.fields[name].help_text = _("The session has started: only the notes and staff can change.")

    def keep_unchanged_times(self, cleaned) -> None:
        """The form shows minutes: the same date and minute as before is the time as before, to the second."""
        for name in ("starts_at", "ends_at"):
            if cleaned[name] == self.before[name].astimezone(cleaned[name].tzinfo).replace(second=0, microsecond=0):
                cleaned[name] = self.before[name]

    def times_changed(self, cleaned) -> bool:
        return (cleaned["starts_at"], cleaned["ends_at"]) != (self.before["starts_at"], self.before["ends_at"])

    def clean(self):
        cleaned = super().clean()
        both = set(cleaned.get("instructors") or []) & set(cleaned.get("assistants") or [])
        if both:
            self.add_error("assistants", _("%(names)s cannot be both instructor and assistant.")
                           % {"names": ", ".join(user_label(u) for u in both)})
        return cleaned

    def staff_wanted(self) -> dict:
        wanted = {user.pk: SessionStaff.Role.ASSISTANT for user in self.cleaned_data["assistants"]}
        wanted.update({user.pk: SessionStaff.Role.INSTRUCTOR for user in self.cleaned_data["instructors"]})
        return wanted


class CancelForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason (the people booked are told)"), max_length=500,
                             widget=forms.Textarea(attrs={"rows": 3}))


# --- Listing ---------------------------------------------------------------------------------------------------


def _filter_courses(request):
    """The courses a user can filter by: those of the sessions they see, and their own."""
    user = request.user if request else None
    if policy.partner_ids(user) is None:
        return CoursePage.objects.order_by("title")
    sessions = policy.instances_user_has_any_permission_for(user, ANY_ACTION)
    return CoursePage.objects.filter(Q(pk__in=sessions.values("course_id")) | Q(pk__in=courses_for(user).values("pk"))
                                     ).order_by("title")


def _filter_venues(request):
    user = request.user if request else None
    if policy.partner_ids(user) is None:
        return Venue.objects.select_related("ward")
    sessions = policy.instances_user_has_any_permission_for(user, ANY_ACTION)
    return Venue.objects.filter(Q(pk__in=sessions.values("venue_id")) | Q(pk__in=venues_for(user).values("pk")))


class WhenFilter(django_filters.ChoiceFilter):
    """Upcoming sessions (and those under way) unless past or all are asked for: the list opens on what staff
    work on next, soonest first."""

    UPCOMING, PAST, ALL = "upcoming", "past", "all"

    def filter(self, qs, value):
        now = timezone.now()
        if value == self.PAST:
            return qs.filter(ends_at__lte=now)
        if value == self.ALL:
            return qs
        return qs.filter(ends_at__gt=now)


class UnderstaffedFilter(django_filters.BooleanFilter):
    def filter(self, qs, value):
        return understaffed_soon(qs) if value else qs


class SessionFilterSet(WagtailFilterSet):
    when = WhenFilter(label=gettext_lazy("When"), empty_label=None, null_label=None,
                      choices=[(WhenFilter.UPCOMING, gettext_lazy("Upcoming and under way")),
                               (WhenFilter.PAST, gettext_lazy("Past")), (WhenFilter.ALL, gettext_lazy("All"))])
    understaffed = UnderstaffedFilter(
        label=gettext_lazy("Short of staff soon"), widget=forms.CheckboxInput,
        help_text=gettext_lazy("Sessions in the coming days without enough instructors and assistants for the people "
                               "booked."))
    course = django_filters.ModelChoiceFilter(label=gettext_lazy("Course"), queryset=_filter_courses)
    venue = django_filters.ModelChoiceFilter(label=gettext_lazy("Venue"), queryset=_filter_venues)
    ward = django_filters.ModelChoiceFilter(label=gettext_lazy("Ward"), field_name="venue__ward",
                                            queryset=Ward.objects.all())
    starts_at = django_filters.DateFromToRangeFilter(label=gettext_lazy("Date"), widget=DateRangePickerWidget)
    status = django_filters.ChoiceFilter(label=gettext_lazy("Status"), choices=Session.Status.choices)

    class Meta:
        model = Session
        fields = []


class TemplateColumn(Column):
    def __init__(self, name, *, template, **kwargs):
        super().__init__(name, **kwargs)
        self.cell_template_name = template


class StaffColumn(TemplateColumn):
    def get_cell_context_data(self, instance, parent_context):
        context = super().get_cell_context_data(instance, parent_context)
        context.update(staff=instance.staff_assignments.all(), understaffed=warn_understaffed(instance),
                       per_staff=SessionStaff.ATTENDEES_PER_STAFF)
        return context


class StatusColumn(TemplateColumn):
    def get_cell_context_data(self, instance, parent_context):
        context = super().get_cell_context_data(instance, parent_context)
        context["label"] = status_label(instance)
        return context


class SessionIndexView(generic.IndexView):
    default_ordering = "starts_at"
    filterset_class = SessionFilterSet

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        # Spreadsheet exports are the spreadsheets module's (courses.admin.spreadsheets), with their audit entry.
        self.is_export = False

    def get_base_queryset(self):
        return with_details(policy.instances_user_has_any_permission_for(self.request.user, ANY_ACTION))

    def get_ordering(self):
        """Soonest first; past sessions most recent first, unless a column was chosen."""
        if "ordering" not in self.request.GET and self.request.GET.get("when") == WhenFilter.PAST:
            return "-starts_at"
        return super().get_ordering()

    @cached_property
    def columns(self):
        title_class = self._get_title_column_class(TitleColumn)
        columns = [
            title_class("starts_at", label=_("Date and time"), accessor=session_when, sort_key="starts_at",
                        get_url=lambda session: url("inspect", session.pk)),
            Column("course", label=_("Course"), accessor="course.title", sort_key="course__title"),
            TemplateColumn("venue", label=_("Venue"), template="courses/admin/sessions/cells/venue.html"),
            TemplateColumn("seats", label=_("Seats"), template="courses/admin/sessions/cells/seats.html"),
            StatusColumn("status", label=_("Status"), template="courses/admin/sessions/cells/status.html",
                         sort_key="status"),
            StaffColumn("staff", label=_("Staff"), template="courses/admin/sessions/cells/staff.html"),
        ]
        ids = policy.partner_ids(self.request.user)
        if ids is None or len(ids) > 1:
            columns.insert(2, Column("organiser", label=_("Organiser"), accessor="organiser",
                                     sort_key="organiser__name"))
        return columns

    def get_list_more_buttons(self, instance):
        buttons = []
        user = self.request.user
        if not instance.is_cancelled and policy.user_has_permission(user, "change"):
            buttons.append(MenuItem(_("Edit"), url=url("edit", instance.pk), icon_name="edit", priority=10))
            if instance.starts_at > timezone.now():
                buttons.append(MenuItem(_("Cancel session"), url=url("cancel", instance.pk), icon_name="cross",
                                        priority=15))
        if policy.user_has_permission(user, "add"):
            buttons.append(MenuItem(_("Copy to another date"), url=url("copy", instance.pk), icon_name="copy",
                                    priority=20))
        buttons.append(MenuItem(_("Inspect"), url=url("inspect", instance.pk), icon_name="info-circle",
                                priority=25))
        return buttons

    @cached_property
    def header_buttons(self):
        buttons = super().header_buttons
        if can_cancel_in_emergency(self.request.user):
            buttons = [*buttons, HeaderButton(_("Emergency cancellation"), url=url("emergency"), icon_name="warning")]
        return buttons


# --- One session -----------------------------------------------------------------------------------------------


class SessionButtonsMixin:
    """The actions offered on a session's own pages, each only to those who may take it."""

    def session_buttons(self, session, *, exclude=()):
        user = self.request.user
        upcoming = not session.is_cancelled and session.starts_at > timezone.now()
        buttons = []
        if "edit" not in exclude and not session.is_cancelled and policy.user_has_permission_for_instance(
                user, "change", session):
            buttons.append(HeaderButton(_("Edit"), url=url("edit", session.pk), icon_name="edit"))
        if upcoming and can_use_call_centre(user):
            buttons.append(HeaderButton(_("Book a caller"), url=reverse("call_centre:book", args=[session.pk]),
                                        icon_name="mobile-alt"))
        if upcoming and policy.user_has_permission_for_instance(user, "change", session):
            buttons.append(HeaderButton(_("Cancel session"), url=url("cancel", session.pk), icon_name="cross"))
        if policy.user_has_permission(user, "add"):
            buttons.append(HeaderButton(_("Copy to another date"), url=url("copy", session.pk), icon_name="copy"))
        return buttons


def roster_url(session) -> str | None:
    """The roster page of the check-in module, where installed."""
    try:
        return reverse("roster:session", args=[session.pk])
    except NoReverseMatch:
        return None


class SessionInspectView(SessionButtonsMixin, generic.InspectView):
    template_name = "courses/admin/sessions/inspect.html"

    def get_object(self, queryset=None):
        sessions = with_details(policy.instances_user_has_any_permission_for(self.request.user, ANY_ACTION))
        return get_object_or_404(sessions, pk=self.pk)

    def get_page_title(self):
        return str(self.object)

    def get_page_subtitle(self):
        return ""

    @cached_property
    def header_buttons(self):
        return self.session_buttons(self.object)

    @cached_property
    def header_more_buttons(self):
        if policy.user_has_permission_for_instance(self.request.user, "delete", self.object):
            return [Button(_("Delete"), url=url("delete", self.object.pk), icon_name="bin", priority=20)]
        return []

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        session = self.object
        context.update(session=session, staff=session.staff_assignments.all(), understaffed=is_understaffed(session),
                       per_staff=SessionStaff.ATTENDEES_PER_STAFF, roster_url=roster_url(session),
                       history_url=url("history", session.pk))
        return context


class ChangeScopedMixin:
    """Loads the session through the policy for "change": another partner's session is a 404."""

    def scoped_sessions(self):
        return with_details(policy.instances_user_has_permission_for(self.request.user, "change"))

    def refuse_cancelled(self):
        if self.object.is_cancelled:
            messages.error(self.request, _("This session has been cancelled and can no longer be changed."))
            return redirect(url("inspect", self.object.pk))
        return None


class SessionCreateView(generic.CreateView):
    page_title = gettext_lazy("New session")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def get_success_url(self):
        return url("inspect", self.object.pk)

    def get_success_buttons(self):
        return [messages.button(url("edit", self.object.pk), _("Assign staff"))]


class SessionCopyView(SessionCreateView):
    """Copy to another date: the new-session form filled in from a session, a week later by default.
    The form is sent to the new-session address (a POST here creates the same way)."""

    page_title = gettext_lazy("Copy to another date")

    def get(self, request, *args, **kwargs):
        self.source  # noqa: B018 — 404 for a session the user may not see, before anything else
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        self.source  # noqa: B018
        return super().post(request, *args, **kwargs)

    @cached_property
    def source(self):
        sessions = policy.instances_user_has_any_permission_for(self.request.user, ANY_ACTION)
        return get_object_or_404(sessions.select_related("venue"), pk=self.kwargs["pk"])

    def get_page_subtitle(self):
        return str(self.source)

    def get_initial(self):
        start, end = local_times(self.source)
        session = self.source
        return {"course": session.course_id, "organiser": session.organiser_id, "venue": session.venue_id,
                "online_url": session.online_url, "capacity": session.capacity, "notes": session.notes,
                "notes_en": session.notes_en, "date": start.date() + timedelta(days=7), "start_time": start.time(),
                "end_time": end.time(), "ends_next_day": end.date() > start.date()}


class SessionEditView(ChangeScopedMixin, SessionButtonsMixin, generic.EditView):
    template_name = "courses/admin/sessions/edit.html"

    def get_queryset(self):
        return self.scoped_sessions()

    def get_object(self, queryset=None):
        if not hasattr(self, "_session"):
            self._session = super().get_object(queryset)
        return self._session

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        return self.refuse_cancelled() or super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        return self.refuse_cancelled() or super().post(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    @cached_property
    def header_buttons(self):
        return self.session_buttons(self.object, exclude=("edit",))

    @cached_property
    def header_more_buttons(self):
        # Wagtail's own "Copy" is the "Copy to another date" above.
        buttons = [Button(_("Inspect"), url=url("inspect", self.object.pk), icon_name="info-circle", priority=30)]
        if self.can_delete:
            buttons.append(Button(_("Delete"), url=url("delete", self.object.pk), icon_name="bin", priority=20))
        return buttons

    def get_success_url(self):
        return url("inspect", self.object.pk)

    def get_success_message(self):
        if getattr(self, "moved", False):
            return _("The session is changed. Everyone booked on it is told.")
        return _("The session is saved.")

    def save_instance(self):
        """Through services.edit_session: a move tells everyone booked; all or nothing."""
        data = self.form.cleaned_data
        edited = services.edit_session(
            session=self.object, before=self.form.before, starts_at=data["starts_at"], ends_at=data["ends_at"],
            venue=data["venue"], capacity=data["capacity"], notes=data["notes"], notes_en=data["notes_en"],
            online_url=data["online_url"], staff=self.form.staff_wanted(), actor=self.request.user)
        self.moved = edited.moved
        return edited.session

    def form_valid(self, form):
        self.form = form
        try:
            with transaction.atomic():
                self.object = self.save_instance()
        except services.RegistrationError as exc:
            form.add_error(None, exc.message)
            self.produced_error_message = exc.message
            return self.form_invalid(form)
        response = self.save_action()
        return self.run_after_hook() or response

    def form_invalid(self, form):
        # The form wrote what was typed onto the object it was given: the page shows the session as it is.
        self.object = self._session = self.get_queryset().get(pk=self.object.pk)
        return super().form_invalid(form)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        session = self.object
        context.update(session=session, understaffed=is_understaffed(session),
                       per_staff=SessionStaff.ATTENDEES_PER_STAFF,
                       started=session.starts_at <= timezone.now())
        return context


class SessionCancelView(ChangeScopedMixin, PermissionCheckedMixin, WagtailAdminTemplateMixin, View):
    """Cancel one session with a reason, after a confirmation page saying who will be told."""

    model = Session
    permission_required = "change"
    template_name = "courses/admin/sessions/cancel.html"
    header_icon = "cross"

    def get_page_title(self):
        return _("Cancel session")

    def get_page_subtitle(self):
        return str(self.object)

    def load(self, pk):
        self.object = get_object_or_404(self.scoped_sessions(), pk=pk)
        if (response := self.refuse_cancelled()) is not None:
            return response
        if self.object.starts_at <= timezone.now():
            messages.error(self.request, _("This session has already started and can no longer be cancelled."))
            return redirect(url("inspect", self.object.pk))
        return None

    def render(self, form, status=200):
        preview = emergency.count_recipients([self.object.pk])
        return self.render_to_response(self.get_context_data(session=self.object, form=form, preview=preview),
                                       status=status)

    def get(self, request, pk):
        return self.load(pk) or self.render(CancelForm())

    def post(self, request, pk):
        if (response := self.load(pk)) is not None:
            return response
        form = CancelForm(request.POST)
        if not form.is_valid():
            return self.render(form, status=400)
        try:
            services.cancel_session(session=self.object, reason=form.cleaned_data["reason"], actor=request.user)
        except services.RegistrationError as exc:
            form.add_error(None, exc.message)
            return self.render(form, status=400)
        messages.success(request, _("The session is cancelled. Everyone booked on it is told."))
        return redirect(url("inspect", self.object.pk))


class SessionDeleteView(generic.DeleteView):
    """Only a session nobody ever registered for; the others are cancelled instead (the policy decides)."""

    def get_object(self, queryset=None):
        if getattr(self, "object", None):
            return self.object
        sessions = policy.instances_user_has_any_permission_for(self.request.user, ANY_ACTION)
        return get_object_or_404(sessions, pk=self.kwargs[self.pk_url_kwarg])

    def dispatch(self, request, *args, **kwargs):
        if not self.user_has_permission("delete"):
            raise PermissionDenied
        if not self.user_has_permission_for_instance("delete", self.object):
            messages.error(request, _("People have registered for this session, so it cannot be deleted. "
                                      "Cancel it instead: they will be told."))
            return redirect(url("inspect", self.object.pk))
        return super().dispatch(request, *args, **kwargs)


class SessionHistoryView(history.HistoryView):
    def get_base_object_queryset(self):
        return policy.instances_user_has_any_permission_for(self.request.user, ["add", "change", "delete"])


# --- Emergency cancellation ------------------------------------------------------------------------------------


class EmergencyForm(forms.Form):
    WARD, VENUE, CITY = "ward", "venue", "city"

    scope = forms.ChoiceField(label=gettext_lazy("Cancel the sessions of"), widget=forms.RadioSelect,
                              choices=[(WARD, gettext_lazy("One ward")), (VENUE, gettext_lazy("One venue")),
                                       (CITY, gettext_lazy("The whole city (online sessions too)"))])
    ward = forms.ModelChoiceField(label=gettext_lazy("Ward"), queryset=Ward.objects.all(), required=False)
    venue = forms.ModelChoiceField(label=gettext_lazy("Venue"), queryset=Venue.objects.select_related("ward"),
                                   required=False)
    date_from = forms.DateField(label=gettext_lazy("From (date)"),
                                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    date_to = forms.DateField(label=gettext_lazy("To (date, included)"),
                              widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    reason = forms.CharField(label=gettext_lazy("Reason (every person booked is told)"), max_length=500,
                             widget=forms.Textarea(attrs={"rows": 3}))
    expected = forms.CharField(widget=forms.HiddenInput, required=False)

    def clean(self):
        cleaned = super().clean()
        scope = cleaned.get("scope")
        if scope == self.WARD and not cleaned.get("ward"):
            self.add_error("ward", _("Choose the ward."))
        if scope == self.VENUE and not cleaned.get("venue"):
            self.add_error("venue", _("Choose the venue."))
        if not self.errors:
            try:
                self.emergency_scope().check()
            except services.RegistrationError as exc:
                raise forms.ValidationError(exc.message) from exc
        return cleaned

    def emergency_scope(self) -> emergency.EmergencyScope:
        data = self.cleaned_data
        return emergency.EmergencyScope(
            date_from=data["date_from"], date_to=data["date_to"],
            ward=data["ward"] if data["scope"] == self.WARD else None,
            venue=data["venue"] if data["scope"] == self.VENUE else None)


class EmergencyCancellationView(WagtailAdminTemplateMixin, View):
    """Step 1 (POST without "confirm"): preview the sessions and the people told. Step 2 (POST "confirm"): cancel
    them all in one transaction. The sessions are looked up again at step 2; when they differ from the preview,
    nothing is cancelled and the new preview is shown."""

    template_name = "courses/admin/sessions/emergency.html"
    page_title = gettext_lazy("Emergency cancellation")
    header_icon = "warning"

    def dispatch(self, request, *args, **kwargs):
        if not can_cancel_in_emergency(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": url("index"), "label": _("Sessions")},
                {"url": "", "label": self.get_page_title()}]

    def render(self, form, *, preview=None, status=200):
        return self.render_to_response(self.get_context_data(form=form, preview=preview), status=status)

    def get(self, request):
        today = timezone.localdate()
        return self.render(EmergencyForm(initial={"scope": EmergencyForm.WARD, "date_from": today,
                                                  "date_to": today}))

    def post(self, request):
        form = EmergencyForm(request.POST)
        if not form.is_valid():
            return self.render(form, status=400)
        scope = form.emergency_scope()
        if "confirm" in request.POST:
            try:
                cancelled = emergency.cancel_sessions(scope=scope, reason=form.cleaned_data["reason"],
                                                      actor=request.user, expected=form.cleaned_data["expected"])
            except emergency.ScopeChanged as exc:
                messages.error(request, exc.message)
                return self.render_preview(form, scope, status=409)
            except services.RegistrationError as exc:
                form.add_error(None, exc.message)
                return self.render(form, status=400)
            messages.success(request, ngettext(
                "%(count)d session cancelled. Everyone booked is told; people without e-mail are on the call list.",
                "%(count)d sessions cancelled. Everyone booked is told; people without e-mail are on the call list.",
                len(cancelled)) % {"count": len(cancelled)})
            return redirect(url("index") + "?status=cancelled")
        return self.render_preview(form, scope)

    def render_preview(self, form, scope, status=200):
        """The preview, and the same form again carrying the fingerprint of the sessions previewed."""
        preview = emergency.preview(scope)
        data = form.data.copy()
        data["expected"] = preview.fingerprint
        form = EmergencyForm(data)
        form.is_valid()
        return self.render(form, preview=preview, status=status)


# --- ViewSet ---------------------------------------------------------------------------------------------------


class SessionViewSet(ModelViewSet):
    """/admin/sessions/: Wagtail's model views, each scoped through the Session permission policy, plus cancel
    and the emergency cancellation. No usage view (sessions are not in the reference index)."""

    model = Session
    name = URL_NAMESPACE
    icon = "date"
    menu_label = gettext_lazy("Sessions")
    menu_order = 140
    add_to_admin_menu = True
    add_to_reference_index = False
    inspect_view_enabled = True
    copy_view_enabled = True
    list_per_page = 50
    search_fields = ["course__title"]
    search_backend_name = None

    index_view_class = SessionIndexView
    add_view_class = SessionCreateView
    copy_view_class = SessionCopyView
    edit_view_class = SessionEditView
    inspect_view_class = SessionInspectView
    delete_view_class = SessionDeleteView
    history_view_class = SessionHistoryView

    def get_form_class(self, for_update=False):
        return SessionEditForm if for_update else SessionForm

    def get_common_view_kwargs(self, **kwargs):
        return super().get_common_view_kwargs(usage_url_name=None, **kwargs)

    def get_urlpatterns(self):
        patterns = [p for p in super().get_urlpatterns() if p.name != "usage"]
        return [
            *patterns,
            path("cancel/<int:pk>/", SessionCancelView.as_view(), name="cancel"),
            path("emergency/", EmergencyCancellationView.as_view(), name="emergency"),
        ]


session_viewset = SessionViewSet()
