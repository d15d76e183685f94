"""Admin pages of two-factor sign-in (cms.two_factor holds the rules): the code asked after the password, setting
up an authenticator app, one's own two-factor page (backup codes, turn off), and the reset an administrator makes
for someone who lost their phone. Registered by cms/wagtail_hooks.py (one import).

The code and set-up pages look like Wagtail's sign-in page (no menu: the person is not fully signed in yet);
"My two-factor authentication" is on the account page. All responses are no-store: they show secrets.
"""

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.defaults import permission_denied
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from cms import two_factor as service
from cms.ratelimit import ratelimit_post
from cms.roles import can_deactivate


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"), max_length=64, strip=True,
        help_text=gettext_lazy("The 6-digit code your authenticator app shows now, or one of your backup codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True,
                                      "spellcheck": "false", "autocapitalize": "off"}))


class FirstCodeForm(CodeForm):
    code = forms.CharField(
        label=gettext_lazy("Code from the app"), max_length=64, strip=True,
        help_text=gettext_lazy("The 6-digit code the app shows for Dekiru after you added it."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "spellcheck": "false", "autocapitalize": "off"}))


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return reverse("wagtailadmin_home")


def _render(request, template, context, status=200):
    response = TemplateResponse(request, template, {"next": _next_url(request), **context}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@method_decorator(never_cache, name="dispatch")
@method_decorator(ratelimit_post("admin_login"), name="dispatch")
class VerifyView(View):
    """After the password: a code from the app or a backup code."""

    template_name = "cms/admin/two_factor/verify.html"

    def dispatch(self, request, *args, **kwargs):
        current = service.remember(request, request.user)  # fresh: a device may have been removed meanwhile
        if service.is_verified(request.user) or not current.has_device:
            return redirect(_next_url(request) if not current.required or current.has_device
                            else f"{reverse('two_factor_setup')}?next={_next_url(request)}")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return _render(request, self.template_name, {"form": CodeForm()})

    def post(self, request):
        form = CodeForm(request.POST)
        if form.is_valid():
            result = service.verify(request, request.user, form.cleaned_data["code"])
            if result.device is not None:
                if result.device.name == service.BACKUP_NAME:
                    left = service.backup_codes_left(request.user)
                    messages.warning(request, _("You used a backup code; %(count)d left. Make new ones on your "
                                                "two-factor page if you are running out.") % {"count": left})
                return redirect(_next_url(request))
            if result.locked_until is not None:
                form.add_error("code", _("Too many wrong codes. Try again after %(time)s.") % {
                    "time": timezone.localtime(result.locked_until).strftime("%H:%M:%S")})
            else:
                form.add_error("code", _("That code is not right. Check the time on your phone and use the code "
                                         "shown now, or a backup code."))
        return _render(request, self.template_name, {"form": form}, status=400)


@method_decorator(never_cache, name="dispatch")
@method_decorator(ratelimit_post("admin_login"), name="dispatch")
class SetupView(View):
    """Set up (or replace) the authenticator app: QR code and key, then a first code, then backup codes."""

    template_name = "cms/admin/two_factor/setup.html"

    def dispatch(self, request, *args, **kwargs):
        current = service.remember(request, request.user)
        # Someone with a second factor must prove it before replacing it.
        if current.has_device and not service.is_verified(request.user):
            return redirect(f"{reverse('two_factor_verify')}?next={reverse('two_factor_setup')}")
        self.status = current
        return super().dispatch(request, *args, **kwargs)

    def context(self, form):
        device = service.pending_device(self.request)
        return {"form": form, "qr": service.qr_svg(device, title=_("QR code to scan with your authenticator app")),
                "secret": service.secret_for_typing(device), "required": self.status.required,
                "replacing": self.status.has_device, "full_admin": service.is_verified(self.request.user)}

    def get(self, request):
        return _render(request, self.template_name, self.context(FirstCodeForm()))

    def post(self, request):
        form = FirstCodeForm(request.POST)
        if form.is_valid():
            codes = service.confirm_setup(request, request.user, form.cleaned_data["code"])
            if codes is not None:
                return _render(request, "cms/admin/two_factor/backup_codes.html", {"codes": codes, "first": True})
            form.add_error("code", _("That code is not right. Check that the phone's clock is set automatically "
                                     "and type the code shown now."))
        return _render(request, self.template_name, self.context(form), status=400)


class OwnTwoFactorView(WagtailAdminTemplateMixin, View):
    """One's own two-factor page (account menu): status, new backup codes, turn off."""

    template_name = "cms/admin/two_factor/manage.html"
    page_title = gettext_lazy("Two-factor authentication")
    header_icon = "key"

    def get(self, request):
        return self.render(request)

    def render(self, request, **extra):
        current = service.status(request.user)
        response = self.render_to_response(self.get_context_data(
            status=current, backup_left=service.backup_codes_left(request.user), **extra))
        response["Cache-Control"] = "no-store"
        return response

    def post(self, request):
        action = request.POST.get("action")
        if action == "backup_codes" and service.status(request.user).has_device:
            return self.render(request, codes=service.new_backup_codes(request.user))
        if action == "turn_off":
            try:
                service.turn_off(request, request.user)
            except service.TwoFactorError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Two-factor authentication is off for your account."))
            return redirect("two_factor_manage")
        return redirect("two_factor_manage")


def can_reset(user) -> bool:
    return can_deactivate(user)


class ResetForm(forms.Form):
    confirm = forms.BooleanField(label=gettext_lazy(
        "I have checked who is asking (in person or by a call back to their known number): remove their "
        "authenticator app and backup codes."))


class ResetView(WagtailAdminTemplateMixin, View):
    """A city administrator removes someone's second factor; they set it up again at their next sign-in."""

    template_name = "cms/admin/two_factor/reset.html"
    page_title = gettext_lazy("Reset two-factor authentication")
    header_icon = "key"

    def dispatch(self, request, *args, **kwargs):
        if not can_reset(request.user):
            return permission_denied(request, PermissionDenied())
        self.staff = get_object_or_404(get_user_model().objects.filter(is_active=True), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": reverse("partners_access_review"), "label": _("Access review")},
                {"url": None, "label": self.get_page_title()}]

    def render(self, form, status=200):
        return self.render_to_response(self.get_context_data(
            staff=self.staff, form=form, two_factor=service.status(self.staff)), status=status)

    def get(self, request, pk):
        return self.render(ResetForm())

    def post(self, request, pk):
        form = ResetForm(request.POST)
        if not form.is_valid():
            return self.render(form, status=400)
        try:
            removed = service.reset(user=self.staff, actor=request.user)
        except service.TwoFactorError as exc:
            form.add_error(None, exc.message)
            return self.render(form, status=400)
        if removed:
            messages.success(request, _("%(user)s's two-factor authentication is reset: they set it up again at "
                                        "their next sign-in.") % {"user": self.staff.get_username()})
        else:
            messages.info(request, _("%(user)s had no two-factor authentication set up.")
                          % {"user": self.staff.get_username()})
        return redirect("partners_access_review")


def register_two_factor_urls():
    return [
        path("two-factor/verify/", VerifyView.as_view(), name="two_factor_verify"),
        path("two-factor/setup/", SetupView.as_view(), name="two_factor_setup"),
        path("two-factor/", OwnTwoFactorView.as_view(), name="two_factor_manage"),
        path("staff/<int:pk>/two-factor/reset/", ResetView.as_view(), name="two_factor_reset"),
    ]


def register_two_factor_account_item(request):
    return {"url": reverse("two_factor_manage"), "label": _("Two-factor authentication"),
            "help_text": _("A code from an app on your phone at every sign-in, so a stolen password is not enough.")}


def register_two_factor_log_actions(actions):
    for action, label in service.LOG_ACTIONS.items():
        actions.register_action(action, gettext_lazy(label), gettext_lazy(label))
