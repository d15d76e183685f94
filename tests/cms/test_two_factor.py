"""Two-factor sign-in to the admin (cms.two_factor): required of the city administrator (and superusers), optional
for other staff, asked for after the password through Wagtail's real login form; codes computed from the device's
key as an authenticator app does (RFC 6238), never faked."""

import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from wagtail.models import ModelLogEntry
from wagtail.users.models import UserProfile

from cms import roles
from cms import two_factor as service

pytestmark = pytest.mark.clock

PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def required(settings):
    settings.DEKIRU_2FA_REQUIRED_ROLES = [roles.CITY_ADMINISTRATOR]
    settings.DEKIRU_2FA_REQUIRE_SUPERUSERS = True


def staff(role: str, username: str | None = None):
    """A member of staff with the given role, whose admin is in English (the tests read English messages)."""
    user = get_user_model().objects.create_user(username or f"tf-{role.lower().replace(' ', '-')}",
                                                email="staff@example.jp", password=PASSWORD)
    user.groups.add(Group.objects.get(name=role))
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


def code_now(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():06d}"


def with_device(user) -> TOTPDevice:
    device = TOTPDevice.objects.create(user=user, name=service.TOTP_NAME, confirmed=True)
    backup = StaticDevice.objects.create(user=user, name=service.BACKUP_NAME, confirmed=True)
    StaticToken.objects.create(device=backup, token="abcd2345")
    return device


def sign_in(client, user, next_url="/admin/"):
    """Through Wagtail's login form, as a person does."""
    response = client.post(reverse("wagtailadmin_login"), {"username": user.username, "password": PASSWORD,
                                                           "next": next_url})
    assert response.status_code == 302, response.content[:500]
    return client.get(response["Location"])


# --- Who must use it --------------------------------------------------------------------------------------------

def test_a_city_administrator_without_a_device_must_set_it_up_before_any_admin_page(client, site, required):
    admin = staff(roles.CITY_ADMINISTRATOR)
    response = sign_in(client, admin)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_setup") + "?next=/admin/")
    for url in ["/admin/", "/admin/pages/", "/admin/staff/access-review/", "/admin/personal-data/",
                "/admin/outreach/dashboard/", "/admin/users/", "/admin/two-factor/", "/documents/1/x.pdf"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("two_factor_setup")), url
    # Signing out, the set-up page itself and what it loads stay open; the public site is not the admin.
    assert client.get(reverse("two_factor_setup")).status_code == 200
    assert client.get(reverse("wagtailadmin_sprite")).status_code == 200
    response = client.post(reverse("wagtailadmin_logout"))
    assert response.status_code == 302 and "_auth_user_id" not in client.session
    assert client.get("/").status_code == 200


def test_superusers_must_use_it_too(client, site, required):
    root = get_user_model().objects.create_superuser("tf-root", "root@example.jp", PASSWORD)
    response = sign_in(client, root)
    assert response["Location"].startswith(reverse("two_factor_setup"))


def test_other_roles_may_sign_in_with_a_password_alone(client, site, required):
    manager = staff(roles.PARTNER_MANAGER)
    response = sign_in(client, manager)
    assert response.status_code == 200
    assert client.get("/admin/two-factor/").status_code == 200


def test_without_the_setting_nobody_is_forced(client, site, settings):
    settings.DEKIRU_2FA_REQUIRED_ROLES = []
    settings.DEKIRU_2FA_REQUIRE_SUPERUSERS = False
    admin = staff(roles.CITY_ADMINISTRATOR)
    assert sign_in(client, admin).status_code == 200


def test_someone_who_turned_it_on_is_asked_for_the_code_whatever_the_role(client, site):
    manager = staff(roles.PARTNER_MANAGER)
    with_device(manager)
    response = sign_in(client, manager, next_url="/admin/pages/")
    assert response.status_code == 302
    assert response["Location"] == reverse("two_factor_verify") + "?next=/admin/pages/"


# --- Setting it up ----------------------------------------------------------------------------------------------

def test_setting_up_the_app_then_backup_codes(client, site, required):
    admin = staff(roles.CITY_ADMINISTRATOR)
    sign_in(client, admin)
    page = client.get(reverse("two_factor_setup") + "?next=/admin/pages/")
    html = page.content.decode()
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    assert "<svg" in html  # the QR code, drawn on the server
    secret = re.search(r'class="two-factor-secret"[^>]*>([A-Z2-7 ]+)<', html).group(1)
    assert not TOTPDevice.objects.exists()  # nothing stored before the app proves it has the key
    # The same key on a reload: a code from an app that scanned the first page still works.
    assert secret in client.get(reverse("two_factor_setup")).content.decode()
    device = service.pending_device(_request_with_session(client, admin))

    wrong = client.post(reverse("two_factor_setup"), {"code": "000000" if code_now(device) != "000000" else "111111",
                                                     "next": "/admin/pages/"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    assert client.get("/admin/").status_code == 302

    done = client.post(reverse("two_factor_setup"), {"code": code_now(device), "next": "/admin/pages/"})
    assert done.status_code == 200
    codes = re.findall(r"<li>([a-z0-9]{8})</li>", done.content.decode())
    assert len(codes) == service.BACKUP_CODE_COUNT and len(set(codes)) == len(codes)
    assert 'href="/admin/pages/"' in done.content.decode()
    saved = TOTPDevice.objects.get(user=admin)
    assert saved.confirmed and saved.key == device.key
    assert client.get("/admin/").status_code == 200  # this session is verified
    assert ModelLogEntry.objects.filter(action=service.LOG_SET_UP, object_id=str(admin.pk)).count() == 1


def test_a_code_typed_with_spaces_or_full_width_digits_is_accepted(client, site, required):
    admin = staff(roles.CITY_ADMINISTRATOR)
    sign_in(client, admin)
    client.get(reverse("two_factor_setup"))
    device = service.pending_device(_request_with_session(client, admin))
    code = code_now(device)
    typed = " ".join([code[:3], code[3:]]).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert client.post(reverse("two_factor_setup"), {"code": typed}).status_code == 200
    assert TOTPDevice.objects.filter(user=admin, confirmed=True).exists()


def test_the_set_up_page_cannot_replace_a_device_without_its_code(client, site):
    """Someone with only the password must not swap in their own authenticator."""
    manager = staff(roles.PARTNER_MANAGER)
    device = with_device(manager)
    sign_in(client, manager)
    response = client.get(reverse("two_factor_setup"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("two_factor_verify"))
    response = client.post(reverse("two_factor_setup"), {"code": "123456"})
    assert response.status_code == 302
    assert list(TOTPDevice.objects.filter(user=manager)) == [device]


# --- Signing in with it -----------------------------------------------------------------------------------------

def test_the_code_from_the_app_completes_the_sign_in_once(client, site, required):
    admin = staff(roles.CITY_ADMINISTRATOR)
    device = with_device(admin)
    response = sign_in(client, admin, next_url="/admin/pages/")
    assert response["Location"] == reverse("two_factor_verify") + "?next=/admin/pages/"
    page = client.get(response["Location"])
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.content.decode()

    code = code_now(device)
    response = client.post(reverse("two_factor_verify"), {"code": code, "next": "/admin/pages/"})
    assert response.status_code == 302 and response["Location"] == "/admin/pages/"
    assert client.get("/admin/pages/").status_code == 200

    # The same code again, in another browser: refused (a code works once).
    from django.test import Client

    other = Client()
    sign_in(other, admin)
    again = other.post(reverse("two_factor_verify"), {"code": code})
    assert again.status_code == 400
    assert other.get("/admin/").status_code == 302


def test_a_wrong_code_is_refused_and_the_next_try_must_wait(client, site, required):
    admin = staff(roles.CITY_ADMINISTRATOR)
    device = with_device(admin)
    sign_in(client, admin)
    wrong = client.post(reverse("two_factor_verify"), {"code": code_now(device, offset_steps=10)})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    # django-otp's throttle: after a failure the device refuses every code for a while, even the right one.
    throttled = client.post(reverse("two_factor_verify"), {"code": code_now(device)})
    assert throttled.status_code == 400 and "Too many wrong codes" in throttled.content.decode()
    assert client.get("/admin/").status_code == 302
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None, throttling_failure_count=0)
    assert client.post(reverse("two_factor_verify"), {"code": code_now(device)}).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_backup_code_works_once(client, site, required):
    from django.test import Client

    admin = staff(roles.CITY_ADMINISTRATOR)
    with_device(admin)
    sign_in(client, admin)
    response = client.post(reverse("two_factor_verify"), {"code": "ABCD-2345"}, follow=True)
    assert response.status_code == 200 and "0 left" in response.content.decode()
    assert not StaticToken.objects.exists()
    other = Client()
    sign_in(other, admin)
    assert other.post(reverse("two_factor_verify"), {"code": "abcd2345"}).status_code == 400


def test_the_verify_page_refuses_an_open_redirect(client, site, required):
    admin = staff(roles.CITY_ADMINISTRATOR)
    device = with_device(admin)
    sign_in(client, admin)
    response = client.post(reverse("two_factor_verify"), {"code": code_now(device), "next": "https://evil.example/"})
    assert response["Location"] == reverse("wagtailadmin_home")


def test_a_role_given_mid_session_applies_once_the_remembered_policy_is_old(client, site, required):
    officer = staff(roles.CITY_PROGRAMME_OFFICER)
    assert sign_in(client, officer).status_code == 200
    officer.groups.add(Group.objects.get(name=roles.CITY_ADMINISTRATOR))
    assert client.get("/admin/").status_code == 200  # remembered for POLICY_TTL
    session = client.session
    session[service.SESSION_KEY]["at"] -= service.POLICY_TTL + 1
    session.save()
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("two_factor_setup"))


def test_the_policy_costs_no_query_per_admin_request(client, site, required, django_assert_num_queries):
    manager = staff(roles.PARTNER_MANAGER)
    client.force_login(manager)
    request = _request_with_session(client, manager)
    assert service.SESSION_KEY in request.session  # remembered at sign-in (loads the session: the request did that)
    with django_assert_num_queries(0):
        assert service.session_status(request, manager) == service.Status(required=False, has_device=False)
    request.session[service.SESSION_KEY]["at"] = 0
    with django_assert_num_queries(1):
        service.session_status(request, manager)


# --- Own page: backup codes, turning off ------------------------------------------------------------------------

def test_own_page_makes_new_backup_codes_and_the_old_ones_stop_working(client, site):
    manager = staff(roles.PARTNER_MANAGER)
    device = with_device(manager)
    sign_in(client, manager)
    client.post(reverse("two_factor_verify"), {"code": code_now(device)})
    page = client.get(reverse("two_factor_manage"))
    assert page.status_code == 200 and "1 unused backup code" in page.content.decode()
    response = client.post(reverse("two_factor_manage"), {"action": "backup_codes"})
    codes = re.findall(r"<li>([a-z0-9]{8})</li>", response.content.decode())
    assert len(codes) == service.BACKUP_CODE_COUNT and "abcd2345" not in codes
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(codes)


def test_an_optional_user_may_turn_it_off_but_a_required_role_may_not(client, site, required):
    manager = staff(roles.PARTNER_MANAGER)
    device = with_device(manager)
    sign_in(client, manager)
    client.post(reverse("two_factor_verify"), {"code": code_now(device)})
    client.post(reverse("two_factor_manage"), {"action": "turn_off"})
    assert not TOTPDevice.objects.filter(user=manager).exists() and not StaticDevice.objects.filter(
        user=manager).exists()
    assert client.get("/admin/").status_code == 200

    from django.test import Client

    admin = staff(roles.CITY_ADMINISTRATOR)
    admin_device = with_device(admin)
    other = Client()
    sign_in(other, admin)
    other.post(reverse("two_factor_verify"), {"code": code_now(admin_device)})
    response = other.post(reverse("two_factor_manage"), {"action": "turn_off"}, follow=True)
    assert "cannot be turned off" in response.content.decode()
    assert TOTPDevice.objects.filter(user=admin).exists()


# --- Reset by an administrator ----------------------------------------------------------------------------------

def test_a_city_administrator_resets_someone_who_lost_their_phone(client, site):
    admin = staff(roles.CITY_ADMINISTRATOR)
    instructor = staff(roles.PARTNER_INSTRUCTOR)
    with_device(instructor)
    client.force_login(admin)
    url = reverse("two_factor_reset", args=[instructor.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {}).status_code == 400  # not confirmed: nothing removed
    assert TOTPDevice.objects.filter(user=instructor).exists()
    response = client.post(url, {"confirm": "on"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=instructor).exists()
    assert not StaticToken.objects.filter(device__user=instructor).exists()
    entry = ModelLogEntry.objects.get(action=service.LOG_RESET, object_id=str(instructor.pk))
    assert entry.user_id == admin.pk


def test_a_verified_session_ends_when_its_device_is_reset(client, site):
    manager = staff(roles.PARTNER_MANAGER)
    device = with_device(manager)
    sign_in(client, manager)
    client.post(reverse("two_factor_verify"), {"code": code_now(device)})
    assert client.get("/admin/").status_code == 200
    service.reset(user=manager, actor=None)
    # Not verified any more; with no device and no requirement, the policy lets the password session go on.
    session = client.session
    session[service.SESSION_KEY]["at"] = 0
    session.save()
    assert client.get("/admin/").status_code == 200
    assert client.session.get("otp_device_id") is None


@pytest.mark.parametrize("role", [roles.CITY_PROGRAMME_OFFICER, roles.CITY_ANALYST, roles.CALL_CENTRE_OPERATOR,
                                  roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR])
def test_only_city_administrators_may_reset(client, site, role):
    victim = staff(roles.PARTNER_INSTRUCTOR, username="tf-victim")
    with_device(victim)
    client.force_login(staff(role))
    url = reverse("two_factor_reset", args=[victim.pk])
    assert client.get(url).status_code in (302, 403)
    assert client.post(url, {"confirm": "on"}).status_code in (302, 403)
    assert TOTPDevice.objects.filter(user=victim).exists()


def test_nobody_resets_their_own_or_a_superusers_second_factor(db):
    admin = staff(roles.CITY_ADMINISTRATOR)
    root = get_user_model().objects.create_superuser("tf-root2", "r@example.jp", PASSWORD)
    with pytest.raises(service.TwoFactorError):
        service.reset(user=admin, actor=admin)
    with pytest.raises(service.TwoFactorError):
        service.reset(user=root, actor=admin)


def test_status_annotation_in_one_query(site, required, django_assert_num_queries):
    admin = staff(roles.CITY_ADMINISTRATOR)
    with_device(admin)
    staff(roles.PARTNER_MANAGER)
    with django_assert_num_queries(1):
        rows = {user.username: (user.two_factor_required, user.has_two_factor)
                for user in service.annotate_two_factor(get_user_model().objects.all())}
    assert rows["tf-city-administrator"] == (True, True)
    assert rows["tf-partner-manager"] == (False, False)


def _request_with_session(client, user):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.session = client.session
    request.user = user
    return request
