"""Signed, unguessable links bound to one registration (confirmation and cancellation pages).

A token carries the registration's id and its random key, signed with SECRET_KEY. Changing any character
breaks the signature; a validly signed token for another registration fails the key comparison. Both → 404.
Without a timestamp, so a registration always has the same link (in every e-mail and calendar file); the
random key can be rotated to revoke it.
"""

from django.core import signing
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.crypto import constant_time_compare

SALT = "dekiru.courses.registration"


def registration_token(registration) -> str:
    return signing.Signer(salt=SALT).sign_object([registration.pk, registration.token_key])


def registration_from_token(token: str, queryset):
    try:
        pk, key = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise Http404("Invalid registration link") from exc
    if not isinstance(pk, int) or not isinstance(key, str):
        raise Http404("Invalid registration link")
    registration = get_object_or_404(queryset, pk=pk)
    if not constant_time_compare(str(key), registration.token_key):
        raise Http404("Invalid registration link")
    return registration
