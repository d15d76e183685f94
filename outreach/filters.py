"""The filter form shared by the dashboard, its charts and downloads, and the reports: turns a query string into
`metrics.Filters`, limited to the partners the user may see."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.translation import gettext_lazy as _

from courses.models import Topic
from outreach import bands, metrics
from partners.models import Partner, Ward
from partners.permissions import partner_ids

FILTER_FIELDS = ("fiscal_year", "month", "ward", "partner", "topic", "age_band", "rollup")


def scope_for(user) -> frozenset[int] | None:
    """None for city staff (the whole city); otherwise the user's active partners (maybe none)."""
    ids = partner_ids(user)
    return None if ids is None else frozenset(ids)


def age_band_choices():
    seen, choices = set(), [("", _("All ages"))]
    for rollup in (bands.DETAIL, bands.DECADE, bands.ELDERLY):
        for key in bands.keys(rollup):
            if key not in seen:
                seen.add(key)
                choices.append((key, bands.label(key)))
    choices.append(("65+", bands.label("65+")))
    return choices


MIN_FISCAL_YEAR, MAX_FISCAL_YEAR = 2000, 2100


class FiscalYearField(forms.TypedChoiceField):
    """A fiscal year: offered as the years with data (looked up only when the select is drawn), accepted as any
    plausible year, so that a chart or download URL does not cost a scan of the sessions to validate."""

    def valid_value(self, value):
        try:
            return MIN_FISCAL_YEAR <= int(value) <= MAX_FISCAL_YEAR
        except (TypeError, ValueError):
            return False


class FilterForm(forms.Form):
    fiscal_year = FiscalYearField(label=_("Fiscal year"), coerce=int, required=False)
    month = forms.TypedChoiceField(label=_("Month"), coerce=int, required=False, empty_value=None)
    ward = forms.ModelChoiceField(label=_("Ward"), queryset=None, required=False, empty_label=_("All wards"))
    partner = forms.ModelChoiceField(label=_("Partner"), queryset=None, required=False,
                                     empty_label=_("All partners"))
    topic = forms.ModelChoiceField(label=_("Topic"), queryset=None, required=False, empty_label=_("All topics"))
    age_band = forms.ChoiceField(label=_("Age band"), required=False)
    rollup = forms.ChoiceField(label=_("Age bands shown as"), choices=bands.ROLLUP_CHOICES, required=False)

    def __init__(self, data=None, *, user, **kwargs):
        super().__init__(data, **kwargs)
        self.user = user
        self.scope = scope_for(user)
        self._years_with_data = None
        self.fields["fiscal_year"].choices = self._fiscal_year_choices  # a callable: evaluated when drawn
        self.fields["fiscal_year"].initial = metrics.fiscal_year_of(timezone.localdate())
        self.fields["month"].choices = [("", _("Whole year"))] + [(m, MONTHS[m]) for m in metrics.FISCAL_MONTHS]
        self.fields["ward"].queryset = Ward.objects.order_by("sort_order", "code")
        partners = Partner.objects.order_by("name")
        if self.scope is not None:
            partners = partners.filter(pk__in=self.scope)
        self.fields["partner"].queryset = partners
        self.fields["topic"].queryset = Topic.objects.order_by("name")
        self.fields["age_band"].choices = age_band_choices()

    def _fiscal_year_choices(self):
        if self._years_with_data is None:
            self._years_with_data = metrics.fiscal_years_with_data()
        years = set(self._years_with_data)
        if self.is_bound and self.is_valid() and self.cleaned_data.get("fiscal_year"):
            years.add(self.cleaned_data["fiscal_year"])  # a year asked for stays selected, data or not
        return [(year, f"FY{year}") for year in sorted(years, reverse=True)]

    def filters(self) -> metrics.Filters:
        """The filters asked for; the defaults (the current fiscal year, whole city or the user's partners) for
        the fields left empty or invalid (an invalid field is reported on the form and ignored, the valid ones
        still apply). The scope always applies."""
        data = {}
        if self.is_bound:
            self.is_valid()
            data = self.cleaned_data
        fiscal_year = data.get("fiscal_year") or metrics.fiscal_year_of(timezone.localdate())
        return metrics.Filters(
            fiscal_year=fiscal_year, month=data.get("month") or None,
            ward=data["ward"].pk if data.get("ward") else None,
            partner=data["partner"].pk if data.get("partner") else None,
            topic=data["topic"].pk if data.get("topic") else None,
            age_band=data.get("age_band") or "", rollup=data.get("rollup") or bands.DETAIL, scope=self.scope)


def filters_from_request(request) -> tuple[FilterForm, metrics.Filters]:
    form = FilterForm(request.GET or None, user=request.user)
    return form, form.filters()


def querystring(filters: metrics.Filters, **extra) -> str:
    """The query string that gives `filters` again (for chart, download and report links)."""
    params = {"fiscal_year": filters.fiscal_year, "month": filters.month, "ward": filters.ward,
              "partner": filters.partner, "topic": filters.topic, "age_band": filters.age_band,
              "rollup": filters.rollup if filters.rollup != bands.DETAIL else None, **extra}
    return urlencode({key: value for key, value in params.items() if value not in (None, "")})
