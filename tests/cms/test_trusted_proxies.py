"""Trusted proxies (cms.ratelimit.client_ip, DEKIRU_TRUSTED_PROXIES): X-Forwarded-For is believed only from a peer
in a trusted network, read from the right past the trusted hops. Both sides: a client that rotates the header
itself still hits the registration rate limit; behind a trusted load balancer each real client has its own counter.
"""

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.utils import translation

from cms.ratelimit import check_trusted_proxies, client_ip
from cms.settings.security import trusted_proxies
from courses.models import Participant, Registration
from tests import factories
from tests.clock import frozen_at

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

PROXIES = ["10.0.0.0/8", "2001:db8:ffff::/48"]
LOAD_BALANCER = "10.0.0.1"
CLIENT = "203.0.113.7"
NOON = dt.datetime(2027, 3, 1, 12, 0, 30, tzinfo=dt.UTC)  # mid-minute: the one-minute window does not roll over


def ip(settings, *, remote: str, forwarded: str | None = None, proxies=PROXIES, count: int = 0) -> str:
    settings.DEKIRU_TRUSTED_PROXIES = proxies
    settings.DEKIRU_TRUSTED_PROXY_COUNT = count
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


@pytest.mark.parametrize(("remote", "forwarded", "expected"), [
    # An untrusted peer: its header is ignored, whatever it says (the spoofing of the issue).
    (CLIENT, "198.51.100.1", CLIENT),
    (CLIENT, "10.0.0.5", CLIENT),  # even when it names a trusted address
    # A trusted proxy: the first untrusted entry from the right.
    (LOAD_BALANCER, CLIENT, CLIENT),
    (LOAD_BALANCER, f"198.51.100.1, {CLIENT}", CLIENT),  # the client forged the first entry
    (LOAD_BALANCER, f"198.51.100.1, {CLIENT}, 10.1.2.3", CLIENT),  # two proxies: the inner hop is skipped
    (LOAD_BALANCER, "10.9.9.9", "10.9.9.9"),  # only trusted hops: the leftmost (an office behind the proxy)
    (LOAD_BALANCER, None, LOAD_BALANCER),  # no header
    (LOAD_BALANCER, "", LOAD_BALANCER),
    (LOAD_BALANCER, f"not-an-address, {CLIENT}", CLIENT),
    (LOAD_BALANCER, "not-an-address", LOAD_BALANCER),  # garbage ends the walk at the proxy
    (LOAD_BALANCER, f"{CLIENT}:51234", CLIENT),  # a proxy that writes the port
    (LOAD_BALANCER, "[2001:db8:1::5]:443", "2001:db8:1::5"),
    ("::ffff:10.0.0.1", CLIENT, CLIENT),  # IPv4 mapped into IPv6 is the same peer
    ("2001:db8:ffff::1", "2001:db8:1::5", "2001:db8:1::5"),
])
def test_client_address(settings, remote, forwarded, expected):
    assert ip(settings, remote=remote, forwarded=forwarded) == expected


def test_without_trusted_proxies_the_header_is_ignored_even_with_the_old_count(settings):
    assert ip(settings, remote=LOAD_BALANCER, forwarded=CLIENT, proxies=[]) == LOAD_BALANCER
    assert ip(settings, remote=LOAD_BALANCER, forwarded=CLIENT, proxies=[], count=1) == LOAD_BALANCER


def test_the_old_count_gets_a_check_warning(settings):
    settings.DEKIRU_TRUSTED_PROXY_COUNT = 0
    assert check_trusted_proxies() == []
    settings.DEKIRU_TRUSTED_PROXY_COUNT = 1
    settings.DEKIRU_TRUSTED_PROXIES = []
    (warning,) = check_trusted_proxies()
    assert warning.id == "dekiru.W002" and "DEKIRU_TRUSTED_PROXIES" in warning.hint
    settings.DEKIRU_TRUSTED_PROXIES = PROXIES
    (warning,) = check_trusted_proxies()
    assert "Remove DEKIRU_TRUSTED_PROXY_COUNT" in warning.hint


def test_the_setting_is_checked_at_start_up():
    assert trusted_proxies(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "10.1.2.3/8"]) == [
        "10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "10.0.0.0/8"]
    with pytest.raises(ImproperlyConfigured, match="10.0.0.0/33"):
        trusted_proxies(["10.0.0.0/33"])
    with pytest.raises(ImproperlyConfigured, match="proxy.internal"):
        trusted_proxies(["proxy.internal"])


# --- Both sides, through the registration form --------------------------------------------------------------------

@pytest.fixture
def registration_limit(settings):
    settings.RATELIMIT_ENABLE = True
    settings.DEKIRU_RATE_LIMITS = {**settings.DEKIRU_RATE_LIMITS, "registration": "20/m"}
    settings.DEKIRU_TRUSTED_PROXY_COUNT = 1  # the old setting that used to trust the header blindly


def register_url(session) -> str:
    with translation.override("ja"):
        return f"/en/sessions/{session.pk}/register/"


def person(n: int) -> dict:
    return {"booking_for": "self", "name": f"川崎 花子{n}", "kana": "かわさき はなこ", "phone": f"0900000{n:04d}",
            "age_band": Participant.AgeBand.AGE_70_74, "ward": "declined", "consent": "on",
            "notify_by": "call", "step": "register"}


def rotate(client, session, *, remote: str) -> list[int]:
    """30 registrations, each claiming a new address in X-Forwarded-For."""
    return [client.post(register_url(session), person(n), REMOTE_ADDR=remote,
                        HTTP_X_FORWARDED_FOR=f"198.51.100.{n + 1}").status_code for n in range(30)]


@frozen_at(NOON)
def test_rotated_forwarded_for_from_an_untrusted_peer_still_hits_the_limit(client, site, settings,
                                                                            registration_limit):
    settings.DEKIRU_TRUSTED_PROXIES = PROXIES
    session = factories.session(capacity=40)

    statuses = rotate(client, session, remote=CLIENT)  # no proxy in front: the client talks to us directly

    assert statuses.count(302) == 20 and statuses[20:] == [429] * 10
    assert Registration.objects.filter(session=session).count() == 20


@frozen_at(NOON)
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_counter(client, site, settings,
                                                                          registration_limit):
    settings.DEKIRU_TRUSTED_PROXIES = PROXIES
    session = factories.session(capacity=40)

    statuses = rotate(client, session, remote=LOAD_BALANCER)

    assert statuses == [302] * 30
    # …and one client behind the proxy is still limited.
    same = [client.post(register_url(session), person(100 + n), REMOTE_ADDR=LOAD_BALANCER,
                        HTTP_X_FORWARDED_FOR=f"192.0.2.200, {CLIENT}").status_code for n in range(21)]
    assert same.count(302) == 20 and same[-1] == 429
