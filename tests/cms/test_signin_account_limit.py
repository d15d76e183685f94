"""The sign-in limit per account (cms.ratelimit.AccountSignInLimitBackend): guesses at one account spread over many
addresses are stopped by a doubling wait; during a wait even the right password is refused, and it works once the
wait is over; an unknown username gets exactly the same answers; the account's audit log gets one alert per episode.

django-axes (5 failures per account and address) and the per-address rate limit are left as configured: each guess
here comes from a new address, so neither of them stops it.
"""

import datetime as dt
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory
from django.utils import translation
from wagtail.models import ModelLogEntry

from cms import ratelimit
from cms.ratelimit import LOG_ACCOUNT_LIMITED, account_key, account_limited, backoff_seconds
from tests.clock import frozen_at

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

PASSWORD = "correct horse battery staple"
LIMIT = 5
START = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def limits(settings):
    settings.DEKIRU_SIGNIN_ACCOUNT_LIMIT_ENABLED = True
    settings.DEKIRU_SIGNIN_ACCOUNT_FAILURES = LIMIT
    settings.DEKIRU_SIGNIN_BACKOFF_MAX_MINUTES = 15
    settings.DEKIRU_SIGNIN_ACCOUNT_WINDOW_MINUTES = 60
    settings.DEKIRU_TRUSTED_PROXIES = []


@pytest.fixture
def aiko(db):
    return get_user_model().objects.create_superuser(username="aiko", password=PASSWORD, email="aiko@example.jp")


@pytest.fixture
def clock():
    with frozen_at(START) as traveller:
        yield traveller


def address(n: int) -> str:
    return f"198.51.100.{n % 250 + 1}"


def sign_in(client, username, password="wrong", *, n=0):
    return client.post("/admin/login/", {"username": username, "password": password}, REMOTE_ADDR=address(n))


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def notice(response) -> str:
    """The message of the 429 page."""
    match = re.search(r'<p class="notice notice-warning" role="alert">(.*?)</p>', response.content.decode(), re.S)
    return match.group(1).strip() if match else ""


def guesses_from_20_addresses(client_class, username) -> list[tuple[int, str | None, str]]:
    answers = []
    for n in range(20):
        response = sign_in(client_class(), username, n=n)
        answers.append((response.status_code, response.get("Retry-After"), notice(response)))
    return answers


def test_the_wait_doubles_up_to_the_maximum(settings):
    assert [backoff_seconds(n) for n in range(LIMIT)] == [0] * LIMIT
    assert [backoff_seconds(LIMIT + k) for k in range(5)] == [1, 2, 4, 8, 16]
    assert backoff_seconds(LIMIT + 9) == 512 and backoff_seconds(LIMIT + 10) == 900  # capped at 15 minutes
    assert backoff_seconds(10_000) == 900


def test_guesses_from_20_addresses_are_stopped(client, aiko, clock):
    answers = guesses_from_20_addresses(client.__class__, "aiko")

    assert [status for status, _, _ in answers] == [200] * LIMIT + [429] * 15
    assert {retry for _, retry, _ in answers[LIMIT:]} == {"1"}
    # The admin speaks Japanese to someone not signed in.
    assert answers[LIMIT][2] == ("失敗が続いたため、このアカウントへのログインを一時停止しています。"
                                 "1秒待ってから、もう一度お試しください。")
    # The refused attempts were not counted: the wait is still the first one, and after it one guess goes through.
    clock.shift(1)
    assert sign_in(client, "aiko", n=21).status_code == 200
    assert sign_in(client, "aiko", n=22)["Retry-After"] == "2"  # the next failure doubled it
    clock.shift(2)
    assert sign_in(client, "aiko", n=23).status_code == 200
    assert sign_in(client, "aiko", n=24)["Retry-After"] == "4"


def test_the_right_password_is_refused_during_the_wait_and_works_after_it(client, aiko, clock):
    for n in range(LIMIT + 3):  # 8 failures: the wait is now 8 seconds
        if n >= LIMIT:
            clock.shift(backoff_seconds(n))
        assert sign_in(client, "aiko", n=n).status_code == 200
    clock.shift(7)

    refused = sign_in(client, "aiko", PASSWORD, n=30)

    assert refused.status_code == 429 and refused["Retry-After"] == "1"
    assert not signed_in(client)
    clock.shift(1)
    assert sign_in(client, "aiko", PASSWORD, n=31).status_code == 302 and signed_in(client)
    # The success forgot the failures: the next mistakes start from zero.
    for n in range(LIMIT):
        assert sign_in(client.__class__(), "aiko", n=40 + n).status_code == 200
    assert sign_in(client.__class__(), "aiko", n=50).status_code == 429


def test_long_waits_are_said_in_minutes_in_both_languages(client, aiko, clock, settings):
    for n in range(LIMIT + 7):
        clock.shift(backoff_seconds(n))
        sign_in(client, "aiko", n=n)  # 12 failures: 128 seconds

    response = sign_in(client, "aiko", n=60)

    assert response["Retry-After"] == "128"
    assert notice(response) == ("失敗が続いたため、このアカウントへのログインを一時停止しています。"
                                "3分待ってから、もう一度お試しください。")
    with translation.override("en"):
        english = account_limited(RequestFactory().post("/admin/login/"), 128)
        assert notice(english) == ("Signing in to this account is paused after many failed attempts. "
                                   "Please wait 3 minutes and try again.")
        assert "Please wait 1 second and" in notice(account_limited(RequestFactory().post("/"), 1))


def test_an_unknown_username_gets_the_same_answers(client, aiko, clock):
    known = guesses_from_20_addresses(client.__class__, "aiko")
    unknown = guesses_from_20_addresses(client.__class__, "nobody")

    assert unknown == known
    clock.shift(1)
    assert sign_in(client, "nobody", n=21).status_code == 200
    assert sign_in(client, "nobody", n=22)["Retry-After"] == "2"


def test_spellings_of_one_username_share_the_count(client, aiko, clock):
    for n, spelling in enumerate(["aiko", "Aiko", "AIKO", "ａｉｋｏ", " aiko"]):
        sign_in(client, spelling, n=n)

    assert sign_in(client, "aiko", PASSWORD, n=9).status_code == 429
    assert account_key("ＡＩＫＯ") == account_key("aiko") != account_key("aiko2")


def test_one_alert_in_the_audit_log_per_episode(client, aiko, clock):
    guesses_from_20_addresses(client.__class__, "aiko")
    for n in range(5):  # the attack goes on after each wait: still the same episode
        clock.shift(backoff_seconds(LIMIT + n))
        sign_in(client, "aiko", n=30 + n)

    entries = ModelLogEntry.objects.filter(action=LOG_ACCOUNT_LIMITED)
    assert entries.count() == 1
    entry = entries.get()
    assert entry.object_id == str(aiko.pk) and entry.user_id is None
    assert entry.data == {"failures": LIMIT, "addresses": LIMIT, "wait_seconds": 1}
    assert entry.label == str(aiko.pk) or entry.label  # labelled by the account, no password or address in it
    assert "198.51.100" not in str(entry.data)

    # A successful sign-in ends the episode; the next one is alerted again.
    clock.shift(900)
    assert sign_in(client, "aiko", PASSWORD, n=99).status_code == 302
    for n in range(LIMIT):
        sign_in(client.__class__(), "aiko", n=100 + n)
    assert entries.count() == 2


def test_an_unknown_username_writes_no_audit_entry_but_is_logged(client, aiko, clock, caplog):
    guesses_from_20_addresses(client.__class__, "nobody")

    assert not ModelLogEntry.objects.filter(action=LOG_ACCOUNT_LIMITED).exists()
    warnings = [record.getMessage() for record in caplog.records if record.name == "cms.ratelimit"]
    assert warnings == ["Sign-in limit reached for an unknown username after 5 failed attempts from 5 addresses."]


def test_every_authenticate_call_is_limited(aiko, clock):
    """The invitation form's "already accepted" sign-in, and any other caller, goes through the backend too."""
    def request(n):
        return RequestFactory().post("/staff/invitation/", REMOTE_ADDR=address(n))

    for n in range(LIMIT):
        assert authenticate(request(n), username="aiko", password="wrong") is None

    request = request(LIMIT)
    assert authenticate(request, username="aiko", password=PASSWORD) is None
    assert request.dekiru_account_wait == 1
    clock.shift(1)
    assert authenticate(RequestFactory().post("/"), username="aiko", password=PASSWORD) == aiko


def test_an_attempt_waits_for_another_at_the_same_account_and_gives_up(client, aiko, clock, monkeypatch):
    monkeypatch.setattr(ratelimit, "LOCK_WAIT_SECONDS", 0.2)
    lock = "signin:lock:" + account_key("aiko")
    cache.add(lock, 1, 10)  # another server is checking a password for this account

    response = sign_in(client, "aiko", PASSWORD)

    assert response.status_code == 429 and not signed_in(client)
    cache.delete(lock)
    assert sign_in(client, "aiko", PASSWORD).status_code == 302


def test_switched_off_the_backend_steps_aside(client, aiko, clock, settings):
    settings.DEKIRU_SIGNIN_ACCOUNT_LIMIT_ENABLED = False
    answers = guesses_from_20_addresses(client.__class__, "aiko")
    assert {status for status, _, _ in answers} == {200}
    assert sign_in(client, "aiko", PASSWORD).status_code == 302


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_attempts_when_a_wait_ends_get_one_guess(clock):
    """Eight attempts from eight servers at the moment a wait ends: one password check, seven refused, and the
    count goes up by one (without the account's lock all eight would be checked)."""
    get_user_model().objects.create_superuser(username="aiko", password=PASSWORD, email="aiko@example.jp")
    try:
        for n in range(LIMIT):
            authenticate(RequestFactory().post("/", REMOTE_ADDR=address(n)), username="aiko", password="wrong")
        clock.shift(1)
        barrier = threading.Barrier(8)
        requests = [RequestFactory().post("/", REMOTE_ADDR=address(10 + n)) for n in range(8)]

        def attempt(request):
            try:
                barrier.wait()
                return authenticate(request, username="aiko", password="wrong")
            finally:
                connection.close()

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(attempt, requests)) == [None] * 8

        refused = [request for request in requests if hasattr(request, "dekiru_account_wait")]
        assert len(refused) == 7
        assert cache.get("signin:account:" + account_key("aiko"))["failures"] == LIMIT + 1
    finally:
        cache.clear()  # the cache table is not emptied between transactional tests
