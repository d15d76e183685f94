"""Every public address answers odd input with 4xx, never 500, on SQLite and on PostgreSQL (which refuses NUL
characters that SQLite stores): each path parameter of each public URL pattern, and the query strings the public
views read, filled with NULs, undecodable bytes, huge numbers and the like."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

ODD_VALUES = ["%00", "a%00b", "%ff%fe", "-1", "0", "99999999999999999999999", "%E3%81%82", "..%2F..%2Fetc",
              "%20", "x" * 300]
QUERY_KEYS = ["q", "ward", "topic", "level", "device", "date_from", "date_to", "free", "page", "month", "year",
              "lang", "fy", "next"]


def public_routes():
    """(route with <converter:name> parameters) for every pattern outside the admin and the documents."""
    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    for route in walk(get_resolver().url_patterns, ""):
        route = route.replace("^", "").replace("$", "")
        if route.startswith(("admin/", "django-admin/", "documents/", "_util/")) or "(?P" in route:
            continue
        yield route


def odd_addresses():
    for route in sorted(set(public_routes())):
        parameters = re.findall(r"<(?:\w+:)?\w+>", route)
        if not parameters:
            continue
        for value in ODD_VALUES:
            yield "/" + re.sub(r"<(?:\w+:)?\w+>", value, route)


def test_the_walk_covers_the_public_patterns():
    addresses = list(odd_addresses())
    assert any("/calendar/wards/%00.ics" in address for address in addresses)
    assert any(address.startswith("/sessions/%00/register/") for address in addresses)
    assert len(addresses) > 100


def test_odd_path_parameters_never_give_a_500(client, site):
    factories.session()
    client.raise_request_exception = False
    failures = []
    for address in odd_addresses():
        for prefix in ("", "/en"):
            status = client.get(prefix + address).status_code
            if status >= 500:
                failures.append(f"{prefix}{address}: {status}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", ["/", "/classes/", "/courses/", "/calendar/", "/calendar/sessions.ics", "/opendata/",
                                  "/opendata/events.csv", "/opendata/events.json", "/en/classes/", "/privacy/"])
def test_odd_query_strings_never_give_a_500(client, site, path):
    factories.session()
    client.raise_request_exception = False
    failures = []
    for key in QUERY_KEYS:
        for value in ODD_VALUES:
            status = client.get(f"{path}?{key}={value}").status_code
            if status >= 500:
                failures.append(f"{path}?{key}={value}: {status}")
    assert not failures, "\n".join(failures)


def test_a_nul_in_the_address_is_a_400(client, site):
    assert client.get("/calendar/wards/%00.ics").status_code == 400
    assert client.get("/classes/?q=%00").status_code == 400
    assert client.get("/en/classes/?ward=1%00").status_code == 400


def test_the_400_page_is_translated(client, site):
    assert "アドレスが正しくありません" in client.get("/classes/?q=%00").content.decode()
    assert "The address is not valid" in client.get("/en/classes/?q=%00").content.decode()


def test_an_expired_form_says_so_in_the_residents_language(site):
    from django.test import Client

    session = factories.session()
    client = Client(enforce_csrf_checks=True)
    for prefix, text in (("", "入力画面の有効期限が切れました"), ("/en", "The form has expired")):
        response = client.post(f"{prefix}/sessions/{session.pk}/register/", {"name": "x"})
        assert response.status_code == 403
        assert text in response.content.decode()
