"""Emergency cancellation (/admin/sessions/emergency/ and courses.emergency): city staff cancel every session of a
ward, a venue or the whole city over a date range with one reason. Everyone booked is told, people with only a
phone number land on the call list, and it is all or nothing."""

from datetime import datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from wagtail.models import ModelLogEntry

from cms import roles
from courses import emergency, services
from courses.emergency import EmergencyScope, ScopeChanged, cancel_sessions
from courses.models import OutgoingMessage, Registration, Session
from partners.models import Ward
from partners.services import add_membership
from tests import factories
from tests.refusals import refused_page

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

TZ = timezone.get_current_timezone()
URL = "/admin/sessions/emergency/"


def staff(username, role, partner=None):
    user = get_user_model().objects.create_user(username, password="pw")
    user.groups.add(Group.objects.get(name=role))
    if partner is not None:
        add_membership(partner=partner, user=user, role="manager")
    return user


def day(n):
    return timezone.localdate() + timedelta(days=n)


def at(n_days, hour):
    """A session time `n_days` from today at `hour`:00 local time."""
    return datetime.combine(day(n_days), time(hour), tzinfo=TZ)


def session_at(starts_at, *, venue=None, online_url=""):
    session = factories.session(venue=venue, online_url=online_url)
    Session.objects.filter(pk=session.pk).update(starts_at=starts_at, ends_at=starts_at + timedelta(hours=2))
    session.refresh_from_db()
    return session


class Storm:
    """Two wards. In ward 1, over days 2–3: two sessions with people booked (e-mail, phone only, booked by family
    by e-mail, no contact at all, and one waiting); outside the range or elsewhere: sessions that must stay."""

    def __init__(self):
        self.ward1, self.ward2 = list(Ward.objects.order_by("sort_order")[:2])
        self.hall1 = factories.venue(ward=self.ward1, name="幸市民館")
        self.hall1b = factories.venue(ward=self.ward1, name="幸図書館")
        self.hall2 = factories.venue(ward=self.ward2, name="中原市民館")
        self.first = session_at(at(2, 10), venue=self.hall1)
        self.second = session_at(at(3, 23), venue=self.hall1b)  # late on the last day: still in range
        self.by_email = factories.registration(session_obj=self.first,
                                               participant=factories.participant(email="sachi@example.jp"))
        self.by_phone = factories.registration(session_obj=self.first)  # the factory's people have a phone only
        self.by_family = factories.registration(
            session_obj=self.second, participant=factories.participant(phone="", email=""),
            booked_by=Registration.BookedBy.FAMILY, booker_name="川崎 一郎", booker_email="ichiro@example.jp")
        self.nobody = factories.registration(session_obj=self.second,
                                             participant=factories.participant(phone="", email=""))
        self.waiting = factories.registration(session_obj=self.second, status=Registration.Status.WAITLISTED)
        self.gone = factories.registration(session_obj=self.second, status=Registration.Status.CANCELLED)
        self.after = session_at(at(4, 0), venue=self.hall1)  # midnight after the range
        self.before = session_at(at(1, 23), venue=self.hall1)
        self.other_ward = session_at(at(2, 10), venue=self.hall2)
        self.online = session_at(at(2, 14), online_url="https://meet.example.jp/a")
        self.already = session_at(at(2, 16), venue=self.hall1)
        services.cancel_session(session=self.already, reason="先に中止")
        self.officer = staff("officer", roles.CITY_PROGRAMME_OFFICER)

    def scope(self, **kwargs):
        return EmergencyScope(**{"date_from": day(2), "date_to": day(3), "ward": self.ward1, **kwargs})

    def form(self, **overrides):
        data = {"scope": "ward", "ward": self.ward1.pk, "venue": "", "date_from": day(2).isoformat(),
                "date_to": day(3).isoformat(), "reason": "台風接近のため"}
        data.update(overrides)
        return data

    def untouched(self):
        return [self.after, self.before, self.other_ward, self.online]


@pytest.fixture
def storm(site):
    return Storm()


def statuses(*sessions):
    return [Session.objects.get(pk=s.pk).status for s in sessions]


# --- The service -------------------------------------------------------------------------------------------------


def test_preview_counts_sessions_and_people_by_how_they_are_told(storm):
    preview = emergency.preview(storm.scope())
    assert [s.pk for s in preview.sessions] == [storm.first.pk, storm.second.pk]
    # by_email, by_phone, by_family (booker's e-mail), nobody, waiting (phone): the cancelled one is not told.
    assert (preview.bookings, preview.people) == (5, 5)
    assert (preview.by_email, preview.by_phone, preview.unreachable) == (2, 2, 1)
    assert not OutgoingMessage.objects.filter(kind="session_cancelled").exists()  # a preview changes nothing


def test_cancelling_a_ward_cancels_exactly_its_sessions_and_tells_everyone(storm):
    cancelled = cancel_sessions(scope=storm.scope(), reason="台風接近のため", actor=storm.officer)
    assert [s.pk for s in cancelled] == [storm.first.pk, storm.second.pk]
    assert statuses(storm.first, storm.second) == ["cancelled", "cancelled"]
    assert Session.objects.get(pk=storm.first.pk).cancellation_reason == "台風接近のため"
    assert statuses(*storm.untouched()) == ["scheduled"] * 4
    assert Session.objects.get(pk=storm.already.pk).cancellation_reason == "先に中止"

    told = OutgoingMessage.objects.filter(kind="session_cancelled").exclude(session=storm.already)
    assert {m.registration_id: (m.channel, m.status) for m in told} == {
        storm.by_email.pk: ("email", "pending"),
        storm.by_phone.pk: ("phone", "to_call"),
        storm.by_family.pk: ("email", "pending"),
        storm.waiting.pk: ("phone", "to_call"),
    }
    assert told.get(registration=storm.by_family).to_email == "ichiro@example.jp"
    assert told.first().context["reason"] == "台風接近のため"
    call_list = OutgoingMessage.objects.filter(channel="phone", status="to_call", kind="session_cancelled",
                                               session__in=[storm.first, storm.second])
    assert set(call_list.values_list("registration_id", flat=True)) == {storm.by_phone.pk, storm.waiting.pk}

    entry = ModelLogEntry.objects.get(action=emergency.LOG_ACTION)
    assert entry.object_id == str(storm.ward1.pk) and entry.user == storm.officer
    assert entry.data["sessions"] == [storm.first.pk, storm.second.pk] and entry.data["reason"] == "台風接近のため"
    per_session = ModelLogEntry.objects.filter(action="courses.session.cancelled", uuid=entry.uuid)
    assert per_session.count() == 2  # each session's own entry, grouped with the whole action


def test_a_venue_or_the_whole_city(storm):
    assert [s.pk for s in cancel_sessions(scope=storm.scope(ward=None, venue=storm.hall1b), reason="休館")] == [
        storm.second.pk]
    assert statuses(storm.first) == ["scheduled"]
    city = cancel_sessions(scope=storm.scope(ward=None), reason="全市休止")
    assert {s.pk for s in city} == {storm.first.pk, storm.other_ward.pk, storm.online.pk}
    assert statuses(storm.after, storm.before) == ["scheduled", "scheduled"]


def test_sessions_already_under_way_are_left_alone(storm):
    now = at(2, 11)  # the first session started at 10:00
    cancelled = cancel_sessions(scope=storm.scope(), reason="午後から警報", now=now)
    assert [s.pk for s in cancelled] == [storm.second.pk]
    assert statuses(storm.first) == ["scheduled"]


def test_a_failure_in_the_middle_cancels_nothing(storm, monkeypatch):
    original = services.cancel_session

    def fails_on_the_second(*, session, reason, actor=None):
        if session.pk == storm.second.pk:
            raise RuntimeError("database went away")
        return original(session=session, reason=reason, actor=actor)

    monkeypatch.setattr(services, "cancel_session", fails_on_the_second)
    with pytest.raises(RuntimeError):
        cancel_sessions(scope=storm.scope(), reason="台風接近のため")
    assert statuses(storm.first, storm.second) == ["scheduled", "scheduled"]
    assert not OutgoingMessage.objects.filter(kind="session_cancelled").exclude(session=storm.already).exists()
    assert not ModelLogEntry.objects.filter(action=emergency.LOG_ACTION).exists()


def test_no_reason_or_bad_dates_change_nothing(storm):
    with pytest.raises(services.RegistrationError):
        cancel_sessions(scope=storm.scope(), reason="   ")
    with pytest.raises(services.RegistrationError):
        cancel_sessions(scope=storm.scope(date_from=day(3), date_to=day(2)), reason="台風")
    assert statuses(storm.first, storm.second) == ["scheduled", "scheduled"]


def test_a_scope_that_changed_since_the_preview_cancels_nothing(storm):
    preview = emergency.preview(storm.scope())
    session_at(at(3, 9), venue=storm.hall1)  # added after the preview
    with pytest.raises(ScopeChanged):
        cancel_sessions(scope=storm.scope(), reason="台風", expected=preview.fingerprint)
    assert statuses(storm.first, storm.second) == ["scheduled", "scheduled"]


# --- The admin page ----------------------------------------------------------------------------------------------


def test_preview_then_confirm_in_the_admin(client, storm):
    client.force_login(storm.officer)
    assert client.get(URL).status_code == 200
    preview = client.post(URL, storm.form())
    assert preview.status_code == 200
    shown = preview.context["preview"]
    assert (shown.session_count, shown.bookings, shown.by_email, shown.by_phone) == (2, 5, 2, 2)
    content = preview.content.decode()
    assert reverse("sessions:inspect", args=[storm.first.pk]) in content
    assert reverse("sessions:inspect", args=[storm.other_ward.pk]) not in content
    assert statuses(storm.first, storm.second) == ["scheduled", "scheduled"]

    expected = preview.context["form"]["expected"].value()
    assert expected == shown.fingerprint
    response = client.post(URL, {**storm.form(), "expected": expected, "confirm": "1"})
    assert response.status_code == 302
    assert statuses(storm.first, storm.second) == ["cancelled", "cancelled"]
    assert statuses(*storm.untouched()) == ["scheduled"] * 4
    assert OutgoingMessage.objects.filter(channel="phone", status="to_call", kind="session_cancelled",
                                          registration=storm.by_phone).exists()


def test_the_admin_re_queries_at_confirmation(client, storm):
    client.force_login(storm.officer)
    expected = client.post(URL, storm.form()).context["form"]["expected"].value()
    late = session_at(at(2, 18), venue=storm.hall1)
    response = client.post(URL, {**storm.form(), "expected": expected, "confirm": "1"})
    assert response.status_code == 409
    assert statuses(storm.first, storm.second, late) == ["scheduled"] * 3
    # The new preview includes the late session; confirming it cancels all three.
    again = response.context["form"]["expected"].value()
    assert again != expected and late in response.context["preview"].sessions
    assert client.post(URL, {**storm.form(), "expected": again, "confirm": "1"}).status_code == 302
    assert statuses(storm.first, storm.second, late) == ["cancelled"] * 3


def test_the_admin_form_needs_a_reason_and_a_ward_or_venue(client, storm):
    client.force_login(storm.officer)
    for bad in ({"reason": ""}, {"ward": ""}, {"scope": "venue"}, {"date_to": day(1).isoformat()}):
        response = client.post(URL, {**storm.form(**bad), "confirm": "1"})
        assert response.status_code == 400, bad
    assert statuses(storm.first, storm.second) == ["scheduled", "scheduled"]


@pytest.mark.parametrize("role", [roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR, roles.CITY_ANALYST,
                                  roles.CALL_CENTRE_OPERATOR])
def test_only_city_staff_who_change_sessions_may_use_it(client, storm, role):
    user = staff("someone", role, partner=storm.first.organiser if role.startswith("Partner") else None)
    client.force_login(user)
    assert refused_page(client.get(URL))
    response = client.post(URL, {**storm.form(), "confirm": "1"})
    assert response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")
    assert statuses(storm.first, storm.second) == ["scheduled", "scheduled"]
    index = client.get(reverse("sessions:index"))
    assert URL not in index.content.decode()


def test_city_administrators_may_use_it(client, storm):
    client.force_login(staff("admin", roles.CITY_ADMINISTRATOR))
    assert client.get(URL).status_code == 200
    assert URL in client.get(reverse("sessions:index")).content.decode()
