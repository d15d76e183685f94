"""Admin: a resident's requests about their personal data (/admin/personal-data/): find the person, see
everything held about them, download it (JSON or CSV), erase it. Thin views over courses.data_requests.

Who may use them (city staff only; everyone else gets 403, before anything is loaded):
- find, see and export: city staff who look after people's records, i.e. with the permissions to view and change
  participants (city administrators, programme officers and call-centre operators, who take most requests by
  phone). Analysts (view only) and partner staff cannot.
- erase: in addition the permission to delete participants (city administrators and programme officers).

No personal data travels in a URL: the search is sent by POST, pages and downloads are addressed by the
participant's number, downloads are named by it.
Registered from courses/wagtail_hooks.py (one import): the viewset, its menu item and the log actions.
"""

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.defaults import permission_denied
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.viewsets.base import ViewSet

from courses import data_requests, retention
from courses.admin.forms import LookupForm
from courses.models import Participant
from partners.permissions import is_city_staff

URL_NAMESPACE = "data_requests"
FIND_PERMISSIONS = ("courses.view_participant", "courses.change_participant")
ERASE_PERMISSIONS = (*FIND_PERMISSIONS, "courses.delete_participant")
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "csv": "text/csv; charset=utf-8"}


def can_find(user) -> bool:
    return is_city_staff(user) and user.has_perms(FIND_PERMISSIONS)


def can_erase(user) -> bool:
    return is_city_staff(user) and user.has_perms(ERASE_PERMISSIONS)


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


class EraseForm(forms.Form):
    reason = forms.ChoiceField(label=gettext_lazy("Reason"), choices=data_requests.ErasureReason.choices,
                               widget=forms.RadioSelect)
    confirm = forms.BooleanField(
        label=gettext_lazy("I have checked who is asking, and I understand that this cannot be undone."))


class DataRequestView(WagtailAdminTemplateMixin, View):
    """Base: the permission check first (403, not Wagtail's redirect home, so a refusal is plain to see)."""

    header_icon = "user"
    allowed = staticmethod(can_find)

    def dispatch(self, request, *args, **kwargs):
        if not self.allowed(request.user):
            return permission_denied(request, PermissionDenied())
        return super().dispatch(request, *args, **kwargs)

    def get_participant(self, pk) -> Participant:
        self.participant = get_object_or_404(Participant.objects.select_related("ward"), pk=pk)
        return self.participant

    def get_breadcrumbs_items(self):
        items = [*self.breadcrumbs_items, {"url": url("find"), "label": _("Personal data requests")}]
        if getattr(self, "participant", None) is not None and not isinstance(self, PersonView):
            items.append({"url": url("person", self.participant.pk), "label": self.participant_title()})
        return [*items, {"url": None, "label": self.get_page_title()}]

    def participant_title(self) -> str:
        return _("Participant %(number)s") % {"number": self.participant.pk}

    def render(self, status=200, **context):
        return self.render_to_response(self.get_context_data(**context), status=status)


class FindView(DataRequestView):
    """Search by phone, name, kana or e-mail: sent by POST, so what was typed stays out of URLs and logs."""

    template_name = "courses/admin/data_requests.html"
    page_title = gettext_lazy("Personal data requests")

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": None, "label": self.get_page_title()}]

    def get(self, request):
        return self.render(form=LookupForm(), query="", people=[])

    def post(self, request):
        form = LookupForm(request.POST)
        query = form.cleaned_data["q"] if form.is_valid() else ""
        people = list(data_requests.find(query)) if query else []
        return self.render(form=form, query=query, people=people)


class PersonView(DataRequestView):
    """Everything held about one participant, with the download and erase actions."""

    template_name = "courses/admin/data_request_person.html"

    def get_page_title(self):
        return self.participant_title()

    def get(self, request, pk):
        held = data_requests.holdings(self.get_participant(pk))
        return self.render(held=held, participant=held.participant, can_erase=can_erase(request.user),
                           retention_months=retention.retention_months())


class ExportView(DataRequestView):
    """POST: download the participant's data (a POST, so that no link prefetch writes an export to the log)."""

    def post(self, request, pk, fmt):
        if fmt not in data_requests.FORMATS:
            return HttpResponse(status=404)
        participant = self.get_participant(pk)
        content = data_requests.export_participant(participant=participant, fmt=fmt, actor=request.user)
        response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="participant-{participant.pk}.{fmt}"'
        response["Cache-Control"] = "no-store"
        return response


class EraseView(DataRequestView):
    """GET: what will be erased and kept, the bookings that will be cancelled, the form. POST: erase."""

    template_name = "courses/admin/data_request_erase.html"
    page_title = gettext_lazy("Erase personal data")
    header_icon = "bin"
    allowed = staticmethod(can_erase)

    def get(self, request, pk):
        participant = self.get_participant(pk)
        if participant.anonymised_at:
            messages.warning(request, _("This person's personal data has already been erased."))
            return redirect(url("person", participant.pk))
        return self.render(participant=participant, form=EraseForm(),
                           upcoming=data_requests.upcoming_bookings(participant))

    def post(self, request, pk):
        participant = self.get_participant(pk)
        form = EraseForm(request.POST)
        if not form.is_valid():
            return self.render(status=400, participant=participant, form=form,
                               upcoming=data_requests.upcoming_bookings(participant))
        try:
            result = data_requests.erase_participant(participant=participant, reason=form.cleaned_data["reason"],
                                                     actor=request.user)
        except data_requests.AlreadyErased:
            messages.warning(request, _("This person's personal data has already been erased."))
        else:
            messages.success(request, _("Personal data erased. %(count)d upcoming booking(s) were cancelled; "
                                        "attendance and self-assessments are kept without a name.")
                             % {"count": len(result.cancelled_bookings)})
        return redirect(url("person", participant.pk))


class DataRequestMenuItem(MenuItem):
    def is_shown(self, request):
        return can_find(request.user)


class DataRequestViewSet(ViewSet):
    name = "personal-data"
    url_namespace = URL_NAMESPACE
    icon = "user"
    menu_label = gettext_lazy("Personal data requests")
    menu_order = 158
    add_to_admin_menu = True

    def get_urlpatterns(self):
        return [
            path("", FindView.as_view(), name="find"),
            path("<int:pk>/", PersonView.as_view(), name="person"),
            path("<int:pk>/export/<str:fmt>/", ExportView.as_view(), name="export"),
            path("<int:pk>/erase/", EraseView.as_view(), name="erase"),
        ]

    def get_menu_item(self, order=None):
        return DataRequestMenuItem(self.menu_label, url("find"), name=self.name, icon_name=self.menu_icon,
                                   order=self.get_menu_item_order(order))


data_request_viewset = DataRequestViewSet()


def register_data_request_viewset():
    return data_request_viewset


def register_data_request_log_actions(actions):
    for action, label in (
        (data_requests.EXPORT_LOG_ACTION, gettext_lazy("Personal data exported")),
        (data_requests.ERASE_LOG_ACTION, gettext_lazy("Personal data erased")),
        (retention.PURGE_LOG_ACTION, gettext_lazy("Retention purge: personal data anonymised")),
    ):
        actions.register_action(action, label, label)
