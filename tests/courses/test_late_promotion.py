"""A seat from the waiting list close to the start: the e-mail goes out as always, and the person is also put on the
staff call list (DEKIRU_LATE_PROMOTION_CALL_HOURS, default 24), since an e-mail may not be read in time."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from courses import services
from courses.models import OutgoingMessage
from courses.services import BookerDetails, ParticipantDetails
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock, pytest.mark.usefixtures("site")]
Kind, Status, Channel = OutgoingMessage.Kind, OutgoingMessage.Status, OutgoingMessage.Channel


def book(session, n, **fields):
    fields.setdefault("email", f"resident{n}@example.jp")
    fields.setdefault("phone", f"0901111000{n}")
    booker = fields.pop("booker", None)
    details = ParticipantDetails(name=f"川崎 太郎{n}", kana="カワサキ タロウ", age_band="70-74", consent=True, **fields)
    return services.register(session=session, participant=details, booker=booker).registration


def promote_one(starts_in, **fields):
    session = factories.session(capacity=1, starts_in=starts_in)
    seated = book(session, 1)
    waiting = book(session, 2, **fields)
    services.cancel_registration(registration=seated)
    return waiting


def messages_for(registration):
    return {(m.kind, m.channel, m.status) for m in OutgoingMessage.objects.filter(registration=registration)
            if m.kind == Kind.PROMOTED}


def test_a_promotion_the_day_before_is_e_mailed_and_put_on_the_call_list():
    waiting = promote_one(timedelta(hours=20))
    assert messages_for(waiting) == {(Kind.PROMOTED, Channel.EMAIL, Status.PENDING),
                                     (Kind.PROMOTED, Channel.PHONE, Status.TO_CALL)}
    call = OutgoingMessage.objects.get(registration=waiting, channel=Channel.PHONE)
    assert call.to_phone == "09011110002" and call.context == {"late": True}


def test_a_promotion_well_ahead_is_only_e_mailed():
    waiting = promote_one(timedelta(days=3))
    assert messages_for(waiting) == {(Kind.PROMOTED, Channel.EMAIL, Status.PENDING)}


def test_the_window_is_a_setting(settings):
    settings.DEKIRU_LATE_PROMOTION_CALL_HOURS = 72
    waiting = promote_one(timedelta(days=2))
    assert (Kind.PROMOTED, Channel.PHONE, Status.TO_CALL) in messages_for(waiting)


def test_without_a_phone_number_there_is_nobody_to_call():
    waiting = promote_one(timedelta(hours=5), phone="")
    assert messages_for(waiting) == {(Kind.PROMOTED, Channel.EMAIL, Status.PENDING)}


def test_a_phone_only_resident_is_on_the_call_list_once():
    waiting = promote_one(timedelta(hours=5), email="")
    assert messages_for(waiting) == {(Kind.PROMOTED, Channel.PHONE, Status.TO_CALL)}


def test_the_family_booker_is_called_when_they_get_the_messages():
    booker = BookerDetails(name="川崎 花子", relationship="娘", email="daughter@example.jp", phone="08022223333")
    waiting = promote_one(timedelta(hours=5), email="", phone="", booker=booker)
    call = OutgoingMessage.objects.get(registration=waiting, channel=Channel.PHONE)
    assert call.to_phone == "08022223333" and call.to_booker


def test_a_cancellation_takes_the_call_off_the_list():
    waiting = promote_one(timedelta(hours=5))
    services.cancel_registration(registration=waiting)
    call = OutgoingMessage.objects.get(registration=waiting, kind=Kind.PROMOTED, channel=Channel.PHONE)
    assert call.status == Status.CANCELLED


def test_the_call_list_says_why(client):
    waiting = promote_one(timedelta(hours=5))
    user = get_user_model().objects.create_user("officer", password="pw")
    user.groups.add(Group.objects.get(name="City programme officer"))
    client.force_login(user)
    page = client.get("/admin/messages/calls/").content.decode()
    assert waiting.participant.name in page
    assert "まもなく始まります" in page
