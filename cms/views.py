from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.urls import translate_url
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST


@require_POST
def set_language(request):
    """Switch language and go to the same page in that language (a POST form: works without JavaScript).

    Django's own view resolves `next` in the language of /i18n/setlang/ itself (Japanese, being unprefixed),
    so it cannot translate an English /en/… address back. Resolve it in the language it is written in.
    """
    language = request.POST.get("language", "")
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = "/"
    if language not in dict(settings.LANGUAGES):
        return HttpResponseRedirect(next_url)
    source = translation.get_language_from_path(next_url) or settings.LANGUAGE_CODE
    with translation.override(source):
        target = translate_url(next_url, language)
    response = HttpResponseRedirect(target)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
                        path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
                        secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                        samesite=settings.LANGUAGE_COOKIE_SAMESITE)
    return response


def favicon(request):
    """/favicon.ico, which browsers ask for whatever the page says (the pages link the SVG and PNG icons too)."""
    path = finders.find("img/favicon.ico")
    if path is None:  # pragma: no cover — the file ships with the app
        raise Http404
    response = FileResponse(open(path, "rb"), content_type="image/vnd.microsoft.icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
