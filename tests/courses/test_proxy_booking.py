"""A family member or carer books for someone else through the public form."""

import pytest

from courses.models import Registration
from courses.recipients import recipient_for
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def register_url(session):
    return f"/sessions/{session.pk}/register/"


PARENT = {"step": "register",  # the review page's final button
          "name": "川崎 トメ", "kana": "かわさき とめ", "age_band": "85+", "ward": "outside", "consent": "on",
          "notify_by": "call"}
BOOKER = {"booking_for": "other", "booker_name": "川崎 花子", "booker_relationship": "娘",
          "booker_phone": "０９０ー９９９９ー８８８８", "booker_email": ""}


def test_family_member_books_for_a_parent_without_contact(client, site):
    session = factories.session()
    response = client.post(register_url(session), {**PARENT, **BOOKER})
    assert response.status_code == 302

    registration = Registration.objects.get()
    assert registration.booked_by == Registration.BookedBy.FAMILY
    assert (registration.booker_name, registration.booker_relationship, registration.booker_phone) == (
        "川崎 花子", "娘", "09099998888")
    assert registration.participant.name == "川崎 トメ"
    assert registration.participant.kana == "カワサキ トメ"
    assert (registration.participant.phone, registration.participant.email) == ("", "")

    # The confirmation goes to the booker, and the page says so.
    recipient = recipient_for(registration)
    assert recipient.is_booker and recipient.phone == "09099998888"
    page = client.get("/en" + response["Location"]).content.decode()
    assert "Booked by 川崎 花子 for 川崎 トメ." in page
    assert "We contact 川崎 花子, who made this booking." in page
    assert "090-9999-8888" in page


def test_a_parent_with_a_phone_of_their_own_hears_directly(client, site):
    session = factories.session()
    client.post(register_url(session), {**PARENT, "phone": "044-111-2222", **BOOKER})
    recipient = recipient_for(Registration.objects.get())
    assert not recipient.is_booker
    assert recipient.phone == "0441112222"


@pytest.mark.parametrize(("missing", "message"), [
    ({"booker_name": ""}, "Please enter your own name, as the person making the booking."),
    ({"booker_relationship": ""}, "Please tell us how you are related to the person attending."),
    ({"booker_phone": "", "booker_email": ""}, "Please give your own phone number or e-mail address"),
    ({"booker_phone": "12-34"}, "Please enter a phone number of 10 or 11 digits, starting with 0."),
    ({"booker_email": "hanako@"}, "Please enter a valid e-mail address."),
])
def test_booker_details_are_required_and_checked(client, site, missing, message):
    session = factories.session()
    response = client.post("/en" + register_url(session), {**PARENT, **BOOKER, **missing})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Registration.objects.exists()


def test_booking_for_oneself_ignores_the_booker_fields_and_needs_own_contact(client, site):
    session = factories.session()
    response = client.post("/en" + register_url(session), {**PARENT, **BOOKER, "booking_for": "self"})
    assert response.status_code == 400
    assert "Please give an e-mail address or a phone number so that we can reach you." in response.content.decode()

    client.post(register_url(session), {**PARENT, **BOOKER, "booking_for": "self", "email": "tome@example.jp",
                                         "notify_by": "email"})
    registration = Registration.objects.get()
    assert registration.booked_by == Registration.BookedBy.SELF
    assert registration.booker_name == ""


def test_japanese_messages_for_the_proxy_form(client, site):
    session = factories.session()
    response = client.post(register_url(session), {**PARENT, **BOOKER, "booker_relationship": ""})
    assert response.status_code == 400
    assert 'lang="ja"' in response.content.decode()
    assert "Please tell us how you are related" not in response.content.decode()


def test_recipient_is_none_when_nobody_can_be_reached(site):
    session = factories.session()
    registration = factories.registration(session_obj=session, participant=factories.participant(phone=""))
    assert recipient_for(registration) is None
