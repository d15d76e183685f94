"""Admin for weekly series: create one from a rule (previewing the dates and the holidays skipped first), list
them, and change or cancel one occurrence or every future occurrence.

City staff and partner managers (permissions courses.add_session / change_session). Partner staff see and act
on their own partner's series only (partners.permissions); the organiser is checked against the course.
Thin views: every change goes through courses.series / courses.services, so the people booked are told.
"""

from datetime import datetime, timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, Q
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from cms.templatetags.dekiru import end_of
from courses import services
from courses.admin.sessions import combine_times, courses_for, ends_next_day_field
from courses.models import CoursePage, Session, SessionSeries
from courses.series import (
    SeriesRule,
    SeriesRuleError,
    cancel_series,
    change_series,
    create_series,
    end_time_of,
    expand,
    future_sessions,
    next_day_mismatch,
)
from partners import permissions
from partners.models import Partner, Venue


def _venues_for(user):
    return permissions.usable_venues(permissions.partner_ids(user))


WEEKDAYS = [(0, gettext_lazy("Monday")), (1, gettext_lazy("Tuesday")), (2, gettext_lazy("Wednesday")),
            (3, gettext_lazy("Thursday")), (4, gettext_lazy("Friday")), (5, gettext_lazy("Saturday")),
            (6, gettext_lazy("Sunday"))]


class SeriesForm(forms.Form):
    course = forms.ModelChoiceField(label=gettext_lazy("Course"), queryset=CoursePage.objects.live().order_by("title"))
    organiser = forms.ModelChoiceField(label=gettext_lazy("Organiser"), queryset=Partner.objects.filter(is_active=True))
    venue = forms.ModelChoiceField(label=gettext_lazy("Venue"), queryset=Venue.objects.select_related("ward"))
    weekdays = forms.TypedMultipleChoiceField(label=gettext_lazy("Weekdays"), choices=WEEKDAYS, coerce=int,
                                              widget=forms.CheckboxSelectMultiple)
    start_time = forms.TimeField(label=gettext_lazy("Start time"), widget=forms.TimeInput(attrs={"type": "time"}))
    duration_minutes = forms.IntegerField(label=gettext_lazy("Length (minutes)"), min_value=15, max_value=480,
                                          initial=90)
    ends_next_day = ends_next_day_field()
    starts_on = forms.DateField(label=gettext_lazy("First date"), widget=forms.DateInput(attrs={"type": "date"}))
    weeks = forms.IntegerField(label=gettext_lazy("Number of weeks"), min_value=1, required=False)
    ends_on = forms.DateField(label=gettext_lazy("Last date"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    excluded_dates = forms.CharField(
        label=gettext_lazy("Dates to leave out"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("One date a line, e.g. 2027-01-05. Public holidays are left out already."))
    skip_public_holidays = forms.BooleanField(label=gettext_lazy("Leave out public holidays"), required=False,
                                              initial=True)
    capacity = forms.IntegerField(label=gettext_lazy("Capacity of each session"), min_value=1, max_value=500)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        ids = permissions.partner_ids(user) if user is not None else None
        if ids is not None:  # partner staff: their own partners, their courses, their venues and the city's
            self.fields["organiser"].queryset = Partner.objects.filter(pk__in=ids, is_active=True)

            self.fields["course"].queryset = courses_for(user).live()
            self.fields["venue"].queryset = _venues_for(user)

    def clean_excluded_dates(self):
        dates, bad = [], []
        for line in self.cleaned_data["excluded_dates"].split():
            try:
                dates.append(forms.DateField().clean(line))
            except forms.ValidationError:
                bad.append(line)
        if bad:
            raise forms.ValidationError(_("Not a date: %(values)s") % {"values": ", ".join(bad)})
        return dates

    def clean(self):
        cleaned = super().clean()
        course, organiser = cleaned.get("course"), cleaned.get("organiser")
        if course and organiser and course.owner_partner and course.owner_partner != organiser:
            self.add_error("organiser", _("A partner's own course is run by that partner."))
        if cleaned.get("start_time") and cleaned.get("duration_minutes"):
            mismatch = next_day_mismatch(cleaned["start_time"], cleaned["duration_minutes"],
                                         bool(cleaned.get("ends_next_day")))
            if mismatch:
                self.add_error("ends_next_day", mismatch)
        if not self.errors:
            try:
                self.preview = expand(self.rule())
            except SeriesRuleError as exc:
                raise forms.ValidationError(exc.message) from exc
        return cleaned

    def rule(self) -> SeriesRule:
        data = self.cleaned_data
        return SeriesRule(weekdays=data["weekdays"], start_time=data["start_time"],
                          duration_minutes=data["duration_minutes"], starts_on=data["starts_on"], weeks=data["weeks"],
                          ends_on=data["ends_on"], excluded_dates=data["excluded_dates"],
                          skip_public_holidays=data["skip_public_holidays"], ends_next_day=data["ends_next_day"])

    def times(self) -> str:
        """Each session's times for the preview: 19:00–20:30, 22:00–翌0:30."""
        data = self.cleaned_data
        start = datetime.combine(data["starts_on"], data["start_time"], tzinfo=timezone.get_current_timezone())
        end = datetime.combine(data["starts_on"], end_time_of(data["start_time"], data["duration_minutes"]),
                               tzinfo=start.tzinfo)
        if data["ends_next_day"]:
            end += timedelta(days=1)
        return f"{data['start_time']:%H:%M}–{end_of(start, end)}"


class CreateSeriesView(WagtailAdminTemplateMixin, View):
    """GET: the form. POST "preview": the dates it gives. POST "create": the series and its sessions."""

    template_name = "courses/admin/series_form.html"
    page_title = gettext_lazy("New weekly series")
    header_icon = "date"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.has_perm("courses.add_session"):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self.render_to_response(self.get_context_data(form=SeriesForm(user=request.user)))

    def post(self, request):
        form = SeriesForm(request.POST, user=request.user)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        if "create" not in request.POST:
            return self.render_to_response(self.get_context_data(form=form, preview=form.preview,
                                                                 times=form.times()))
        data = form.cleaned_data
        series = create_series(course=data["course"], organiser=data["organiser"], venue=data["venue"],
                               capacity=data["capacity"], rule=form.rule(), actor=request.user)
        messages.success(request, _("Created %(count)d sessions of “%(course)s”.")
                         % {"count": series.sessions.count(), "course": data["course"].title})
        return redirect("courses_series_detail", series.pk)


# --- Existing series: list, one series, change or cancel --------------------------------------------------------

def visible_series(user):
    return permissions.scope(SessionSeries.objects.select_related("course", "organiser", "venue"), user)


class SeriesPermissionMixin:
    permission = "courses.change_session"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.has_perm(self.permission):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_series(self):
        return get_object_or_404(visible_series(self.request.user), pk=self.kwargs["pk"])


class SeriesIndexView(SeriesPermissionMixin, WagtailAdminTemplateMixin, View):
    template_name = "courses/admin/series_index.html"
    page_title = gettext_lazy("Weekly series")
    header_icon = "date"
    permission = "courses.view_session"

    def get(self, request):
        now = timezone.now()
        upcoming = Q(sessions__starts_at__gt=now) & ~Q(sessions__status=Session.Status.CANCELLED)
        series = (visible_series(request.user)
                  .annotate(upcoming_count=Count("sessions", filter=upcoming),
                            next_start=Min("sessions__starts_at", filter=upcoming),
                            session_count=Count("sessions"))
                  .order_by("-upcoming_count", "next_start", "-pk")[:200])
        return self.render_to_response(self.get_context_data(
            series_list=series, can_add=request.user.has_perm("courses.add_session"), weekdays=dict(WEEKDAYS)))


class SeriesDetailView(SeriesPermissionMixin, WagtailAdminTemplateMixin, View):
    """The series' sessions with their seats, and the whole-series forms (change, cancel)."""

    template_name = "courses/admin/series_detail.html"
    header_icon = "date"
    permission = "courses.view_session"

    def get_page_title(self):
        return str(self.series)

    def get(self, request, pk):
        self.series = self.get_series()
        return self.render(change_form=SeriesChangeForm(user=request.user), cancel_form=CancelForm())

    def render(self, *, change_form, cancel_form, status=200):
        now = timezone.now()
        sessions = list(self.series.sessions.with_counts().select_related("venue").order_by("starts_at"))
        for session in sessions:
            session.can_change = session.starts_at > now and not session.is_cancelled
        context = self.get_context_data(
            series=self.series, sessions=sessions, weekdays=[dict(WEEKDAYS)[d] for d in self.series.weekdays],
            change_form=change_form, cancel_form=cancel_form,
            can_change=self.request.user.has_perm("courses.change_session"),
            future_count=future_sessions(self.series).count())
        return self.render_to_response(context, status=status)


class SeriesChangeForm(forms.Form):
    start_time = forms.TimeField(label=gettext_lazy("New start time"), required=False,
                                 widget=forms.TimeInput(attrs={"type": "time"}))
    duration_minutes = forms.IntegerField(label=gettext_lazy("New length (minutes)"), min_value=15, max_value=480,
                                          required=False)
    ends_next_day = ends_next_day_field(help_text=gettext_lazy(
        "With a new start time or length: tick this only if the classes then end after midnight."))
    venue = forms.ModelChoiceField(label=gettext_lazy("New venue"), queryset=Venue.objects.none(), required=False)
    capacity = forms.IntegerField(label=gettext_lazy("New capacity of each session"), min_value=1, max_value=500,
                                  required=False)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["venue"].queryset = _venues_for(user)

    def clean(self):
        cleaned = super().clean()
        # “Ends the next day” qualifies a new start time or length; it changes nothing by itself.
        if not self.errors and not any(v not in (None, "") for k, v in cleaned.items() if k != "ends_next_day"):
            raise forms.ValidationError(_("Fill in at least one thing to change."))
        return cleaned


class CancelForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason (the people booked are told)"), max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}))


class SeriesChangeView(SeriesDetailView):
    """POST: change every future session of the series."""

    permission = "courses.change_session"

    def post(self, request, pk):
        self.series = self.get_series()
        form = SeriesChangeForm(request.POST, user=request.user)
        if not form.is_valid():
            return self.render(change_form=form, cancel_form=CancelForm(), status=400)
        data = form.cleaned_data
        kwargs = {k: data[k] for k in ("start_time", "duration_minutes", "capacity") if data[k] not in (None, "")}
        if data["venue"] is not None:
            kwargs["venue"] = data["venue"]
        try:
            changed = change_series(series=self.series, ends_next_day=data["ends_next_day"], actor=request.user,
                                    **kwargs)
        except services.RegistrationError as exc:
            form.add_error(None, exc.message)
            return self.render(change_form=form, cancel_form=CancelForm(), status=400)
        messages.success(request, _("Changed %(count)d future sessions. Everyone booked on them is told.")
                         % {"count": len(changed)})
        return redirect("courses_series_detail", self.series.pk)


class SeriesCancelView(SeriesDetailView):
    """POST: cancel every future session of the series, with one reason."""

    permission = "courses.change_session"

    def post(self, request, pk):
        self.series = self.get_series()
        form = CancelForm(request.POST)
        if not form.is_valid():
            return self.render(change_form=SeriesChangeForm(user=request.user), cancel_form=form, status=400)
        cancelled = cancel_series(series=self.series, reason=form.cleaned_data["reason"], actor=request.user)
        messages.success(request, _("Cancelled %(count)d future sessions. Everyone booked on them is told.")
                         % {"count": len(cancelled)})
        return redirect("courses_series_detail", self.series.pk)


class OccurrenceForm(forms.Form):
    date = forms.DateField(label=gettext_lazy("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    start_time = forms.TimeField(label=gettext_lazy("Start time"), widget=forms.TimeInput(attrs={"type": "time"}))
    end_time = forms.TimeField(label=gettext_lazy("End time"), widget=forms.TimeInput(attrs={"type": "time"}))
    ends_next_day = ends_next_day_field()
    venue = forms.ModelChoiceField(label=gettext_lazy("Venue"), queryset=Venue.objects.none())
    capacity = forms.IntegerField(label=gettext_lazy("Capacity"), min_value=0, max_value=500)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["venue"].queryset = _venues_for(user)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            cleaned["starts_at"], cleaned["ends_at"], error = combine_times(
                cleaned["date"], cleaned["start_time"], cleaned["end_time"],
                next_day=bool(cleaned.get("ends_next_day")))
            if error:
                self.add_error("end_time", error)
            elif cleaned["starts_at"] <= timezone.now():
                self.add_error("date", _("Choose a time in the future."))
        return cleaned


class OccurrenceView(SeriesPermissionMixin, WagtailAdminTemplateMixin, View):
    """One occurrence of a series: move it (time, venue, capacity) or cancel it, through the services."""

    template_name = "courses/admin/series_occurrence.html"
    header_icon = "date"

    def get_page_title(self):
        return _("Change one session")

    def setup_objects(self):
        self.series = self.get_series()
        self.session = get_object_or_404(
            self.series.sessions.with_counts().select_related("venue", "course"), pk=self.kwargs["session_id"])
        if self.session.is_cancelled or self.session.starts_at <= timezone.now():
            messages.error(self.request, _("This session is over or cancelled and can no longer be changed."))
            return redirect("courses_series_detail", self.series.pk)
        return None

    def initial(self):
        tz = timezone.get_current_timezone()
        start, end = self.session.starts_at.astimezone(tz), self.session.ends_at.astimezone(tz)
        return {"date": start.date(), "start_time": start.time(), "end_time": end.time(),
                "ends_next_day": end.date() > start.date(), "venue": self.session.venue_id,
                "capacity": self.session.capacity}

    def render(self, *, move_form, cancel_form, status=200):
        return self.render_to_response(self.get_context_data(
            series=self.series, session=self.session, move_form=move_form, cancel_form=cancel_form), status=status)

    def get(self, request, pk, session_id):
        if (response := self.setup_objects()) is not None:
            return response
        return self.render(move_form=OccurrenceForm(initial=self.initial(), user=request.user),
                           cancel_form=CancelForm())

    def post(self, request, pk, session_id):
        if (response := self.setup_objects()) is not None:
            return response
        if "cancel" in request.POST:
            form = CancelForm(request.POST)
            if not form.is_valid():
                return self.render(move_form=OccurrenceForm(initial=self.initial(), user=request.user),
                                   cancel_form=form, status=400)
            try:
                services.cancel_session(session=self.session, reason=form.cleaned_data["reason"], actor=request.user)
            except services.RegistrationError as exc:
                form.add_error(None, exc.message)
                return self.render(move_form=OccurrenceForm(initial=self.initial(), user=request.user),
                                   cancel_form=form, status=400)
            messages.success(request, _("The session is cancelled. Everyone booked on it is told."))
            return redirect("courses_series_detail", self.series.pk)
        form = OccurrenceForm(request.POST, user=request.user)
        if not form.is_valid():
            return self.render(move_form=form, cancel_form=CancelForm(), status=400)
        data = form.cleaned_data
        try:
            services.move_session(session=self.session, starts_at=data["starts_at"], ends_at=data["ends_at"],
                                  venue=data["venue"], capacity=data["capacity"], actor=request.user)
        except services.RegistrationError as exc:
            form.add_error(None, exc.message)
            return self.render(move_form=form, cancel_form=CancelForm(), status=400)
        messages.success(request, _("The session is changed. Everyone booked on it is told."))
        return redirect("courses_series_detail", self.series.pk)

