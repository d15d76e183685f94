"""Signed registration links (courses/tokens.py) and the public pages behind them.

A link opens exactly one registration. Anything else — a changed character, a cut-off link, garbage, a
token signed for another purpose or key, a validly signed token for another registration — is a 404 and
changes nothing.
"""

import pytest
from django.core import signing
from django.http import Http404
from django.urls import reverse
from wagtail.models import ModelLogEntry

from courses.models import Registration
from courses.tokens import SALT, registration_from_token, registration_token
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def booking(site):
    """A full session: `mine` holds the only seat, `other` waits first in line."""
    session = factories.session(capacity=1)
    mine = factories.registration(session_obj=session)
    other = factories.registration(session_obj=session, status=Registration.Status.WAITLISTED)
    return mine, other


def tamper(token: str, index: int) -> str:
    replacement = "B" if token[index] == "A" else "A"
    return token[:index] + replacement + token[index + 1:]


def state():
    """Everything a cancellation would change."""
    return (list(Registration.objects.order_by("pk").values_list(
                "pk", "status", "waitlist_position", "cancelled_at", "confirmed_at", "updated_at")),
            ModelLogEntry.objects.count())


# --- The token itself -------------------------------------------------------------------------------------


def test_a_token_opens_its_own_registration(booking):
    mine, other = booking
    queryset = Registration.objects.all()
    assert registration_from_token(registration_token(mine), queryset) == mine
    assert registration_from_token(registration_token(other), queryset) == other
    assert registration_token(mine) != registration_token(other)


def test_a_token_is_bound_to_the_random_key_not_just_the_id(booking):
    mine, _other = booking
    token = registration_token(mine)
    Registration.objects.filter(pk=mine.pk).update(token_key="rotated-key")
    with pytest.raises(Http404):
        registration_from_token(token, Registration.objects.all())


def test_changing_any_single_character_breaks_the_token(booking):
    mine, _other = booking
    token = registration_token(mine)
    queryset = Registration.objects.all()
    for index in range(len(token)):
        with pytest.raises(Http404):
            registration_from_token(tamper(token, index), queryset)


def test_every_truncation_breaks_the_token(booking):
    mine, _other = booking
    token = registration_token(mine)
    queryset = Registration.objects.all()
    for length in range(len(token)):
        with pytest.raises(Http404):
            registration_from_token(token[:length], queryset)


def test_the_queryset_limits_what_a_valid_token_can_open(booking):
    mine, _other = booking
    with pytest.raises(Http404):
        registration_from_token(registration_token(mine), Registration.objects.exclude(pk=mine.pk))


# --- The public pages --------------------------------------------------------------------------------------


def test_a_valid_link_opens_the_confirmation_and_cancel_pages(client, booking):
    mine, _other = booking
    response = client.get(mine.get_manage_url())
    assert response.status_code == 200
    assert response.context["registration"] == mine
    assert mine.session.course.title in response.content.decode()

    response = client.get(mine.get_cancel_url())
    assert response.status_code == 200
    assert response.context["registration"] == mine


def test_a_valid_link_cancels_and_frees_the_seat(client, booking):
    """The control for the bad-link tests below: the same POST with the right token does cancel."""
    mine, other = booking
    token = registration_token(mine)

    response = client.post(reverse("courses:cancel", args=[token]))

    assert response.status_code == 302
    assert response.url == reverse("courses:registration", args=[token])
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.status == Registration.Status.CANCELLED
    assert mine.cancelled_at is not None
    assert other.status == Registration.Status.CONFIRMED


def _one_char(index):
    return lambda mine, other: tamper(registration_token(mine), index)


BAD_TOKENS = [
    pytest.param(_one_char(0), id="first-char-changed"),
    pytest.param(lambda mine, other: tamper(registration_token(mine), len(registration_token(mine)) // 3),
                 id="payload-char-changed"),
    pytest.param(lambda mine, other: tamper(registration_token(mine), registration_token(mine).rindex(":")),
                 id="separator-changed"),
    pytest.param(lambda mine, other: tamper(registration_token(mine), registration_token(mine).rindex(":") + 1),
                 id="signature-first-char-changed"),
    pytest.param(_one_char(-1), id="last-char-changed"),
    pytest.param(lambda mine, other: registration_token(mine).swapcase(), id="case-swapped"),
    pytest.param(lambda mine, other: registration_token(mine)[:-1], id="last-char-cut"),
    pytest.param(lambda mine, other: registration_token(mine)[:20], id="cut-short"),
    pytest.param(lambda mine, other: registration_token(mine).rsplit(":", 1)[0], id="signature-removed"),
    pytest.param(lambda mine, other: registration_token(mine) + "A", id="char-appended"),
    pytest.param(lambda mine, other: "garbage", id="garbage"),
    pytest.param(lambda mine, other: "a:b:c", id="garbage-with-separators"),
    pytest.param(lambda mine, other: str(mine.pk), id="bare-pk"),
    pytest.param(lambda mine, other: mine.token_key, id="bare-key"),
    pytest.param(lambda mine, other: signing.Signer(salt="dekiru.other").sign_object([mine.pk, mine.token_key]),
                 id="other-salt"),
    pytest.param(lambda mine, other: signing.Signer().sign_object([mine.pk, mine.token_key]), id="default-salt"),
    pytest.param(lambda mine, other: signing.Signer(key="another-secret", salt=SALT).sign_object(
        [mine.pk, mine.token_key]),
                 id="other-secret-key"),
    pytest.param(lambda mine, other: signing.Signer(salt=SALT).sign_object([mine.pk, other.token_key]),
                 id="my-pk-other-key"),
    pytest.param(lambda mine, other: signing.Signer(salt=SALT).sign_object([other.pk, mine.token_key]),
                 id="other-pk-my-key"),
    pytest.param(lambda mine, other: signing.Signer(salt=SALT).sign_object([10**9, mine.token_key]),
                 id="unknown-pk"),
    pytest.param(lambda mine, other: signing.Signer(salt=SALT).sign_object([mine.pk, ""]), id="empty-key"),
    pytest.param(lambda mine, other: signing.Signer(salt=SALT).sign_object([mine.pk, None]), id="null-key"),
    pytest.param(lambda mine, other: signing.Signer(salt=SALT).sign_object([mine.pk]), id="pk-only"),
    pytest.param(lambda mine, other: signing.Signer(salt=SALT).sign_object([mine.pk, mine.token_key, 1]),
                 id="extra-item"),
    pytest.param(lambda mine, other: signing.Signer(salt=SALT).sign_object(mine.pk), id="not-a-list"),
]


@pytest.mark.parametrize("make_token", BAD_TOKENS)
def test_a_bad_link_is_404_on_every_page(client, booking, make_token):
    mine, other = booking
    token = make_token(mine, other)
    assert token != registration_token(mine)
    before = state()

    assert client.get(reverse("courses:registration", args=[token])).status_code == 404
    assert client.get(reverse("courses:cancel", args=[token])).status_code == 404
    assert client.post(reverse("courses:cancel", args=[token])).status_code == 404

    assert state() == before
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.status == Registration.Status.CONFIRMED
    assert other.status == Registration.Status.WAITLISTED


@pytest.mark.parametrize("make_token", BAD_TOKENS)
def test_a_bad_link_is_refused_by_the_token_check(booking, make_token):
    mine, other = booking
    with pytest.raises(Http404):
        registration_from_token(make_token(mine, other), Registration.objects.all())


def test_another_registrations_valid_link_cancels_only_that_one(client, booking):
    """Holding a valid link for one registration gives no power over another in the same session."""
    mine, other = booking
    response = client.post(other.get_cancel_url())
    assert response.status_code == 302
    mine.refresh_from_db()
    other.refresh_from_db()
    assert other.status == Registration.Status.CANCELLED
    assert mine.status == Registration.Status.CONFIRMED


@pytest.mark.django_db
def test_a_registration_always_has_the_same_link(site):
    """The link in every e-mail and calendar file is the same, whenever it is made (no timestamp in it)."""
    import time

    from courses.tokens import registration_token

    session = factories.session()
    registration = factories.registration(session_obj=session)
    first = registration_token(registration)
    time.sleep(1.1)
    assert registration_token(registration) == first
