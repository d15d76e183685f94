"""The public side of a staff invitation: the link in the e-mail, and the form that opens the account. Thin
views over partners.invitations.

The link `/staff/invitation/<id>:<secret>/` is checked, its token kept in the session, and the browser sent on to
`/staff/invitation/`, whose address carries no token (as Django's own password-reset confirmation does). So the
token never reaches another site in a Referer (that response has `Referrer-Policy: no-referrer`), nor appears in the
form page's address, history or logs. The form page cannot be `no-referrer` itself: browsers then send
`Origin: null` with its POST, which Django's CSRF check rightly refuses. Both pages are noindex and `no-store`,
work without JavaScript and use the public site's base template. An unknown link answers 404, one that was
accepted, withdrawn or has expired 410, and nothing is created.
"""

from django import forms
from django.contrib.auth import authenticate, login
from django.contrib.auth.password_validation import password_validators_help_texts
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from cms.ratelimit import ratelimit_post
from cms.roles import ROLE_LABELS
from partners import invitations

SESSION_KEY = "dekiru_staff_invitation"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class AcceptForm(forms.Form):
    username = forms.CharField(
        label=gettext_lazy("Username"), max_length=150,
        help_text=gettext_lazy("You sign in with it. Letters, digits and @ . + - _ only."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}))
    password = forms.CharField(label=gettext_lazy("Password"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(
        label=gettext_lazy("Password again"), strip=False,
        help_text=gettext_lazy("The same password once more, to make sure it is typed as you meant."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["password"].help_text = " ".join(password_validators_help_texts())

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password") and cleaned.get("password2") and cleaned["password"] != cleaned["password2"]:
            self.add_error("password2", _("The two passwords are different."))
        return cleaned


def _private(response, *, no_referrer: bool = False):
    add_never_cache_headers(response)  # no-store: the page is about one person's account
    response["X-Robots-Tag"] = "noindex"
    if no_referrer:
        response["Referrer-Policy"] = "no-referrer"
    return response


def _refusal(request, exc: invitations.InvitationError, *, status: int, no_referrer: bool = False):
    accepted = isinstance(exc, invitations.InvitationGone) and exc.invitation.accepted_at is not None
    return _private(TemplateResponse(request, "partners/invitations/refused.html", {
        "message": exc.message, "not_found": status == 404, "accepted": accepted}, status=status),
        no_referrer=no_referrer)


@require_GET
def open_link(request, token):
    """The link from the e-mail: check it, keep its token in the session, go on to the form."""
    try:
        invitations.open_invitation(token)
    except invitations.InvitationNotFound as exc:
        return _refusal(request, exc, status=404, no_referrer=True)
    except invitations.InvitationGone as exc:
        return _refusal(request, exc, status=410, no_referrer=True)
    request.session[SESSION_KEY] = token
    return _private(redirect("staff_invitations:form"), no_referrer=True)


def _signed_in_again(request, exc: invitations.InvitationGone, form: AcceptForm):
    """The form sent twice (a double click, a second tab): the first opened the account. The same username and
    password sign the person in (through every authentication backend, so the admin login lockout counts)."""
    if request.method != "POST" or exc.invitation.accepted_user_id is None or not form.is_valid():
        return None
    user = authenticate(request, username=form.cleaned_data["username"], password=form.cleaned_data["password"])
    if user is None or user.pk != exc.invitation.accepted_user_id:
        return None
    request.session.pop(SESSION_KEY, None)
    login(request, user)
    return redirect("wagtailadmin_home")


@require_http_methods(["GET", "POST"])
@ratelimit_post("invitation")
def accept_form(request):
    """Who invited the person, to which role and partner; the form for a username and a password. On success the
    person is signed in and sent to the admin."""
    token = request.session.get(SESSION_KEY, "")
    form = AcceptForm(request.POST or None)
    if not token and request.user.is_authenticated:
        return redirect("wagtailadmin_home")
    try:
        invitation = invitations.open_invitation(token)
    except invitations.InvitationNotFound:
        return _refusal(request, invitations.InvitationNotFound(
            _("This page only works after opening the link in your invitation e-mail. Please open that link "
              "again.")), status=404)
    except invitations.InvitationGone as exc:
        return _signed_in_again(request, exc, form) or _refusal(request, exc, status=410)
    if request.method == "GET":
        form = AcceptForm(initial={"username": invitation.email})
    elif form.is_valid():
        try:
            user = invitations.accept(token=token, username=form.cleaned_data["username"],
                                      password=form.cleaned_data["password"])
        except ValidationError as exc:
            form.add_error(None, exc)
        except invitations.InvitationGone as exc:
            return _signed_in_again(request, exc, form) or _refusal(request, exc, status=410)
        except invitations.InvitationNotFound as exc:
            return _refusal(request, exc, status=404)
        except invitations.InvitationError as exc:
            form.add_error(None, exc.message)
        else:
            request.session.pop(SESSION_KEY, None)
            login(request, user, backend=MODEL_BACKEND)
            return redirect("wagtailadmin_home")
    inviter = invitation.invited_by
    return _private(TemplateResponse(request, "partners/invitations/accept.html", {
        "invitation": invitation, "form": form,
        "inviter": (inviter.get_full_name() or inviter.get_username()) if inviter else "",
        "role": ROLE_LABELS.get(invitation.role, invitation.role),
    }, status=400 if request.method == "POST" else 200))
