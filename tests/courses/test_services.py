"""The rules of courses/services.py: register, the waiting list, cancellations, and changes to a session.

Every test goes through the service functions (the one code path of the public site, the admin and imports)
and checks the database, the audit log (wagtail ModelLogEntry) and the `notify()` calls they make.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import override
from wagtail.models import ModelLogEntry

from courses import services
from courses.models import Participant, Registration, Session, waitlist_rank
from courses.notifications import Event
from courses.services import BookerDetails, ParticipantDetails
from partners.models import Ward
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status

# The refusals residents see, in both languages (Japanese is the default language of the site).
REFUSALS = {
    services.SessionCancelled: ("この日程は中止になりました。", "This session has been cancelled."),
    services.SessionPast: ("この日程は、すでに始まっているか終わっています。",
                           "This session has already started or taken place."),
    services.RegistrationNotOpen: ("この日程の申込受付は、まだ始まっていません。",
                                   "Registration for this session has not opened yet."),
    services.RegistrationClosed: ("この日程の申込受付は終了しました。",
                                  "Registration for this session has closed."),
    services.ContactRequired: ("ご連絡のため、メールアドレスか電話番号を入力してください。",
                               "Please give an e-mail address or a phone number so that we can reach you."),
}


# --- Local helpers ----------------------------------------------------------------------------------------


def person(name="川崎 太郎", **fields) -> ParticipantDetails:
    """What a resident types into the form: a name, a kana reading, a phone number and consent."""
    fields.setdefault("kana", "カワサキ タロウ")
    fields.setdefault("phone", "090-1111-2222")
    fields.setdefault("age_band", Participant.AgeBand.AGE_70_74)
    fields.setdefault("consent", True)
    return ParticipantDetails(name=name, **fields)


def staff_user(username="callcentre"):
    return get_user_model().objects.create_user(username=username, password="x")


def log_actions(instance) -> list[tuple[str, int | None]]:
    """(action, user id) of every audit entry written for `instance`, oldest first."""
    return list(ModelLogEntry.objects.for_instance(instance).order_by("timestamp", "pk")
                .values_list("action", "user_id"))


def waitlisted(session_obj, position, **fields) -> Registration:
    return factories.registration(session_obj=session_obj, status=Status.WAITLISTED,
                                  waitlist_position=position, **fields)


def reload(obj):
    obj.refresh_from_db()
    return obj


@pytest.fixture
def notified(monkeypatch):
    """Every call to courses.services.notify, as (event, keyword arguments)."""
    calls = []
    monkeypatch.setattr(services, "notify", lambda event, **kwargs: calls.append((event, kwargs)))
    return calls


def events(calls) -> list[Event]:
    return [event for event, _kwargs in calls]


# --- register: seats, then the waiting list ---------------------------------------------------------------


def test_register_confirms_while_seats_are_free_then_waitlists_in_order(site, notified):
    session = factories.session(capacity=2)

    results = [services.register(session=session, participant=person(f"受講 者{i}", phone=f"09000000{i:03d}"))
               for i in range(1, 6)]

    assert all(r.created for r in results)
    assert [r.registration.status for r in results] == [Status.CONFIRMED, Status.CONFIRMED, Status.WAITLISTED,
                                                        Status.WAITLISTED, Status.WAITLISTED]
    assert [r.waitlisted for r in results] == [False, False, True, True, True]
    assert all(r.registration.confirmed_at is not None for r in results[:2])
    assert [r.registration.waitlist_position for r in results[2:]] == [1, 2, 3]
    assert [waitlist_rank(r.registration) for r in results] == [None, None, 1, 2, 3]
    assert events(notified) == [Event.REGISTRATION_CONFIRMED] * 2 + [Event.REGISTRATION_WAITLISTED] * 3
    assert [kw["registration"] for _e, kw in notified] == [r.registration for r in results]
    assert all(kw["session"].pk == session.pk for _e, kw in notified)
    assert session.registrations.filter(status=Status.CONFIRMED).count() == 2


def test_waitlist_rank_counts_only_people_still_waiting(site):
    session = factories.session(capacity=1)
    factories.registration(session_obj=session)
    first, second, third = (services.register(session=session, participant=person(f"待ち 人{i}",
                                                                                  phone=f"0800000000{i}"))
                            .registration for i in range(3))

    services.cancel_registration(registration=first)

    assert waitlist_rank(reload(second)) == 1
    assert waitlist_rank(reload(third)) == 2
    # A newcomer queues behind everyone already waiting.
    newcomer = services.register(session=session,
                                 participant=person("新規 さん", phone="0801234567")).registration
    assert newcomer.waitlist_position > third.waitlist_position
    assert waitlist_rank(newcomer) == 3


def test_seats_held_by_attended_and_no_show_count_as_taken(site):
    session = factories.session(capacity=2)
    factories.registration(session_obj=session, status=Status.ATTENDED)
    factories.registration(session_obj=session, status=Status.NO_SHOW)

    result = services.register(session=session, participant=person())

    assert result.registration.status == Status.WAITLISTED


def test_register_records_the_web_channel_and_the_staff_actor(site):
    session = factories.session()
    user = staff_user()

    by_phone = services.register(session=session, participant=person(), channel=Registration.Channel.PHONE,
                                 booked_by=Registration.BookedBy.STAFF, actor=user).registration
    anonymous = services.register(session=session,
                                  participant=person("別の 人", phone="0312345678")).registration

    assert (by_phone.channel, by_phone.booked_by, by_phone.created_by) == (
        Registration.Channel.PHONE, Registration.BookedBy.STAFF, user)
    assert (anonymous.channel, anonymous.created_by) == (Registration.Channel.WEB, None)


# --- register: the same person twice ----------------------------------------------------------------------


@pytest.mark.parametrize(("first", "again"), [
    ({"phone": "090-1234-5678"}, {"phone": "０９０ー１２３４ー５６７８"}),
    ({"phone": "09012345678"}, {"phone": "090‐1234‐5678"}),
    ({"phone": "09012345678"}, {"phone": "+81 90 1234 5678"}),
    ({"phone": "", "email": "taro@example.com"}, {"phone": "", "email": "ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＣＯＭ"}),
    ({"phone": "", "email": "Taro@Example.com"}, {"phone": "", "email": " taro@example.com "}),
    # The same phone is enough to recognise the person, whatever else is added.
    ({"phone": "09012345678"}, {"phone": "090 1234 5678", "email": "taro@example.com"}),
    # The same e-mail is enough too, even with a phone number not seen before.
    ({"phone": "09012345678", "email": "taro@example.com"}, {"phone": "0312345678", "email": "TARO@example.com"}),
], ids=["full-width-digits-and-dashes", "unicode-hyphens", "country-code", "full-width-email",
        "email-case-and-spaces", "phone-plus-new-email", "email-with-another-phone"])
def test_repeated_submission_creates_nothing_and_resends(site, notified, first, again):
    session = factories.session()
    original = services.register(session=session, participant=person("川崎 太郎", **first))
    participants, registrations = Participant.objects.count(), Registration.objects.count()
    notified.clear()

    # Typed again with an ideographic space in the name.
    repeat = services.register(session=session, participant=person("川崎　太郎", **again))

    assert repeat.created is False
    assert repeat.registration.pk == original.registration.pk
    assert (Participant.objects.count(), Registration.objects.count()) == (participants, registrations)
    assert events(notified) == [Event.REGISTRATION_RESENT]
    assert notified[0][1]["registration"].pk == original.registration.pk
    # No second audit entry for a booking that did not happen.
    assert log_actions(original.registration) == [("courses.registration.confirmed", None)]


def test_repeated_submission_on_the_waiting_list_keeps_its_place(site, notified):
    session = factories.session(capacity=1)
    factories.registration(session_obj=session)
    original = services.register(session=session, participant=person())
    notified.clear()

    repeat = services.register(session=session, participant=person())

    assert repeat.created is False
    assert repeat.registration.pk == original.registration.pk
    assert reload(original.registration).waitlist_position == 1
    assert session.registrations.filter(status=Status.WAITLISTED).count() == 1
    assert events(notified) == [Event.REGISTRATION_RESENT]


def test_same_phone_different_name_is_a_different_participant(site, notified):
    """A shared family phone: husband and wife book with the same number."""
    session = factories.session()

    husband = services.register(session=session, participant=person("川崎 太郎", phone="044-123-4567"))
    wife = services.register(session=session, participant=person("川崎 花子", kana="カワサキ ハナコ",
                                                                 phone="0441234567"))

    assert husband.created and wife.created
    assert husband.registration.participant_id != wife.registration.participant_id
    assert Participant.objects.filter(phone="0441234567").count() == 2
    assert session.registrations.count() == 2
    assert events(notified) == [Event.REGISTRATION_CONFIRMED, Event.REGISTRATION_CONFIRMED]


def test_same_name_with_a_different_contact_is_a_different_participant(site):
    session = factories.session()

    one = services.register(session=session, participant=person("佐藤 一郎", phone="09011110000"))
    other = services.register(session=session, participant=person("佐藤 一郎", phone="09022220000"))

    assert other.created
    assert one.registration.participant_id != other.registration.participant_id


def test_register_again_after_cancelling_creates_a_new_registration(site):
    session = factories.session()
    first = services.register(session=session, participant=person()).registration
    services.cancel_registration(registration=first)

    again = services.register(session=session, participant=person())

    assert again.created
    assert again.registration.pk != first.pk
    assert again.registration.participant_id == first.participant_id
    assert again.registration.status == Status.CONFIRMED


# --- register: contact, consent and participant details ---------------------------------------------------


@pytest.mark.parametrize("contact", [{"phone": "", "email": ""}, {"phone": "  ", "email": "　"}])
def test_contact_is_required(site, notified, contact):
    session = factories.session()

    with pytest.raises(services.ContactRequired):
        services.register(session=session, participant=person(**contact))

    assert not Participant.objects.exists()
    assert not Registration.objects.exists()
    assert notified == []


def test_a_bookers_contact_is_enough_for_a_proxy_registration(site):
    session = factories.session()

    result = services.register(session=session, participant=person("川崎 ウメ", phone="", email=""),
                               booked_by=Registration.BookedBy.FAMILY,
                               booker=BookerDetails(name="川崎 次郎", relationship="息子",
                                                    phone="０９０－９９９９－８８８８"))

    registration = result.registration
    assert result.created
    assert (registration.booked_by, registration.booker_name, registration.booker_phone) == (
        Registration.BookedBy.FAMILY, "川崎 次郎", "09099998888")


def test_repeated_proxy_submission_for_someone_without_contact_creates_nothing(site, notified):
    session = factories.session()

    def book():
        return services.register(session=session, participant=person("川崎 ウメ", phone="", email=""),
                                 booked_by=Registration.BookedBy.FAMILY,
                                 booker=BookerDetails(name="川崎 次郎", relationship="息子", phone="09099998888"))

    original = book()
    repeat = book()

    assert repeat.created is False
    assert repeat.registration.pk == original.registration.pk
    assert (Participant.objects.count(), Registration.objects.count()) == (1, 1)
    assert events(notified) == [Event.REGISTRATION_CONFIRMED, Event.REGISTRATION_RESENT]


def test_consent_records_the_current_policy_version_and_time(site, settings):
    settings.DEKIRU_PRIVACY_POLICY_VERSION = "2099-test"
    session = factories.session()
    before = timezone.now()

    participant = services.register(session=session, participant=person()).registration.participant

    participant.refresh_from_db()
    assert participant.consent_policy_version == "2099-test"
    assert before <= participant.consented_at <= timezone.now()


def test_without_consent_nothing_is_recorded_as_consented(site):
    session = factories.session()

    result = services.register(session=session, participant=person(consent=False))

    participant = result.registration.participant

    participant.refresh_from_db()
    assert (participant.consent_policy_version, participant.consented_at) == ("", None)


def test_contact_details_are_stored_normalised(site):
    session = factories.session()

    participant = services.register(session=session, participant=person(
        "  川崎　　太郎 ", kana="ｶﾜｻｷ たろう", phone="０９０－１１１１－２２２２",
        email="ＴＡＲＯ@EXAMPLE.com",
    )).registration.participant

    participant.refresh_from_db()
    assert (participant.name, participant.kana, participant.phone, participant.email) == (
        "川崎 太郎", "カワサキ タロウ", "09011112222", "TARO@example.com")


def test_participant_details_are_filled_in_but_never_overwritten(site):
    wards = list(Ward.objects.order_by("sort_order")[:2])
    first_session, second_session = factories.session(), factories.session()
    services.register(session=first_session, participant=person(
        kana="カワサキ タロウ", phone="09011112222", email="", age_band=Participant.AgeBand.AGE_70_74,
        ward_id=wards[0].pk, device="", accessibility_needs=""))

    later = services.register(session=second_session, participant=person(
        kana="ヤマダ タロウ", phone="09011112222", email="taro@example.com",
        age_band=Participant.AgeBand.AGE_20_29, ward_id=wards[1].pk, device=Participant.Device.IPHONE,
        accessibility_needs="車いすを使います"))

    assert later.created
    assert Participant.objects.count() == 1
    participant = Participant.objects.get()
    # Filled in: what was missing.
    assert participant.email == "taro@example.com"
    assert participant.device == Participant.Device.IPHONE
    assert participant.accessibility_needs == "車いすを使います"
    # Kept: what the person told us before.
    assert participant.kana == "カワサキ タロウ"
    assert participant.age_band == Participant.AgeBand.AGE_70_74
    assert participant.ward_id == wards[0].pk
    assert participant.phone == "09011112222"


# --- register: refusals -----------------------------------------------------------------------------------


def _cancelled_session():
    return factories.session(status=Session.Status.CANCELLED, cancellation_reason="講師の急病のため")


def _past_session():
    return factories.session(starts_in=-timedelta(hours=1), duration=timedelta(hours=3))


def _not_open_session():
    return factories.session(registration_opens_at=timezone.now() + timedelta(days=1))


def _closed_session():
    return factories.session(registration_closes_at=timezone.now() - timedelta(minutes=1))


@pytest.mark.parametrize(("make_session", "refusal"), [
    (_cancelled_session, services.SessionCancelled),
    (_past_session, services.SessionPast),
    (_not_open_session, services.RegistrationNotOpen),
    (_closed_session, services.RegistrationClosed),
], ids=["cancelled", "past", "not-open", "closed"])
def test_register_refusals_create_nothing(site, notified, make_session, refusal):
    session = make_session()

    with pytest.raises(refusal) as caught:
        services.register(session=session, participant=person())

    assert type(caught.value) is refusal
    assert not Registration.objects.exists()
    assert not Participant.objects.exists()
    assert notified == []


def test_registration_window_edges(site):
    """Open from registration_opens_at (inclusive) until registration_closes_at (exclusive)."""
    now = timezone.now()
    open_session = factories.session(registration_opens_at=now - timedelta(minutes=1),
                                     registration_closes_at=now + timedelta(minutes=5))

    assert services.register(session=open_session, participant=person()).created
    services.check_open_for_registration(open_session, now=open_session.registration_opens_at)
    with pytest.raises(services.RegistrationClosed):
        services.check_open_for_registration(open_session, now=open_session.registration_closes_at)
    with pytest.raises(services.RegistrationNotOpen):
        services.check_open_for_registration(open_session,
                                             now=open_session.registration_opens_at - timedelta(seconds=1))


@pytest.mark.parametrize(("refusal", "japanese", "english"), [(k, *v) for k, v in REFUSALS.items()],
                         ids=[k.__name__ for k in REFUSALS])
def test_refusal_messages_are_translated(refusal, japanese, english):
    exc = refusal()

    with override("ja"):
        assert str(exc.message) == japanese
    with override("en"):
        assert str(exc.message) == english


@pytest.mark.parametrize(("make_session", "refusal"), [
    (_cancelled_session, services.SessionCancelled),
    (_past_session, services.SessionPast),
    (_not_open_session, services.RegistrationNotOpen),
    (_closed_session, services.RegistrationClosed),
], ids=["cancelled", "past", "not-open", "closed"])
def test_register_refusal_carries_the_translated_message(site, make_session, refusal):
    session = make_session()
    japanese, english = REFUSALS[refusal]

    with pytest.raises(refusal) as caught:
        services.register(session=session, participant=person())

    with override("ja"):
        assert str(caught.value.message) == japanese
    with override("en"):
        assert str(caught.value.message) == english


# --- cancel_registration ----------------------------------------------------------------------------------


def test_cancelling_a_confirmed_seat_promotes_the_first_waiting_in_order(site, notified):
    session = factories.session(capacity=1)
    seat = factories.registration(session_obj=session)
    # Created out of order on purpose: the position decides, not the row id.
    second = waitlisted(session, 2)
    first = waitlisted(session, 1)
    user = staff_user()

    result = services.cancel_registration(registration=seat, actor=user)

    assert reload(seat).status == Status.CANCELLED
    assert seat.cancelled_at is not None
    assert [r.pk for r in result.promoted] == [first.pk]
    assert reload(first).status == Status.CONFIRMED
    assert (first.waitlist_position, first.confirmed_at is not None) == (None, True)
    assert reload(second).status == Status.WAITLISTED
    assert waitlist_rank(second) == 1
    assert events(notified) == [Event.REGISTRATION_CANCELLED, Event.REGISTRATION_PROMOTED]
    assert notified[0][1]["registration"].pk == seat.pk
    assert notified[1][1]["registration"].pk == first.pk
    assert log_actions(seat) == [("courses.registration.cancelled", user.pk)]
    assert log_actions(first) == [("courses.registration.promoted", user.pk)]


def test_cancel_and_promotion_happen_in_one_transaction(site, monkeypatch):
    """If promoting fails, the cancellation is rolled back too: no seat is left empty with people waiting."""
    session = factories.session(capacity=1)
    seat = factories.registration(session_obj=session)
    first = waitlisted(session, 1)

    def fail(event, **kwargs):
        if event == Event.REGISTRATION_PROMOTED:
            raise RuntimeError("outbox down")

    monkeypatch.setattr(services, "notify", fail)
    with pytest.raises(RuntimeError):
        services.cancel_registration(registration=seat)

    assert reload(seat).status == Status.CONFIRMED
    assert reload(first).status == Status.WAITLISTED
    assert not ModelLogEntry.objects.for_instance(seat).exists()


def test_cancelling_a_waitlisted_registration_promotes_nobody(site, notified):
    session = factories.session(capacity=1)
    seat = factories.registration(session_obj=session)
    first = waitlisted(session, 1)
    second = waitlisted(session, 2)

    result = services.cancel_registration(registration=first)

    assert result.promoted == []
    assert reload(first).status == Status.CANCELLED
    assert first.waitlist_position is None
    assert reload(seat).status == Status.CONFIRMED
    assert reload(second).status == Status.WAITLISTED
    assert waitlist_rank(second) == 1
    assert events(notified) == [Event.REGISTRATION_CANCELLED]
    assert log_actions(first) == [("courses.registration.cancelled", None)]


def test_cancelling_twice_is_refused(site, notified):
    session = factories.session(capacity=1)
    seat = factories.registration(session_obj=session)
    services.cancel_registration(registration=seat)
    notified.clear()

    with pytest.raises(services.NotCancellable) as caught:
        services.cancel_registration(registration=seat)

    with override("en"):
        assert str(caught.value.message) == "This registration has already been cancelled."
    with override("ja"):
        assert str(caught.value.message) == "この申込は、すでに取り消されています。"
    assert notified == []
    assert log_actions(seat) == [("courses.registration.cancelled", None)]


@pytest.mark.parametrize("status", [Status.ATTENDED, Status.NO_SHOW])
def test_attendance_records_cannot_be_cancelled(site, status):
    session = factories.session()
    registration = factories.registration(session_obj=session, status=status)

    with pytest.raises(services.NotCancellable):
        services.cancel_registration(registration=registration)

    assert reload(registration).status == status


def test_cancelling_after_the_start_is_refused(site, notified):
    session = factories.session(capacity=1)
    seat = factories.registration(session_obj=session)
    first = waitlisted(session, 1)
    now = timezone.now()
    Session.objects.filter(pk=session.pk).update(starts_at=now - timedelta(minutes=5),
                                                 ends_at=now + timedelta(hours=1))

    with pytest.raises(services.SessionPast):
        services.cancel_registration(registration=seat)

    assert reload(seat).status == Status.CONFIRMED
    assert reload(first).status == Status.WAITLISTED
    assert notified == []


# --- promote_waitlist -------------------------------------------------------------------------------------


def test_promote_waitlist_fills_exactly_the_free_seats(site, notified):
    session = factories.session(capacity=3)
    factories.registration(session_obj=session)
    queue = [waitlisted(session, position) for position in (1, 2, 3, 4)]
    user = staff_user()

    promoted = services.promote_waitlist(session=session, actor=user)

    assert [r.pk for r in promoted] == [queue[0].pk, queue[1].pk]
    assert [reload(r).status for r in queue] == [Status.CONFIRMED, Status.CONFIRMED, Status.WAITLISTED,
                                                 Status.WAITLISTED]
    assert session.registrations.filter(status__in=Registration.SEATED).count() == 3
    assert [waitlist_rank(r) for r in queue[2:]] == [1, 2]
    assert events(notified) == [Event.REGISTRATION_PROMOTED] * 2
    assert log_actions(queue[0]) == [("courses.registration.promoted", user.pk)]
    assert log_actions(queue[2]) == []

    # Nothing free any more: running it again promotes nobody.
    assert services.promote_waitlist(session=session) == []


def test_promote_waitlist_does_nothing_for_a_cancelled_or_started_session(site):
    cancelled = factories.session(capacity=2, status=Session.Status.CANCELLED, cancellation_reason="台風")
    started = factories.session(capacity=2, starts_in=-timedelta(minutes=10), duration=timedelta(hours=2))
    waiting = [waitlisted(cancelled, 1), waitlisted(started, 1)]

    assert services.promote_waitlist(session=cancelled) == []
    assert services.promote_waitlist(session=started) == []
    assert [reload(r).status for r in waiting] == [Status.WAITLISTED, Status.WAITLISTED]


# --- cancel_session ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_cancel_session_needs_a_reason(site, notified, reason):
    session = factories.session()

    with pytest.raises(services.RegistrationError) as caught:
        services.cancel_session(session=session, reason=reason)

    with override("en"):
        assert str(caught.value.message) == "Please give a reason for the cancellation."
    with override("ja"):
        assert str(caught.value.message) == "中止の理由を入力してください。"
    assert reload(session).status == Session.Status.SCHEDULED
    assert notified == []


def test_cancel_session_tells_everyone_registered_or_waiting(site, notified):
    session = factories.session(capacity=1)
    seat = factories.registration(session_obj=session)
    waiting = waitlisted(session, 1)
    gone = factories.registration(session_obj=session, status=Status.CANCELLED)
    user = staff_user()

    returned = services.cancel_session(session=session, reason="  講師の急病のため ", actor=user)

    session.refresh_from_db()
    assert returned.pk == session.pk
    assert (session.status, session.cancellation_reason) == (Session.Status.CANCELLED, "講師の急病のため")
    assert events(notified) == [Event.SESSION_CANCELLED]
    kwargs = notified[0][1]
    assert kwargs["session"].pk == session.pk
    assert kwargs["reason"] == "講師の急病のため"
    assert {r.pk for r in kwargs["registrations"]} == {seat.pk, waiting.pk}
    assert gone.pk not in {r.pk for r in kwargs["registrations"]}
    entry = ModelLogEntry.objects.for_instance(session).get()
    assert (entry.action, entry.user_id, entry.data) == ("courses.session.cancelled", user.pk,
                                                         {"reason": "講師の急病のため"})


def test_cancel_session_refuses_an_already_cancelled_session(site, notified):
    session = factories.session()
    services.cancel_session(session=session, reason="会場の都合")
    notified.clear()

    with pytest.raises(services.SessionCancelled):
        services.cancel_session(session=session, reason="別の理由")

    assert reload(session).cancellation_reason == "会場の都合"
    assert notified == []
    assert log_actions(session) == [("courses.session.cancelled", None)]


def test_a_cancelled_session_takes_no_registrations(site):
    session = factories.session()
    services.cancel_session(session=session, reason="会場の都合")

    with pytest.raises(services.SessionCancelled):
        services.register(session=session, participant=person())


# --- move_session -----------------------------------------------------------------------------------------


def test_move_session_saves_the_new_time_and_tells_everyone(site, notified):
    session = factories.session()
    seat = factories.registration(session_obj=session)
    old_starts, old_ends = session.starts_at, session.ends_at
    new_starts, new_ends = old_starts + timedelta(days=1, hours=1), old_ends + timedelta(days=1, hours=2)
    user = staff_user()

    moved = services.move_session(session=session, starts_at=new_starts, ends_at=new_ends, actor=user)

    session.refresh_from_db()
    assert (session.starts_at, session.ends_at) == (new_starts, new_ends)
    assert moved.promoted == []
    assert events(notified) == [Event.SESSION_MOVED]
    kwargs = notified[0][1]
    assert kwargs["changes"] == {"starts_at": (old_starts.isoformat(), new_starts.isoformat()),
                                 "ends_at": (old_ends.isoformat(), new_ends.isoformat())}
    assert [r.pk for r in kwargs["registrations"]] == [seat.pk]
    assert kwargs["promoted"] == []
    entry = ModelLogEntry.objects.for_instance(session).get()
    assert (entry.action, entry.user_id) == ("courses.session.moved", user.pk)
    assert set(entry.data["changes"]) == {"starts_at", "ends_at"}


def test_move_session_to_another_venue(site, notified):
    session = factories.session()
    old_venue, new_venue = session.venue, factories.venue()

    services.move_session(session=session, venue=new_venue)

    assert reload(session).venue_id == new_venue.pk
    assert notified[0][1]["changes"] == {"venue": (old_venue.pk, new_venue.pk)}


def test_move_session_without_changes_tells_nobody(site, notified):
    session = factories.session()
    factories.registration(session_obj=session)

    services.move_session(session=session, starts_at=session.starts_at, capacity=session.capacity)

    assert notified == []
    assert log_actions(session) == []


@pytest.mark.parametrize("ends_offset", [timedelta(0), -timedelta(minutes=30)], ids=["equal", "before"])
def test_move_session_refuses_an_end_not_after_the_start(site, notified, ends_offset):
    session = factories.session()
    old = (session.starts_at, session.ends_at)
    new_starts = session.starts_at + timedelta(days=1)

    with pytest.raises(services.InvalidSessionTimes) as caught:
        services.move_session(session=session, starts_at=new_starts, ends_at=new_starts + ends_offset)

    with override("en"):
        assert str(caught.value.message) == "The session must end after it starts."
    with override("ja"):
        assert str(caught.value.message) == "終了日時は、開始日時より後にしてください。"
    session.refresh_from_db()
    assert (session.starts_at, session.ends_at) == old
    assert notified == []


def test_move_session_start_alone_past_the_old_end_is_refused(site):
    session = factories.session(duration=timedelta(hours=2))

    with pytest.raises(services.InvalidSessionTimes):
        services.move_session(session=session, starts_at=session.ends_at + timedelta(minutes=1))


def test_move_session_refuses_capacity_below_confirmed_and_changes_nothing(site, notified):
    session = factories.session(capacity=3)
    for _ in range(3):
        factories.registration(session_obj=session)
    old = (session.starts_at, session.ends_at, session.capacity, session.venue_id)

    with pytest.raises(services.CapacityBelowConfirmed) as caught:
        services.move_session(session=session, starts_at=session.starts_at + timedelta(days=1),
                              ends_at=session.ends_at + timedelta(days=1), venue=factories.venue(),
                              capacity=2)

    with override("en"):
        assert str(caught.value.message) == \
            "The capacity cannot be lower than the number of people already confirmed."
    with override("ja"):
        assert str(caught.value.message) == "定員を、申込済みの人数より少なくすることはできません。"
    session.refresh_from_db()
    assert (session.starts_at, session.ends_at, session.capacity, session.venue_id) == old
    assert notified == []
    assert log_actions(session) == []


def test_move_session_capacity_may_drop_to_exactly_the_confirmed_number(site):
    session = factories.session(capacity=5)
    factories.registration(session_obj=session)
    factories.registration(session_obj=session)

    services.move_session(session=session, capacity=2)

    assert reload(session).capacity == 2


def test_raised_capacity_promotes_exactly_the_new_seats(site, notified):
    session = factories.session(capacity=2)
    seats = [factories.registration(session_obj=session) for _ in range(2)]
    queue = [waitlisted(session, position) for position in (1, 2, 3)]
    user = staff_user()

    moved = services.move_session(session=session, capacity=4, actor=user)

    assert reload(session).capacity == 4
    assert [r.pk for r in moved.promoted] == [queue[0].pk, queue[1].pk]
    assert [reload(r).status for r in queue] == [Status.CONFIRMED, Status.CONFIRMED, Status.WAITLISTED]
    assert waitlist_rank(queue[2]) == 1
    assert events(notified) == [Event.REGISTRATION_PROMOTED, Event.REGISTRATION_PROMOTED, Event.SESSION_MOVED]
    moved_kwargs = notified[-1][1]
    assert moved_kwargs["changes"] == {"capacity": (2, 4)}
    assert [r.pk for r in moved_kwargs["promoted"]] == [queue[0].pk, queue[1].pk]
    assert {r.pk for r in moved_kwargs["registrations"]} == {*(r.pk for r in seats), *(r.pk for r in queue)}
    assert log_actions(queue[0]) == [("courses.registration.promoted", user.pk)]
    assert log_actions(session) == [("courses.session.moved", user.pk)]


def test_a_cancelled_session_cannot_be_moved(site):
    session = _cancelled_session()

    with pytest.raises(services.SessionCancelled):
        services.move_session(session=session, capacity=20)

    assert reload(session).capacity == 10


# --- The audit log ----------------------------------------------------------------------------------------


def test_register_writes_the_audit_log_with_the_actor(site):
    session = factories.session(capacity=1)
    user = staff_user()

    confirmed = services.register(session=session, participant=person(), actor=user).registration
    waiting = services.register(session=session,
                                participant=person("次の 人", phone="0300000000")).registration

    assert log_actions(confirmed) == [("courses.registration.confirmed", user.pk)]
    assert log_actions(waiting) == [("courses.registration.waitlisted", None)]


def test_an_anonymous_actor_is_logged_without_a_user(site):
    from django.contrib.auth.models import AnonymousUser

    session = factories.session()

    result = services.register(session=session, participant=person(), actor=AnonymousUser())

    registration = result.registration

    assert registration.created_by is None
    assert log_actions(registration) == [("courses.registration.confirmed", None)]


def test_sequence_grows_with_every_change_of_time_place_or_status(site):
    """iCalendar clients replace an event only when its SEQUENCE grows (RFC 5545)."""
    from datetime import timedelta

    session = factories.session()
    assert session.sequence == 0
    session = services.move_session(session=session, capacity=session.capacity + 5)
    assert session.sequence == 0  # capacity is not part of the calendar event
    session = services.move_session(session=session, starts_at=session.starts_at + timedelta(hours=1),
                                    ends_at=session.ends_at + timedelta(hours=1))
    assert session.sequence == 1
    session = services.move_session(session=session, venue=factories.venue())
    assert session.sequence == 2
    session = services.cancel_session(session=session, reason="台風のため")
    assert session.sequence == 3
