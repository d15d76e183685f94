"""Database constraints (courses/models.py, partners/models.py): the rules hold even when code forgets them.

Rows are written with `objects.create()` / `QuerySet.update()`, which skip model validation, so only the
database stands between a bug and bad data. Foreign keys that carry history use PROTECT.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from wagtail.models import Page

from courses.models import CoursePage, Participant, Registration, Session
from partners.models import Partner, PartnerMembership, Venue
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status


def refused(create):
    """Run `create` and expect the database to refuse it; the test's transaction stays usable."""
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def new_session(**fields):
    """A session built by hand, so a test controls every field the constraints look at."""
    start = timezone.now().replace(microsecond=0) + timedelta(days=7)
    values = {"course": factories.course(), "organiser": factories.partner(), "venue": factories.venue(),
              "starts_at": start, "ends_at": start + timedelta(hours=2), "capacity": 10}
    values.update(fields)
    return Session.objects.create(**values)


# --- Registration ----------------------------------------------------------------------------------------


@pytest.fixture
def session_obj(site):
    return factories.session(capacity=5)


@pytest.fixture
def person(db):
    return factories.participant()


@pytest.mark.parametrize("first", [Status.CONFIRMED, Status.WAITLISTED, Status.ATTENDED, Status.NO_SHOW])
@pytest.mark.parametrize("second", [Status.CONFIRMED, Status.WAITLISTED])
def test_one_active_registration_per_participant_and_session(session_obj, person, first, second):
    Registration.objects.create(session=session_obj, participant=person, status=first,
                                waitlist_position=1 if first == Status.WAITLISTED else None)
    refused(lambda: Registration.objects.create(
        session=session_obj, participant=person, status=second,
        waitlist_position=2 if second == Status.WAITLISTED else None))
    assert Registration.objects.filter(session=session_obj, participant=person).count() == 1


def test_a_cancelled_registration_does_not_block_a_new_one(session_obj, person):
    Registration.objects.create(session=session_obj, participant=person, status=Status.CANCELLED)
    Registration.objects.create(session=session_obj, participant=person, status=Status.CANCELLED)
    Registration.objects.create(session=session_obj, participant=person, status=Status.CONFIRMED)
    assert Registration.objects.filter(session=session_obj, participant=person).count() == 3


def test_reactivating_a_cancelled_registration_beside_an_active_one_is_refused(session_obj, person):
    cancelled = Registration.objects.create(session=session_obj, participant=person, status=Status.CANCELLED)
    Registration.objects.create(session=session_obj, participant=person, status=Status.CONFIRMED)
    refused(lambda: Registration.objects.filter(pk=cancelled.pk).update(status=Status.CONFIRMED))


def test_the_same_participant_may_register_for_other_sessions(site, session_obj, person):
    other_session = factories.session(course_page=session_obj.course)
    Registration.objects.create(session=session_obj, participant=person, status=Status.CONFIRMED)
    Registration.objects.create(session=other_session, participant=person, status=Status.CONFIRMED)
    assert person.registrations.count() == 2


@pytest.mark.parametrize(("status", "position"), [
    (Status.WAITLISTED, None),
    (Status.CONFIRMED, 1),
    (Status.CANCELLED, 1),
    (Status.ATTENDED, 1),
    (Status.NO_SHOW, 1),
])
def test_waitlist_position_if_and_only_if_waitlisted(session_obj, person, status, position):
    refused(lambda: Registration.objects.create(session=session_obj, participant=person, status=status,
                                                waitlist_position=position))


def test_promotion_must_clear_the_waitlist_position(session_obj, person):
    waiting = Registration.objects.create(session=session_obj, participant=person, status=Status.WAITLISTED,
                                          waitlist_position=1)
    refused(lambda: Registration.objects.filter(pk=waiting.pk).update(status=Status.CONFIRMED))
    Registration.objects.filter(pk=waiting.pk).update(status=Status.CONFIRMED, waitlist_position=None)


def test_waitlist_positions_are_unique_within_a_session(site, session_obj):
    Registration.objects.create(session=session_obj, participant=factories.participant(),
                                status=Status.WAITLISTED, waitlist_position=1)
    refused(lambda: Registration.objects.create(session=session_obj, participant=factories.participant(),
                                                status=Status.WAITLISTED, waitlist_position=1))
    Registration.objects.create(session=session_obj, participant=factories.participant(),
                                status=Status.WAITLISTED, waitlist_position=2)
    other_session = factories.session(course_page=session_obj.course)
    Registration.objects.create(session=other_session, participant=factories.participant(),
                                status=Status.WAITLISTED, waitlist_position=1)
    assert Registration.objects.filter(waitlist_position=1).count() == 2


# --- Session ----------------------------------------------------------------------------------------------


def test_a_valid_hand_built_session_is_accepted(site):
    """The control for the refusals below: `new_session()` with its defaults is fine."""
    assert new_session().pk is not None


@pytest.mark.parametrize("capacity", [-1, -10])
def test_capacity_is_not_negative(site, capacity):
    refused(lambda: new_session(capacity=capacity))


def test_capacity_zero_is_allowed(site):
    assert new_session(capacity=0).capacity == 0


@pytest.mark.parametrize("length", [timedelta(0), timedelta(minutes=-1), timedelta(hours=-2)])
def test_a_session_ends_after_it_starts(site, length):
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    refused(lambda: new_session(starts_at=start, ends_at=start + length))


def test_moving_the_end_before_the_start_is_refused(site):
    session = new_session()
    refused(lambda: Session.objects.filter(pk=session.pk).update(ends_at=session.starts_at - timedelta(hours=1)))


def test_a_session_needs_a_venue_or_an_online_link(site):
    refused(lambda: new_session(venue=None, online_url=""))
    online = new_session(venue=None, online_url="https://meet.example.jp/dekiru")
    assert online.venue is None
    refused(lambda: Session.objects.filter(pk=online.pk).update(online_url=""))


def test_a_cancelled_session_needs_a_reason(site):
    refused(lambda: new_session(status=Session.Status.CANCELLED, cancellation_reason=""))
    session = new_session()
    refused(lambda: Session.objects.filter(pk=session.pk).update(status=Session.Status.CANCELLED))
    Session.objects.filter(pk=session.pk).update(status=Session.Status.CANCELLED,
                                                 cancellation_reason="台風接近のため")
    assert Session.objects.get(pk=session.pk).is_cancelled


@pytest.mark.parametrize("closes_after_opening", [timedelta(0), timedelta(hours=-1)])
def test_registration_closes_after_it_opens(site, closes_after_opening):
    opens = timezone.now().replace(microsecond=0)
    refused(lambda: new_session(registration_opens_at=opens, registration_closes_at=opens + closes_after_opening))


@pytest.mark.parametrize(("opens", "closes"), [
    (None, None), (timedelta(days=-1), None), (None, timedelta(days=5)), (timedelta(days=-1), timedelta(days=5)),
])
def test_registration_window_may_be_open_ended(site, opens, closes):
    now = timezone.now().replace(microsecond=0)
    session = new_session(registration_opens_at=opens and now + opens, registration_closes_at=closes and now + closes)
    assert session.pk is not None


# --- Venue and membership ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("latitude", "longitude"), [
    ("90.000001", "139.660000"), ("-90.000001", "139.660000"), ("135.580000", "139.660000"),
    ("35.580000", "180.000001"), ("35.580000", "-180.000001"), ("35.580000", "239.660000"),
])
def test_venue_coordinates_are_in_range(site, latitude, longitude):
    refused(lambda: factories.venue(latitude=Decimal(latitude), longitude=Decimal(longitude)))


@pytest.mark.parametrize(("latitude", "longitude"), [
    ("90.000000", "180.000000"), ("-90.000000", "-180.000000"), ("35.530833", "139.703056"), (None, None),
])
def test_venue_coordinates_at_the_limits_or_missing_are_accepted(site, latitude, longitude):
    venue = factories.venue(latitude=latitude and Decimal(latitude), longitude=longitude and Decimal(longitude))
    assert venue.pk is not None


def test_one_membership_per_user_and_partner(site):
    user = get_user_model().objects.create_user(username="npo-staff", password="x")
    partner, other_partner = factories.partner(), factories.partner()
    PartnerMembership.objects.create(user=user, partner=partner, role=PartnerMembership.Role.INSTRUCTOR)
    refused(lambda: PartnerMembership.objects.create(user=user, partner=partner,
                                                     role=PartnerMembership.Role.MANAGER))
    PartnerMembership.objects.create(user=user, partner=other_partner, role=PartnerMembership.Role.MANAGER)
    assert user.partner_memberships.count() == 2


# --- PROTECT: deleting never takes history with it ---------------------------------------------------------


def protected_by(delete):
    with pytest.raises(ProtectedError) as exc_info, transaction.atomic():
        delete()
    return set(exc_info.value.protected_objects)


def test_a_session_with_registrations_cannot_be_deleted(session_obj):
    registration = factories.registration(session_obj=session_obj, status=Status.CANCELLED)
    assert registration in protected_by(session_obj.delete)
    assert Session.objects.filter(pk=session_obj.pk).exists()
    assert Registration.objects.filter(pk=registration.pk).exists()


def test_a_participant_with_registrations_cannot_be_deleted(session_obj, person):
    registration = factories.registration(session_obj=session_obj, participant=person)
    assert registration in protected_by(person.delete)
    assert Participant.objects.filter(pk=person.pk).exists()


def test_a_participant_without_registrations_can_be_deleted(person):
    person.delete()
    assert not Participant.objects.filter(pk=person.pk).exists()


def test_a_course_with_sessions_cannot_be_deleted(session_obj):
    course = session_obj.course
    assert session_obj in protected_by(course.delete)
    assert session_obj in protected_by(Page.objects.get(pk=course.pk).delete)
    assert session_obj in protected_by(course.get_parent().delete)  # the partner's course group
    assert CoursePage.objects.filter(pk=course.pk).exists()
    assert Session.objects.filter(pk=session_obj.pk).exists()


def test_a_course_without_sessions_can_be_deleted(site):
    course = factories.course()
    course.delete()
    assert not CoursePage.objects.filter(pk=course.pk).exists()


def test_a_partner_organising_sessions_cannot_be_deleted(site):
    # Created without a course group or venue, so the organised session is the only thing holding it.
    organiser = Partner.objects.create(name="株式会社テストICT", kind=Partner.Kind.ICT_COMPANY)
    idle = Partner.objects.create(name="町内会テスト", kind=Partner.Kind.COMMUNITY_ASSOCIATION)
    session = new_session(organiser=organiser)

    assert protected_by(organiser.delete) == {session}
    assert Partner.objects.filter(pk=organiser.pk).exists()
    idle.delete()
    assert not Partner.objects.filter(pk=idle.pk).exists()


def test_a_venue_with_sessions_cannot_be_deleted(site):
    venue, unused = factories.venue(), factories.venue()
    session = new_session(venue=venue)

    assert protected_by(venue.delete) == {session}
    assert Venue.objects.filter(pk=venue.pk).exists()
    unused.delete()
    assert not Venue.objects.filter(pk=unused.pk).exists()
