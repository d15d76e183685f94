"""Staff accounts by invitation (partners.invitations, the admin pages, the public accept page): the e-mail goes
out from the mail worker with a link whose secret is stored nowhere, the link opens exactly one account once,
expired / withdrawn / replaced links are refused, sending survives mail outages, and only city administrators
invite."""

import io
import re
import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django_tasks_db.models import DBTaskResult
from wagtail.models import ModelLogEntry
from wagtail.users.models import UserProfile

from cms import roles
from cms.roles import partner_editors_group_name
from partners import invitations
from partners.models import PartnerMembership, StaffInvitation
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

SendStatus = StaffInvitation.SendStatus
LIST = "/admin/staff/invitations/"
NEW = "/admin/staff/invitations/new/"
LINK = re.compile(r"https?://[^/\s]+(/(?:en/)?staff/invitation/(\d+:[\w-]+)/)")
PASSWORD = "Tama-river-2027!"


def staff(username, role=None, **fields):
    """A member of staff whose admin is in English (the tests read English messages)."""
    from wagtail.users.models import UserProfile

    user = get_user_model().objects.create_user(username, password="pw", **fields)
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


@pytest.fixture(autouse=True)
def _english():
    """Service calls made by the tests themselves raise their messages in English too."""
    with translation.override("en"):
        yield


@pytest.fixture
def admin(site):
    return staff("cityadmin", roles.CITY_ADMINISTRATOR, first_name="Keiko", last_name="Suzuki")


@pytest.fixture
def partner(site):
    return factories.partner()


def run_mail_tasks() -> list:
    """Run the invitation tasks waiting in the mail queue, as the worker would (each once)."""
    results = []
    for task in DBTaskResult.objects.filter(task_path__startswith="partners.tasks.").order_by("enqueued_at"):
        task.delete()
        results.append(task.task.call(*task.args_kwargs["args"], **task.args_kwargs["kwargs"]))
    return results


def invite(capture, **fields) -> StaffInvitation:
    fields.setdefault("email", "hanako@example.jp")
    fields.setdefault("role", roles.CITY_ANALYST)
    with capture(execute=True):
        return invitations.invite(**fields)


def sent_link(email="hanako@example.jp") -> tuple[str, str]:
    """(path, token) of the link in the last e-mail to `email`."""
    message = [m for m in mail.outbox if email in m.to][-1]
    path, token = LINK.search(message.body).groups()
    return path, token


@pytest.fixture
def invited(admin, partner, django_capture_on_commit_callbacks):
    """A partner manager invited by the city administrator, in English, the e-mail sent."""
    invitation = invite(django_capture_on_commit_callbacks, role=roles.PARTNER_MANAGER, partner=partner,
                        first_name="Hanako", last_name="Kawasaki", language="en", actor=admin)
    assert run_mail_tasks() == [SendStatus.SENT]
    invitation.refresh_from_db()
    return invitation


def form_data(username="hanako", password=PASSWORD, password2=None):
    return {"username": username, "password": password, "password2": password if password2 is None else password2}


def open_link(client, path):
    """Follow the e-mail's link: it keeps the token in the session and sends the browser on to the form."""
    response = client.get(path)
    assert response.status_code == 302, response.status_code
    return response


# --- Inviting and sending ---------------------------------------------------------------------------------------


def test_the_worker_sends_the_link_and_its_secret_is_stored_nowhere(admin, partner,
                                                                    django_capture_on_commit_callbacks):
    invitation = invite(django_capture_on_commit_callbacks, email="Hanako@Example.JP", role=roles.PARTNER_MANAGER,
                        partner=partner, first_name="Hanako", last_name="Kawasaki", language="en", actor=admin)

    assert mail.outbox == [], "nothing is sent inside the request"
    [task] = DBTaskResult.objects.all()
    assert (task.task_path, task.backend_name, task.queue_name) == (
        "partners.tasks.send_invitation_task", "mail", "mail")
    assert task.args_kwargs["args"] == [invitation.pk, 1]
    assert (invitation.email, invitation.membership_role, invitation.language) == (
        "Hanako@example.jp", PartnerMembership.Role.MANAGER, "en")
    assert invitation.expires_at == invitation.created_at + timedelta(days=7)

    assert run_mail_tasks() == [SendStatus.SENT]
    [message] = mail.outbox
    assert message.to == ["Hanako@example.jp"]
    assert partner.name_en in message.subject
    path, token = sent_link("Hanako@example.jp")
    assert path == f"/en/staff/invitation/{token}/" and token.startswith(f"{invitation.pk}:")
    assert "Keiko Suzuki has invited you" in message.body and "Partner manager" in message.body
    assert "http://127.0.0.1:8000/admin/" in message.body
    invitation.refresh_from_db()
    assert (invitation.send_status, invitation.send_attempts, invitation.last_error) == (SendStatus.SENT, 1, "")
    assert invitation.sent_at is not None and invitation.next_attempt_at is None
    secret = token.split(":", 1)[1]
    assert len(secret) >= 43 and invitation.token_hash == invitations.hash_secret(secret)
    assert secret not in str(list(StaffInvitation.objects.values()))
    assert secret not in str(list(DBTaskResult.objects.values()))
    assert ModelLogEntry.objects.get(action=invitations.INVITED_LOG_ACTION).user_id == admin.pk


def test_a_japanese_invitation_links_to_the_unprefixed_page(admin, django_capture_on_commit_callbacks):
    invite(django_capture_on_commit_callbacks, language="ja", actor=admin)
    run_mail_tasks()
    path, token = sent_link()
    assert path == f"/staff/invitation/{token}/"


@pytest.mark.parametrize("role, with_partner, field", [
    (roles.CITY_ADMINISTRATOR, True, "partner"),
    (roles.CITY_ANALYST, True, "partner"),
    (roles.PARTNER_MANAGER, False, "partner"),
    (roles.PARTNER_INSTRUCTOR, False, "partner"),
    ("Superuser", False, "role"),
])
def test_role_and_partner_must_go_together(admin, partner, role, with_partner, field):
    with pytest.raises(invitations.InvitationError) as refused:
        invitations.invite(email="x@example.jp", role=role, partner=partner if with_partner else None, actor=admin)
    assert refused.value.field == field
    assert not StaffInvitation.objects.exists()


def test_an_inactive_partner_gets_no_new_staff(admin, partner):
    partner.is_active = False
    partner.save()
    with pytest.raises(invitations.InvitationError, match="inactive"):
        invitations.invite(email="x@example.jp", role=roles.PARTNER_INSTRUCTOR, partner=partner, actor=admin)


@pytest.mark.parametrize("fields", [
    {"role": roles.CITY_ADMINISTRATOR, "partner": True, "membership_role": ""},
    {"role": roles.PARTNER_MANAGER, "partner": False, "membership_role": "manager"},
    {"role": roles.PARTNER_MANAGER, "partner": True, "membership_role": "instructor"},
    {"role": roles.PARTNER_INSTRUCTOR, "partner": True, "membership_role": ""},
    {"role": "Superuser", "partner": False, "membership_role": ""},
])
def test_the_database_refuses_a_role_that_does_not_fit_the_partner(partner, fields):
    fields = {**fields, "partner": partner if fields["partner"] else None}
    with pytest.raises(IntegrityError), transaction.atomic():
        StaffInvitation.objects.create(email="x@example.jp", expires_at=timezone.now(), **fields)


def test_an_address_in_use_or_already_invited_is_refused(admin, django_capture_on_commit_callbacks):
    staff("taken", email="Taken@example.jp")
    with pytest.raises(invitations.InvitationError, match="active account") as refused:
        invitations.invite(email="taken@EXAMPLE.jp", role=roles.CITY_ANALYST, actor=admin)
    assert refused.value.field == "email"

    invite(django_capture_on_commit_callbacks, email="hanako@example.jp")
    with pytest.raises(invitations.InvitationError, match="open invitation"):
        invitations.invite(email="HANAKO@example.jp", role=roles.CITY_ANALYST, actor=admin)

    leaver = staff("leaver", email="leaver@example.jp")
    leaver.is_active = False
    leaver.save()
    assert invitations.invite(email="leaver@example.jp", role=roles.CITY_ANALYST, actor=admin).pk


# --- Accepting --------------------------------------------------------------------------------------------------


def test_accepting_opens_one_active_account_with_the_role_the_membership_and_page_access(client, invited, partner):
    path, token = sent_link()
    response = open_link(client, path)
    assert response["Location"] == "/en/staff/invitation/" and token not in response["Location"]
    assert response["Referrer-Policy"] == "no-referrer" and "no-store" in response["Cache-Control"]

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Keiko Suzuki has invited you" in html and "Partner manager" in html and partner.name_en in html
    assert 'value="hanako@example.jp"' in html, "the username is prefilled with the e-mail address"
    assert "Your password must contain at least 8 characters." in html, "the validators' help"
    assert '<meta name="robots" content="noindex">' in html and 'class="skip-link"' in html, "the public layout"
    assert "no-store" in page["Cache-Control"] and page["X-Robots-Tag"] == "noindex"
    assert token.split(":", 1)[1] not in html

    response = client.post("/en/staff/invitation/", form_data())

    assert response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")
    [user] = get_user_model().objects.filter(email="hanako@example.jp")
    assert (user.username, user.first_name, user.last_name, user.is_active) == ("hanako", "Hanako", "Kawasaki", True)
    assert user.check_password(PASSWORD)
    assert set(user.groups.values_list("name", flat=True)) == {roles.PARTNER_MANAGER,
                                                                 partner_editors_group_name(partner.pk)}
    membership = PartnerMembership.objects.get(user=user)
    assert (membership.partner, membership.role) == (partner, PartnerMembership.Role.MANAGER)
    invited.refresh_from_db()
    assert invited.accepted_user == user and invited.accepted_at is not None
    assert client.get("/admin/").status_code == 200, "signed in"
    assert ModelLogEntry.objects.get(action=invitations.ACCEPTED_LOG_ACTION).user_id == user.pk
    assert "_auth_user_id" in client.session and "dekiru_staff_invitation" not in client.session


def test_a_used_link_is_refused_and_creates_nothing(client, invited):
    path, token = sent_link()
    open_link(client, path)
    client.post("/en/staff/invitation/", form_data())

    stranger = Client()
    response = stranger.get(path)
    assert response.status_code == 410 and "already been used" in response.content.decode()
    assert response["Referrer-Policy"] == "no-referrer"
    with pytest.raises(invitations.InvitationGone):
        invitations.accept(token=token, username="someone", password=PASSWORD)
    assert get_user_model().objects.filter(email="hanako@example.jp").count() == 1


def test_sending_the_form_twice_opens_one_account(client, invited):
    path, _token = sent_link()
    open_link(client, path)
    second_tab = Client()
    open_link(second_tab, path)

    assert client.post("/en/staff/invitation/", form_data()).status_code == 302
    # The same form sent again: the person is signed in, nothing new is created.
    again = client.post("/en/staff/invitation/", form_data())
    assert again.status_code == 302 and again["Location"] == reverse("wagtailadmin_home")
    # From another tab (the token still in its session): the same username and password sign in...
    other = second_tab.post("/en/staff/invitation/", form_data())
    assert other.status_code == 302 and second_tab.get("/admin/").status_code == 200
    assert get_user_model().objects.filter(email="hanako@example.jp").count() == 1
    assert ModelLogEntry.objects.filter(action=invitations.ACCEPTED_LOG_ACTION).count() == 1


def test_another_tab_with_other_credentials_is_refused(client, invited):
    path, _token = sent_link()
    open_link(client, path)
    second_tab = Client()
    open_link(second_tab, path)
    client.post("/en/staff/invitation/", form_data())

    response = second_tab.post("/en/staff/invitation/", form_data(username="hanako2"))
    assert response.status_code == 410
    assert get_user_model().objects.filter(email="hanako@example.jp").count() == 1


def test_an_expired_link_is_refused_with_410(client, invited):
    path, _token = sent_link()
    open_link(client, path)  # opened in time...
    StaffInvitation.objects.filter(pk=invited.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    response = client.post("/en/staff/invitation/", form_data())  # ...sent too late
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert Client().get(path).status_code == 410
    assert not get_user_model().objects.filter(email="hanako@example.jp").exists()


def test_a_withdrawn_link_is_refused_with_410(client, invited, admin):
    path, _token = sent_link()
    open_link(client, path)
    invitations.revoke(invitation=invited, actor=admin)

    response = client.post("/en/staff/invitation/", form_data())
    assert response.status_code == 410 and "withdrawn" in response.content.decode()
    assert Client().get(path).status_code == 410
    assert not get_user_model().objects.filter(email="hanako@example.jp").exists()
    assert ModelLogEntry.objects.get(action=invitations.REVOKED_LOG_ACTION).user_id == admin.pk


def test_an_invitation_to_a_partner_deactivated_meanwhile_is_refused(client, invited, partner, admin):
    path, _token = sent_link()
    open_link(client, path)
    partner.is_active = False
    partner.save()
    assert client.post("/en/staff/invitation/", form_data()).status_code == 410
    assert not get_user_model().objects.filter(email="hanako@example.jp").exists()
    with pytest.raises(invitations.InvitationError, match="inactive"):
        invitations.resend(invitation=invited, actor=admin)


def test_unknown_and_made_up_links_answer_404(client, invited):
    _path, token = sent_link()
    pk, secret = token.split(":")
    for bad in (f"{pk}:{secret[:-1]}x", f"{int(pk) + 1}:{secret}", secret, f"{pk}:", "9" * 40 + ":abc"):
        response = client.get(f"/en/staff/invitation/{bad}/")
        assert response.status_code == 404, bad
        assert response["Referrer-Policy"] == "no-referrer"
    # The form without having opened a link.
    assert client.get("/en/staff/invitation/").status_code == 404
    assert client.post("/en/staff/invitation/", form_data()).status_code == 404
    assert not get_user_model().objects.filter(email="hanako@example.jp").exists()


def test_resending_replaces_the_link(client, invited, admin, django_capture_on_commit_callbacks):
    old_path, old_token = sent_link()
    with django_capture_on_commit_callbacks(execute=True):
        invitations.resend(invitation=invited, actor=admin)
    assert Client().get(old_path).status_code == 404, "the old link stops working at once"

    assert run_mail_tasks() == [SendStatus.SENT]
    new_path, new_token = sent_link()
    assert new_token != old_token and len(mail.outbox) == 2
    assert Client().get(old_path).status_code == 404
    assert invitations.send_invitation(invited.pk, send_round=1) is None, "a task of the first round does nothing"
    open_link(client, new_path)
    assert client.post("/en/staff/invitation/", form_data()).status_code == 302


def test_passwords_and_usernames_are_checked(client, invited):
    path, _token = sent_link()
    open_link(client, path)
    staff("taken")
    for data, error in [
        (form_data(password="short"), "This password is too short."),
        (form_data(password="password123"), "This password is too common."),
        (form_data(password2="something-else-2027"), "The two passwords are different."),
        (form_data(username="Taken"), "This username is taken."),
        (form_data(username="with space"), "Enter a valid username."),
    ]:
        response = client.post("/en/staff/invitation/", data)
        assert response.status_code == 400 and error in response.content.decode(), error
    assert not get_user_model().objects.filter(email="hanako@example.jp").exists()
    invited.refresh_from_db()
    assert invited.accepted_at is None


def test_the_form_works_with_csrf_checks_and_a_browser_origin(invited):
    """The form page carries no token in its address, so it needs no `no-referrer`, which would make browsers send
    `Origin: null` with the form, and Django's CSRF check refuse it."""
    browser = Client(enforce_csrf_checks=True)
    path, _token = sent_link()
    form_page = browser.get(open_link(browser, path)["Location"], secure=True)
    assert form_page.get("Referrer-Policy") != "no-referrer"
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form_page.content.decode()).group(1)
    data = {**form_data(), "csrfmiddlewaretoken": csrf}
    assert browser.post("/en/staff/invitation/", data, secure=True, headers={"Origin": "null"}).status_code == 403
    response = browser.post("/en/staff/invitation/", data, secure=True, headers={"Origin": "https://testserver"})
    assert response.status_code == 302


def test_the_form_is_rate_limited(client, invited, settings):
    settings.RATELIMIT_ENABLE = True
    settings.DEKIRU_RATE_LIMITS = {**settings.DEKIRU_RATE_LIMITS, "invitation": "2/m"}
    settings.DEKIRU_TRUSTED_PROXIES = []
    path, _token = sent_link()
    open_link(client, path)
    for _ in range(2):
        assert client.post("/en/staff/invitation/", form_data(password="short")).status_code == 400
    response = client.post("/en/staff/invitation/", form_data())
    assert response.status_code == 429
    assert not get_user_model().objects.filter(email="hanako@example.jp").exists()


# --- Mail outages -----------------------------------------------------------------------------------------------


def test_a_transient_failure_keeps_the_invitation_and_schedules_a_retry(client, admin, fake_sendgrid,
                                                                        django_capture_on_commit_callbacks):
    fake_sendgrid.fail_next(503)
    invitation = invite(django_capture_on_commit_callbacks, actor=admin)
    before = timezone.now()

    assert run_mail_tasks() == [SendStatus.WAITING]

    invitation.refresh_from_db()
    assert (invitation.send_status, invitation.send_attempts) == (SendStatus.WAITING, 1)
    assert invitation.last_error.startswith("503") and invitation.sent_at is None
    assert before < invitation.next_attempt_at <= before + timedelta(seconds=61)
    [retry] = DBTaskResult.objects.all()
    assert retry.args_kwargs["args"] == [invitation.pk, 1] and retry.run_after == invitation.next_attempt_at
    client.force_login(admin)
    assert "Waiting to be sent" in client.get(LIST).content.decode()

    assert invitations.send_invitation(invitation.pk, send_round=1) is None, "not due yet"
    assert invitations.send_invitation(invitation.pk, send_round=1,
                                       now=invitation.next_attempt_at) == SendStatus.SENT
    invitation.refresh_from_db()
    assert (invitation.send_status, invitation.send_attempts, invitation.last_error) == (SendStatus.SENT, 2, "")
    assert len(fake_sendgrid.sent_to("hanako@example.jp")) == 1


def test_a_permanent_failure_shows_the_reason_and_resend_tries_again(client, admin, fake_sendgrid,
                                                                      django_capture_on_commit_callbacks):
    fake_sendgrid.fail_next(400, body={"errors": [{"message": "Does not contain a valid address.",
                                                   "field": "personalizations.0.to"}]})
    invitation = invite(django_capture_on_commit_callbacks, actor=admin)
    assert run_mail_tasks() == [SendStatus.FAILED]
    invitation.refresh_from_db()
    assert invitation.send_status == SendStatus.FAILED and invitation.next_attempt_at is None
    assert not DBTaskResult.objects.exists(), "no retry"

    client.force_login(admin)
    html = client.get(LIST).content.decode()
    assert "Failed: 400: Does not contain a valid address." in html
    assert reverse("partners_invitation_resend", args=[invitation.pk]) in html

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("partners_invitation_resend", args=[invitation.pk]))
    assert response.status_code == 302
    assert run_mail_tasks() == [SendStatus.SENT]
    assert len(fake_sendgrid.sent_to("hanako@example.jp")) == 1


def test_it_gives_up_after_the_maximum_attempts(admin, fake_sendgrid, settings, django_capture_on_commit_callbacks):
    settings.DEKIRU_MAIL_MAX_ATTEMPTS = 2
    fake_sendgrid.down()
    invitation = invite(django_capture_on_commit_callbacks, actor=admin)
    assert run_mail_tasks() == [SendStatus.WAITING]
    invitation.refresh_from_db()
    translation.activate("en")  # whatever language the worker's thread was left in
    assert invitations.send_invitation(invitation.pk, now=invitation.next_attempt_at) == SendStatus.FAILED
    invitation.refresh_from_db()
    assert (invitation.send_status, invitation.send_attempts) == (SendStatus.FAILED, 2)
    with translation.override(settings.LANGUAGE_CODE):  # staff read it in the site's language
        assert invitation.last_error == gettext("Gave up after %(n)s attempts: %(error)s") % {
            "n": 2, "error": "503: Service unavailable"}


def test_a_lost_task_or_a_dead_worker_delays_the_email_but_does_not_lose_it(admin):
    invitations.invite(email="hanako@example.jp", role=roles.CITY_ANALYST, actor=admin)  # no commit: no task
    assert not DBTaskResult.objects.exists(), "its task never made it to the queue"
    assert invitations.send_due_invitations() == {SendStatus.SENT: 1}
    assert len(mail.outbox) == 1

    second = invitations.invite(email="jiro@example.jp", role=roles.CITY_ANALYST, actor=admin)
    now = timezone.now()
    # A worker claimed it and died before recording anything.
    StaffInvitation.objects.filter(pk=second.pk).update(token_hash="x" * 64, next_attempt_at=now + timedelta(minutes=5))
    assert invitations.send_due_invitations(now=now) == {}, "its lease still holds"
    assert invitations.send_due_invitations(now=now + timedelta(minutes=6)) == {SendStatus.SENT: 1}
    assert len(mail.outbox) == 2


def test_the_periodic_sweep_sends_an_invitation_whose_task_was_lost(admin):
    from django.core.management import call_command

    invitation = invitations.invite(email="hanako@example.jp", role=roles.CITY_ANALYST, actor=admin)  # no task
    call_command("sweep_outbox", stdout=io.StringIO())
    assert not mail.outbox, "not overdue yet: its task may still come"
    StaffInvitation.objects.filter(pk=invitation.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=3))
    out = io.StringIO()
    call_command("sweep_outbox", stdout=out)
    assert "1 overdue staff invitation" in out.getvalue()
    assert run_mail_tasks() == [{SendStatus.SENT: 1}]
    assert len(mail.outbox) == 1


def test_send_outbox_sends_due_invitations_without_the_task_worker(admin):
    """`make demo` and hosts without db_worker run `send_outbox`: invitations go out with it."""
    from django.core.management import call_command

    invitations.invite(email="hanako@example.jp", role=roles.CITY_ANALYST, actor=admin)
    out = io.StringIO()
    call_command("send_outbox", stdout=out)
    assert "Staff invitations: sent 1." in out.getvalue()
    assert len(mail.outbox) == 1


def test_a_withdrawn_invitation_is_not_sent(admin, django_capture_on_commit_callbacks):
    invitation = invite(django_capture_on_commit_callbacks, actor=admin)
    invitations.revoke(invitation=invitation, actor=admin)
    assert run_mail_tasks() == [None]
    assert mail.outbox == []


# --- The admin pages --------------------------------------------------------------------------------------------


def test_the_admin_invites_in_their_own_language(client, admin, partner, django_capture_on_commit_callbacks):
    profile = UserProfile.get_for_user(admin)
    profile.preferred_language = "en"
    profile.save()
    client.force_login(admin)
    assert client.get(NEW).status_code == 200

    data = {"email": "jiro@example.jp", "first_name": "Jiro", "last_name": "Tama", "role": roles.PARTNER_INSTRUCTOR}
    response = client.post(NEW, data)
    assert response.status_code == 400 and "A partner role needs the partner" in response.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(NEW, {**data, "partner": partner.pk})
    assert response.status_code == 302 and response["Location"] == LIST
    invitation = StaffInvitation.objects.get()
    assert (invitation.language, invitation.partner, invitation.membership_role, invitation.invited_by) == (
        "en", partner, PartnerMembership.Role.INSTRUCTOR, admin)
    run_mail_tasks()
    path, _token = sent_link("jiro@example.jp")
    assert path.startswith("/en/")


def test_withdrawing_from_the_list(client, admin, django_capture_on_commit_callbacks):
    invitation = invite(django_capture_on_commit_callbacks, actor=admin)
    client.force_login(admin)
    assert client.get(reverse("partners_invitation_revoke", args=[invitation.pk])).status_code == 405
    response = client.post(reverse("partners_invitation_revoke", args=[invitation.pk]))
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert "Withdrawn" in client.get(LIST).content.decode()


def test_the_access_review_and_the_settings_menu_link_to_the_invitations(client, admin):
    client.force_login(admin)
    assert LIST in client.get(reverse("partners_access_review")).content.decode()
    assert LIST in client.get("/admin/").content.decode()


@pytest.mark.parametrize("role", [roles.CITY_PROGRAMME_OFFICER, roles.CITY_ANALYST, roles.CALL_CENTRE_OPERATOR,
                                  roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR])
def test_only_city_administrators_manage_invitations(client, admin, role, django_capture_on_commit_callbacks):
    invitation = invite(django_capture_on_commit_callbacks, actor=admin)
    client.force_login(staff("someone", role))
    for url in (LIST, NEW):
        assert client.get(url).status_code == 403, url
    assert client.post(NEW, {"email": "x@example.jp", "role": roles.CITY_ADMINISTRATOR}).status_code == 403
    for name in ("partners_invitation_resend", "partners_invitation_revoke"):
        assert client.post(reverse(name, args=[invitation.pk])).status_code == 403, name
    assert StaffInvitation.objects.count() == 1
    invitation.refresh_from_db()
    assert invitation.revoked_at is None and invitation.send_round == 1
    assert LIST not in client.get("/admin/").content.decode(), "no menu item either"


def test_the_list_costs_the_same_queries_whatever_its_length(client, admin, partner,
                                                             django_assert_max_num_queries):
    def make(n):
        for i in range(n):
            invitation = invitations.invite(email=f"p{StaffInvitation.objects.count()}-{i}@example.jp",
                                            role=roles.PARTNER_INSTRUCTOR, partner=partner, actor=admin)
            if i % 3 == 1:
                invitations.revoke(invitation=invitation, actor=admin)

    client.force_login(admin)
    make(2)
    client.get(LIST)  # warm the per-user caches of the admin
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    make(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(LIST).content.decode()
    assert html.count("/resend/") == 8 and html.count("/revoke/") == 8


# --- Two accepts at once, across database connections ------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_accepts_open_one_account(monkeypatch):
    """Two requests with the same link at the same moment (a double click reaching two app servers): the row lock
    makes the second wait, then find the invitation accepted."""
    invitation = invitations.invite(email="race@example.jp", role=roles.CITY_ANALYST)
    Group.objects.get_or_create(name=roles.CITY_ANALYST)
    invitations.send_invitation(invitation.pk)
    _path, token = sent_link("race@example.jp")
    real_check = invitations._active_account_uses

    def slow_check(email):  # widen the window between reading the invitation and creating the user
        used = real_check(email)
        time.sleep(0.2)
        return used

    monkeypatch.setattr(invitations, "_active_account_uses", slow_check)
    racers = 4
    barrier = threading.Barrier(racers)
    outcomes: list = []

    def accept(n):
        try:
            barrier.wait(timeout=30)
            outcomes.append(invitations.accept(token=token, username=f"racer{n}", password=PASSWORD))
        except BaseException as exc:  # noqa: BLE001 — every outcome counts
            outcomes.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=accept, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    users = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, invitations.InvitationGone)]
    assert len(users) == 1 and len(refused) == racers - 1, outcomes
    assert get_user_model().objects.filter(email="race@example.jp").count() == 1


def test_an_invited_city_administrator_sets_up_two_factor_before_anything_else(
        client, admin, settings, django_capture_on_commit_callbacks):
    settings.DEKIRU_2FA_REQUIRED_ROLES = [roles.CITY_ADMINISTRATOR]
    invite(django_capture_on_commit_callbacks, email="newadmin@example.jp", role=roles.CITY_ADMINISTRATOR,
           language="en", actor=admin)
    run_mail_tasks()
    path, _token = sent_link("newadmin@example.jp")
    form_page = open_link(client, path)["Location"]
    response = client.post(form_page, form_data(username="newadmin"))
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 302 and response["Location"].startswith(reverse("two_factor_setup"))
