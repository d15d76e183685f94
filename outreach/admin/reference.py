"""Admin: /admin/outreach/reference/ -- the city's reference data: population by ward × age band × year,
internet-usage rates by age band × year, KPI targets by fiscal year.

The index shows what is loaded, with a CSV download of each table (view permission: city analysts too). Importing
(CSV or XLSX, previewed, then every row or none) needs the add and change permissions of that table: city programme
officers and administrators. Thin views: reading, checking, upserting and logging are outreach.reference_data.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import include, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from courses import spreadsheets
from courses.admin.spreadsheets import ImportForm
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


class ReferenceView(WagtailAdminTemplateMixin, View):
    header_icon = "table"

    def check(self, request, kind: str | None) -> None:
        """Refuse before loading anything."""
        if kind is not None and kind not in reference_data.KINDS:
            raise Http404

    def dispatch(self, request, *args, **kwargs):
        self.kind = kwargs.get("kind")
        self.check(request, self.kind)
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        items = [*self.breadcrumbs_items, {"url": url("index"), "label": _("Reference data")}]
        if self.kind is not None:
            items.append({"url": None, "label": self.get_page_title()})
        return items

    def render(self, status=200, **context):
        return self.render_to_response(self.get_context_data(kind=self.kind, **context), status=status)


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


class ImportView(ReferenceView):
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

    def show_form(self, form, status=200):
        return self.render(form=form, columns=self.columns(), help=IMPORT_HELP[self.kind],
                           export_url=url("export", self.kind), status=status)

    def get(self, request, kind):
        return self.show_form(ImportForm())

    def post(self, request, kind):
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.show_form(form, status=400)
        upload = form.cleaned_data["file"]
        data = upload.read()
        encoding = form.cleaned_data["encoding"]
        try:
            table = reference_data.read_file(data, filename=upload.name, encoding=encoding)
            report = reference_data.preview_import(kind, table, user=request.user)
        except spreadsheets.SpreadsheetError as error:
            form.add_error("file", error.message)
            return self.show_form(form, status=400)
        token = None
        if report.ok and report.changes:
            token = spreadsheets.stage_upload(user=request.user, kind=f"reference-{kind}", filename=upload.name,
                                              data=data, encoding=encoding)
        return self.render_preview(report, filename=upload.name, token=token)

    def render_preview(self, report, *, filename, token, status=200):
        self.template_name = "courses/admin/spreadsheets/preview.html"
        return self.render(report=report, filename=filename, token=token, confirm_url=url("confirm", self.kind),
                           again_url=url("import", self.kind), errors=report.errors[:spreadsheets.ERRORS_SHOWN],
                           more_errors=max(len(report.errors) - spreadsheets.ERRORS_SHOWN, 0), status=status)


class ConfirmView(ImportView):
    """POST: import the kept file -- read and checked again, every row or none."""

    http_method_names = ["post"]

    def post(self, request, kind):
        staged = spreadsheets.take_staged(request.POST.get("token", ""), user=request.user, kind=f"reference-{kind}")
        if staged is None:
            messages.error(request, _("This upload has already been imported or has expired. Upload the file "
                                      "again."))
            return redirect(url("import", kind))
        try:
            table = reference_data.read_file(staged["data"], filename=staged["filename"],
                                             encoding=staged["encoding"])
            report = reference_data.import_reference(kind, table, user=request.user, filename=staged["filename"])
        except spreadsheets.SpreadsheetError as error:
            messages.error(request, error.message)
            return redirect(url("import", kind))
        except spreadsheets.ImportRefused as refused:
            messages.error(request, _("Nothing was imported: some rows are not valid any more. Correct them and "
                                      "upload the file again."))
            return self.render_preview(refused.report, filename=staged["filename"], token=None, status=409)
        messages.success(request, _("Imported “%(file)s”: %(new)d new, %(updated)d changed, %(unchanged)d "
                                    "unchanged.") % {"file": staged["filename"], "new": report.new,
                                                     "updated": report.updated, "unchanged": report.unchanged})
        return redirect(url("index"))


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
