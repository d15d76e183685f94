"""Overload (cms.overload, courses.views.register): a registration that cannot be served within a bounded wait — it
queued too long before a worker took it, or the session's row lock is not granted in time — gets 503 with
Retry-After and the review page again with everything the resident typed, 「ただいま混み合っています」, and nothing
registered. Pressing the button again afterwards registers once."""

import threading
import time

import pytest
from django.db import connections, transaction
from django.test import RequestFactory

from cms import overload
from courses.models import Registration, Session
from tests import factories
from tests.courses.test_registration_review import form_data, hidden_fields, url

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

BUSY = "ただいま混み合っています"
NOW = 1_780_000_005.0


@pytest.fixture
def proxy(settings):
    settings.DEKIRU_TRUSTED_PROXIES = ["127.0.0.1/32"]
    settings.DEKIRU_OVERLOAD_QUEUE_SECONDS = 8
    return settings


def request_with(start: str | None, remote="127.0.0.1"):
    extra = {"REMOTE_ADDR": remote}
    if start is not None:
        extra["HTTP_X_REQUEST_START"] = start
    return RequestFactory().post("/", **extra)


@pytest.mark.parametrize(("header", "waited"), [
    ("t=1780000000.000", 5.0),  # nginx: seconds with milliseconds
    ("t=1780000000000", 5.0),  # milliseconds
    ("t=1780000000000000", 5.0),  # microseconds
    ("1780000004.5", 0.5),  # no "t="
    ("t=1780000010", 0.0),  # a clock a little ahead of ours: never negative
])
def test_the_queue_time_is_read_as_proxies_write_it(proxy, header, waited):
    assert overload.queued_for(request_with(header), now=NOW) == pytest.approx(waited)


@pytest.mark.parametrize("header", ["", "t=", "t=abc", "t=nan", "t=-5", "t=0", "t=1e400", "t=\x00", "t=" + "9" * 500])
def test_an_unreadable_stamp_is_no_stamp(proxy, header):
    assert overload.queued_for(request_with(header), now=NOW) is None
    assert not overload.queued_too_long(request_with(header), now=NOW)


def test_the_stamp_is_believed_only_from_a_trusted_proxy(proxy):
    assert overload.queued_for(request_with("t=1", remote="203.0.113.9"), now=NOW) is None
    proxy.DEKIRU_TRUSTED_PROXIES = []
    assert overload.queued_for(request_with("t=1"), now=NOW) is None


def final_post(client, session, *, start: str | None = None, **overrides):
    """The review page's 「この内容で申し込む」: the answers as the review page carries them."""
    review = client.post(url(session), form_data(**overrides))
    assert review.status_code == 200
    data = hidden_fields(review.content.decode()) | {"step": "register"}
    extra = {"HTTP_X_REQUEST_START": start} if start is not None else {}
    return client.post(url(session), data, **extra), data


def test_a_registration_that_queued_too_long_is_answered_busy_with_every_answer_kept(client, site, proxy):
    session = factories.session()
    response, sent = final_post(client, session, start=f"t={time.time() - 30:.3f}")

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert BUSY in page and 'role="status"' in page
    assert hidden_fields(page) | {"step": "register"} == sent  # every answer, ready to be sent again
    assert "この内容で申し込む" in page
    assert not Registration.objects.exists()

    # Pressing the button again, when the servers have caught up, registers once.
    again = client.post(url(session), hidden_fields(page) | {"step": "register"},
                        HTTP_X_REQUEST_START=f"t={time.time():.3f}")
    assert again.status_code == 302
    assert Registration.objects.count() == 1


def test_in_english_too(client, site, proxy):
    session = factories.session()
    review = client.post("/en" + url(session), form_data(name="Maria Garcia", kana=""))
    data = hidden_fields(review.content.decode()) | {"step": "register"}
    response = client.post("/en" + url(session), data, HTTP_X_REQUEST_START=f"t={time.time() - 30:.3f}")
    assert response.status_code == 503
    assert "We are very busy right now" in response.content.decode()


def test_a_short_queue_is_served(client, site, proxy):
    session = factories.session()
    response, _ = final_post(client, session, start=f"t={time.time() - 1:.3f}")
    assert response.status_code == 302
    assert Registration.objects.count() == 1


def test_the_form_and_review_steps_are_never_refused_for_the_queue(client, site, proxy):
    """Only the step that writes is bounded: showing the review again costs no lock."""
    session = factories.session()
    response = client.post(url(session), form_data(), HTTP_X_REQUEST_START="t=1")
    assert response.status_code == 200 and BUSY not in response.content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_session_lock_not_granted_in_time_answers_busy_and_writes_nothing(client, site, proxy):
    """Another transaction holds the session's row (hundreds of residents booking it): the registration waits
    at most DEKIRU_OVERLOAD_LOCK_WAIT_MS, then answers busy with nothing written; once the lock is free, the same
    answers register."""
    proxy.DEKIRU_OVERLOAD_LOCK_WAIT_MS = 300
    session = factories.session()
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with transaction.atomic():
                Session.objects.select_for_update().get(pk=session.pk)
                locked.set()
                release.wait(20)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        response, sent = final_post(client, session)
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(20)

    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert BUSY in response.content.decode()
    assert hidden_fields(response.content.decode()) | {"step": "register"} == sent
    assert waited < 5  # bounded: not the twenty seconds the holder would have kept it
    assert not Registration.objects.exists()

    again = client.post(url(session), sent)
    assert again.status_code == 302
    assert Registration.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_lock_wait_is_set_for_the_transaction_only(proxy):
    proxy.DEKIRU_OVERLOAD_LOCK_WAIT_MS = 1234
    with connections["default"].cursor() as cursor:
        with transaction.atomic(), overload.bounded_lock_wait():
            cursor.execute("SHOW lock_timeout")
            assert cursor.fetchone()[0] == "1234ms"
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] != "1234ms"
