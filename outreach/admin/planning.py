"""Admin: the planning view (/admin/outreach/planning/) -- where the next period's classes should go (実施計画).

City staff with the dashboard's permission (city programme officers, analysts, administrators) only: the plan is a
city-wide decision and uses every partner's figures, so partner staff (who have the dashboard permission for their
own figures) get 403. The form is a GET form (a plan is a read: its URL can be bookmarked and shared), works without
JavaScript, and reports bad input on an error summary at the top. The plan downloads as CSV or XLSX with the same
query string (each download logged), and the unmet-need chart is an image of its own. Thin views: the figures, the
model and the exports are outreach.planning.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from cms.audit import log
from cms.roles import is_city_staff
from courses.spreadsheets import audit_target
from outreach import charts, metrics, planning, planning_drafts
from outreach.admin.dashboard import VIEW_PERMISSION

EXPORT_LOG_ACTION = "outreach.planning.exported"


def can_plan(user) -> bool:
    return is_city_staff(user) and user.has_perm(VIEW_PERMISSION)


class PlanningForm(forms.Form):
    """The plan's inputs; every field left empty takes its default from the data (shown as the field's value)."""

    sessions = forms.IntegerField(label=gettext_lazy("Sessions to allocate (N)"), min_value=1,
                                  max_value=planning.MAX_SESSIONS, required=False)
    start = forms.ChoiceField(label=gettext_lazy("First month"), required=False)
    months = forms.IntegerField(label=gettext_lazy("Number of months"), min_value=1, max_value=planning.MAX_MONTHS,
                                required=False)
    seats = forms.IntegerField(label=gettext_lazy("Seats per session"), min_value=1, max_value=200, required=False)
    venue_sessions = forms.IntegerField(label=gettext_lazy("Sessions per venue per month"), min_value=0,
                                        max_value=62, required=False)
    partner_sessions = forms.IntegerField(label=gettext_lazy("Sessions per partner per month"), min_value=0,
                                          max_value=300, required=False)
    instructors = forms.IntegerField(
        label=gettext_lazy("Instructors available"), min_value=0, max_value=10000, required=False,
        help_text=gettext_lazy("Each gives up to %(n)s sessions a month; a session needs one per 4 seats."))
    weight_65_74 = forms.DecimalField(label=gettext_lazy("Weight of a resident aged 65–74"), min_value=0,
                                      max_value=10, max_digits=4, decimal_places=2, required=False)
    weight_75_plus = forms.DecimalField(label=gettext_lazy("Weight of a resident aged 75 and over"), min_value=0,
                                        max_value=10, max_digits=4, decimal_places=2, required=False)

    def __init__(self, data=None, *, defaults: planning.Defaults, today: dt.date):
        super().__init__(data)
        self.months_offered = planning.next_months(today, 12)
        self.fields["start"].choices = [(planning.month_key(month), planning.month_key(month))
                                        for month in self.months_offered]
        self.fields["instructors"].help_text = self.fields["instructors"].help_text % {
            "n": planning.sessions_per_instructor()}
        self.defaults = {"sessions": defaults.sessions, "start": planning.month_key(self.months_offered[0]),
                         "months": planning.DEFAULT_MONTHS, "seats": defaults.seats,
                         "venue_sessions": defaults.venue_sessions, "partner_sessions": defaults.partner_sessions,
                         "instructors": defaults.instructors, "weight_65_74": Decimal(1),
                         "weight_75_plus": Decimal(1)}
        for name, value in self.defaults.items():
            self.fields[name].initial = value
            self.fields[name].widget.attrs["placeholder"] = str(value)

    def clean(self):
        data = super().clean()
        for name, value in self.defaults.items():
            if data.get(name) in (None, "") and name not in self.errors:
                data[name] = value
        if (not self.errors and not data["weight_65_74"] and not data["weight_75_plus"]):
            raise forms.ValidationError(_("Give at least one age group a weight above zero."), code="weights")
        return data

    def inputs(self) -> planning.Inputs:
        data = self.cleaned_data if self.is_bound else self.defaults
        start = dt.date.fromisoformat(f"{data['start']}-01")
        return planning.Inputs(
            sessions=data["sessions"], months=planning.next_months(start, data["months"], start=start),
            seats=data["seats"], venue_sessions=data["venue_sessions"], partner_sessions=data["partner_sessions"],
            instructors=data["instructors"], weight_65_74=float(data["weight_65_74"]),
            weight_75_plus=float(data["weight_75_plus"]))


class PlanningPermissionMixin:
    def dispatch(self, request, *args, **kwargs):
        if not can_plan(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


def _form_and_data(request):
    today = metrics.municipal_today()
    data = planning.planning_data(today=today)
    form = PlanningForm(request.GET or None, defaults=data.defaults, today=today)
    return form, data


def _suggested(plan) -> dict:
    """Who could hold each row of the plan (planning_drafts); no queries when there are no rows."""
    if not plan or not plan.rows:
        return {}
    return planning_drafts.suggestions((row.ward.pk, row.topic.pk) for row in plan.rows)


class PlanningView(PlanningPermissionMixin, WagtailAdminTemplateMixin, View):
    template_name = "outreach/admin/planning.html"
    page_title = gettext_lazy("Planning the next classes")
    header_icon = "date"

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": "", "label": self.get_page_title()}]

    def get(self, request):
        form, data = _form_and_data(request)
        return self.render_page(request, form, data)

    def render_page(self, request, form, data, status=200):
        valid = not form.is_bound or form.is_valid()
        plan = planning.make_plan(data, form.inputs()) if valid else None
        suggested = _suggested(plan)
        plan_rows = [(row, planning.suggestion_names(suggested.get((row.ward.pk, row.topic.pk))))
                     for row in (plan.rows if plan else [])]
        query = request.GET.urlencode() if valid else ""
        matrix = planning.unmet_need_matrix(data)
        wards = [{"ward": ward, "groups": [(planning.group_label(group), data.ward_group(ward.pk, group))
                                           for group in planning.GROUPS],
                  "venues": data.venues.get(ward.pk, []), "partners": data.partners.get(ward.pk, []),
                  "capacity": plan.ward_capacity.get(ward.pk) if plan else None} for ward in data.wards]
        demand = []
        for ward in data.wards:
            for topic in data.topics:
                if (ward.pk, topic.pk) in data.ward_topics:
                    share = planning.share_for(data, ward.pk, topic.pk)
                    cell = data.ward_topic(ward.pk, topic.pk)
                    demand.append({"ward": ward, "topic": topic, "cell": cell, "basis": planning.BASIS_LABELS[
                        share.basis], "percents": [100 * cell.first_time.get(group, 0) / cell.own_attendances
                                                   if cell.own_attendances else None for group in planning.GROUPS]})
        return self.render_to_response(self.get_context_data(
            form=form, data=data, plan=plan, plan_rows=plan_rows, wards=wards, demand=demand, groups=planning.GROUPS,
            group_labels=[planning.group_label(group) for group in planning.GROUPS],
            chart={"src": reverse("outreach_planning_chart", args=["png"]),
                   "svg": reverse("outreach_planning_chart", args=["svg"]),
                   "alt": planning.unmet_need_alt(matrix), "matrix": matrix},
            downloads=[(_("CSV"), reverse("outreach_planning_export", args=["csv"]) + (f"?{query}" if query else "")),
                       (_("Excel"), reverse("outreach_planning_export", args=["xlsx"])
                        + (f"?{query}" if query else ""))],
            min_history=data.min_history, staff_ratio=planning.ATTENDEES_PER_STAFF,
            per_instructor=planning.sessions_per_instructor()), status=status)


class PlanExportView(PlanningPermissionMixin, WagtailAdminTemplateMixin, View):
    """The plan of the inputs in the query string as CSV or XLSX; bad inputs show the page with its errors (400)."""

    template_name = PlanningView.template_name
    page_title = PlanningView.page_title
    header_icon = PlanningView.header_icon

    def get(self, request, fmt):
        if fmt not in planning.EXPORT_FORMATS:
            raise Http404
        form, data = _form_and_data(request)
        if form.is_bound and not form.is_valid():
            return PlanningView.render_page(self, request, form, data, status=400)
        plan = planning.make_plan(data, form.inputs())
        content = planning.export_bytes(plan, fmt, _suggested(plan))
        log(audit_target(request.user, set()), EXPORT_LOG_ACTION, user=request.user,
            data={"format": fmt, "inputs": request.GET.urlencode()[:500], "rows": len(plan.rows)})
        response = HttpResponse(content, content_type=planning.EXPORT_FORMATS[fmt])
        first = planning.month_key(plan.inputs.months[0])
        response["Content-Disposition"] = f'attachment; filename="dekiru-plan-{first}.{fmt}"'
        return response

    def get_breadcrumbs_items(self):
        return PlanningView.get_breadcrumbs_items(self)


class NeedChartView(PlanningPermissionMixin, View):
    """The ward × age band grid of estimated non-users not yet reached, as PNG or SVG."""

    def get(self, request, fmt):
        if fmt not in charts.FORMATS:
            raise Http404
        matrix = planning.unmet_need_matrix(planning.planning_data())
        return HttpResponse(planning.unmet_need_chart(matrix, fmt), content_type=charts.FORMATS[fmt])


# --- Registration with Wagtail ----------------------------------------------------------------------------------


class PlanningMenuItem(MenuItem):
    def is_shown(self, request):
        return can_plan(request.user)


def register_planning_menu_item():
    return PlanningMenuItem(gettext_lazy("Planning"), reverse("outreach_planning"), name="outreach_planning",
                            icon_name="date", order=110)


def register_planning_urls():
    return [
        path("outreach/planning/", PlanningView.as_view(), name="outreach_planning"),
        path("outreach/planning/plan.<str:fmt>", PlanExportView.as_view(), name="outreach_planning_export"),
        path("outreach/planning/need.<str:fmt>", NeedChartView.as_view(), name="outreach_planning_chart"),
    ]


def register_planning_log_actions(actions):
    label = gettext_lazy("Class plan downloaded")
    actions.register_action(EXPORT_LOG_ACTION, label, label)
