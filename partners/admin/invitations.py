"""Admin: staff invitations (Settings → Staff invitations, linked from the access review): the list with each
invitation's state and e-mail status, the form that invites someone, and the resend and withdraw actions. Thin
views over partners.invitations.

City administrators only, as for the rest of staff accounts (partners.admin.staff): city staff holding the
permission to add user accounts. Anyone else gets 403, whatever the menu shows. Registered from
partners/wagtail_hooks.py (one import).
"""

from django import forms
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem

from cms.roles import ROLE_LABELS
from partners import invitations as service
from partners.admin.staff import StaffAdminView
from partners.models import Partner, StaffInvitation
from partners.permissions import is_city_staff

INVITE_PERMISSION = "cms.add_user"
PAGE_SIZE = 50


def can_invite(user) -> bool:
    return is_city_staff(user) and user.has_perm(INVITE_PERMISSION)


class InvitationForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail"))
    first_name = forms.CharField(label=gettext_lazy("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=gettext_lazy("Last name"), max_length=150, required=False)
    role = forms.ChoiceField(label=gettext_lazy("Role"))
    partner = forms.ModelChoiceField(
        label=gettext_lazy("Partner"), required=False, queryset=Partner.objects.filter(is_active=True),
        help_text=gettext_lazy("For the partner roles: the organisation the person works for. Leave empty for the "
                               "city roles."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [("", "---------"), *[(name, ROLE_LABELS[name]) for name in ROLE_LABELS]]


class InvitationAdminView(StaffAdminView):
    header_icon = "mail"
    allowed = staticmethod(can_invite)

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": reverse("partners_invitations"), "label": _("Staff invitations")},
                {"url": None, "label": self.get_page_title()}]


def state(invitation: StaffInvitation, now) -> str:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    return "expired" if invitation.is_expired(now) else "pending"


class InvitationListView(InvitationAdminView):
    """Newest first: who, which role, by whom and when, the state, and whether the e-mail went out."""

    template_name = "partners/admin/invitations.html"
    page_title = gettext_lazy("Staff invitations")

    def get_breadcrumbs_items(self):
        return []

    def get(self, request):
        invitations = StaffInvitation.objects.select_related("partner", "invited_by", "accepted_user")
        page = Paginator(invitations, PAGE_SIZE).get_page(request.GET.get("p"))
        now = timezone.now()
        rows = [{"invitation": invitation, "state": state(invitation, now),
                 "role": ROLE_LABELS.get(invitation.role, invitation.role)} for invitation in page]
        return self.render_to_response(self.get_context_data(
            rows=rows, items=page, elided_page_range=page.paginator.get_elided_page_range(page.number)))


class InvitationCreateView(InvitationAdminView):
    template_name = "partners/admin/invitation_form.html"
    page_title = gettext_lazy("Invite a staff member")

    def render(self, form, status=200):
        return self.render_to_response(self.get_context_data(form=form), status=status)

    def get(self, request):
        return self.render(InvitationForm(initial={"partner": request.GET.get("partner")}))

    def post(self, request):
        form = InvitationForm(request.POST)
        if not form.is_valid():
            return self.render(form, status=400)
        try:
            invitation = service.invite(**form.cleaned_data, language=translation.get_language(),
                                        actor=request.user)
        except service.InvitationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return self.render(form, status=400)
        messages.success(request, _("Invitation to %(email)s created: the e-mail goes out in a moment.")
                         % {"email": invitation.email})
        return redirect("partners_invitations")


class InvitationActionView(InvitationAdminView):
    """POST only: one action on one invitation, then back to the list with a message."""

    def act(self, invitation):
        raise NotImplementedError

    def post(self, request, pk):
        invitation = get_object_or_404(StaffInvitation, pk=pk)
        try:
            message = self.act(invitation)
        except service.InvitationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, message)
        return redirect("partners_invitations")


class InvitationResendView(InvitationActionView):
    def act(self, invitation):
        service.resend(invitation=invitation, actor=self.request.user)
        return _("A new invitation e-mail to %(email)s goes out in a moment; the link in the earlier one no longer "
                 "works.") % {"email": invitation.email}


class InvitationRevokeView(InvitationActionView):
    def act(self, invitation):
        service.revoke(invitation=invitation, actor=self.request.user)
        return _("The invitation to %(email)s is withdrawn: its link no longer works.") % {"email": invitation.email}


class InvitationsMenuItem(MenuItem):
    def is_shown(self, request):
        return can_invite(request.user)


def register_invitation_urls():
    return [
        path("staff/invitations/", InvitationListView.as_view(), name="partners_invitations"),
        path("staff/invitations/new/", InvitationCreateView.as_view(), name="partners_invitation_new"),
        path("staff/invitations/<int:pk>/resend/", InvitationResendView.as_view(),
             name="partners_invitation_resend"),
        path("staff/invitations/<int:pk>/revoke/", InvitationRevokeView.as_view(),
             name="partners_invitation_revoke"),
    ]


def register_invitations_menu_item():
    return InvitationsMenuItem(gettext_lazy("Staff invitations"), reverse("partners_invitations"),
                               name="staff-invitations", icon_name="mail", order=610)


def register_invitation_log_actions(actions):
    for action, label in [
        (service.INVITED_LOG_ACTION, gettext_lazy("Staff invitation created")),
        (service.RESENT_LOG_ACTION, gettext_lazy("Staff invitation sent again")),
        (service.REVOKED_LOG_ACTION, gettext_lazy("Staff invitation withdrawn")),
        (service.ACCEPTED_LOG_ACTION, gettext_lazy("Staff invitation accepted")),
    ]:
        actions.register_action(action, label, label)
