"""The message log and the call list in the admin: scoping by partner, masking, retry, marking a call done."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from courses.models import OutgoingMessage
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
Status, Channel, Kind = OutgoingMessage.Status, OutgoingMessage.Channel, OutgoingMessage.Kind


def staff(username, group, partner=None, role="manager"):
    user = get_user_model().objects.create_user(username, password="pw")
    user.groups.add(Group.objects.get(name=group))
    if partner:
        add_membership(partner=partner, user=user, role=role)
    return user


def message(session, *, status=Status.FAILED, channel=Channel.EMAIL, email="taro.kawasaki@example.jp",
            phone="09012345678", name="川崎 太郎", **fields):
    registration = factories.registration(session_obj=session)
    return OutgoingMessage.objects.create(
        key=f"test:{registration.pk}:{channel}", kind=fields.pop("kind", Kind.CONFIRMED), channel=channel,
        status=status, registration=registration, session=session, to_name=name,
        to_email=email if channel == Channel.EMAIL else "", to_phone=phone,
        last_error="400: The to email does not contain a valid address." if status == Status.FAILED else "",
        attempts=1, **fields)


@pytest.fixture
def two_partners(site):
    mine, theirs = factories.partner(), factories.partner()
    return (mine, factories.session(organiser=mine)), (theirs, factories.session(organiser=theirs))


def test_city_staff_see_every_message_in_full(client, two_partners):
    (_mine, my_session), (_theirs, their_session) = two_partners
    message(my_session, email="hanako@example.jp")
    message(their_session, email="jiro@example.jp")
    client.force_login(staff("officer", "City programme officer"))
    body = client.get("/admin/messages/").content.decode()
    assert "hanako@example.jp" in body and "jiro@example.jp" in body
    assert "The to email does not contain a valid address." in body


def test_partner_staff_see_only_their_sessions_masked(client, two_partners):
    (mine, my_session), (_theirs, their_session) = two_partners
    own = message(my_session, email="hanako@example.jp")
    other = message(their_session, email="jiro@example.jp")
    client.force_login(staff("manager", "Partner manager", partner=mine))
    body = client.get("/admin/messages/").content.decode()
    assert "ha***@example.jp" in body and "hanako@example.jp" not in body
    assert "ji***@example.jp" not in body and "jiro" not in body
    # Filters never reach another partner's rows either.
    body = client.get(f"/admin/messages/?session={their_session.pk}&status=failed").content.decode()
    assert "ji***" not in body
    # Nor does the retry action.
    assert client.post(f"/admin/messages/{other.pk}/retry/").status_code == 404
    other.refresh_from_db()
    assert other.status == Status.FAILED
    assert client.post(f"/admin/messages/{own.pk}/retry/").status_code == 302
    own.refresh_from_db()
    assert own.status == Status.PENDING and own.attempts == 0


def test_retry_only_for_failed_email(client, two_partners):
    (_mine, session), _ = two_partners
    sent = message(session, status=Status.SENT)
    client.force_login(staff("officer", "City programme officer"))
    client.post(f"/admin/messages/{sent.pk}/retry/")
    sent.refresh_from_db()
    assert sent.status == Status.SENT


def test_filters(client, two_partners):
    (_mine, session), (_theirs, other_session) = two_partners
    message(session, email="failed@example.jp")
    message(other_session, status=Status.SENT, email="sent@example.jp", kind=Kind.REMINDER)
    client.force_login(staff("officer", "City programme officer"))
    body = client.get("/admin/messages/?status=sent").content.decode()
    assert "sent@example.jp" in body and "failed@example.jp" not in body
    body = client.get("/admin/messages/?kind=confirmed").content.decode()
    assert "failed@example.jp" in body and "sent@example.jp" not in body
    assert client.get("/admin/messages/?status=nonsense&session=abc").status_code == 200  # ignored, never a 500


def test_log_reads_a_fixed_number_of_queries(client, two_partners, django_assert_max_num_queries):
    (_mine, session), _ = two_partners
    client.force_login(staff("officer", "City programme officer"))
    for _ in range(3):
        message(session, email=f"p{_}@example.jp")
    client.get("/admin/messages/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get("/admin/messages/")
    for i in range(20):
        message(factories.session(), email=f"q{i}@example.jp")
    with CaptureQueriesContext(connection) as many:
        client.get("/admin/messages/")
    assert len(many) == len(few)


def test_call_list_and_marking_a_call_done(client, two_partners):
    (mine, my_session), (_theirs, their_session) = two_partners
    call = message(my_session, status=Status.TO_CALL, channel=Channel.PHONE, phone="09011112222", name="多摩 花子")
    other = message(their_session, status=Status.TO_CALL, channel=Channel.PHONE, phone="09033334444")
    instructor = staff("instructor", "Partner instructor", partner=mine, role="instructor")
    client.force_login(instructor)
    listing = client.get("/admin/messages/calls/").content.decode()
    assert "多摩 花子" in listing and "090-1111-2222" in listing and "090-3333-4444" not in listing
    page = client.get(f"/admin/messages/calls/{call.pk}/")
    assert page.status_code == 200
    text = page.context["text"]
    assert my_session.course.title in text  # the message to read out, rendered
    assert client.get(f"/admin/messages/calls/{other.pk}/").status_code == 404
    assert client.post(f"/admin/messages/calls/{other.pk}/").status_code == 404

    assert client.post(f"/admin/messages/calls/{call.pk}/").status_code == 302
    call.refresh_from_db()
    assert call.status == Status.CALLED and call.called_by == instructor and call.sent_at
    assert call.body_text  # what was read out is kept
    assert "多摩 花子" not in client.get("/admin/messages/calls/").content.decode()
    client.post(f"/admin/messages/calls/{call.pk}/")  # twice: still called once
    assert OutgoingMessage.objects.get(pk=call.pk).attempts == call.attempts


def test_analysts_see_masked_recipients(client, two_partners):
    (_mine, session), _ = two_partners
    message(session, email="hanako@example.jp")
    client.force_login(staff("analyst", "City analyst"))
    body = client.get("/admin/messages/").content.decode()
    assert "ha***@example.jp" in body and "hanako@example.jp" not in body


def test_roles_without_the_permission_are_kept_out(client, site):
    client.force_login(get_user_model().objects.create_user("plain", password="pw"))
    assert client.get("/admin/messages/").status_code in (302, 403)
    assert client.get("/admin/messages/calls/").status_code in (302, 403)
