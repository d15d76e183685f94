"""Admin: create a weekly series of sessions from a rule, previewing the dates (and the holidays skipped) first.

City staff and partner managers (permission courses.add_session). Scoping partner managers to their own
partner's courses and venues is the partner-workspace issue's; here the organiser is checked against the course.
"""

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from courses.models import CoursePage
from courses.series import SeriesRule, SeriesRuleError, create_series, expand
from partners.models import Partner, Venue

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
                          skip_public_holidays=data["skip_public_holidays"])


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
        return self.render_to_response(self.get_context_data(form=SeriesForm()))

    def post(self, request):
        form = SeriesForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        if "create" not in request.POST:
            return self.render_to_response(self.get_context_data(form=form, preview=form.preview))
        data = form.cleaned_data
        series = create_series(course=data["course"], organiser=data["organiser"], venue=data["venue"],
                               capacity=data["capacity"], rule=form.rule(), actor=request.user)
        messages.success(request, _("Created %(count)d sessions of “%(course)s”.")
                         % {"count": series.sessions.count(), "course": data["course"].title})
        return redirect("wagtailadmin_home")
