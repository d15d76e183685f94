"""Requests no view should see."""

from django.core.exceptions import SuspiciousOperation


class NulCharacterInRequest(SuspiciousOperation):
    """A NUL character in the path or the query string: no address of the site holds one, and PostgreSQL refuses
    it in any query (a 500 deep in a view). Django answers a SuspiciousOperation with its 400 page."""


def reject_nul_characters(get_response):
    """Refuse, with 400, a request whose path or query string holds a NUL (%00), before any view or page route
    passes it to the database. Form fields refuse NULs themselves (Django's ProhibitNullCharactersValidator)."""

    def middleware(request):
        if "\x00" in request.path or any("\x00" in key or any("\x00" in value for value in values)
                                          for key, values in request.GET.lists()):
            raise NulCharacterInRequest("NUL character in the request's address")
        return get_response(request)

    return middleware
