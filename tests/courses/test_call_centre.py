"""The call-centre views of the Wagtail admin: who may use them, booking by phone, look-up, cancel, move, merge.

Every change goes through courses/services.py; these tests check what the views do with it (the database, the
admin messages, the pages staff read to the caller) and that a refusal changes nothing.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from wagtail.users.models import UserProfile

from cms import roles
from courses.models import Participant, Registration
from tests import factories
from tests.refusals import refused_page

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status
ALLOWED_ROLES = [roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.CALL_CENTRE_OPERATOR]
REFUSED_ROLES = [roles.CITY_ANALYST, roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR]


# --- Local helpers ----------------------------------------------------------------------------------------


def staff(role: str | None = None, username: str | None = None):
    """A staff user in one role group (created by the cms 0003_roles migration); None: admin access only."""
    user = get_user_model().objects.create_user(username=username or f"user-{(role or 'none').lower()}",
                                                password="x", first_name="Operator")
    if role:
        user.groups.add(Group.objects.get(name=role))
    else:
        user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    return user


def logged_in(client, role=roles.CALL_CENTRE_OPERATOR, *, language="en"):
    """Log in a new user of `role`. The admin speaks the user's preferred language, Japanese when none is set."""
    user = staff(role)
    if language:
        profile = UserProfile.get_for_user(user)
        profile.preferred_language = language
        profile.save()
    client.force_login(user)
    return user


def url(name, *args):
    return reverse(f"call_centre:{name}", args=args)


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def booking_data(**overrides) -> dict:
    """What an operator types while on the phone: digits as the caller says them, consent confirmed."""
    data = {"booking_for": "self", "name": "川崎 太郎", "kana": "かわさき たろう",
            "phone": "０９０－２２２２－３３３３", "email": "", "age_band": Participant.AgeBand.AGE_75_79,
            "ward": "outside", "device": "", "language": "ja",
            "accessibility_needs": "", "booker_name": "", "booker_relationship": "", "booker_phone": "",
            "booker_email": "", "consent": "on", "notify_by": "call"}
    data.update(overrides)
    return data


# Note: factories.registration() also creates a default participant (カワサキ ハナコ) even when one is given, so
# the people searched for here have other names.


@pytest.fixture
def booked(site):
    """One person with a confirmed seat on a full session (one seat) that has someone waiting."""
    session = factories.session(capacity=1)
    person = factories.participant(name="中原 春子", kana="ナカハラ ハルコ", phone="09012345678",
                                   email="haruko@example.jp")
    registration = factories.registration(session_obj=session, participant=person)
    someone_else = factories.participant(name="高津 次郎", kana="タカツ ジロウ", phone="08055556666")
    waiting = factories.registration(session_obj=session, participant=someone_else, status=Status.WAITLISTED,
                                     waitlist_position=1)
    return registration, waiting


# --- Who may use the call centre ---------------------------------------------------------------------------


def all_urls(booked):
    registration, waiting = booked
    return [url("lookup") + "?q=090", url("choose_session"), url("book", registration.session_id),
            url("person", registration.participant_id), url("registration", registration.pk),
            url("cancel", registration.pk), url("move", registration.pk),
            url("merge_choose", registration.participant_id),
            url("merge", registration.participant_id, waiting.participant_id)]


@pytest.mark.parametrize("role", ALLOWED_ROLES)
def test_city_staff_who_take_bookings_reach_every_view(client, booked, role):
    logged_in(client, role)
    for address in all_urls(booked):
        assert client.get(address).status_code == 200, address


@pytest.mark.parametrize("role", [*REFUSED_ROLES, None])
def test_analysts_partner_staff_and_plain_admin_users_are_refused(client, booked, role):
    logged_in(client, role)
    for address in all_urls(booked):
        response = client.get(address)
        assert refused_page(response), address


@pytest.mark.parametrize("role", [*REFUSED_ROLES, None])
def test_refused_users_cannot_change_anything_by_posting(client, booked, role):
    registration, waiting = booked
    other = factories.session(course_page=registration.session.course)
    logged_in(client, role)
    client.post(url("cancel", registration.pk))
    client.post(url("move", registration.pk), {"to_session": other.pk})
    client.post(url("merge", registration.participant_id, waiting.participant_id))
    client.post(url("book", other.pk), booking_data())
    registration.refresh_from_db()
    assert registration.status == Status.CONFIRMED
    assert Participant.objects.filter(pk=waiting.participant_id).exists()
    assert not other.registrations.exists()


def test_anonymous_visitors_are_sent_to_the_login_page(client, booked):
    response = client.get(url("lookup"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("wagtailadmin_login"))


def test_merging_needs_the_permission_to_change_participants(client, booked):
    registration, waiting = booked
    user = staff(roles.CALL_CENTRE_OPERATOR)
    group = Group.objects.create(name="Bookings only")
    group.permissions.add(*Permission.objects.filter(codename__in=["access_admin", "add_registration",
                                                                   "change_registration", "view_participant"]))
    user.groups.set([group])
    client.force_login(user)
    assert client.get(url("person", registration.participant_id)).status_code == 200
    assert refused_page(client.get(url("merge_choose", registration.participant_id)))
    client.post(url("merge", registration.participant_id, waiting.participant_id))
    assert Participant.objects.filter(pk=waiting.participant_id).exists()


@pytest.mark.parametrize(("role", "shown"), [(roles.CALL_CENTRE_OPERATOR, True), (roles.CITY_ADMINISTRATOR, True),
                                             (roles.CITY_PROGRAMME_OFFICER, True), (roles.CITY_ANALYST, False),
                                             (roles.PARTNER_MANAGER, False), (roles.PARTNER_INSTRUCTOR, False)])
def test_the_menu_offers_the_call_centre_only_to_those_it_lets_in(client, site, role, shown):
    logged_in(client, role)
    content = client.get(reverse("wagtailadmin_home")).content.decode()
    assert (url("lookup") in content) is shown
    assert (url("choose_session") in content) is shown


# --- Booking by phone ------------------------------------------------------------------------------------


def test_choosing_a_session_shows_seats_left_and_the_waiting_list(client, site):
    course = factories.course(title="LINEで家族とつながろう")
    open_session = factories.session(course_page=course, capacity=5)
    full = factories.session(course_page=course, capacity=1, starts_in=timedelta(days=9))
    factories.registration(session_obj=full)
    factories.registration(session_obj=full, status=Status.WAITLISTED, waitlist_position=1)
    factories.session(course_page=course, starts_in=timedelta(days=-1))  # past: not offered
    logged_in(client)
    response = client.get(url("choose_session"))
    sessions = {s.pk: s for s in response.context["sessions"]}
    assert set(sessions) == {open_session.pk, full.pk}
    assert (sessions[open_session.pk].seats_left, sessions[full.pk].seats_left) == (5, 0)
    assert sessions[full.pk].waitlist_count == 1
    content = response.content.decode()
    assert url("book", open_session.pk) in content and url("book", full.pk) in content


def test_a_phone_booking_is_registered_with_the_phone_channel_by_the_operator(client, site):
    session = factories.session()
    operator = logged_in(client)
    response = client.post(url("book", session.pk), booking_data())
    registration = Registration.objects.get(session=session)
    assert response.status_code == 302
    assert response["Location"] == url("registration", registration.pk)
    assert (registration.status, registration.channel, registration.booked_by, registration.created_by) == (
        Status.CONFIRMED, Registration.Channel.PHONE, Registration.BookedBy.STAFF, operator)
    person = registration.participant
    assert (person.name, person.kana, person.phone) == ("川崎 太郎", "カワサキ タロウ", "09022223333")
    assert person.consented_at is not None and person.consent_policy_version
    assert any("has a confirmed seat" in text for text in message_texts(response))

    page = client.get(response["Location"]).content.decode()
    assert str(registration.pk) in page and "090-2222-3333" in page and session.course.title in page
    assert "Phone" in page and "Confirmed" in page


def test_a_booking_made_for_a_parent_records_the_booker(client, site):
    session = factories.session()
    logged_in(client)
    client.post(url("book", session.pk), booking_data(
        booking_for="other", phone="", booker_name="川崎 一郎", booker_relationship="息子",
        booker_phone="080-1111-2222"))
    registration = Registration.objects.get(session=session)
    assert registration.booked_by == Registration.BookedBy.FAMILY
    assert (registration.booker_name, registration.booker_relationship, registration.booker_phone) == (
        "川崎 一郎", "息子", "08011112222")
    assert registration.channel == Registration.Channel.PHONE


def test_a_caller_for_a_full_session_is_told_their_place_on_the_waiting_list(client, site):
    session = factories.session(capacity=1)
    factories.registration(session_obj=session)
    factories.registration(session_obj=session, status=Status.WAITLISTED, waitlist_position=1)
    logged_in(client)
    response = client.post(url("book", session.pk), booking_data())
    registration = Registration.objects.get(session=session, participant__name="川崎 太郎")
    assert registration.status == Status.WAITLISTED
    assert any("waiting list" in text and "number 2" in text for text in message_texts(response))
    page = client.get(response["Location"]).content.decode()
    assert "number 2 on the waiting list" in page


def test_booking_someone_already_registered_changes_nothing_and_says_so(client, site):
    session = factories.session()
    logged_in(client)
    client.post(url("book", session.pk), booking_data())
    response = client.post(url("book", session.pk), booking_data(phone="090-2222-3333"))
    assert session.registrations.count() == 1
    assert response["Location"] == url("registration", session.registrations.get().pk)
    assert any("already registered" in text for text in message_texts(response))


def test_no_booking_without_the_callers_consent(client, site):
    session = factories.session()
    logged_in(client)
    data = booking_data()
    del data["consent"]
    response = client.post(url("book", session.pk), data)
    assert response.status_code == 400
    assert "consent" in response.context["form"].errors
    assert not Registration.objects.exists()


def test_a_refusal_from_the_service_is_shown_translated_and_nothing_is_booked(client, site):
    session = factories.session(registration_closes_at=timezone.now() - timedelta(hours=1))
    logged_in(client, language=None)  # Japanese, the admin's default language
    response = client.post(url("book", session.pk), booking_data())
    assert response.status_code == 400
    assert any("この日程の申込受付は終了しました。" in text for text in message_texts(response))
    assert not Registration.objects.exists() and not Participant.objects.exists()


def test_booking_from_a_persons_page_prefills_their_details(client, booked):
    registration, _ = booked
    session = factories.session(course_page=registration.session.course, starts_in=timedelta(days=14))
    logged_in(client)
    response = client.get(url("book", session.pk) + f"?participant={registration.participant_id}")
    form = response.context["form"]
    assert (form.initial["name"], form.initial["phone"]) == ("中原 春子", "09012345678")
    assert "consent" not in form.initial


# --- Look-up ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "09012345678", "090-1234-5678", "０９０－１２３４－５６７８", "０９０ー１２３４ー５６７８", "1234-5678",
    "ナカハラ ハルコ", "なかはら はるこ", "ﾅｶﾊﾗﾊﾙｺ", "中原春子", "中原　春子", "HARUKO@example.jp",
    "ｈａｒｕｋｏ＠ｅｘａｍｐｌｅ．ｊｐ",
])
def test_lookup_finds_the_person_however_the_details_are_typed(client, booked, query):
    registration, waiting = booked
    logged_in(client)
    response = client.get(url("lookup"), {"q": query})
    assert [p.pk for p in response.context["people"]] == [registration.participant_id]
    content = response.content.decode()
    assert "中原 春子" in content and "090-1234-5678" in content
    assert url("registration", registration.pk) in content  # the person's bookings are listed with them


def test_lookup_lists_each_persons_bookings_and_the_person_page_offers_the_actions(client, booked):
    registration, _ = booked
    past = factories.registration(session_obj=factories.session(starts_in=timedelta(days=-3)),
                                  participant=registration.participant)
    logged_in(client)
    response = client.get(url("person", registration.participant_id))
    content = response.content.decode()
    assert [r.pk for r in response.context["registrations"]] == [registration.pk, past.pk]
    assert url("cancel", registration.pk) in content and url("move", registration.pk) in content
    assert url("cancel", past.pk) not in content and url("move", past.pk) not in content


@pytest.mark.parametrize("people", [2, 12])
def test_lookup_query_count_does_not_grow_with_people_and_bookings(client, site, people,
                                                                   django_assert_max_num_queries):
    sessions = [factories.session(starts_in=timedelta(days=3 + n)) for n in range(3)]
    for n in range(people):
        person = factories.participant(name=f"佐藤 和子{n}", kana="サトウ カズコ", phone=f"0447000{n:04d}",
                                       ward=factories.ward())
        for session in sessions:
            factories.registration(session_obj=session, participant=person)
    logged_in(client)
    # Session, user, permissions, profile, people, their bookings, their wards, and the admin menu's own queries
    # (one of them: whether the user is city staff, for the reports menu).
    with django_assert_max_num_queries(13):
        response = client.get(url("lookup"), {"q": "さとう"})
    assert len(response.context["people"]) == people


# --- Cancel and move --------------------------------------------------------------------------------------


def test_cancelling_for_the_caller_frees_the_seat_for_the_first_person_waiting(client, booked):
    registration, waiting = booked
    logged_in(client)
    confirm = client.get(url("cancel", registration.pk))
    assert confirm.status_code == 200
    registration.refresh_from_db()
    assert registration.status == Status.CONFIRMED  # the confirm step changes nothing

    response = client.post(url("cancel", registration.pk))
    assert response["Location"] == url("person", registration.participant_id)
    registration.refresh_from_db()
    waiting.refresh_from_db()
    assert registration.status == Status.CANCELLED
    assert waiting.status == Status.CONFIRMED
    assert any("1 person on the waiting list now has a seat" in text for text in message_texts(response))


def test_moving_a_booking_gives_a_seat_elsewhere_and_promotes_the_first_person_waiting(client, booked):
    registration, waiting = booked
    later = factories.session(course_page=registration.session.course, starts_in=timedelta(days=14))
    other_course = factories.session(starts_in=timedelta(days=10))
    operator = logged_in(client)
    page = client.get(url("move", registration.pk))
    assert [s.pk for s in page.context["same_course"]] == [later.pk]  # same course first
    assert other_course.pk in [s.pk for s in page.context["others"]]

    response = client.post(url("move", registration.pk), {"to_session": later.pk})
    moved = Registration.objects.get(session=later)
    assert response["Location"] == url("registration", moved.pk)
    registration.refresh_from_db()
    waiting.refresh_from_db()
    assert registration.status == Status.CANCELLED
    assert (moved.participant_id, moved.status, moved.created_by) == (registration.participant_id,
                                                                     Status.CONFIRMED, operator)
    assert waiting.status == Status.CONFIRMED


def test_moving_to_a_full_session_puts_the_caller_on_its_waiting_list(client, booked):
    registration, _ = booked
    full = factories.session(capacity=1, starts_in=timedelta(days=12))
    factories.registration(session_obj=full)
    logged_in(client)
    response = client.post(url("move", registration.pk), {"to_session": full.pk})
    assert full.registrations.get(participant=registration.participant).status == Status.WAITLISTED
    assert any("number 1" in text for text in message_texts(response))


def test_a_refused_cancel_is_shown_translated_and_changes_nothing(client, site):
    started = factories.session(starts_in=timedelta(hours=-1))
    registration = factories.registration(session_obj=started)
    logged_in(client, language="ja")
    response = client.post(url("cancel", registration.pk))
    assert response["Location"] == url("person", registration.participant_id)
    assert any("この日程は、すでに始まっているか終わっています。" in text for text in message_texts(response))
    registration.refresh_from_db()
    assert registration.status == Status.CONFIRMED


def test_a_refused_move_is_shown_and_changes_nothing(client, booked):
    registration, waiting = booked
    # The person is already booked on the target session.
    target = factories.session(course_page=registration.session.course, starts_in=timedelta(days=20))
    factories.registration(session_obj=target, participant=registration.participant)
    closed = factories.session(registration_closes_at=timezone.now() - timedelta(minutes=5))
    logged_in(client)
    for session, message in [(target, "This person is already registered for that session."),
                             (closed, "Registration for this session has closed.")]:
        response = client.post(url("move", registration.pk), {"to_session": session.pk})
        assert response.status_code == 400
        assert any(message in text for text in message_texts(response))
    registration.refresh_from_db()
    waiting.refresh_from_db()
    assert (registration.status, waiting.status) == (Status.CONFIRMED, Status.WAITLISTED)
    assert target.registrations.count() == 1 and not closed.registrations.exists()


# --- Merge ------------------------------------------------------------------------------------------------


def test_merging_two_records_keeps_every_registration(client, site):
    shared = factories.session(capacity=2)
    keep = factories.participant(name="中原 春子", kana="", phone="09012345678")
    duplicate = factories.participant(name="中原春子", kana="ナカハラ ハルコ", phone="", email="haruko@example.jp")
    kept_regs = [factories.registration(session_obj=shared, participant=keep),
                 factories.registration(session_obj=factories.session(), participant=keep)]
    duplicate_regs = [factories.registration(session_obj=shared, participant=duplicate),  # booked twice
                      factories.registration(session_obj=factories.session(), participant=duplicate,
                                             status=Status.WAITLISTED, waitlist_position=1)]
    waiting = factories.registration(session_obj=shared, status=Status.WAITLISTED, waitlist_position=1,
                                     participant=factories.participant(name="幸 三郎", kana="サイワイ サブロウ"))
    logged_in(client)

    chooser = client.get(url("merge_choose", keep.pk), {"q": "なかはら"})
    assert [p.pk for p in chooser.context["people"]] == [duplicate.pk]
    confirm = client.get(url("merge", keep.pk, duplicate.pk)).content.decode()
    assert "中原 春子" in confirm and "中原春子" in confirm and "haruko@example.jp" in confirm
    assert confirm.count(shared.course.title) == 2  # each record's booking of the shared session, side by side

    response = client.post(url("merge", keep.pk, duplicate.pk))
    assert response["Location"] == url("person", keep.pk)
    assert not Participant.objects.filter(pk=duplicate.pk).exists()
    regs = {r.pk: r for r in Registration.objects.filter(participant=keep)}
    assert set(regs) == {r.pk for r in kept_regs + duplicate_regs}
    assert regs[duplicate_regs[0].pk].status == Status.CANCELLED  # the double booking, kept as a record
    waiting.refresh_from_db()
    assert waiting.status == Status.CONFIRMED  # its seat went to the waiting list
    keep.refresh_from_db()
    assert (keep.kana, keep.email) == ("ナカハラ ハルコ", "haruko@example.jp")


def test_the_merge_page_can_keep_either_record(client, booked):
    registration, waiting = booked
    logged_in(client)
    response = client.get(url("merge", registration.participant_id, waiting.participant_id))
    assert response.context["swap_url"] == url("merge", waiting.participant_id, registration.participant_id)
    client.post(response.context["swap_url"])
    assert not Participant.objects.filter(pk=registration.participant_id).exists()
    assert Registration.objects.filter(participant_id=waiting.participant_id).count() == 2
