"""Staff sessions (cms.middleware.AdminSessionTimeoutMiddleware): signed out after DEKIRU_ADMIN_IDLE_MINUTES without
a request and DEKIRU_ADMIN_SESSION_HOURS after signing in, sent to the login page with a note saying why; the public
site is served without reading any session; a password change (through Wagtail's own account page) or a
deactivation ends the person's other sessions."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

from cms.middleware import SESSION_TIMES_KEY, AdminSessionTimeoutMiddleware
from tests.clock import frozen_at

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

PASSWORD = "correct horse battery staple"
START = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
MINUTE = 60


@pytest.fixture(autouse=True)
def timeouts(settings):
    settings.DEKIRU_ADMIN_IDLE_MINUTES = 30
    settings.DEKIRU_ADMIN_SESSION_HOURS = 12


@pytest.fixture
def aiko(db):
    return get_user_model().objects.create_superuser(username="aiko", password=PASSWORD, email="aiko@example.jp",
                                                     first_name="愛子", last_name="川崎")


@pytest.fixture
def clock():
    with frozen_at(START) as traveller:
        yield traveller


def sign_in(client, user=None, password=PASSWORD):
    response = client.post("/admin/login/", {"username": "aiko", "password": password})
    assert response.status_code == 302, response.content[:500]
    return client


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def sent_to_login(response, next_url="/admin/pages/") -> bool:
    return response.status_code == 302 and response["Location"] == f"/admin/login/?next={next_url}"


def notes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_idle_for_the_timeout_signs_out_to_the_login_page_with_a_note(client, aiko, clock):
    sign_in(client)
    for _ in range(3):  # working: a request every 29 minutes keeps the session
        clock.shift(29 * MINUTE)
        assert client.get("/admin/pages/").status_code == 200
    clock.shift(30 * MINUTE)

    response = client.get("/admin/pages/")

    assert sent_to_login(response)
    assert not signed_in(client)
    login_page = client.get(response["Location"])
    assert "30分間操作がなかったため、ログアウトしました。もう一度ログインしてください。" in login_page.content.decode()
    # Signing in again goes back to the page, with fresh clocks.
    back = client.post(response["Location"], {"username": "aiko", "password": PASSWORD})
    assert back.status_code == 302 and back["Location"] == "/admin/pages/"
    clock.shift(29 * MINUTE)
    assert client.get("/admin/pages/").status_code == 200


def test_the_lifetime_ends_even_a_busy_session(client, aiko, clock):
    sign_in(client)
    for _ in range(12 * 3 - 1):  # a request every 20 minutes for 11 h 40 min
        clock.shift(20 * MINUTE)
        assert client.get("/admin/").status_code == 200
    clock.shift(20 * MINUTE)

    response = client.get("/admin/pages/?p=2")

    assert sent_to_login(response, "/admin/pages/%3Fp%3D2")
    assert notes(response) == ["ログインから12時間が経ったため、ログアウトしました。もう一度ログインしてください。"]
    assert not signed_in(client)


def test_a_form_sent_after_the_timeout_is_not_saved_and_goes_to_the_login_page(client, aiko, clock):
    sign_in(client)
    clock.shift(31 * MINUTE)

    response = client.post("/admin/account/", {"name_email-first_name": "X"})

    assert sent_to_login(response, "/admin/")
    aiko.refresh_from_db()
    assert aiko.first_name == "愛子"


def test_the_timeouts_come_from_the_settings(client, aiko, clock, settings):
    settings.DEKIRU_ADMIN_IDLE_MINUTES = 5
    sign_in(client)
    clock.shift(4 * MINUTE)
    assert client.get("/admin/pages/").status_code == 200
    clock.shift(5 * MINUTE)
    response = client.get("/admin/pages/")
    assert sent_to_login(response)
    assert notes(response) == ["5分間操作がなかったため、ログアウトしました。もう一度ログインしてください。"]


def test_a_session_from_before_the_timeouts_starts_its_clocks_at_its_next_request(client, aiko, clock):
    sign_in(client)
    session = client.session
    del session[SESSION_TIMES_KEY]
    session.save()
    clock.shift(3 * 60 * MINUTE)

    assert client.get("/admin/pages/").status_code == 200  # not idle: its clocks start now
    clock.shift(31 * MINUTE)
    assert sent_to_login(client.get("/admin/pages/"))


def test_elsewhere_an_expired_session_just_goes_on_signed_out(client, aiko, clock, site):
    sign_in(client)
    clock.shift(31 * MINUTE)

    response = client.get("/")

    assert response.status_code == 200
    assert not signed_in(client)


def test_a_request_without_a_session_cookie_is_not_looked_at():
    """The public site may be served with no session or cookie at all (a cache in front, a resident who refuses
    cookies): the middleware reads neither the session nor the user then."""
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.user = SimpleLazyObject(lambda: pytest.fail("the user was loaded"))

    response = AdminSessionTimeoutMiddleware(lambda request: HttpResponse("ok"))(request)

    assert response.content == b"ok"
    assert not request.session.accessed and not request.session.modified
    del request.session  # no SessionMiddleware at all
    assert AdminSessionTimeoutMiddleware(lambda request: HttpResponse("ok"))(request).content == b"ok"


def test_the_public_site_still_works_for_a_visitor(client, site):
    response = client.get("/")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


def test_the_session_is_written_at_most_once_a_minute(client, aiko, clock):
    sign_in(client)
    seen = client.session[SESSION_TIMES_KEY]["seen"]
    clock.shift(30)
    client.get("/admin/")
    assert client.session[SESSION_TIMES_KEY]["seen"] == seen
    clock.shift(31)
    client.get("/admin/")
    assert client.session[SESSION_TIMES_KEY]["seen"] == seen + 61


# --- Other sessions end -----------------------------------------------------------------------------------------

def account_form(client) -> dict:
    """Every field of Wagtail's account page as it is now (the page saves all its panels at once)."""
    response = client.get("/admin/account/")
    assert response.status_code == 200
    data = {}
    for panels in response.context["panels_by_tab"].values():
        for panel in panels:
            form = panel.get_form()
            for name in form.fields:
                value = form[name].value()
                if value is True:
                    data[form.add_prefix(name)] = "on"
                elif value not in (None, False, ""):
                    data[form.add_prefix(name)] = value
    return data


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(client, aiko, clock):
    office, tablet = sign_in(client), sign_in(client.__class__())
    new_password = "a brand new passphrase 2027"

    response = office.post("/admin/account/", {
        **account_form(office), "password-old_password": PASSWORD, "password-new_password1": new_password,
        "password-new_password2": new_password})

    assert response.status_code == 302 and response["Location"] == "/admin/account/"
    aiko.refresh_from_db()
    assert aiko.check_password(new_password)
    assert office.get("/admin/pages/").status_code == 200  # the session that changed it goes on
    assert sent_to_login(tablet.get("/admin/pages/"))  # the other one is over
    assert not signed_in(tablet)


def test_deactivation_ends_every_session(client, aiko, clock):
    sign_in(client)
    aiko.is_active = False
    aiko.save(update_fields=["is_active"])

    response = client.get("/admin/pages/")

    assert sent_to_login(response)
    assert not signed_in(client)
    # …and the account cannot sign in again; reactivated, its old sessions do not come back.
    assert client.post("/admin/login/", {"username": "aiko", "password": PASSWORD}).status_code == 200
    aiko.is_active = True
    aiko.save(update_fields=["is_active"])
    other = sign_in(client.__class__())
    aiko.is_active = False
    aiko.save(update_fields=["is_active"])
    other.get("/admin/")
    aiko.is_active = True
    aiko.save(update_fields=["is_active"])
    assert sent_to_login(other.get("/admin/pages/"))
