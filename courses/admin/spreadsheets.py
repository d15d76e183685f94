"""Admin: /admin/spreadsheets/ -- export sessions, registrations and attendance as Excel or CSV; import a term's
timetable or a filled-in attendance roster, with a preview before anything is written.

Permissions, checked before anything is loaded: exporting sessions needs courses.view_session, registrations and
attendance courses.view_registration; importing sessions courses.add_session and change_session, attendance
courses.change_registration. Partner staff export and import only their own partners' rows (courses.resources and
courses.spreadsheets scope every query); the export's course and venue filters offer those of every session the
user's partners run (a city course among them) besides those they may schedule. No export holds an e-mail, a
phone number or a note; the name and kana columns are left out for users who may not see names (city analysts:
courses.privacy). Thin views: reading, checking, applying, exporting and logging are courses.spreadsheets; the
columns are courses.resources.
"""

from abc import ABC, abstractmethod

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.viewsets.base import ViewSet

from courses import spreadsheets
from courses.models import CoursePage, Registration, Session
from courses.resources import IMPORTABLE, RESOURCES, courses_for, venues_for
from partners import permissions
from partners.models import Venue

URL_NAMESPACE = "spreadsheets"

EXPORT_PERMISSIONS = {
    "sessions": ("courses.view_session",),
    "registrations": ("courses.view_registration",),
    "attendance": ("courses.view_registration",),
}
IMPORT_PERMISSIONS = {
    "sessions": ("courses.add_session", "courses.change_session"),
    "attendance": ("courses.change_registration",),
}
KIND_LABELS = {
    "sessions": gettext_lazy("Sessions"),
    "registrations": gettext_lazy("Registrations"),
    "attendance": gettext_lazy("Attendance"),
}
KIND_HELP = {
    "sessions": gettext_lazy("A term's timetable: leave the session number empty for a new session; with a number, "
                             "the session is changed (the people booked are told). New dates must be in the future."),
    "attendance": gettext_lazy("A filled-in roster: the registration number and attended or no-show (出席/欠席, "
                               "○/×, 1/0, yes/no). A row without a registration number is a walk-in: give the "
                               "session number, the age band (or “Prefer not to say”) and where they live (a ward, "
                               "“Outside the city” or “Prefer not to say”); a blank is not an answer. The name is "
                               "optional."),
}


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


def can_export(user, kind: str) -> bool:
    return user.is_active and user.has_perms(EXPORT_PERMISSIONS[kind])


def can_import(user, kind: str) -> bool:
    return user.is_active and user.has_perms(IMPORT_PERMISSIONS[kind])


def can_use(user) -> bool:
    return any(can_export(user, kind) for kind in EXPORT_PERMISSIONS) or any(
        can_import(user, kind) for kind in IMPORT_PERMISSIONS)


# --- Forms ----------------------------------------------------------------------------------------------------------


class ExportForm(forms.Form):
    format = forms.ChoiceField(label=gettext_lazy("Format"), widget=forms.RadioSelect, initial="xlsx",
                               choices=[("xlsx", gettext_lazy("Excel workbook (.xlsx)")),
                                        ("csv", gettext_lazy("CSV (UTF-8, opens in Excel)"))])
    date_from = forms.DateField(label=gettext_lazy("From"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=gettext_lazy("Until"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    course = forms.ModelChoiceField(label=gettext_lazy("Course"), required=False, queryset=CoursePage.objects.none())
    venue = forms.ModelChoiceField(label=gettext_lazy("Venue"), required=False, queryset=venues_for(None))
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False)

    def __init__(self, *args, kind: str, user, **kwargs):
        super().__init__(*args, **kwargs)
        ids = permissions.partner_ids(user)
        # Every course the user's partners run sessions of (a city course among them), and those they may schedule.
        run = permissions.scope(Session.objects.all(), user).order_by()
        self.fields["course"].queryset = CoursePage.objects.filter(
            Q(pk__in=list(courses_for(ids))) | Q(pk__in=run.values("course_id"))).order_by("title")
        self.fields["venue"].queryset = (venues_for(ids) | Venue.objects.filter(pk__in=run.values("venue_id"))
                                         ).select_related("ward").distinct()
        statuses = Session.Status.choices if kind == "sessions" else Registration.Status.choices
        if kind == "attendance":
            statuses = [(value, label) for value, label in statuses if value in Registration.ACTIVE]
        self.fields["status"].choices = [("", _("All")), *statuses]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned

    def filters(self) -> spreadsheets.ExportFilters:
        data = self.cleaned_data
        return spreadsheets.ExportFilters(
            date_from=data["date_from"], date_to=data["date_to"], course=getattr(data["course"], "pk", None),
            venue=getattr(data["venue"], "pk", None), status=data["status"])


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("File"),
                           help_text=gettext_lazy("An Excel workbook (.xlsx) or a CSV file, up to 10 MB."),
                           widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv,text/csv"}))
    encoding = forms.ChoiceField(
        label=gettext_lazy("Characters (CSV only)"), initial="auto",
        choices=[("auto", gettext_lazy("Detect")), ("utf-8", gettext_lazy("UTF-8")),
                 ("cp932", gettext_lazy("Shift_JIS (Japanese Excel)"))],
        help_text=gettext_lazy("Change this only if names in the preview look garbled."))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            spreadsheets.check_size(upload.size)  # before reading a byte of it
        except spreadsheets.SpreadsheetError as error:
            raise forms.ValidationError(error.message) from None
        return upload


# --- Views ----------------------------------------------------------------------------------------------------------


class KindView(WagtailAdminTemplateMixin, View):
    """One page of a family of admin pages by kind (`<kind>/export`, `<kind>/import/`…): refused before anything is
    loaded, with breadcrumbs back to the family's index. The spreadsheets here and the city's reference data
    (outreach.admin.reference) are two such families."""

    header_icon = "table"
    url_namespace = ""  # the family's URL namespace
    index_label = ""  # the index page's name in the breadcrumbs

    def check(self, request, kind: str | None) -> None:
        """Refuse before loading anything."""

    def dispatch(self, request, *args, **kwargs):
        self.kind = kwargs.get("kind")
        self.check(request, self.kind)
        return super().dispatch(request, *args, **kwargs)

    def url(self, name: str, *args) -> str:
        return reverse(f"{self.url_namespace}:{name}", args=args)

    def get_breadcrumbs_items(self):
        items = [*self.breadcrumbs_items, {"url": self.url("index"), "label": self.index_label}]
        if self.kind is not None:
            items.append({"url": None, "label": self.get_page_title()})
        return items

    def render(self, status=200, **context):
        return self.render_to_response(self.get_context_data(kind=self.kind, **context), status=status)


class StagedImportView(KindView, ABC):
    """An import in two steps. The first POST reads the file and shows the preview, writing nothing, and keeps the
    file (courses.spreadsheets.stage_upload); the confirmation (`confirming`, a POST of the kept file's token) reads
    and checks it again and imports every row or none. A family supplies how to read, preview and apply a file."""

    confirming = False
    preview_template = "courses/admin/spreadsheets/preview.html"

    @abstractmethod
    def read(self, data: bytes, *, filename: str, encoding: str): ...

    @abstractmethod
    def preview(self, table, *, user): ...

    @abstractmethod
    def apply(self, table, *, user, filename: str): ...

    @abstractmethod
    def form_context(self) -> dict:
        """What the upload form's page shows beside the form (the columns, the help)."""

    def preview_context(self) -> dict:
        return {}

    def staging_kind(self) -> str:
        return self.kind

    def show_form(self, form, status=200):
        return self.render(form=form, **self.form_context(), status=status)

    def get(self, request, kind):
        return self.show_form(ImportForm())

    def post(self, request, kind):
        return self.import_staged(request) if self.confirming else self.upload(request)

    def upload(self, request):
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.show_form(form, status=400)
        upload = form.cleaned_data["file"]
        data = upload.read()
        encoding = form.cleaned_data["encoding"]
        try:
            table = self.read(data, filename=upload.name, encoding=encoding)
            report = self.preview(table, user=request.user)
        except spreadsheets.SpreadsheetError as error:
            form.add_error("file", error.message)
            return self.show_form(form, status=400)
        token = None
        if report.ok and report.changes:
            token = spreadsheets.stage_upload(user=request.user, kind=self.staging_kind(), filename=upload.name,
                                              data=data, encoding=encoding)
        return self.render_preview(report, filename=upload.name, token=token)

    def render_preview(self, report, *, filename, token, status=200):
        self.template_name = self.preview_template
        return self.render(report=report, filename=filename, token=token, **self.preview_context(),
                           errors=report.errors[:spreadsheets.ERRORS_SHOWN],
                           more_errors=max(len(report.errors) - spreadsheets.ERRORS_SHOWN, 0), status=status)

    def import_staged(self, request):
        staged = spreadsheets.take_staged(request.POST.get("token", ""), user=request.user, kind=self.staging_kind())
        if staged is None:
            messages.error(request, _("This upload has already been imported or has expired. Upload the file "
                                      "again."))
            return redirect(self.url("import", self.kind))
        try:
            table = self.read(staged["data"], filename=staged["filename"], encoding=staged["encoding"])
            report = self.apply(table, user=request.user, filename=staged["filename"])
        except spreadsheets.SpreadsheetError as error:
            messages.error(request, error.message)
            return redirect(self.url("import", self.kind))
        except spreadsheets.ImportRefused as refused:
            messages.error(request, _("Nothing was imported: some rows are not valid any more. Correct them and "
                                      "upload the file again."))
            return self.render_preview(refused.report, filename=staged["filename"], token=None, status=409)
        messages.success(request, _("Imported “%(file)s”: %(new)d new, %(updated)d changed, %(unchanged)d "
                                    "unchanged.") % {"file": staged["filename"], "new": report.new,
                                                     "updated": report.updated, "unchanged": report.unchanged})
        return redirect(self.after_import_url())

    def after_import_url(self) -> str:
        """Where the confirmation leads once the file is imported: the import page again."""
        return self.url("import", self.kind)


class SpreadsheetView(KindView):
    url_namespace = URL_NAMESPACE
    index_label = gettext_lazy("Spreadsheets")


class IndexView(SpreadsheetView):
    template_name = "courses/admin/spreadsheets/index.html"
    page_title = gettext_lazy("Spreadsheets")

    def check(self, request, kind):
        if not can_use(request.user):
            raise PermissionDenied

    def get(self, request):
        user = request.user
        exports = [(kind, KIND_LABELS[kind]) for kind in EXPORT_PERMISSIONS if can_export(user, kind)]
        imports = [(kind, KIND_LABELS[kind], KIND_HELP[kind]) for kind in IMPORT_PERMISSIONS if can_import(user, kind)]
        return self.render(exports=exports, imports=imports)


class ExportView(SpreadsheetView):
    """GET: the filters. POST: the file, logged."""

    template_name = "courses/admin/spreadsheets/export.html"

    def check(self, request, kind):
        if kind not in RESOURCES:
            raise Http404
        if not can_export(request.user, kind):
            raise PermissionDenied

    def get_page_title(self):
        return _("Export: %(what)s") % {"what": KIND_LABELS[self.kind]}

    def get(self, request, kind):
        return self.render(form=ExportForm(kind=kind, user=request.user))

    def post(self, request, kind):
        form = ExportForm(request.POST, kind=kind, user=request.user)
        if not form.is_valid():
            return self.render(form=form, status=400)
        result = spreadsheets.export(kind, user=request.user, fmt=form.cleaned_data["format"],
                                     filters=form.filters())
        # CSV and XLSX alike are streamed: the first bytes leave at once, memory stays flat.
        response = StreamingHttpResponse(result.chunks, content_type=result.content_type)
        response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
        return response


class ImportView(SpreadsheetView, StagedImportView):
    """GET: the upload form. POST: read the file and show the preview (nothing written), keeping the file for
    the confirmation."""

    template_name = "courses/admin/spreadsheets/import.html"

    def check(self, request, kind):
        if kind not in IMPORTABLE:
            raise Http404
        if not can_import(request.user, kind):
            raise PermissionDenied

    def get_page_title(self):
        return _("Import: %(what)s") % {"what": KIND_LABELS[self.kind]}

    def columns(self) -> dict:
        """The columns an import reads, and those it needs (each "this or that")."""
        resource = RESOURCES[self.kind]
        columns = resource.columns()
        return {"read": [column.header() for column in columns.values() if column.importable],
                "needed": [_(" or ").join(columns[key].header() for key in alternatives)
                           for alternatives in resource.required_columns]}

    def form_context(self) -> dict:
        return {"columns": self.columns(), "help": KIND_HELP[self.kind]}

    def read(self, data, *, filename, encoding):
        return spreadsheets.read_upload(data, filename=filename, encoding=encoding)

    def preview(self, table, *, user):
        return spreadsheets.preview_import(self.kind, table, user=user)

    def apply(self, table, *, user, filename):
        return spreadsheets.apply_import(self.kind, table, user=user, filename=filename)


class ConfirmView(ImportView):
    """POST: import the kept file -- read and checked again, all rows or none."""

    http_method_names = ["post"]
    confirming = True


# --- ViewSet ----------------------------------------------------------------------------------------------------------


class SpreadsheetsMenuItem(MenuItem):
    """Shown to those the views let in (the views enforce it)."""

    def is_shown(self, request):
        return can_use(request.user)


class SpreadsheetsViewSet(ViewSet):
    """/admin/spreadsheets/: export and import pages."""

    name = "spreadsheets"
    url_namespace = URL_NAMESPACE
    icon = "table"
    menu_label = gettext_lazy("Spreadsheets")
    menu_order = 170
    add_to_admin_menu = True

    def get_urlpatterns(self):
        return [
            path("", IndexView.as_view(), name="index"),
            path("export/<slug:kind>/", ExportView.as_view(), name="export"),
            path("import/<slug:kind>/", ImportView.as_view(), name="import"),
            path("import/<slug:kind>/confirm/", ConfirmView.as_view(), name="confirm"),
        ]

    def get_menu_item(self, order=None):
        return SpreadsheetsMenuItem(self.menu_label, reverse(self.get_url_name("index")), name="spreadsheets",
                                    icon_name=self.menu_icon, order=self.get_menu_item_order(order))


spreadsheets_viewset = SpreadsheetsViewSet()
