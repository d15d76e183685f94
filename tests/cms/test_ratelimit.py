"""Rate limits (cms.ratelimit) on registration, cancel, the can-do check and the admin login, and the admin login
lockout (django-axes): the request over the limit gets a translated 429 page with Retry-After, nothing is written,
other clients are not affected, and the limit lifts when its window or cool-off has passed."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.db.models import F
from django.test import override_settings
from django.utils import translation

from courses.models import Participant, Registration
from outreach.assessment_tokens import assessment_path
from outreach.models import SelfAssessment
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

LIMITS = {"registration": "3/m", "cancel": "3/m", "self_assessment": "3/m", "admin_login": "100/m"}
RESIDENT = "192.0.2.10"
NEIGHBOUR = "192.0.2.99"


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.RATELIMIT_ENABLE = True
    settings.DEKIRU_RATE_LIMITS = LIMITS
    settings.DEKIRU_TRUSTED_PROXIES = []


class Clock:
    """django-ratelimit's windows follow time.time(): a clock the test moves forward."""

    def __init__(self):
        self.now = 1_900_000_000.0

    def time(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    import django_ratelimit.core

    fake = Clock()
    monkeypatch.setattr(django_ratelimit.core, "time", fake)
    return fake


def register_url(session, lang="en") -> str:
    with translation.override("ja"):  # the unprefixed path, whichever language the last request left active
        path = f"/sessions/{session.pk}/register/"
    return f"/en{path}" if lang == "en" else path


def person(n: int) -> dict:
    return {"booking_for": "self", "name": f"川崎 花子{n}", "kana": "かわさき はなこ", "phone": f"0900000{n:04d}",
            "age_band": Participant.AgeBand.AGE_70_74, "ward": "declined", "consent": "on",
            "notify_by": "call", "step": "register"}


# The start of each refusal, in English and in Japanese (the page is in the visitor's language).
JAPANESE = {
    "too many times": "何回も送信されたため",
    "This form was sent too many times in a short while, so it was not saved.":
        "短い時間に何回も送信されたため、保存されませんでした。",
    "Too many sign-in attempts from your network.": "お使いのネットワークから、ログインが何回も試されました。",
    "Too many failed sign-in attempts for this account.": "このアカウントで、ログインの失敗が多すぎました。",
}


def says(response, text: str) -> bool:
    content = response.content.decode()
    return (JAPANESE[text] if '<html lang="ja"' in content else text) in content


def assert_limited(response, text="too many times"):
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert says(response, text)
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_registration_over_the_limit_is_refused_and_writes_nothing(client, site, clock):
    session = factories.session(capacity=20)
    for n in range(3):
        assert client.post(register_url(session), person(n), REMOTE_ADDR=RESIDENT).status_code == 302
    participants = Participant.objects.count()

    response = client.post(register_url(session), person(3), REMOTE_ADDR=RESIDENT)

    assert_limited(response, "This form was sent too many times in a short while, so it was not saved.")
    assert Registration.objects.count() == 3 and Participant.objects.count() == participants
    # Invalid posts count too (a flood need not be valid), and the page is in the visitor's language.
    assert client.post(register_url(session, "ja"), {}, REMOTE_ADDR=RESIDENT).status_code == 429


def test_a_neighbour_is_not_affected_and_the_limit_lifts_after_the_window(client, site, clock):
    session = factories.session(capacity=20)
    for n in range(4):
        client.post(register_url(session), person(n), REMOTE_ADDR=RESIDENT)
    assert client.post(register_url(session), person(4), REMOTE_ADDR=RESIDENT).status_code == 429

    assert client.post(register_url(session), person(5), REMOTE_ADDR=NEIGHBOUR).status_code == 302
    assert client.get(register_url(session), REMOTE_ADDR=RESIDENT).status_code == 200  # reading is never limited

    clock.now += 61
    assert client.post(register_url(session), person(6), REMOTE_ADDR=RESIDENT).status_code == 302
    assert Registration.objects.count() == 5


def test_each_endpoint_has_its_own_counter(client, site, clock):
    session = factories.session(capacity=20)
    registration = factories.registration(session_obj=session)
    for n in range(3):
        client.post(register_url(session), person(n), REMOTE_ADDR=RESIDENT)
    assert client.post(register_url(session), person(3), REMOTE_ADDR=RESIDENT).status_code == 429

    response = client.post(registration.get_cancel_url(), REMOTE_ADDR=RESIDENT)

    assert response.status_code == 302
    registration.refresh_from_db()
    assert registration.status == Registration.Status.CANCELLED


def test_cancel_over_the_limit_is_refused_and_cancels_nothing(client, site, clock):
    session = factories.session(capacity=20)
    guesses = [f"/registrations/not-a-token-{n}/cancel/" for n in range(3)]
    for url in guesses:  # guessing tokens uses up the allowance too
        assert client.post(url, REMOTE_ADDR=RESIDENT).status_code == 404
    registration = factories.registration(session_obj=session)

    response = client.post(registration.get_cancel_url(), REMOTE_ADDR=RESIDENT)

    assert_limited(response)
    registration.refresh_from_db()
    assert registration.status == Registration.Status.CONFIRMED
    assert client.post(registration.get_cancel_url(), REMOTE_ADDR=NEIGHBOUR).status_code == 302


def test_self_assessment_over_the_limit_is_refused_and_records_nothing(client, site, clock):
    partner = factories.partner()
    session = factories.session(course_page=factories.course(owner=partner), organiser=partner,
                                starts_in=timedelta(days=3))
    registration = factories.registration(session_obj=session)
    url = "/en" + assessment_path(registration, SelfAssessment.Kind.PRE)
    for _ in range(3):
        assert client.post(url, {}, REMOTE_ADDR=RESIDENT).status_code == 400  # unanswered: the form again

    response = client.post(url, {}, REMOTE_ADDR=RESIDENT)

    assert_limited(response)
    assert not SelfAssessment.objects.exists()
    assert client.get(url, REMOTE_ADDR=RESIDENT).status_code == 200


@pytest.mark.parametrize(("proxies", "forwarded", "limited"), [
    ([], "203.0.113.7", True),  # no trusted proxy: the header is the client's own claim, ignored
    (["10.0.0.0/8"], "198.51.100.1, 203.0.113.7", False),  # the load balancer's entry (last) is a new client
    (["10.0.0.0/8"], "203.0.113.7, " + RESIDENT, True),  # the client forged the first entry; the last one is theirs
])
def test_forwarded_for_counts_only_behind_trusted_proxies(client, site, clock, settings, proxies, forwarded,
                                                         limited):
    """More cases, and the proxies' side, in test_trusted_proxies.py."""
    settings.DEKIRU_TRUSTED_PROXIES = proxies
    session = factories.session(capacity=20)
    header = {"HTTP_X_FORWARDED_FOR": RESIDENT} if proxies else {}
    for n in range(3):
        client.post(register_url(session), person(n), REMOTE_ADDR="10.0.0.1", **header)

    response = client.post(register_url(session), person(3), REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)

    assert (response.status_code == 429) is limited


def test_ipv6_clients_are_counted_per_64_network(client, site, clock):
    session = factories.session(capacity=20)
    for n in range(3):
        client.post(register_url(session), person(n), REMOTE_ADDR=f"2001:db8:1:2::{n + 1}")
    assert client.post(register_url(session), person(3), REMOTE_ADDR="2001:db8:1:2:ffff::9").status_code == 429
    assert client.post(register_url(session), person(4), REMOTE_ADDR="2001:db8:1:3::1").status_code == 302


# --- The admin login ------------------------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff(db):
    users = get_user_model().objects
    return (users.create_superuser(username="aiko", password=PASSWORD, email="aiko@example.jp"),
            users.create_superuser(username="ken", password=PASSWORD, email="ken@example.jp"))


def sign_in(client, username, password=PASSWORD, address=RESIDENT):
    return client.post("/admin/login/", {"username": username, "password": password}, REMOTE_ADDR=address,
                       HTTP_ACCEPT_LANGUAGE="en")


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@override_settings(AXES_FAILURE_LIMIT=3, AXES_COOLOFF_TIME=timedelta(minutes=15))
def test_admin_login_locks_one_account_from_one_address_after_the_failures(client, staff, clock):
    for _ in range(2):
        assert sign_in(client, "aiko", "wrong").status_code == 200  # the form again, with its error
    third = sign_in(client, "aiko", "wrong")
    assert third.status_code == 429

    response = sign_in(client, "aiko")  # even the right password, while locked

    assert response.status_code == 429
    assert response["Retry-After"] == str(15 * 60)
    assert says(response, "Too many failed sign-in attempts for this account.")
    assert not signed_in(client)

    # A colleague at the same office, and the same person from another address, are not affected.
    assert sign_in(client.__class__(), "ken").status_code == 302
    other = client.__class__()
    assert sign_in(other, "aiko", address=NEIGHBOUR).status_code == 302 and signed_in(other)


@override_settings(AXES_FAILURE_LIMIT=3, AXES_COOLOFF_TIME=timedelta(minutes=15))
def test_admin_login_works_again_after_the_cool_off_and_success_resets_the_count(client, staff, clock):
    for _ in range(3):
        sign_in(client, "aiko", "wrong")
    assert sign_in(client, "aiko").status_code == 429

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))  # the cool-off passes
    assert sign_in(client, "aiko").status_code == 302 and signed_in(client)

    # The successful login forgot the failures: two more mistakes do not lock the account.
    fresh = client.__class__()
    for _ in range(2):
        assert sign_in(fresh, "aiko", "wrong").status_code == 200
    assert sign_in(fresh, "aiko").status_code == 302


@override_settings(AXES_FAILURE_LIMIT=100)
def test_admin_login_is_limited_per_address_whatever_the_account(client, staff, clock, settings):
    settings.DEKIRU_RATE_LIMITS = {**LIMITS, "admin_login": "3/m"}
    for n in range(3):
        assert sign_in(client, f"guess{n}", "wrong").status_code == 200

    response = sign_in(client, "aiko")

    assert_limited(response, "Too many sign-in attempts from your network.")
    assert not signed_in(client)
    assert sign_in(client, "aiko", address=NEIGHBOUR).status_code == 302
    clock.now += 61
    assert sign_in(client.__class__(), "aiko").status_code == 302
