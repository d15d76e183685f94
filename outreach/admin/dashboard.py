"""Admin: the outreach dashboard (/admin/outreach/dashboard/), its chart images (/admin/outreach/charts/<name>.png|svg)
and table downloads (/admin/outreach/tables/<name>.csv|xlsx), each with the dashboard's filters in the query string;
the "Dashboard" item of the Outreach menu and a panel on the admin home page.

Everything needs outreach.view_dashboard. City staff see the whole city; partner staff the same pages limited to
their own partners (outreach.filters.scope_for → Filters.scope, applied by outreach.metrics to every figure), without
the support-desk consultations, which belong to no partner. The divide gap (public survey figures) is shown to all.
Thin views: the figures are outreach.dashboard (and outreach.metrics), the drawing outreach.charts.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin.menu import MenuItem
from wagtail.admin.ui.components import Component
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from cms.audit import log
from courses.spreadsheets import audit_target
from outreach import bands, charts, dashboard, followups, metrics, suppression
from outreach.filters import filters_from_request, querystring, scope_for

VIEW_PERMISSION = "outreach.view_dashboard"
EXPORT_LOG_ACTION = "outreach.dashboard.table_exported"


def can_view(user) -> bool:
    return user.is_active and user.has_perm(VIEW_PERMISSION)


class DashboardPermissionMixin:
    def dispatch(self, request, *args, **kwargs):
        if not can_view(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


def _url(name: str, *args, query: str = "") -> str:
    return reverse(name, args=args) + (f"?{query}" if query else "")


def downloads(table: str, query: str) -> list[tuple[str, str]]:
    return [(_("CSV"), _url("outreach_table", table, "csv", query=query)),
            (_("Excel"), _url("outreach_table", table, "xlsx", query=query))]


class DashboardView(DashboardPermissionMixin, WagtailAdminTemplateMixin, View):
    template_name = "outreach/admin/dashboard.html"
    page_title = gettext_lazy("Outreach dashboard")
    header_icon = "view"

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": "", "label": self.get_page_title()}]

    def get(self, request):
        form, filters = filters_from_request(request)
        board = dashboard.Dashboard(filters, reach_bands=request.GET.get(dashboard.REACH_BANDS_PARAMETER))
        query = querystring(filters)
        # The reach chart and tables (and their downloads) carry the reach's age bands explicitly.
        reach_query = reach_querystring(filters, board.reach_rollup)

        def table(name):
            table_query = reach_query if name in REACH_TABLES else query
            return {"name": name, "matrix": board.table(name), "downloads": downloads(name, table_query)}

        def chart(name):
            spec = dashboard.CHARTS[name]
            chart_query = reach_query if spec.table in REACH_TABLES else query
            return {**table(spec.table), "chart": name, "alt": spec.alt(board),
                    "src": _url("outreach_chart", name, "png", query=chart_query),
                    "svg": _url("outreach_chart", name, "svg", query=chart_query),
                    "width": charts.CHART_WIDTH, "height": charts.CHART_HEIGHT}

        consultation_tables = ([table(name) for name in ("consultations-topic", "consultations-outcome",
                                                         "consultations-place", "consultations-band")]
                               if board.show_consultations else [])
        return self.render_to_response(self.get_context_data(
            form=form, filters=filters, board=board, fiscal_year=board.fiscal_year, elapsed=board.elapsed,
            kpis=board.kpis, kpi_chart=chart("kpi") if board.kpis else None,
            tiles=dashboard.headline_figures(board.summary, consultations=board.show_consultations),
            summary_downloads=downloads("summary", query),
            attendance_ward=chart("attendance-ward"), attendance_topic=chart("attendance-topic"),
            monthly=chart("monthly"), reach=chart("reach"), population_year=board.reach.population_year,
            reach_table=reach_table(board.reach.per_thousand), reach_views=reach_views(filters, board.reach_rollup),
            reach_bands=request.GET.get(dashboard.REACH_BANDS_PARAMETER) in bands.ROLLUPS and board.reach_rollup,
            reach_participants=table("reach-participants"), reach_residents=table("reach-residents"),
            skills=chart("skills"), consultations=board.consultations, consultation_tables=consultation_tables,
            show_consultations=board.show_consultations, is_partner_staff=filters.scope is not None,
            gap=chart("gap"), channel_mix=chart("channel-mix"), suppression_mark=suppression.MARK,
            suppression_threshold=suppression.threshold(), defaulted_ages=board.defaulted_ages, query=query,
            outcomes=followups.outcomes(filters)))


# The tables drawn in the reach section: their figures follow ?reach_bands= (outreach.dashboard.reach_rollup), and so
# does the channel mix (65–74 / 75+ by default: the city watches how many 75+ residents only a call reaches).
REACH_TABLES = {"reach", "reach-participants", "reach-residents", "channel-mix"}
REACH_VIEWS = [(bands.ELDERLY, gettext_lazy("Under 65 / 65–74 / 75+")), (bands.DETAIL, gettext_lazy("Every age band"))]


def reach_querystring(filters: metrics.Filters, rollup: str) -> str:
    return querystring(filters, **{dashboard.REACH_BANDS_PARAMETER: rollup})


def reach_views(filters: metrics.Filters, current: str) -> list[dict]:
    """The links between the reach's views (65–74 / 75+ and every band): plain links, so they work without
    JavaScript; the other figures of the page keep their filters."""
    return [{"label": label, "current": rollup == current,
             "url": f"?{reach_querystring(filters, rollup)}#reach-heading"} for rollup, label in REACH_VIEWS]


def reach_table(matrix: metrics.Matrix) -> dict:
    """The reach table as text, every figure formatted by outreach.charts.number with the reach's decimals: the
    very strings the heat map draws in its cells and its alt text quotes, whatever the language."""

    def cell(value):
        return None if value is None else charts.number(value, metrics.REACH_DECIMALS)

    lines = [[line[0], *[cell(value) for value in line[1:]]] for line in matrix.body()]
    return {"title": matrix.title, "header": matrix.header(), "lines": lines[:-1], "total": lines[-1]}


class ChartView(DashboardPermissionMixin, View):
    """A chart image for the filters in the query string, from the server's cache while the data is unchanged
    (the admin's responses are never cached by the browser: Wagtail marks them never_cache)."""

    def get(self, request, name, fmt):
        if name not in dashboard.CHARTS or fmt not in charts.FORMATS:
            raise Http404
        _form, filters = filters_from_request(request)
        version = dashboard.data_version(request)
        board = dashboard.Dashboard(filters, reach_bands=request.GET.get(dashboard.REACH_BANDS_PARAMETER))
        content = dashboard.chart_bytes(name, fmt, board, version=version)
        return HttpResponse(content, content_type=charts.FORMATS[fmt])


class TableDownloadView(DashboardPermissionMixin, View):
    """A dashboard table as CSV or Excel, with the filters applied; every download is logged."""

    def get(self, request, name, fmt):
        if fmt not in dashboard.TABLE_FORMATS:
            raise Http404
        _form, filters = filters_from_request(request)
        board = dashboard.Dashboard(filters, reach_bands=request.GET.get(dashboard.REACH_BANDS_PARAMETER))
        if not board.has_table(name):
            raise Http404
        matrix = board.table(name)
        content = dashboard.table_bytes(matrix, fmt)
        log(_audit_target(request.user, filters), EXPORT_LOG_ACTION, user=request.user,
            data={"table": name, "format": fmt, "filters": querystring(filters),
                  "partners": sorted(filters.scope) if filters.scope is not None else "all"})
        response = HttpResponse(content, content_type=dashboard.TABLE_FORMATS[fmt])
        filename = dashboard.export_filename(name, filters, fmt)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


def _audit_target(user, filters: metrics.Filters):
    """The partner whose figures these are when exactly one; the default Site for city-wide figures."""
    partners = {filters.partner} if filters.partner else set(filters.scope or ())
    return audit_target(user, partners)


# --- The admin home page --------------------------------------------------------------------------------------


class DashboardPanel(Component):
    """A few figures of the current fiscal year and the KPIs, with a link to the dashboard. Cached by data version
    (outreach.dashboard.panel_figures): while the data is unchanged it costs the home page three queries (the
    user's scope, the data version, one cache read), whatever the amount of data."""

    name = "outreach_dashboard"
    order = 90
    template_name = "outreach/admin/dashboard_panel.html"

    class Media:
        css = {"all": ["outreach/dashboard.css"]}

    def __init__(self, request):
        self.request = request

    def get_context_data(self, parent_context=None):
        today = timezone.localdate()
        filters = metrics.Filters(fiscal_year=metrics.fiscal_year_of(today), scope=scope_for(self.request.user))
        figures = dashboard.panel_figures(filters, version=dashboard.data_version(self.request), today=today)
        return {**figures, "fiscal_year": filters.fiscal_year, "dashboard_url": reverse("outreach_dashboard"),
                "is_partner_staff": filters.scope is not None}


def add_dashboard_panel(request, panels):
    if can_view(request.user):
        panels.append(DashboardPanel(request))


# --- Registration with Wagtail ----------------------------------------------------------------------------------


class DashboardMenuItem(MenuItem):
    def is_shown(self, request):
        return can_view(request.user)


def register_dashboard_menu_item():
    return DashboardMenuItem(gettext_lazy("Dashboard"), reverse("outreach_dashboard"), name="outreach_dashboard",
                             icon_name="view", order=100)


def register_dashboard_urls():
    return [
        path("outreach/dashboard/", DashboardView.as_view(), name="outreach_dashboard"),
        path("outreach/charts/<slug:name>.<str:fmt>", ChartView.as_view(), name="outreach_chart"),
        path("outreach/tables/<slug:name>.<str:fmt>", TableDownloadView.as_view(), name="outreach_table"),
    ]


def register_dashboard_log_actions(actions):
    label = gettext_lazy("Dashboard table downloaded")
    actions.register_action(EXPORT_LOG_ACTION, label, label)
