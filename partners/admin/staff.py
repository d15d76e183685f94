"""Admin: the access review (Reports → Access review, with a CSV download) and the page that deactivates a
staff account when someone leaves. Thin views over partners.access_review.

City administrators only: the review needs the permission to view user accounts, deactivating the permission to
change them, both held by no role but the city administrator's (and only by city staff). Anyone else gets 403.
Also ends the partner memberships of an account switched off on Wagtail's own user edit page (after_edit_user).
Registered from partners/wagtail_hooks.py (one import).
"""

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.defaults import permission_denied
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from cms.roles import can_deactivate, can_review
from partners import access_review as service
from partners.models import PartnerMembership


class StaffAdminView(WagtailAdminTemplateMixin, View):
    header_icon = "group"
    allowed = staticmethod(can_review)

    def dispatch(self, request, *args, **kwargs):
        if not self.allowed(request.user):
            return permission_denied(request, PermissionDenied())
        return super().dispatch(request, *args, **kwargs)


class AccessReviewView(StaffAdminView):
    """Every active staff account: roles, partners whose data it can see, last sign-in, two-factor status."""

    template_name = "partners/admin/access_review.html"
    page_title = gettext_lazy("Access review")

    def get(self, request):
        return self.render_to_response(self.get_context_data(
            rows=service.access_review(), can_deactivate=can_deactivate(request.user)))


class AccessReviewCsvView(StaffAdminView):
    def get(self, request):
        response = HttpResponse(service.access_review_csv(service.access_review()),
                                content_type="text/csv; charset=utf-8")
        filename = f"access-review-{timezone.localdate():%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response


class DeactivateForm(forms.Form):
    confirm = forms.BooleanField(label=gettext_lazy(
        "This person has left: switch off their account and end their partner memberships."))


class DeactivateStaffView(StaffAdminView):
    """GET: the account, the memberships that will end; POST (confirmed): deactivate."""

    template_name = "partners/admin/staff_deactivate.html"
    page_title = gettext_lazy("Deactivate a staff account")
    allowed = staticmethod(can_deactivate)

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": reverse("partners_access_review"), "label": _("Access review")},
                {"url": None, "label": self.get_page_title()}]

    def get_staff(self, pk):
        self.staff = get_object_or_404(get_user_model().objects.filter(is_active=True), pk=pk)
        return self.staff

    def render(self, form, status=200):
        memberships = PartnerMembership.objects.filter(user=self.staff).select_related("partner").order_by(
            "partner__name")
        group_names = list(self.staff.groups.order_by("name").values_list("name", flat=True))
        return self.render_to_response(self.get_context_data(
            staff=self.staff, memberships=memberships, form=form, roles=service.role_labels(group_names)),
            status=status)

    def get(self, request, pk):
        self.get_staff(pk)
        return self.render(DeactivateForm())

    def post(self, request, pk):
        staff = self.get_staff(pk)
        form = DeactivateForm(request.POST)
        if not form.is_valid():
            return self.render(form, status=400)
        try:
            result = service.deactivate_staff(user=staff, actor=request.user)
        except service.StaffError as exc:
            form.add_error(None, exc.message)
            return self.render(form, status=400)
        messages.success(request, _("%(user)s's account is switched off; %(count)d partner membership(s) ended.")
                         % {"user": staff.get_username(), "count": len(result.ended_memberships)})
        return redirect("partners_access_review")


class AccessReviewMenuItem(MenuItem):
    def is_shown(self, request):
        return can_review(request.user)


def register_staff_urls():
    return [
        path("staff/access-review/", AccessReviewView.as_view(), name="partners_access_review"),
        path("staff/access-review/csv/", AccessReviewCsvView.as_view(), name="partners_access_review_csv"),
        path("staff/<int:pk>/deactivate/", DeactivateStaffView.as_view(), name="partners_staff_deactivate"),
    ]


def register_access_review_menu_item():
    return AccessReviewMenuItem(gettext_lazy("Access review"), reverse("partners_access_review"), name="access-review",
                                icon_name="group", order=1300)


def register_staff_log_actions(actions):
    label = gettext_lazy("Staff account deactivated")
    actions.register_action(service.DEACTIVATE_LOG_ACTION, label, label)


def end_memberships_of_deactivated_user(request, user):
    """An account switched off on Wagtail's user edit page loses its partner memberships as well."""
    if user.is_active or not PartnerMembership.objects.filter(user=user).exists():
        return None
    try:
        service.deactivate_staff(user=user, actor=request.user)
    except service.StaffError as exc:
        messages.warning(request, exc.message)
    return None
