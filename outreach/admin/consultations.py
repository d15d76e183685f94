"""Admin: /admin/outreach/consultations/ -- support-desk consultations (デジタル相談).

- new/: the entry form for ward-office and call-centre staff: today's date and the user's usual place filled in,
  age band, where they live, topics, outcome and length to pick (nothing preselected); after saving, the empty
  form again with the user's entries of today below.
- the list, with filters (dates, wards, where they live, place, outcome, topic), and correcting an entry (change
  permission).
- export/?format=xlsx|csv: the consultations listed (the list's filters), in the import's columns.
- import/: a spreadsheet of consultations (XLSX or CSV), previewed, then added all at once or not at all;
  template.xlsx: an empty workbook with the columns.

Consultations are city data, not a partner's: every page needs a city role (partners.permissions.is_city_staff)
and the model permission (view, add, change) -- checked before anything is loaded. Thin views: the rules, the
import and the audit log are outreach.consultations.
"""

import io

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import include, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from courses import spreadsheets
from courses.admin.spreadsheets import ImportForm
from outreach import consultation_import, consultations
from outreach.forms import ConsultationFilterForm, ConsultationForm
from outreach.models import Consultation
from outreach.resources import ConsultationResource, template_workbook
from partners.permissions import is_city_staff

URL_NAMESPACE = "outreach_consultations"
VIEW, ADD, CHANGE = "outreach.view_consultation", "outreach.add_consultation", "outreach.change_consultation"
PER_PAGE = 50


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


def can(user, permission: str) -> bool:
    return is_city_staff(user) and user.has_perm(permission)


class ConsultationView(WagtailAdminTemplateMixin, View):
    permission = VIEW
    header_icon = "help"

    def dispatch(self, request, *args, **kwargs):
        if not can(request.user, self.permission):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        items = [*self.breadcrumbs_items]
        if can(self.request.user, VIEW):
            items.append({"url": url("index"), "label": _("Consultations")})
        items.append({"url": None, "label": self.get_page_title()})
        return items

    def render(self, status=200, **context):
        user = self.request.user
        context.setdefault("can_view", can(user, VIEW))
        context.setdefault("can_add", can(user, ADD))
        context.setdefault("can_change", can(user, CHANGE))
        return self.render_to_response(self.get_context_data(**context), status=status)


def _form_errors_from(form, error: ValidationError) -> None:
    for field, messages_ in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages_)


class EntryView(ConsultationView):
    """GET: the form, filled in with today and the usual place. POST: record, then the empty form again."""

    permission = ADD
    template_name = "outreach/admin/consultation_entry.html"
    page_title = gettext_lazy("Record a consultation")

    def fresh_form(self) -> ConsultationForm:
        usual = consultations.usual_place(self.request.user)
        return ConsultationForm(initial={
            "date": timezone.localdate(), "place": usual.place,
            "place_ward": usual.place_ward.pk if usual.place_ward else None})

    def show(self, form, status=200):
        focus = form.focus()
        return self.render(form=form, focus=focus, today=consultations.recorded_today(self.request.user),
                           status=status)

    def get(self, request):
        return self.show(self.fresh_form())

    def post(self, request):
        form = ConsultationForm(request.POST)
        if form.is_valid():
            try:
                consultations.record_consultation(**form.service_arguments(), actor=request.user)
            except ValidationError as error:
                _form_errors_from(form, error)
            else:
                messages.success(request, _("Consultation recorded. The form is ready for the next one."))
                return redirect(url("add"))
        return self.show(form, status=400)


class EditView(ConsultationView):
    permission = CHANGE
    template_name = "outreach/admin/consultation_edit.html"
    page_title = gettext_lazy("Correct a consultation")

    def get_consultation(self, pk) -> Consultation:
        return get_object_or_404(consultations.with_details(Consultation.objects.all()), pk=pk)

    def get(self, request, pk):
        consultation = self.get_consultation(pk)
        form = ConsultationForm(instance=consultation)
        form.focus()
        return self.render(form=form, consultation=consultation)

    def post(self, request, pk):
        consultation = self.get_consultation(pk)
        form = ConsultationForm(request.POST, instance=consultation)
        if form.is_valid():
            try:
                consultations.update_consultation(consultation=consultation, **form.service_arguments(),
                                                  actor=request.user)
            except ValidationError as error:
                _form_errors_from(form, error)
            else:
                messages.success(request, _("Consultation corrected."))
                return redirect(url("index"))
        form.focus()
        return self.render(form=form, consultation=consultation, status=400)


class IndexView(ConsultationView):
    template_name = "outreach/admin/consultation_list.html"
    page_title = gettext_lazy("Consultations")

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": None, "label": self.get_page_title()}]

    def get(self, request):
        form = ConsultationFilterForm(request.GET or None)
        queryset = consultations.filter_consultations(form.filters())
        page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("p"))
        query = request.GET.copy()
        query.pop("p", None)
        return self.render(form=form, page=page, query=query.urlencode())


class ExportView(ConsultationView):
    """GET ?format=xlsx|csv and the list's filters: the consultations listed, in the import's columns."""

    def get(self, request):
        fmt = request.GET.get("format", "")
        if fmt not in spreadsheets.FORMATS:
            return HttpResponseBadRequest(_("Unknown format."))
        form = ConsultationFilterForm(request.GET)
        filters = {key: str(value) for key, value in form.cleaned_data.items() if value} if form.is_valid() else {}
        result = consultation_import.export_consultations(
            consultations.filter_consultations(form.filters()), user=request.user, fmt=fmt, filters=filters)
        # Streamed in both formats (courses.spreadsheets.xlsx_chunks): memory does not grow with the rows.
        response = StreamingHttpResponse(result.chunks, content_type=result.content_type)
        response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
        return response


# --- Import -------------------------------------------------------------------------------------------------------


def import_columns() -> dict:
    columns = ConsultationResource.columns()
    return {"read": [column.header() for column in columns.values()],
            "needed": [columns[key].header() for (key,) in ConsultationResource.required_columns]}


IMPORT_HELP = gettext_lazy(
    "One row per consultation. Places, age bands and outcomes in Japanese or English; the ward by its name or its "
    "6-digit code; several topics in one cell separated by 、 or ;. The age band and where the person lives are "
    "needed on every row: a ward, 市外 (outside the city) or 答えたくない (not given); a blank cell is refused. "
    "An empty length counts as 15 minutes. Every row is added: import a file once.")


class ImportView(ConsultationView):
    """GET: the upload form. POST: read the file and show the preview (nothing written); the file is kept for the
    confirmation."""

    permission = ADD
    template_name = "outreach/admin/reference_import.html"
    page_title = gettext_lazy("Import consultations")

    def show_form(self, form, status=200):
        return self.render(form=form, columns=import_columns(), help=IMPORT_HELP, template_url=url("template"),
                           status=status)

    def get(self, request):
        return self.show_form(ImportForm())

    def post(self, request):
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.show_form(form, status=400)
        upload = form.cleaned_data["file"]
        data = upload.read()
        encoding = form.cleaned_data["encoding"]
        try:
            table = spreadsheets.read_upload(data, filename=upload.name, encoding=encoding)
            report = consultation_import.preview_import(table, user=request.user)
        except spreadsheets.SpreadsheetError as error:
            form.add_error("file", error.message)
            return self.show_form(form, status=400)
        token = None
        if report.ok and report.changes:
            token = spreadsheets.stage_upload(user=request.user, kind=consultations.IMPORT_KIND,
                                              filename=upload.name, data=data, encoding=encoding)
        earlier = consultation_import.earlier_import(consultation_import.file_digest(data))
        return self.render_preview(report, filename=upload.name, token=token, earlier=earlier)

    def render_preview(self, report, *, filename, token, earlier=None, status=200):
        self.template_name = "courses/admin/spreadsheets/preview.html"
        return self.render(report=report, filename=filename, token=token, earlier=earlier,
                           confirm_url=url("import_confirm"), again_url=url("import"),
                           errors=report.errors[:spreadsheets.ERRORS_SHOWN],
                           more_errors=max(len(report.errors) - spreadsheets.ERRORS_SHOWN, 0), status=status)


class ConfirmView(ImportView):
    """POST: import the kept file -- read and checked again, every row or none."""

    http_method_names = ["post"]

    def post(self, request):
        staged = spreadsheets.take_staged(request.POST.get("token", ""), user=request.user,
                                          kind=consultations.IMPORT_KIND)
        if staged is None:
            messages.error(request, _("This upload has already been imported or has expired. Upload the file "
                                      "again."))
            return redirect(url("import"))
        try:
            table = spreadsheets.read_upload(staged["data"], filename=staged["filename"], encoding=staged["encoding"])
            report = consultation_import.import_consultations(table, user=request.user, filename=staged["filename"],
                                                        digest=consultation_import.file_digest(staged["data"]))
        except spreadsheets.SpreadsheetError as error:
            messages.error(request, error.message)
            return redirect(url("import"))
        except spreadsheets.ImportRefused as refused:
            messages.error(request, _("Nothing was imported: some rows are not valid any more. Correct them and "
                                      "upload the file again."))
            return self.render_preview(refused.report, filename=staged["filename"], token=None, status=409)
        messages.success(request, _("Imported “%(file)s”: %(count)d consultations added.")
                         % {"file": staged["filename"], "count": report.new})
        return redirect(url("index"))


class TemplateView(ConsultationView):
    """GET: an empty workbook with the import's columns (and the values each accepts, on a second sheet)."""

    permission = ADD

    def get(self, request):
        stream = io.BytesIO()
        template_workbook(stream)
        stream.seek(0)
        return FileResponse(stream, as_attachment=True, filename="dekiru-consultations-template.xlsx",
                            content_type=spreadsheets.XLSX_CONTENT_TYPE)


urlpatterns = [
    path("", IndexView.as_view(), name="index"),
    path("new/", EntryView.as_view(), name="add"),
    path("export/", ExportView.as_view(), name="export"),
    path("<int:pk>/", EditView.as_view(), name="edit"),
    path("import/", ImportView.as_view(), name="import"),
    path("import/confirm/", ConfirmView.as_view(), name="import_confirm"),
    path("import/template.xlsx", TemplateView.as_view(), name="template"),
]


# --- Wiring ---------------------------------------------------------------------------------------------------------


def register_consultation_urls():
    return [path("outreach/consultations/", include((urlpatterns, URL_NAMESPACE), namespace=URL_NAMESPACE))]


class ConsultationMenuItem(MenuItem):
    """Shown to those the views let in (the views enforce it)."""

    def __init__(self, *args, permission: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.permission = permission

    def is_shown(self, request):
        return can(request.user, self.permission)


def register_consultation_entry_menu_item():
    return ConsultationMenuItem(gettext_lazy("Record a consultation"), reverse(f"{URL_NAMESPACE}:add"),
                                name="consultation-entry", icon_name="edit", order=300, permission=ADD)


def register_consultation_list_menu_item():
    return ConsultationMenuItem(gettext_lazy("Consultations"), reverse(f"{URL_NAMESPACE}:index"),
                                name="consultations", icon_name="list-ul", order=310, permission=VIEW)


def register_consultation_log_actions(actions):
    for action, label in consultations.LOG_ACTIONS.items():
        actions.register_action(action, label, label)
