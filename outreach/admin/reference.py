"""Admin: /admin/outreach/reference/ -- the city's reference data: population by ward × age band × year,
internet-usage rates by age band × year, KPI targets by fiscal year.

The index shows what is loaded, with a CSV download of each table (view permission: city analysts too). Importing
(CSV or XLSX, previewed, then every row or none) needs the add and change permissions of that table: city programme
officers and administrators. Thin views: reading, checking, upserting and logging are outreach.reference_data.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, StreamingHttpResponse
from django.urls import include, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.admin.menu import MenuItem

from courses.admin.spreadsheets import KindView, StagedImportView
from outreach import reference_data
from outreach.models import AGE_BAND_CHOICES, SURVEY_BAND_CHOICES
from outreach.resources import REFERENCE_RESOURCES
from partners.models import Ward

URL_NAMESPACE = "outreach_reference"

IMPORT_HELP = {
    "population": gettext_lazy("One row per year, ward and age band. The ward by its name or its 6-digit code; age "
                               "bands as 70-74, 70〜74歳 or 85歳以上. A row for a year, ward and age band already "
                               "loaded replaces its figure."),
    "usage": gettext_lazy("One row per year, survey and age band of the survey (6-12 … 80+, and all ages), the rate "
                          "in per cent with at most one decimal. The survey is national unless the column says "
                          "city."),
    "kpi": gettext_lazy("One row per fiscal year and indicator: 2025 is April 2025 to March 2026. The indicator by "
                        "its name or its code."),
}


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


class ReferenceView(KindView):
    url_namespace = URL_NAMESPACE
    index_label = gettext_lazy("Reference data")

    def check(self, request, kind: str | None) -> None:
        """Refuse before loading anything."""
        if kind is not None and kind not in reference_data.KINDS:
            raise Http404


class IndexView(ReferenceView):
    template_name = "outreach/admin/reference_index.html"
    page_title = gettext_lazy("Reference data")

    def check(self, request, kind):
        if not reference_data.can_use(request.user):
            raise PermissionDenied

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": None, "label": self.get_page_title()}]

    def get(self, request):
        user = request.user
        tables = {kind: {"label": reference_data.LABELS[kind], "can_view": reference_data.can_view(user, kind),
                         "can_import": reference_data.can_import(user, kind)} for kind in reference_data.KINDS}
        context = {"tables": tables}
        if tables["population"]["can_view"]:
            context["wards"] = wards = list(Ward.objects.all())
            context["population"] = reference_data.population_overview(wards)
            context["band_count"] = len(AGE_BAND_CHOICES)
        if tables["usage"]["can_view"]:
            context["usage"] = reference_data.usage_overview()
            context["usage_bands"] = SURVEY_BAND_CHOICES
        if tables["kpi"]["can_view"]:
            context["kpi_years"], context["kpi_rows"] = reference_data.kpi_overview()
        return self.render(**context)


class ExportView(ReferenceView):
    """GET: the whole table as CSV, columns as the import reads them."""

    def check(self, request, kind):
        super().check(request, kind)
        if not reference_data.can_view(request.user, kind):
            raise PermissionDenied

    def get(self, request, kind):
        result = reference_data.export_csv(kind)
        response = StreamingHttpResponse(result.chunks, content_type=result.content_type)
        response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
        return response


class ImportView(ReferenceView, StagedImportView):
    """GET: the upload form. POST: read the file and show the preview (nothing written), keeping the file for the
    confirmation."""

    template_name = "outreach/admin/reference_import.html"

    def check(self, request, kind):
        super().check(request, kind)
        if not reference_data.can_import(request.user, kind):
            raise PermissionDenied

    def get_page_title(self):
        return _("Import: %(what)s") % {"what": reference_data.LABELS[self.kind]}

    def columns(self) -> dict:
        resource = REFERENCE_RESOURCES[self.kind]
        columns = resource.columns()
        return {"read": [column.header() for column in columns.values()],
                "needed": [columns[key].header() for (key,) in resource.required_columns]}

    def form_context(self) -> dict:
        return {"columns": self.columns(), "help": IMPORT_HELP[self.kind], "export_url": url("export", self.kind)}

    def preview_context(self) -> dict:
        return {"confirm_url": url("confirm", self.kind), "again_url": url("import", self.kind)}

    def staging_kind(self) -> str:
        return f"reference-{self.kind}"

    def read(self, data, *, filename, encoding):
        return reference_data.read_file(data, filename=filename, encoding=encoding)

    def preview(self, table, *, user):
        return reference_data.preview_import(self.kind, table, user=user)

    def apply(self, table, *, user, filename):
        return reference_data.import_reference(self.kind, table, user=user, filename=filename)

    def after_import_url(self) -> str:
        return url("index")


class ConfirmView(ImportView):
    """POST: import the kept file -- read and checked again, every row or none."""

    http_method_names = ["post"]
    confirming = True


urlpatterns = [
    path("", IndexView.as_view(), name="index"),
    path("<slug:kind>/export.csv", ExportView.as_view(), name="export"),
    path("<slug:kind>/import/", ImportView.as_view(), name="import"),
    path("<slug:kind>/import/confirm/", ConfirmView.as_view(), name="confirm"),
]


# --- Wiring ---------------------------------------------------------------------------------------------------------


def register_reference_urls():
    return [path("outreach/reference/", include((urlpatterns, URL_NAMESPACE), namespace=URL_NAMESPACE))]


class ReferenceMenuItem(MenuItem):
    """Shown to those the views let in (the views enforce it)."""

    def is_shown(self, request):
        return reference_data.can_use(request.user)


def register_reference_menu_item():
    return ReferenceMenuItem(gettext_lazy("Reference data"), reverse(f"{URL_NAMESPACE}:index"),
                             name="reference-data", icon_name="table", order=400)


def register_reference_log_actions(actions):
    for action, label in reference_data.LOG_ACTIONS.items():
        actions.register_action(action, label, label)
