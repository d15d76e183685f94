"""Reading aids of the public site, as Japanese municipal sites offer them: text size (文字サイズ), colour scheme
(配色) and readings of kanji (ふりがな, cms.furigana). Chosen with a small POST form on every page (no account, no
JavaScript), kept in cookies, applied on the server as classes of the <html> element (templates/base.html,
cms/static/css/dekiru.css) and, for readings, by cms.furigana.FuriganaMiddleware."""

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_POST

from cms.furigana import COOKIE as FURIGANA_COOKIE

SIZE_COOKIE = "dekiru_text_size"
SCHEME_COOKIE = "dekiru_colours"
COOKIE_AGE = 365 * 24 * 60 * 60

STANDARD = "standard"
SIZES = {STANDARD: pgettext_lazy("text size", "Standard"), "large": pgettext_lazy("text size", "Large"),
         "x-large": pgettext_lazy("text size", "Extra large")}
SCHEMES = {STANDARD: pgettext_lazy("colour scheme", "Standard"),
           "inverted": _("White on black"), "blue-yellow": _("Yellow on blue")}


FURIGANA = {"off": pgettext_lazy("furigana", "Hide"), "on": pgettext_lazy("furigana", "Show")}


@dataclass(frozen=True)
class Display:
    size: str = STANDARD
    scheme: str = STANDARD
    furigana: bool = False

    @property
    def html_class(self) -> str:
        return f"text-{self.size} scheme-{self.scheme}" + (" furigana" if self.furigana else "")

    @property
    def size_choices(self):
        return [(value, label, value == self.size) for value, label in SIZES.items()]

    @property
    def scheme_choices(self):
        return [(value, label, value == self.scheme) for value, label in SCHEMES.items()]

    @property
    def furigana_choices(self):
        return [(value, label, (value == "on") == self.furigana) for value, label in FURIGANA.items()]


def display_for(request) -> Display:
    """The person's settings; an unknown cookie value is the standard one."""
    size = request.COOKIES.get(SIZE_COOKIE, STANDARD)
    scheme = request.COOKIES.get(SCHEME_COOKIE, STANDARD)
    return Display(size=size if size in SIZES else STANDARD, scheme=scheme if scheme in SCHEMES else STANDARD,
                   furigana=request.COOKIES.get(FURIGANA_COOKIE) == "on")


def context(request) -> dict:
    """Context processor: `display` in every template."""
    return {"display": display_for(request)}


def _set(response, name: str, value: str) -> None:
    if value in (STANDARD, "off"):
        response.delete_cookie(name, samesite="Lax")
    else:
        response.set_cookie(name, value, max_age=COOKIE_AGE, samesite="Lax", httponly=True,
                            secure=settings.SESSION_COOKIE_SECURE)


@require_POST
def set_display(request):
    """Save the choices and go back to the page the form was on (`next`, this site only). A value that is not one
    of the choices leaves that setting as it was."""
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = "/"
    response = HttpResponseRedirect(next_url)
    size, scheme = request.POST.get("text_size"), request.POST.get("colours")
    if size in SIZES:
        _set(response, SIZE_COOKIE, size)
    if scheme in SCHEMES:
        _set(response, SCHEME_COOKIE, scheme)
    if (furigana := request.POST.get("furigana")) in FURIGANA:
        _set(response, FURIGANA_COOKIE, furigana)
    return response
