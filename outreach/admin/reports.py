"""Reports in the admin, under /admin/outreach/reports/ (namespace "outreach_reports"):

- the annual report of a fiscal year (`annual`), one printable page for the city's report to its council;
- the partner activity report (実績報告, `partners`) of one partner for a fiscal year or one month, downloadable
  as CSV or XLSX (`partner_export`); city staff also get every partner side by side (`comparison`, downloadable
  through `comparison_export`).

Who: outreach.view_dashboard (city programme officers, analysts, administrators; partner managers). Partner
staff see their own partners only: another partner's id gives 404, on the page and on the downloads; the
side-by-side comparison is for city staff. Every download is written to the audit log (outreach.report.exported),
on the partner whose report it is, or on the default Site for the comparison of every partner.

Thin views: the figures are outreach.reports (on outreach.metrics); the formats are pure functions there.
"""

import base64

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.urls import include, path, reverse
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from cms import pdf
from cms.audit import log
from cms.i18n import localized
from cms.models import MunicipalitySettings
from outreach import dashboard, metrics, reports
from outreach.admin import dashboard as dashboard_admin
from outreach.filters import querystring, scope_for
from partners.models import Partner

URL_NAMESPACE = "outreach_reports"
PERMISSION = "outreach.view_dashboard"
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# Fiscal years a report may be asked for (any year in range, data or not: an empty year shows "no data").
FIRST_YEAR, LAST_YEAR = 2000, 2100


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


def can_view(user) -> bool:
    return user.is_active and user.has_perm(PERMISSION)


class ReportForm(forms.Form):
    """The period (a fiscal year, optionally one month of it) and, for the partner report, the partner."""

    fiscal_year = forms.IntegerField(label=gettext_lazy("Fiscal year"), min_value=FIRST_YEAR, max_value=LAST_YEAR,
                                     required=False, widget=forms.Select)
    month = forms.TypedChoiceField(label=gettext_lazy("Month"), coerce=int, required=False, empty_value=None)
    partner = forms.ModelChoiceField(label=gettext_lazy("Partner"), queryset=None, required=False)

    def __init__(self, data=None, *, partners=None, with_month=True, **kwargs):
        super().__init__(data, **kwargs)
        years = self.years_with_data = metrics.fiscal_years_with_data()
        asked = self.data.get("fiscal_year") if self.is_bound else None
        if asked and asked.isdigit() and FIRST_YEAR <= int(asked) <= LAST_YEAR and int(asked) not in years:
            years = sorted([*years, int(asked)], reverse=True)
        self.fields["fiscal_year"].widget.choices = [(year, f"FY{year}") for year in years]
        self.fields["fiscal_year"].initial = metrics.fiscal_year_of(timezone.localdate())
        if with_month:
            self.fields["month"].choices = [("", _("Whole year"))] + [(m, MONTHS[m]) for m in metrics.FISCAL_MONTHS]
        else:
            del self.fields["month"]
        if partners is None:
            del self.fields["partner"]
        else:
            self.fields["partner"].queryset = partners
            self.fields["partner"].empty_label = _("Choose a partner") if len(partners) != 1 else None

    def period(self) -> tuple[int, int | None]:
        """The fiscal year (the current one by default) and the month asked for."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return (data.get("fiscal_year") or metrics.fiscal_year_of(timezone.localdate()), data.get("month") or None)


def visible_partners(user):
    scope = scope_for(user)
    partners = Partner.objects.order_by("name")
    return partners if scope is None else partners.filter(pk__in=scope)


def chosen_partner(request):
    """The partner asked for (404 when the user may not see it); partner staff get their own by default."""
    partners = visible_partners(request.user)
    asked = request.GET.get("partner", "")
    if asked:
        if not asked.isdigit():
            raise Http404
        partner = partners.filter(pk=int(asked)).first()
        if partner is None:
            raise Http404
        return partner
    if scope_for(request.user) is not None:
        return partners.first()
    return None


def municipality_name(request) -> str:
    return localized(MunicipalitySettings.load(request_or_site=request), "name")


def attachment(content: bytes, fmt: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def export_content(datasets, fmt: str) -> bytes:
    return reports.csv_bytes(datasets) if fmt == "csv" else reports.xlsx_bytes(datasets)


class ReportBaseView(WagtailAdminTemplateMixin, View):
    header_icon = "doc-full"

    def dispatch(self, request, *args, **kwargs):
        if not can_view(request.user):
            raise PermissionDenied  # the admin turns this into a redirect home with a message
        if kwargs.get("fmt", "csv") not in reports.EXPORT_FORMATS:
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": None, "label": self.get_page_title()}]

    def wants_pdf(self) -> bool:
        return self.request.GET.get("format") == "pdf"

    def pdf_url(self, query: str) -> str:
        return f"{self.request.path}?{query}&format=pdf" if query else f"{self.request.path}?format=pdf"

    def page_or_pdf(self, filename: str, **context):
        """The report page, or (?format=pdf) the same page as a PDF made on the server (cms.pdf), print styles
        applied: no admin chrome, A4 portrait."""
        context = self.get_context_data(**context)
        if not self.wants_pdf():
            return self.render_to_response(context)
        html = render_to_string(self.template_name, context | {"base_template": "outreach/admin/report_pdf.html"},
                                request=self.request)
        return pdf.response(html, filename)

    def period_filters(self, form) -> metrics.Filters:
        fiscal_year, month = form.period()
        return metrics.Filters(fiscal_year=fiscal_year, month=month, scope=scope_for(self.request.user))


class AnnualReportView(ReportBaseView):
    """The annual report: the dashboard's KPI tiles, figures, charts (image, alt text and the numbers in a table)
    and tables for one fiscal year, with every partner side by side; printable (report_print.html)."""

    template_name = "outreach/admin/report_annual.html"
    page_title = gettext_lazy("Annual report")

    def get(self, request):
        form = ReportForm(request.GET or None, with_month=False)
        filters = self.period_filters(form)
        report = reports.annual_report(filters)
        board = report.board
        # The chart images are drawn by the dashboard's chart view from the same filters; it knows only the fiscal
        # years with data, so a year without any shows its (empty) tables without images.
        with_images = report.has_data and filters.fiscal_year in form.years_with_data
        # The PDF draws its images here, from the cache of the data's version; the page's images are the chart
        # view's (which looks the version up itself: admin responses are never cached by the browser, so their
        # URLs need no version of their own, and the page does not pay for the look-up).
        version = dashboard.data_version(request) if with_images and self.wants_pdf() else ""
        # The reach's age bands go with its chart and downloads (outreach.dashboard.reach_rollup).
        reach_bands = {dashboard.REACH_BANDS_PARAMETER: board.reach_rollup}

        def chart(name):
            spec = dashboard.CHARTS[name]
            extra = reach_bands if spec.table in dashboard_admin.REACH_TABLES else {}
            chart = {"name": name, "matrix": board.table(spec.table), "alt": spec.alt(board)}
            if spec.table == "reach":  # the heat map's own numbers, formatted as it draws them
                chart["reach_table"] = dashboard_admin.reach_table(chart["matrix"])
            if with_images and self.wants_pdf():  # drawn here: the PDF fetches nothing from the server
                image = dashboard.chart_bytes(name, "png", board, version=version)
                chart["src"] = "data:image/png;base64," + base64.b64encode(image).decode()
            elif with_images:
                chart_query = querystring(report.filters, **extra)
                chart["src"] = f"{reverse('outreach_chart', args=[name, 'png'])}?{chart_query}"
                chart["svg"] = f"{reverse('outreach_chart', args=[name, 'svg'])}?{chart_query}"
                chart["downloads"] = dashboard_admin.downloads(spec.table, querystring(report.filters, **extra))
            return chart

        charts = {name.replace("-", "_"): chart(name)
                  for name in ("monthly", "attendance-ward", "reach", "skills", "gap")}
        if report.kpis:
            charts["kpi"] = chart("kpi")
        consultation_tables = ([board.table(name) for name in ("consultations-topic", "consultations-outcome",
                                                                "consultations-place", "consultations-band")]
                               if report.city_wide and board.show_consultations else [])
        query = querystring(report.filters)
        return self.page_or_pdf(
            f"dekiru-annual-report-FY{filters.fiscal_year}.pdf",
            form=form, report=report, fiscal_year=filters.fiscal_year, city_wide=report.city_wide,
            municipality=municipality_name(request), generated_at=timezone.localtime(), charts=charts,
            summary=board.table("summary"), elapsed=board.elapsed, population_year=board.reach.population_year,
            consultation_tables=consultation_tables, query=query, pdf_url=self.pdf_url(query))


class PartnerReportView(ReportBaseView):
    template_name = "outreach/admin/report_partners.html"
    page_title = gettext_lazy("Partner activity report")

    def get(self, request):
        partner = chosen_partner(request)
        form = ReportForm(request.GET or None, partners=visible_partners(request.user))
        filters = self.period_filters(form)
        city_staff = filters.scope is None
        report = reports.partner_report(partner, filters) if partner else None
        comparison = reports.partner_comparison(filters) if city_staff else None
        period_query = querystring(filters.with_(scope=None))
        query = querystring(filters, partner=partner.pk) if partner else period_query
        if partner and self.wants_pdf():  # a download of the partner's figures: audited as the others are
            log(partner, reports.LOG_ACTION_EXPORTED, user=request.user, data={
                "report": "partner", "format": "pdf", "partner": partner.pk, "fiscal_year": filters.fiscal_year,
                "month": filters.month, "sessions": len(report.sessions)})
        suffix = f"-{filters.month:02d}" if filters.month else ""
        return self.page_or_pdf(
            f"dekiru-partner-report-{partner.pk if partner else 'all'}-FY{filters.fiscal_year}{suffix}.pdf",
            form=form, report=report, partner=partner, comparison=comparison, city_staff=city_staff,
            period=reports.period_label(filters), municipality=municipality_name(request),
            generated_at=timezone.localtime(), query=query, period_query=period_query,
            summary=reports.summary_lines(report) if report else [],
            sessions_header=reports.sessions_header(), skills=report.skills_matrix() if report else None,
            downloads=[(_("Download CSV"), f"{url('partner_export', 'csv')}?{query}"),
                       (_("Download Excel (XLSX)"), f"{url('partner_export', 'xlsx')}?{query}")] if report else None,
            comparison_downloads=[
                (_("Download CSV"), f"{url('comparison_export', 'csv')}?{period_query}"),
                (_("Download Excel (XLSX)"), f"{url('comparison_export', 'xlsx')}?{period_query}")],
            pdf_url=self.pdf_url(query))


class PartnerReportExportView(ReportBaseView):
    def get(self, request, fmt):
        partner = chosen_partner(request)
        if partner is None:
            raise Http404
        filters = self.period_filters(ReportForm(request.GET or None, partners=visible_partners(request.user)))
        report = reports.partner_report(partner, filters)
        log(partner, reports.LOG_ACTION_EXPORTED, user=request.user, data={
            "report": "partner", "format": fmt, "partner": partner.pk, "fiscal_year": filters.fiscal_year,
            "month": filters.month, "sessions": len(report.sessions)})
        suffix = f"-{filters.month:02d}" if filters.month else ""
        filename = f"dekiru-partner-report-{partner.pk}-FY{filters.fiscal_year}{suffix}.{fmt}"
        return attachment(export_content(reports.partner_report_datasets(report), fmt), fmt, filename)


class ComparisonExportView(ReportBaseView):
    """Every partner side by side: city staff only."""

    def get(self, request, fmt):
        from wagtail.models import Site

        filters = self.period_filters(ReportForm(request.GET or None))
        if filters.scope is not None:
            raise PermissionDenied
        comparison = reports.partner_comparison(filters)
        target = Site.objects.filter(is_default_site=True).first() or Site.objects.first() or request.user
        log(target, reports.LOG_ACTION_EXPORTED, user=request.user, data={
            "report": "partner_comparison", "format": fmt, "fiscal_year": filters.fiscal_year,
            "month": filters.month, "partners": [row.partner_id for row in comparison.rows]})
        suffix = f"-{filters.month:02d}" if filters.month else ""
        filename = f"dekiru-partner-comparison-FY{filters.fiscal_year}{suffix}.{fmt}"
        return attachment(export_content([reports.comparison_dataset(comparison)], fmt), fmt, filename)


class ReportMenuItem(MenuItem):
    def is_shown(self, request):
        return can_view(request.user)


def register_annual_report_menu_item():
    return ReportMenuItem(gettext_lazy("Annual report"), reverse("outreach_reports:annual"),
                          name="outreach_annual_report", icon_name="doc-full", order=300)


def register_partner_report_menu_item():
    return ReportMenuItem(gettext_lazy("Partner activity reports"), reverse("outreach_reports:partners"),
                          name="outreach_partner_reports", icon_name="doc-full", order=310)


def register_report_urls():
    patterns = [
        path("annual/", AnnualReportView.as_view(), name="annual"),
        path("partners/", PartnerReportView.as_view(), name="partners"),
        path("partners/report.<str:fmt>", PartnerReportExportView.as_view(), name="partner_export"),
        path("partners/comparison.<str:fmt>", ComparisonExportView.as_view(), name="comparison_export"),
    ]
    return [path("outreach/reports/", include((patterns, URL_NAMESPACE), namespace=URL_NAMESPACE))]


def register_report_log_actions(actions):
    label = gettext_lazy("Report downloaded")
    actions.register_action(reports.LOG_ACTION_EXPORTED, label, label)
