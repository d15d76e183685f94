"""Changing one occurrence or every future occurrence of a weekly series, in the services and the admin; the
people booked on each changed session are told through the services' notification call."""

from datetime import datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from courses import services
from courses.models import Registration, Session, SessionSeries
from courses.notifications import Event
from courses.series import SeriesChangeError, SeriesRule, cancel_series, change_series, create_series
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def told(monkeypatch):
    """Every notification the services send, as (event, session id, registration ids); the real notify() runs too."""
    calls = []
    original = services.notify

    def spy(event, *, registration=None, session=None, **details):
        people = [r.pk for r in details.get("registrations", [])] or ([registration.pk] if registration else [])
        calls.append((event, getattr(session, "pk", None), people))
        return original(event, registration=registration, session=session, **details)

    monkeypatch.setattr(services, "notify", spy)
    return calls


def weekly_series(*, organiser=None, weeks=6, past_weeks=2, capacity=5):
    """A series on tomorrow's weekday that started `past_weeks` ago, so that many sessions are over."""
    organiser = organiser or factories.partner()
    course = factories.course(owner=organiser)
    today = timezone.localdate()
    rule = SeriesRule(weekdays=[(today + timedelta(days=1)).weekday()], start_time=time(10, 0), duration_minutes=90,
                      starts_on=today - timedelta(weeks=past_weeks), weeks=weeks, skip_public_holidays=False)
    return create_series(course=course, organiser=organiser, venue=factories.venue(), capacity=capacity, rule=rule)


def split(series):
    now = timezone.now()
    sessions = list(series.sessions.order_by("starts_at"))
    return [s for s in sessions if s.starts_at <= now], [s for s in sessions if s.starts_at > now]


def test_change_every_future_session_keeps_each_date_and_tells_people(site, told):
    series = weekly_series()
    past, future = split(series)
    assert len(past) == 2 and len(future) == 4
    booked = factories.registration(session_obj=future[1])
    waiting = factories.registration(session_obj=future[1], status=Registration.Status.WAITLISTED)
    new_venue = factories.venue()

    changed = change_series(series=series, start_time=time(14, 0), duration_minutes=120, venue=new_venue)

    assert [s.pk for s in changed] == [s.pk for s in future]
    tz = timezone.get_current_timezone()
    for before in future:
        after = Session.objects.get(pk=before.pk)
        assert after.starts_at.astimezone(tz).date() == before.starts_at.astimezone(tz).date()
        assert after.starts_at.astimezone(tz).time() == time(14, 0)
        assert after.ends_at - after.starts_at == timedelta(minutes=120)
        assert after.venue == new_venue and after.sequence == before.sequence + 1
    for before in past:
        after = Session.objects.get(pk=before.pk)
        assert (after.starts_at, after.venue_id, after.sequence) == (before.starts_at, before.venue_id,
                                                                     before.sequence)
    series.refresh_from_db()
    assert (series.start_time, series.duration_minutes, series.venue) == (time(14, 0), 120, new_venue)
    moved = [call for call in told if call[0] == Event.SESSION_MOVED]
    assert len(moved) == 4
    assert (Event.SESSION_MOVED, future[1].pk, [booked.pk, waiting.pk]) in moved or \
        (Event.SESSION_MOVED, future[1].pk, [waiting.pk, booked.pk]) in moved


def test_a_capacity_below_one_sessions_bookings_changes_nothing(site, told):
    series = weekly_series(capacity=3)
    _past, future = split(series)
    for _ in range(3):
        factories.registration(session_obj=future[2])
    with pytest.raises(SeriesChangeError) as error:
        change_series(series=series, capacity=2, start_time=time(9, 0))
    local = future[2].starts_at.astimezone(timezone.get_current_timezone())
    assert local.strftime("%Y-%m-%d") in str(error.value.message)
    assert {s.capacity for s in Session.objects.all()} == {3}
    assert {s.starts_at.astimezone(timezone.get_current_timezone()).time() for s in Session.objects.all()} == \
        {time(10, 0)}
    assert SessionSeries.objects.get().capacity == 3


def test_raising_the_capacity_promotes_waiting_people(site, told):
    series = weekly_series(capacity=1)
    _past, future = split(series)
    factories.registration(session_obj=future[0])
    waiting = factories.registration(session_obj=future[0], status=Registration.Status.WAITLISTED)
    change_series(series=series, capacity=2)
    waiting.refresh_from_db()
    assert waiting.status == Registration.Status.CONFIRMED
    assert (Event.REGISTRATION_PROMOTED, future[0].pk, [waiting.pk]) in told


def test_cancel_every_future_session(site, told):
    series = weekly_series()
    past, future = split(series)
    already = services.cancel_session(session=future[0], reason="会場点検")
    person = factories.registration(session_obj=future[3])
    told.clear()

    cancelled = cancel_series(series=series, reason="講師の都合で終了します")

    assert [s.pk for s in cancelled] == [s.pk for s in future[1:]]
    for session in future[1:]:
        session.refresh_from_db()
        assert session.is_cancelled and session.cancellation_reason == "講師の都合で終了します"
    already.refresh_from_db()
    assert already.cancellation_reason == "会場点検"
    assert not any(Session.objects.get(pk=s.pk).is_cancelled for s in past)
    assert (Event.SESSION_CANCELLED, future[3].pk, [person.pk]) in told
    with pytest.raises(services.RegistrationError):
        cancel_series(series=series, reason="  ")


# --- The admin ----------------------------------------------------------------------------------------------------

def staff(username, group, partner=None, role="manager"):
    user = get_user_model().objects.create_user(username, password="pw")
    user.groups.add(Group.objects.get(name=group))
    if partner:
        add_membership(partner=partner, user=user, role=role)
    return user


def test_officer_changes_one_occurrence_and_the_whole_series(client, site, told):
    series = weekly_series()
    _past, future = split(series)
    person = factories.registration(session_obj=future[0])
    client.force_login(staff("officer", "City programme officer"))

    index = client.get("/admin/series/")
    assert index.status_code == 200 and series.course.title in index.content.decode()
    detail = client.get(f"/admin/series/{series.pk}/")
    assert detail.status_code == 200
    assert f"/admin/series/{series.pk}/sessions/{future[0].pk}/" in detail.content.decode()

    # Move one occurrence to the Tuesday at 13:00, another venue, capacity 8.
    url = f"/admin/series/{series.pk}/sessions/{future[0].pk}/"
    assert client.get(url).status_code == 200
    tuesday = future[0].starts_at.astimezone(timezone.get_current_timezone()).date() + timedelta(days=1)
    venue = factories.venue()
    response = client.post(url, {"move": "1", "date": tuesday.isoformat(), "start_time": "13:00",
                                 "end_time": "14:30", "venue": venue.pk, "capacity": "8"})
    assert response.status_code == 302
    moved = Session.objects.get(pk=future[0].pk)
    assert moved.starts_at == datetime.combine(tuesday, time(13, 0), tzinfo=timezone.get_current_timezone())
    assert (moved.venue, moved.capacity, moved.sequence) == (venue, 8, future[0].sequence + 1)
    assert (Event.SESSION_MOVED, moved.pk, [person.pk]) in told
    assert Session.objects.get(pk=future[1].pk).starts_at == future[1].starts_at  # only that one

    # Bad input: end before start → a form error, nothing saved.
    bad = client.post(url, {"move": "1", "date": tuesday.isoformat(), "start_time": "13:00", "end_time": "12:00",
                            "venue": venue.pk, "capacity": "8"})
    assert bad.status_code == 400
    assert Session.objects.get(pk=moved.pk).sequence == moved.sequence

    # Cancel another occurrence, with a reason.
    url = f"/admin/series/{series.pk}/sessions/{future[1].pk}/"
    assert client.post(url, {"cancel": "1", "reason": ""}).status_code == 400
    assert client.post(url, {"cancel": "1", "reason": "台風のため"}).status_code == 302
    assert Session.objects.get(pk=future[1].pk).is_cancelled
    assert client.get(url).status_code == 302  # a cancelled occurrence can't be changed again

    # Change every future session: the cancelled one stays cancelled.
    assert client.post(f"/admin/series/{series.pk}/change/", {}).status_code == 400  # nothing to change
    response = client.post(f"/admin/series/{series.pk}/change/", {"start_time": "15:00"})
    assert response.status_code == 302
    tz = timezone.get_current_timezone()
    for session in Session.objects.filter(pk__in=[s.pk for s in future[2:]] + [moved.pk]):
        assert session.starts_at.astimezone(tz).time() == time(15, 0)
    assert Session.objects.get(pk=future[1].pk).is_cancelled

    # Cancel every future session.
    response = client.post(f"/admin/series/{series.pk}/cancel/", {"reason": "事業終了"})
    assert response.status_code == 302
    assert all(s.is_cancelled for s in Session.objects.filter(pk__in=[s.pk for s in future]))


def test_partner_staff_see_only_their_own_series(client, site):
    mine, theirs = factories.partner(), factories.partner()
    my_series, their_series = weekly_series(organiser=mine), weekly_series(organiser=theirs)
    _past, their_future = split(their_series)
    manager = staff("manager-b", "Partner manager", partner=mine)
    client.force_login(manager)

    index = client.get("/admin/series/").content.decode()
    assert my_series.course.title in index and their_series.course.title not in index
    assert client.get(f"/admin/series/{my_series.pk}/").status_code == 200
    for url in (f"/admin/series/{their_series.pk}/", f"/admin/series/{their_series.pk}/sessions/{their_future[0].pk}/"):
        assert client.get(url).status_code == 404
    assert client.post(f"/admin/series/{their_series.pk}/cancel/", {"reason": "x"}).status_code == 404
    assert client.post(f"/admin/series/{their_series.pk}/change/", {"capacity": "1"}).status_code == 404
    assert not Session.objects.filter(series=their_series, status=Session.Status.CANCELLED).exists()
    # The new-series form offers only their own partner as organiser.
    form = client.get("/admin/series/new/").content.decode()
    assert mine.name in form and theirs.name not in form
    # Their session can't be used as the occurrence of my series either.
    assert client.get(f"/admin/series/{my_series.pk}/sessions/{their_future[0].pk}/").status_code == 404


def test_instructors_cannot_change_series(client, site):
    partner = factories.partner()
    series = weekly_series(organiser=partner)
    _past, future = split(series)
    client.force_login(staff("instructor", "Partner instructor", partner=partner, role="instructor"))
    assert client.get(f"/admin/series/{series.pk}/").status_code == 200  # may look
    response = client.post(f"/admin/series/{series.pk}/cancel/", {"reason": "x"})
    assert response.status_code in (302, 403)
    assert client.get(f"/admin/series/{series.pk}/sessions/{future[0].pk}/").status_code in (302, 403)
    assert not Session.objects.filter(status=Session.Status.CANCELLED).exists()


