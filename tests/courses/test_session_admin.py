"""The session admin (/admin/sessions/): isolation between partners, the listing and its filters, create, edit
(a move goes through services.move_session so everyone booked is told), copy to another date, cancel, delete,
staff assignments and the staffing warning, the call-centre link, and the Session permission policy."""

from datetime import datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from wagtail.permissions import policy_registry
from wagtail.users.models import UserProfile

from cms import roles
from courses.admin.sessions import session_viewset
from courses.models import OutgoingMessage, Registration, Session, SessionStaff
from courses.permissions import session_permission_policy
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

TZ = timezone.get_current_timezone()


# --- Local helpers ----------------------------------------------------------------------------------------------


def staff(username, role, partner=None, *, membership="manager", first_name=""):
    """A staff user in one role group, member of `partner` when given; the admin in English for the messages."""
    user = get_user_model().objects.create_user(username, password="pw", first_name=first_name or username)
    user.groups.add(Group.objects.get(name=role))
    if partner is not None:
        add_membership(partner=partner, user=user, role=membership)
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


def url(name, *args):
    return reverse(f"sessions:{name}", args=args)


def refused(response) -> bool:
    """Wagtail's admin answers PermissionDenied with a redirect home (and a message); a scoped lookup with 404."""
    return response.status_code == 404 or (
        response.status_code in (302, 403) and response.get("Location", reverse("wagtailadmin_home"))
        == reverse("wagtailadmin_home"))


def local(day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


def daytime_session(**fields):
    """factories.session, moved to 10:00 local time on its day: the forms enter a date and two times, so a session
    that crosses midnight (created late in the evening) cannot be re-entered as it is."""
    session = factories.session(**fields)
    length = session.ends_at - session.starts_at
    start = local(timezone.localtime(session.starts_at).date(), 10)
    Session.objects.filter(pk=session.pk).update(starts_at=start, ends_at=start + length)
    session.refresh_from_db()
    return session


def in_days(n):
    return timezone.localdate() + timedelta(days=n)


def snapshot(session):
    session = Session.objects.get(pk=session.pk)
    return (session.status, session.starts_at, session.ends_at, session.venue_id, session.capacity,
            session.online_url, session.notes, session.sequence,
            sorted(SessionStaff.objects.filter(session=session).values_list("user_id", "role")))


def form_data(session, **overrides):
    start, end = session.starts_at.astimezone(TZ), session.ends_at.astimezone(TZ)
    data = {"course": session.course_id, "organiser": session.organiser_id, "date": start.date().isoformat(),
            "start_time": start.strftime("%H:%M"), "end_time": end.strftime("%H:%M"),
            "venue": session.venue_id or "", "online_url": session.online_url, "capacity": session.capacity,
            "notes": session.notes, "notes_en": session.notes_en, "instructors": [], "assistants": []}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


class World:
    """Partners A and B, each with a course, an own venue (in different wards) and a session with people booked;
    a city venue; a manager and an instructor of each partner; a city programme officer."""

    def __init__(self):
        from partners.models import Ward

        self.ward_a, self.ward_b = list(Ward.objects.order_by("sort_order")[:2])
        self.a, self.b = factories.partner(name="NPO法人エー"), factories.partner(name="NPO法人ビー")
        self.course_a = factories.course(owner=self.a, title="講座エーだけ")
        self.course_b = factories.course(owner=self.b, title="講座ビーだけ")
        self.venue_a = factories.venue(partner=self.a, name="会場エーだけ", ward=self.ward_a)
        self.venue_b = factories.venue(partner=self.b, name="会場ビーだけ", ward=self.ward_b)
        self.city_venue = factories.venue(name="市民館シティ", ward=self.ward_b)
        self.session_a = daytime_session(course_page=self.course_a, venue=self.venue_a, capacity=10,
                                           notes="エーの注意書き")
        self.session_b = daytime_session(course_page=self.course_b, venue=self.venue_b, capacity=10)
        self.people_a = [factories.registration(session_obj=self.session_a) for _ in range(2)]
        self.manager_a = staff("manager_a", roles.PARTNER_MANAGER, self.a)
        self.instructor_a = staff("instructor_a", roles.PARTNER_INSTRUCTOR, self.a, membership="instructor")
        SessionStaff.objects.create(session=self.session_a, user=self.instructor_a)
        self.manager_b = staff("manager_b", roles.PARTNER_MANAGER, self.b)
        self.instructor_b = staff("instructor_b", roles.PARTNER_INSTRUCTOR, self.b, membership="instructor")
        self.officer = staff("officer", roles.CITY_PROGRAMME_OFFICER)


@pytest.fixture
def world(site):
    return World()


# --- Isolation ----------------------------------------------------------------------------------------------------


def session_url_patterns():
    return [(p.name, "pk" in p.pattern.converters) for p in session_viewset.get_urlpatterns()]


def test_every_session_url_is_covered_below():
    names = {name for name, _ in session_url_patterns()}
    assert names == {"index", "index_results", "add", "edit", "delete", "history", "history_results", "inspect",
                     "copy", "cancel", "emergency"}


@pytest.mark.parametrize("who", ["manager_b", "instructor_b"])
def test_partner_b_gets_nothing_of_partner_as_sessions_by_id(client, world, who):
    """Every URL of the viewset with partner A's session id, read and posted to, as partner B's staff: refused,
    never A's data, and nothing changes."""
    client.force_login(getattr(world, who))
    before = snapshot(world.session_a)
    sessions_before = Session.objects.count()
    messages_before = OutgoingMessage.objects.count()
    post = form_data(world.session_a, capacity=1, notes="changed by B", date=in_days(20).isoformat(),
                     reason="B cancels A", instructors=[world.manager_b.pk])
    for name, takes_pk in session_url_patterns():
        if not takes_pk:
            continue
        address = url(name, world.session_a.pk)
        for response in (client.get(address), client.post(address, post)):
            assert refused(response), (name, response.status_code)
            content = response.content.decode()
            assert "講座エーだけ" not in content and "エーの注意書き" not in content, name
    assert snapshot(world.session_a) == before
    assert Session.objects.count() == sessions_before
    assert OutgoingMessage.objects.count() == messages_before


@pytest.mark.parametrize("who", ["manager_b", "instructor_b"])
def test_partner_b_listing_search_and_filters_never_show_partner_a(client, world, who):
    client.force_login(getattr(world, who))
    for query in ("", "?q=講座エー", f"?course={world.course_a.pk}", f"?venue={world.venue_a.pk}",
                  f"?ward={world.ward_a.pk}", "?status=scheduled"):
        for name in ("index", "index_results"):
            response = client.get(url(name) + query)
            assert response.status_code == 200, query
            content = response.content.decode()
            assert "講座エーだけ" not in content and "会場エーだけ" not in content, (name, query)
            assert url("inspect", world.session_a.pk) not in content
    content = client.get(url("index")).content.decode()
    assert "講座ビーだけ" in content and url("inspect", world.session_b.pk) in content
    # The venue filter offers B's own venues and the city's.
    assert "会場ビーだけ" in content and "市民館シティ" in content


def test_partner_b_manager_creates_only_for_b(client, world):
    client.force_login(world.manager_b)
    page = client.get(url("add"))
    assert page.status_code == 200
    content = page.content.decode()
    assert "講座エーだけ" not in content and "会場エーだけ" not in content and "NPO法人エー" not in content
    day = in_days(10).isoformat()
    # A's course or A's venue: not a valid choice; nothing is created.
    for bad in ({"course": world.course_a.pk}, {"venue": world.venue_a.pk}):
        data = form_data(world.session_b, date=day, **bad)
        response = client.post(url("add"), data)
        assert response.status_code == 200 and response.context["form"].errors
    assert Session.objects.filter(course=world.course_a).count() == 1
    # The organiser is fixed to B whatever is posted.
    response = client.post(url("add"), form_data(world.session_b, date=day, organiser=world.a.pk,
                                                 venue=world.city_venue.pk))
    assert response.status_code == 302
    created = Session.objects.latest("pk")
    assert (created.organiser, created.course, created.venue) == (world.b, world.course_b, world.city_venue)
    assert created.starts_at == local(in_days(10), *map(int, form_data(world.session_b)["start_time"].split(":")))
    assert response["Location"] == url("inspect", created.pk)


def test_instructors_can_look_but_not_change(client, world):
    client.force_login(world.instructor_b)
    assert client.get(url("index")).status_code == 200
    assert client.get(url("inspect", world.session_b.pk)).status_code == 200
    before = snapshot(world.session_b)
    for name in ("edit", "cancel", "copy", "delete"):
        assert refused(client.get(url(name, world.session_b.pk))), name
        assert refused(client.post(url(name, world.session_b.pk), form_data(world.session_b, reason="x",
                                                                            capacity=3))), name
    assert refused(client.post(url("add"), form_data(world.session_b, date=in_days(9).isoformat())))
    assert snapshot(world.session_b) == before
    assert Session.objects.count() == 2


# --- The permission policy ------------------------------------------------------------------------------------------


def test_the_policy_is_registered_and_scopes_instances(world):
    policy = policy_registry.get_by_type(Session)
    assert policy is session_permission_policy
    assert set(policy.instances_user_has_permission_for(world.manager_b, "change")) == {world.session_b}
    assert set(policy.instances_user_has_permission_for(world.instructor_b, "view")) == {world.session_b}
    assert not policy.instances_user_has_permission_for(world.instructor_b, "change").exists()
    assert set(policy.instances_user_has_permission_for(world.officer, "change")) == {world.session_a,
                                                                                     world.session_b}
    assert policy.user_has_permission_for_instance(world.manager_b, "change", world.session_b)
    assert not policy.user_has_permission_for_instance(world.manager_b, "change", world.session_a)
    assert not policy.user_has_permission_for_instance(world.manager_b, "view", world.session_a)
    assert not policy.user_has_permission_for_instance(world.instructor_b, "change", world.session_b)
    assert policy.user_has_permission_for_instance(world.officer, "change", world.session_a)
    # Deleting: only a session nobody registered for.
    assert not policy.user_has_permission_for_instance(world.officer, "delete", world.session_a)
    assert policy.user_has_permission_for_instance(world.officer, "delete", world.session_b)
    assert set(policy.instances_user_has_permission_for(world.officer, "delete")) == {world.session_b}
    assert not policy.user_has_permission_for_instance(world.manager_b, "delete", world.session_b)
    users = set(policy.users_with_permission_for_instance("change", world.session_a))
    assert world.manager_a in users and world.officer in users
    assert world.manager_b not in users and world.instructor_a not in users


# --- Listing -------------------------------------------------------------------------------------------------------


def test_city_staff_filter_by_course_venue_ward_date_and_status(client, world):
    client.force_login(world.officer)
    later = daytime_session(course_page=world.course_b, venue=world.city_venue, starts_in=timedelta(days=40))
    services_cancel(later)

    def listed(query):
        response = client.get(url("index") + query)
        assert response.status_code == 200
        return {s.pk for s in response.context["object_list"]}

    assert listed("") == {world.session_a.pk, world.session_b.pk, later.pk}
    assert listed(f"?course={world.course_a.pk}") == {world.session_a.pk}
    assert listed(f"?venue={world.city_venue.pk}") == {later.pk}
    assert listed(f"?ward={world.ward_b.pk}") == {world.session_b.pk, later.pk}
    assert listed("?status=cancelled") == {later.pk}
    day = later.starts_at.astimezone(TZ).date().isoformat()
    assert listed(f"?starts_at_from={day}&starts_at_to={day}") == {later.pk}
    assert listed(f"?starts_at_to={in_days(30).isoformat()}") == {world.session_a.pk, world.session_b.pk}
    assert listed("?q=講座エー") == {world.session_a.pk}


def services_cancel(session, reason="会場の都合"):
    from courses import services

    return services.cancel_session(session=session, reason=reason)


def test_the_listing_shows_seats_waiting_staff_and_the_staffing_warning(client, world):
    crowded = daytime_session(course_page=world.course_b, venue=world.venue_b, capacity=5)
    for _ in range(5):
        factories.registration(session_obj=crowded)
    factories.registration(session_obj=crowded, status=Registration.Status.WAITLISTED)
    SessionStaff.objects.create(session=crowded, user=world.instructor_b)
    client.force_login(world.manager_b)
    response = client.get(url("index"))
    rows = {s.pk: s for s in response.context["object_list"]}
    assert (rows[crowded.pk].confirmed_count, rows[crowded.pk].waitlist_count) == (5, 1)
    content = response.content.decode()
    assert "5 / 5" in content and "1 waiting" in content and "instructor_b" in content
    assert content.count("data-understaffed") == 1  # 1 staff for 5 people; session_b has nobody booked


def _listing_queries(client, user) -> int:
    client.get(url("index"))  # warm caches (content types, site) before counting
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url("index"))
    assert response.status_code == 200
    return len(queries)


def test_the_listing_costs_the_same_queries_for_5_and_30_sessions(client, site):
    partner = factories.partner()
    course = factories.course(owner=partner)
    manager = staff("manager", roles.PARTNER_MANAGER, partner)
    helper = staff("helper", roles.PARTNER_INSTRUCTOR, partner, membership="instructor")

    def add_sessions(n):
        for i in range(n):
            session = daytime_session(course_page=course, starts_in=timedelta(days=3, hours=i))
            factories.registration(session_obj=session)
            factories.registration(session_obj=session, status=Registration.Status.WAITLISTED)
            SessionStaff.objects.create(session=session, user=helper)

    client.force_login(manager)
    add_sessions(5)
    few = _listing_queries(client, manager)
    add_sessions(25)
    many = _listing_queries(client, manager)
    assert Session.objects.count() == 30
    assert few == many


# --- Create, edit (move), copy, cancel, delete ----------------------------------------------------------------------


def test_a_manager_of_two_partners_picks_one_of_theirs(client, world):
    add_membership(partner=world.a, user=world.manager_b, role="manager")
    client.force_login(world.manager_b)
    form = client.get(url("add")).context["form"]
    assert set(form.fields["organiser"].queryset) == {world.a, world.b}
    assert not form.fields["organiser"].disabled
    # B's course run by A: refused.
    data = form_data(world.session_b, organiser=world.a.pk, date=in_days(12).isoformat())
    response = client.post(url("add"), data)
    assert response.status_code == 200 and "course" in response.context["form"].errors
    response = client.post(url("add"), {**data, "course": world.course_a.pk, "venue": world.venue_a.pk})
    assert response.status_code == 302
    assert Session.objects.latest("pk").organiser == world.a


def test_create_checks_times_and_place(client, world):
    client.force_login(world.manager_b)
    day = in_days(14).isoformat()
    cases = [({"start_time": "14:00", "end_time": "13:00"}, "end_time"),
             ({"venue": "", "online_url": ""}, "venue"),
             ({"date": in_days(-1).isoformat()}, "date"),
             ({"capacity": 0}, "capacity")]
    for overrides, field in cases:
        response = client.post(url("add"), form_data(world.session_b, **{"date": day, **overrides}))
        assert response.status_code == 200, overrides
        assert field in response.context["form"].errors, overrides
    assert Session.objects.count() == 2
    online = client.post(url("add"), form_data(world.session_b, date=day, venue="",
                                               online_url="https://meet.example.jp/abc"))
    assert online.status_code == 302
    assert Session.objects.latest("pk").venue is None


def test_moving_a_session_tells_everyone_booked(client, world):
    client.force_login(world.manager_a)
    session = world.session_a
    new_day = in_days(21)
    response = client.post(url("edit", session.pk), form_data(session, date=new_day.isoformat(),
                                                              start_time="13:00", end_time="15:00",
                                                              venue=world.city_venue.pk))
    assert response.status_code == 302, response.context and response.context["form"].errors
    moved = Session.objects.get(pk=session.pk)
    assert (moved.starts_at, moved.ends_at) == (local(new_day, 13), local(new_day, 15))
    assert moved.venue == world.city_venue and moved.sequence == session.sequence + 1
    told = OutgoingMessage.objects.filter(kind="session_moved", session=session)
    assert {m.registration_id for m in told} == {r.pk for r in world.people_a}


def test_editing_only_the_notes_or_staff_tells_nobody(client, world):
    client.force_login(world.manager_a)
    session = world.session_a
    response = client.post(url("edit", session.pk), form_data(session, notes="持ち物：スマホ",
                                                              instructors=[world.manager_a.pk],
                                                              assistants=[world.instructor_a.pk]))
    assert response.status_code == 302
    after = Session.objects.get(pk=session.pk)
    assert after.notes == "持ち物：スマホ" and after.sequence == session.sequence
    assert not OutgoingMessage.objects.filter(kind="session_moved").exists()
    assert sorted(SessionStaff.objects.filter(session=session).values_list("user__username", "role")) == [
        ("instructor_a", "assistant"), ("manager_a", "instructor")]


def test_raising_the_capacity_promotes_people_waiting(client, world):
    session = daytime_session(course_page=world.course_a, venue=world.venue_a, capacity=1)
    factories.registration(session_obj=session)
    waiting = factories.registration(session_obj=session, status=Registration.Status.WAITLISTED)
    client.force_login(world.manager_a)
    assert client.post(url("edit", session.pk), form_data(session, capacity=2)).status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == Registration.Status.CONFIRMED
    assert OutgoingMessage.objects.filter(kind="promoted", registration=waiting).exists()


def test_a_capacity_below_the_bookings_is_a_form_error_and_nothing_is_saved(client, world):
    client.force_login(world.manager_a)
    session = world.session_a  # 2 confirmed
    before = snapshot(session)
    response = client.post(url("edit", session.pk), form_data(
        session, capacity=1, notes="新しいメモ", online_url="https://meet.example.jp/x",
        date=in_days(30).isoformat(), instructors=[world.manager_a.pk]))
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert snapshot(session) == before
    assert not OutgoingMessage.objects.filter(kind="session_moved").exists()


def test_an_online_session_can_move_to_a_venue_and_back(client, world):
    client.force_login(world.manager_b)
    session = daytime_session(course_page=world.course_b, venue=None, online_url="https://meet.example.jp/1")
    response = client.post(url("edit", session.pk), form_data(session, venue=world.venue_b.pk, online_url=""))
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.venue, session.online_url) == (world.venue_b, "")
    response = client.post(url("edit", session.pk), form_data(session, venue="",
                                                              online_url="https://meet.example.jp/2"))
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.venue, session.online_url) == (None, "https://meet.example.jp/2")


def test_once_started_only_notes_and_staff_change(client, world):
    # Started at 10:00 today, or yesterday before 11:00 (when today's 10:00 has not come yet).
    now = timezone.localtime()
    day = now.date() if now.hour >= 11 else now.date() - timedelta(days=1)
    session = daytime_session(course_page=world.course_a, venue=world.venue_a,
                              starts_in=local(day, 12) - timezone.now())
    factories.registration(session_obj=session)
    client.force_login(world.manager_a)
    form = client.get(url("edit", session.pk)).context["form"]
    assert form.fields["date"].disabled and form.fields["venue"].disabled and form.fields["capacity"].disabled
    data = form_data(session, date=in_days(3).isoformat(), capacity=50, notes="写真を撮りました",
                     instructors=[world.manager_a.pk])
    response = client.post(url("edit", session.pk), data)
    assert response.status_code == 302
    after = Session.objects.get(pk=session.pk)
    assert (after.starts_at, after.capacity, after.notes) == (session.starts_at, session.capacity, "写真を撮りました")
    assert SessionStaff.objects.filter(session=session, user=world.manager_a).exists()
    assert not OutgoingMessage.objects.filter(kind="session_moved").exists()


def test_a_refused_change_shows_the_session_as_it_is(client, world):
    client.force_login(world.manager_a)
    response = client.post(url("edit", world.session_a.pk), form_data(world.session_a, capacity=1,
                                                                      date=in_days(30).isoformat()))
    assert response.status_code == 200
    assert response.context["session"].starts_at == world.session_a.starts_at
    assert response.context["session"].capacity == 10


def test_a_cancelled_session_cannot_be_edited(client, world):
    services_cancel(world.session_b)
    client.force_login(world.manager_b)
    before = snapshot(world.session_b)
    for response in (client.get(url("edit", world.session_b.pk)),
                     client.post(url("edit", world.session_b.pk), form_data(world.session_b, capacity=3))):
        assert response.status_code == 302 and response["Location"] == url("inspect", world.session_b.pk)
    assert snapshot(world.session_b) == before


def test_cancel_with_a_reason_tells_everyone_and_phone_only_people_go_on_the_call_list(client, world):
    session = world.session_a  # two phone-only people (the factory's participants have no e-mail)
    by_email = factories.registration(session_obj=session, participant=factories.participant(email="a@example.jp"))
    client.force_login(world.manager_a)
    page = client.get(url("cancel", session.pk))
    assert page.status_code == 200
    assert (page.context["preview"]["by_email"], page.context["preview"]["by_phone"]) == (1, 2)
    assert client.post(url("cancel", session.pk), {"reason": "  "}).status_code == 400
    assert not Session.objects.get(pk=session.pk).is_cancelled
    response = client.post(url("cancel", session.pk), {"reason": "講師急病のため"})
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.is_cancelled and session.cancellation_reason == "講師急病のため"
    cancelled = OutgoingMessage.objects.filter(kind="session_cancelled", session=session)
    assert cancelled.count() == 3
    assert cancelled.get(registration=by_email).channel == "email"
    assert set(cancelled.filter(channel="phone", status="to_call").values_list("registration_id", flat=True)) == {
        r.pk for r in world.people_a}
    # Twice: nothing more.
    assert client.get(url("cancel", session.pk)).status_code == 302


def test_copy_to_another_date_prefills_a_week_later(client, world):
    client.force_login(world.manager_a)
    page = client.get(url("copy", world.session_a.pk))
    assert page.status_code == 200
    initial = page.context["form"].initial
    start = world.session_a.starts_at.astimezone(TZ)
    assert initial["date"] == start.date() + timedelta(days=7)
    assert (initial["course"], initial["venue"], initial["capacity"]) == (world.course_a.pk, world.venue_a.pk, 10)
    assert initial["start_time"] == start.time()
    assert page.context["action_url"] == url("add")
    data = form_data(world.session_a, date=initial["date"].isoformat())
    assert client.post(url("add"), data).status_code == 302
    copy = Session.objects.latest("pk")
    assert copy.starts_at == (world.session_a.starts_at + timedelta(days=7)).replace(second=0)
    assert (copy.course, copy.venue, copy.capacity, copy.organiser) == (world.course_a, world.venue_a, 10, world.a)
    assert not copy.registrations.exists()


def test_only_sessions_nobody_registered_for_can_be_deleted(client, world):
    client.force_login(world.officer)
    response = client.get(url("delete", world.session_a.pk))
    assert response.status_code == 302 and response["Location"] == url("inspect", world.session_a.pk)
    client.post(url("delete", world.session_a.pk))
    assert Session.objects.filter(pk=world.session_a.pk).exists()
    assert client.get(url("delete", world.session_b.pk)).status_code == 200
    assert client.post(url("delete", world.session_b.pk)).status_code == 302
    assert not Session.objects.filter(pk=world.session_b.pk).exists()
    # Partner managers have no delete permission at all.
    client.force_login(world.manager_a)
    empty = daytime_session(course_page=world.course_a, venue=world.venue_a)
    assert refused(client.post(url("delete", empty.pk)))
    assert Session.objects.filter(pk=empty.pk).exists()


# --- Staff ---------------------------------------------------------------------------------------------------------


def test_staff_choices_are_the_organisers_members_and_the_warning_follows_the_ratio(client, world):
    session = world.session_b
    for _ in range(5):
        factories.registration(session_obj=session)
    client.force_login(world.manager_b)
    form = client.get(url("edit", session.pk)).context["form"]
    choices = set(form.fields["instructors"].queryset)
    assert choices == {world.manager_b, world.instructor_b}
    # A member of partner A is not a valid choice.
    response = client.post(url("edit", session.pk), form_data(session, instructors=[world.instructor_a.pk]))
    assert response.status_code == 200 and "instructors" in response.context["form"].errors
    # Both roles at once: refused.
    response = client.post(url("edit", session.pk), form_data(session, instructors=[world.instructor_b.pk],
                                                              assistants=[world.instructor_b.pk]))
    assert response.status_code == 200 and "assistants" in response.context["form"].errors
    assert not SessionStaff.objects.filter(session=session).exists()

    # One staff member for 5 people: the warning on the inspect and edit pages.
    client.post(url("edit", session.pk), form_data(session, instructors=[world.instructor_b.pk]))
    assert "data-understaffed" in client.get(url("inspect", session.pk)).content.decode()
    assert "data-understaffed" in client.get(url("edit", session.pk)).content.decode()
    # Two for 5: fine.
    client.post(url("edit", session.pk), form_data(session, instructors=[world.instructor_b.pk],
                                                   assistants=[world.manager_b.pk]))
    assert SessionStaff.objects.filter(session=session).count() == 2
    assert "data-understaffed" not in client.get(url("inspect", session.pk)).content.decode()


def test_city_staff_may_assign_themselves(client, world):
    client.force_login(world.officer)
    session = world.session_b
    response = client.post(url("edit", session.pk), form_data(session, instructors=[world.officer.pk]))
    assert response.status_code == 302
    assert SessionStaff.objects.get(session=session).user == world.officer


def test_understaffed_rule():
    assert SessionStaff.is_understaffed(staff_count=0, confirmed_count=1)
    assert not SessionStaff.is_understaffed(staff_count=1, confirmed_count=4)
    assert SessionStaff.is_understaffed(staff_count=1, confirmed_count=5)
    assert not SessionStaff.is_understaffed(staff_count=0, confirmed_count=0)


# --- Links ---------------------------------------------------------------------------------------------------------


def test_book_a_caller_is_offered_to_those_who_can_use_the_call_centre(client, world):
    book = reverse("call_centre:book", args=[world.session_a.pk])
    client.force_login(world.officer)
    for name in ("inspect", "edit"):
        assert book in client.get(url(name, world.session_a.pk)).content.decode(), name
    client.force_login(world.manager_a)
    for name in ("inspect", "edit"):
        assert book not in client.get(url(name, world.session_a.pk)).content.decode(), name


def test_the_menu_offers_sessions_to_partner_staff(client, world):
    client.force_login(world.instructor_b)
    assert url("index") in client.get(reverse("wagtailadmin_home")).content.decode()


# --- The list opens on what is next; past sessions say they are over; the staffing warning only where it matters ---


def test_the_list_opens_on_upcoming_sessions_soonest_first_and_past_ones_are_a_filter_away(client, world):
    client.force_login(world.officer)
    later = daytime_session(course_page=world.course_a, venue=world.venue_a, starts_in=timedelta(days=20))
    past = daytime_session(course_page=world.course_a, venue=world.venue_a, starts_in=timedelta(days=-30))
    older = daytime_session(course_page=world.course_a, venue=world.venue_a, starts_in=timedelta(days=-60))

    def listed(query=""):
        response = client.get(url("index") + query)
        assert response.status_code == 200
        return [s.pk for s in response.context["object_list"]]

    upcoming = listed()
    assert past.pk not in upcoming and older.pk not in upcoming
    assert upcoming[-1] == later.pk and set(upcoming) == {world.session_a.pk, world.session_b.pk, later.pk}
    assert listed("?when=past") == [past.pk, older.pk]  # the most recent first
    assert set(listed("?when=all")) == {world.session_a.pk, world.session_b.pk, later.pk, past.pk, older.pk}
    assert client.get(url("index") + "?when=yesterday").status_code == 200  # an unknown value: no 5xx


def test_past_and_running_sessions_say_so_instead_of_scheduled(client, world):
    client.force_login(world.officer)
    past = daytime_session(course_page=world.course_a, venue=world.venue_a, starts_in=timedelta(days=-3))
    running = factories.session(course_page=world.course_a, venue=world.venue_a, starts_in=timedelta(minutes=-30))
    cancelled = daytime_session(course_page=world.course_a, venue=world.venue_a, starts_in=timedelta(days=5))
    services_cancel(cancelled)
    from courses.admin.sessions import status_label

    with translation_override("ja"):
        labels = {s.pk: status_label(s) for s in Session.objects.filter(pk__in=[past.pk, running.pk,
                                                                               cancelled.pk, world.session_a.pk])}
    assert labels == {past.pk: "終了", running.pk: "開催中", cancelled.pk: "中止", world.session_a.pk: "開催予定"}
    content = client.get(url("index") + "?when=all").content.decode()
    assert "Ended" in content and "In progress" in content


def test_the_staffing_warning_only_for_sessions_in_the_coming_days_and_as_a_filter(client, world, settings):
    settings.DEKIRU_STAFFING_WARNING_DAYS = 14
    soon = daytime_session(course_page=world.course_b, venue=world.venue_b, starts_in=timedelta(days=3))
    far = daytime_session(course_page=world.course_b, venue=world.venue_b, starts_in=timedelta(days=40))
    staffed = daytime_session(course_page=world.course_b, venue=world.venue_b, starts_in=timedelta(days=4))
    SessionStaff.objects.create(session=staffed, user=world.instructor_b)
    for session in (soon, far, staffed):
        factories.registration(session_obj=session)
    client.force_login(world.manager_b)
    response = client.get(url("index") + "?when=all")
    content = response.content.decode()
    assert content.count("data-understaffed") == 1  # soon; far is outside the window, staffed has its instructor
    flagged = client.get(url("index") + "?when=all&understaffed=on")
    assert [s.pk for s in flagged.context["object_list"]] == [soon.pk]


def translation_override(language):
    from django.utils import translation

    return translation.override(language)
