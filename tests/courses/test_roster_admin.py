"""The roster admin (/admin/roster/): today's classes, the roster and its buttons, walk-ins, the sign-in sheet and
the paper-sheet entry. Who may see and change what, partner isolation (404 for another partner's ids, POSTs
included), query budgets, and that the paper entry is all or nothing."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from wagtail.users.models import UserProfile

from cms import roles
from courses import attendance
from courses.admin.roster import sheet_pages
from courses.models import Participant, Registration
from partners.models import PartnerMembership
from partners.services import add_membership
from tests import factories
from tests.refusals import refused_page

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status
PARTNER_ROLES = {roles.PARTNER_MANAGER: PartnerMembership.Role.MANAGER,
                 roles.PARTNER_INSTRUCTOR: PartnerMembership.Role.INSTRUCTOR}


# --- Helpers --------------------------------------------------------------------------------------------------


def staff(role: str | None, partner=None, *, username=None):
    """A user in one role group, a member of `partner` for partner roles, whose admin speaks English."""
    user = get_user_model().objects.create_user(username=username or f"u-{role}-{getattr(partner, 'pk', '')}",
                                                password="x")
    if role:
        user.groups.add(Group.objects.get(name=role))
    else:
        user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    if partner is not None:
        add_membership(partner=partner, user=user, role=PARTNER_ROLES[role])
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


def url(name, *args):
    return reverse(f"roster:{name}", args=args)


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def started(partner, **fields):
    """A session of `partner` that started today, up to an hour ago (just after midnight, a few minutes ago, so
    that it is among today's classes): attendance is open."""
    course = factories.course(owner=partner)
    now = timezone.localtime()
    since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
    return factories.session(course_page=course, organiser=partner,
                             starts_in=-min(timedelta(hours=1), since_midnight / 2), **fields)


@pytest.fixture
def world(site):
    """Partners A and B, each with a session that has started and a few people on it."""
    a, b = factories.partner(), factories.partner()
    session_a, session_b = started(a, capacity=5), started(b, capacity=5)
    ward = factories.ward()
    person = factories.participant(name="中原 春子", kana="ナカハラ ハルコ", device=Participant.Device.IPHONE,
                                   accessibility_needs="車いすを使用", ward=ward)
    booked = factories.registration(session_obj=session_a, participant=person, channel=Registration.Channel.PHONE,
                                    booked_by=Registration.BookedBy.FAMILY, booker_name="中原 一郎",
                                    booker_relationship="長男")
    waiting = factories.registration(session_obj=session_a, status=Status.WAITLISTED, waitlist_position=1,
                                     participant=factories.participant(name="高津 次郎", kana="タカツ ジロウ"))
    walk_in = attendance.add_walk_in(session=session_a, age_band="80-84", ward=ward, name="宮前 三郎")
    other = factories.registration(session_obj=session_b,
                                   participant=factories.participant(name="麻生 四郎", kana="アサオ シロウ"))
    return {"a": a, "b": b, "session_a": session_a, "session_b": session_b, "booked": booked, "waiting": waiting,
            "walk_in": walk_in, "other": other, "ward": ward}


def count_queries(client, address) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(address).status_code == 200
    return len(queries)


def entry_data(form_rows: dict, *, walk_ins: list[dict] = (), rows: int = 3, mark_rest: bool = False) -> dict:
    """A paper-entry POST: {registration: (shown, chosen)} and walk-in rows."""
    data = {"walk_in-TOTAL_FORMS": str(rows), "walk_in-INITIAL_FORMS": "0", "walk_in-MIN_NUM_FORMS": "0",
            "walk_in-MAX_NUM_FORMS": "50"}
    for registration, (shown, chosen) in form_rows.items():
        data[f"reg_{registration.pk}"] = chosen
        data[f"initial-reg_{registration.pk}"] = shown
    for n in range(rows):
        row = walk_ins[n] if n < len(walk_ins) else {}
        for name in ("age_band", "ward", "name", "kana"):
            data[f"walk_in-{n}-{name}"] = row.get(name, "")
    if mark_rest:
        data["mark_unmarked_attended"] = "on"
    return data


# --- Today's classes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(PARTNER_ROLES))
def test_today_lists_only_the_partners_sessions_of_today_then_the_next_7_days(client, site, role):
    a, b = factories.partner(), factories.partner()
    course_a = factories.course(owner=a)
    today = factories.session(course_page=course_a, organiser=a, starts_in=timedelta(0))
    soon = factories.session(course_page=course_a, organiser=a, starts_in=timedelta(days=3))
    far = factories.session(course_page=course_a, organiser=a, starts_in=timedelta(days=10))
    theirs = factories.session(course_page=factories.course(owner=b), organiser=b, starts_in=timedelta(0))
    client.force_login(staff(role, a))

    response = client.get(url("today"))

    assert response.status_code == 200
    assert [s.pk for s in response.context["sessions"]] == [today.pk]
    later = [s.pk for _day, sessions in response.context["later"] for s in sessions]
    assert later == [soon.pk]
    content = response.content.decode()
    assert url("session", today.pk) in content and url("session", soon.pk) in content
    assert url("session", far.pk) not in content and url("session", theirs.pk) not in content


def test_city_staff_see_every_partner_and_can_pick_a_date(client, site):
    a, b = factories.partner(), factories.partner()
    in_5_days = factories.session(course_page=factories.course(owner=a), organiser=a, starts_in=timedelta(days=5))
    other = factories.session(course_page=factories.course(owner=b), organiser=b, starts_in=timedelta(days=5))
    client.force_login(staff(roles.CITY_PROGRAMME_OFFICER))
    day = f"{timezone.localtime(in_5_days.starts_at):%Y-%m-%d}"
    response = client.get(url("today"), {"date": day})
    assert {s.pk for s in response.context["sessions"]} == {in_5_days.pk, other.pk}
    assert a.name_en in response.content.decode()  # the organiser is named when several partners are listed


def test_a_bad_date_falls_back_to_today(client, site):
    client.force_login(staff(roles.CITY_ADMINISTRATOR))
    response = client.get(url("today"), {"date": "2025-13-40"})
    assert response.status_code == 200
    assert response.context["is_today"]
    assert any("Not a date" in m for m in message_texts(response))


def test_today_list_queries_do_not_grow_with_the_sessions(client, site):
    partner = factories.partner()
    course = factories.course(owner=partner)
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, partner))

    def add_sessions(n):
        for i in range(n):
            session = factories.session(course_page=course, organiser=partner, starts_in=timedelta(days=i % 3))
            factories.registration(session_obj=session)
            factories.registration(session_obj=session, status=Status.ATTENDED)

    add_sessions(2)
    few = count_queries(client, url("today"))
    add_sessions(12)
    many = count_queries(client, url("today"))
    assert few == many


# --- The roster ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(PARTNER_ROLES))
def test_the_roster_shows_who_is_coming_and_what_staff_should_know(client, world, role):
    client.force_login(staff(role, world["a"]))
    response = client.get(url("session", world["session_a"].pk))
    assert response.status_code == 200
    content = response.content.decode()
    for text in ("中原 春子", "ナカハラ ハルコ", "70–74", "Phone", "Family member or carer", "中原 一郎", "長男",
                 "車いすを使用", "iPhone", "高津 次郎", "Waiting list no. 1", "宮前 三郎", "80–84"):
        assert text in content, text
    assert "麻生 四郎" not in content  # partner B's
    assert response.context["summary"] == {"unmarked": 1, "attended": 1, "walk_ins": 1, "no_show": 0,
                                           "waitlisted": 1, "seated": 2}
    assert content.count('name="action" value="attended"') == 2  # the booked person and the waiting one
    assert url("remove_walk_in", world["session_a"].pk, world["walk_in"].pk) in content
    assert url("sheet", world["session_a"].pk) in content and url("enter", world["session_a"].pk) in content
    assert reverse("call_centre:book", args=[world["session_a"].pk]) not in content  # not a call-centre user


@pytest.mark.parametrize("role", list(PARTNER_ROLES))
def test_marking_attended_no_show_and_undo_from_the_roster(client, world, role):
    user = staff(role, world["a"])
    client.force_login(user)
    booked, session = world["booked"], world["session_a"]
    mark = url("mark", session.pk, booked.pk)

    response = client.post(mark, {"action": "attended"})
    assert response.status_code == 302
    assert response["Location"] == f"{url('session', session.pk)}#person-{booked.pk}"
    booked.refresh_from_db()
    assert booked.status == Status.ATTENDED
    assert any("attended" in m for m in message_texts(response))

    client.post(mark, {"action": "no_show"})
    booked.refresh_from_db()
    assert booked.status == Status.NO_SHOW
    client.post(mark, {"action": "undo"})
    booked.refresh_from_db()
    assert booked.status == Status.CONFIRMED
    assert client.post(mark, {"action": "explode"}).status_code == 400


def test_two_staff_marking_at_once_both_see_the_current_state(client, world):
    """The second tablet's stale page posts the same mark: nothing breaks, the roster shows it marked once."""
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, world["a"]))
    booked, session = world["booked"], world["session_a"]
    for _ in range(2):
        assert client.post(url("mark", session.pk, booked.pk), {"action": "attended"}).status_code == 302
    page = client.get(url("session", session.pk))
    assert page.context["summary"]["attended"] == 2  # the booked person and the walk-in


def test_a_waitlisted_person_who_comes_is_given_a_seat(client, world):
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, world["a"]))
    waiting = world["waiting"]
    client.post(url("mark", world["session_a"].pk, waiting.pk), {"action": "attended"})
    waiting.refresh_from_db()
    assert (waiting.status, waiting.waitlist_position) == (Status.ATTENDED, None)


def test_adding_a_walk_in_needs_age_band_and_ward_and_works_on_a_full_session(client, site):
    partner = factories.partner()
    session = started(partner, capacity=1)
    factories.registration(session_obj=session)
    user = staff(roles.PARTNER_INSTRUCTOR, partner)
    client.force_login(user)

    refused = client.post(url("walk_in", session.pk), {"age_band": "", "ward": "", "name": "名無し"})
    assert refused.status_code == 400
    assert refused.context["walk_in_form"].errors.keys() == {"age_band", "ward"}
    assert not session.registrations.filter(channel=Registration.Channel.WALK_IN).exists()

    response = client.post(url("walk_in", session.pk), {"age_band": "75-79", "ward": factories.ward().pk})
    walk_in = session.registrations.get(channel=Registration.Channel.WALK_IN)
    assert response["Location"] == f"{url('session', session.pk)}#person-{walk_in.pk}"
    assert (walk_in.status, walk_in.created_by, walk_in.participant.name) == (Status.ATTENDED, user, "")


def test_removing_a_walk_in_from_the_roster(client, world):
    client.force_login(staff(roles.PARTNER_MANAGER, world["a"]))
    walk_in = world["walk_in"]
    response = client.post(url("remove_walk_in", world["session_a"].pk, walk_in.pk))
    assert response.status_code == 302
    assert not Registration.objects.filter(pk=walk_in.pk).exists()
    # A booked person cannot be "removed": the service refuses, nothing changes.
    client.post(url("remove_walk_in", world["session_a"].pk, world["booked"].pk))
    assert Registration.objects.filter(pk=world["booked"].pk).exists()


def test_outside_the_window_the_roster_has_no_buttons_and_posts_change_nothing(client, site):
    partner = factories.partner()
    session = factories.session(course_page=factories.course(owner=partner), organiser=partner,
                                starts_in=timedelta(days=3))
    registration = factories.registration(session_obj=session)
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, partner))
    page = client.get(url("session", session.pk))
    content = page.content.decode()
    assert "Attendance can be taken from" in content
    assert 'name="action"' not in content
    response = client.post(url("mark", session.pk, registration.pk), {"action": "attended"})
    assert response.status_code == 302
    registration.refresh_from_db()
    assert registration.status == Status.CONFIRMED
    assert any("14 days" in m for m in message_texts(response))


def test_roster_queries_do_not_grow_with_the_people(client, site):
    partner = factories.partner()
    session = started(partner, capacity=100)
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, partner))

    def add_people(n):
        for i in range(n):
            status = [Status.CONFIRMED, Status.ATTENDED, Status.NO_SHOW][i % 3]
            factories.registration(session_obj=session, status=status, booker_name="家族",
                                   participant=factories.participant(ward=factories.ward()))
        factories.registration(session_obj=session, status=Status.WAITLISTED,
                               waitlist_position=session.registrations.count() + 1)
        attendance.add_walk_in(session=session, age_band="70-74", ward=factories.ward())

    add_people(5)
    few = count_queries(client, url("session", session.pk))
    add_people(25)
    assert session.registrations.filter(status__in=Registration.SEATED).count() > 30
    many = count_queries(client, url("session", session.pk))
    assert few == many
    few_sheet = count_queries(client, url("sheet", session.pk))
    add_people(3)
    assert count_queries(client, url("sheet", session.pk)) == few_sheet


# --- Who may see and change ------------------------------------------------------------------------------------


def a_urls(world):
    session, booked, walk_in = world["session_a"], world["booked"], world["walk_in"]
    return [url("session", session.pk), url("sheet", session.pk), url("enter", session.pk)], [
        (url("mark", session.pk, booked.pk), {"action": "no_show"}),
        (url("mark", session.pk, world["waiting"].pk), {"action": "attended"}),
        (url("walk_in", session.pk), {"age_band": "70-74", "ward": world["ward"].pk}),
        (url("remove_walk_in", session.pk, walk_in.pk), {}),
        (url("enter", session.pk), entry_data({booked: ("", "no_show")})),
    ]


def assert_a_unchanged(world):
    for key in ("booked", "waiting", "walk_in"):
        registration = Registration.objects.get(pk=world[key].pk)
        assert registration.status == world[key].status, key
    assert world["session_a"].registrations.count() == 3


@pytest.mark.parametrize("role", list(PARTNER_ROLES))
def test_partner_b_staff_get_404_for_partner_a_ids_including_posts(client, world, role):
    client.force_login(staff(role, world["b"]))
    gets, posts = a_urls(world)
    for address in gets:
        assert client.get(address).status_code == 404, address
    for address, data in posts:
        assert client.post(address, data).status_code == 404, address
    assert_a_unchanged(world)
    listing = client.get(url("today")).content.decode()
    assert url("session", world["session_a"].pk) not in listing
    assert url("session", world["session_b"].pk) in listing


@pytest.mark.parametrize("role", list(PARTNER_ROLES))
def test_a_registration_of_another_session_is_404_under_ones_own_session(client, world, role):
    """B's staff put A's registration id under B's own session id: still 404."""
    client.force_login(staff(role, world["b"]))
    session_b = world["session_b"]
    for key in ("booked", "waiting"):
        response = client.post(url("mark", session_b.pk, world[key].pk), {"action": "attended"})
        assert response.status_code == 404
    assert client.post(url("remove_walk_in", session_b.pk, world["walk_in"].pk)).status_code == 404
    assert_a_unchanged(world)


def test_view_only_roles_see_the_roster_without_buttons_and_posts_are_403(client, world):
    client.force_login(staff(roles.CITY_ANALYST))
    session = world["session_a"]
    page = client.get(url("session", session.pk))
    assert page.status_code == 200
    content = page.content.decode()
    # Analysts see who is booked by number, never by name (courses.privacy; tests/isolation/test_admin_masking.py).
    assert f"Booking no. {world['booked'].pk}" in content and "中原 春子" not in content
    assert 'name="action"' not in content and "Add a walk-in" not in content
    assert url("enter", session.pk) not in content
    assert client.get(url("sheet", session.pk)).status_code == 200
    assert client.get(url("enter", session.pk)).status_code == 403
    _gets, posts = a_urls(world)
    for address, data in posts:
        assert client.post(address, data).status_code == 403, address
    assert_a_unchanged(world)


def test_users_without_roster_permissions_are_sent_home(client, world):
    client.force_login(staff(None))
    for address in (url("today"), url("session", world["session_a"].pk)):
        assert refused_page(client.get(address)), address


@pytest.mark.parametrize(("role", "shown"), [(roles.PARTNER_INSTRUCTOR, True), (roles.PARTNER_MANAGER, True),
                                             (roles.CITY_ANALYST, True), (None, False)])
def test_the_menu_offers_todays_classes_to_those_the_views_let_in(client, world, role, shown):
    client.force_login(staff(role, world["a"] if role in PARTNER_ROLES else None))
    assert (url("today") in client.get(reverse("wagtailadmin_home")).content.decode()) is shown


@pytest.mark.parametrize(("role", "shown"), [(roles.CALL_CENTRE_OPERATOR, True), (roles.CITY_PROGRAMME_OFFICER, True),
                                             (roles.CITY_ANALYST, False)])
def test_book_a_caller_is_offered_to_call_centre_users(client, world, role, shown):
    client.force_login(staff(role))
    content = client.get(url("session", world["session_a"].pk)).content.decode()
    assert (reverse("call_centre:book", args=[world["session_a"].pk]) in content) is shown


# --- The sign-in sheet ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("people", "blank", "pages"), [(0, 25, 1), (20, 5, 1), (21, 29, 2), (25, 25, 2),
                                                        (30, 20, 2), (50, 25, 3)])
def test_sheet_pages_fill_the_last_page_with_at_least_5_blank_rows(people, blank, pages):
    result = sheet_pages(list(range(people)))
    rows = [row for page in result for row in page]
    assert len(result) == pages
    assert all(len(page) == 25 for page in result)
    assert sum(row["registration"] is None for row in rows) == blank
    assert [row["number"] for row in rows] == list(range(1, len(rows) + 1))


def test_the_sheet_for_30_people_has_2_pages_each_with_the_session_title(client, site):
    partner = factories.partner()
    session = started(partner, capacity=40)
    for n in range(30):
        factories.registration(session_obj=session, participant=factories.participant(name=f"受講 者{n:02d}"))
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, partner))

    response = client.get(url("sheet", session.pk))

    assert response.status_code == 200
    content = response.content.decode()
    assert content.count('class="sheet-page"') == 2
    title = session.course.title_en  # the admin speaks English to this user; the course has an English title
    assert content.count(f'<h1 class="sheet-title">{title}</h1>') == 2
    assert content.count("<thead>") == 2
    assert content.count('class="sheet-row"') == 30
    assert content.count('class="sheet-row sheet-row--blank"') == 20
    assert "page 2 of 2" in content
    assert "css/roster-print.css" in content
    assert "wagtail-sidebar" not in content  # a plain page: no admin chrome
    assert url("session", session.pk) in content  # back to the roster


def test_the_print_stylesheet_is_a4_portrait_with_page_breaks():
    from django.contrib.staticfiles import finders

    css = open(finders.find("css/roster-print.css"), encoding="utf-8").read()
    assert "@page { size: A4; margin: 12mm; }" in css
    assert re.search(r"@media print \{.*break-after: page", css, re.S)
    assert re.search(r"@media print \{.*\.sheet-tools \{ display: none; \}", css, re.S)


def options(page_html: str, name: str) -> list[tuple[str, str, bool]]:
    """(value, label, selected) of the select called `name` (the first one, for a formset field its row's)."""
    select = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', page_html, re.S).group(1)
    return [(value, label.strip(), bool(selected)) for value, selected, label in
            re.findall(r'<option value="([^"]*)"( selected)?[^>]*>([^<]*)</option>', select)]


def test_the_walk_in_form_starts_empty_and_offers_outside_the_city_and_not_given(client, site):
    partner = factories.partner()
    session = started(partner)
    ward = factories.ward()
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, partner))
    page = client.get(url("session", session.pk)).content.decode()
    bands = options(page, "age_band")  # nothing chosen but "Please choose"
    assert bands[0][:2] == ("", "Please choose") and not any(selected for *_rest, selected in bands[1:])
    assert bands[-1] == ("declined", "Not given", False) and ("85+", "85 and over", False) in bands
    residence = options(page, "ward")
    assert residence[0][:2] == ("", "Please choose") and not any(selected for *_rest, selected in residence[1:])
    assert (str(ward.pk), ward.name_en, False) in residence
    assert residence[-2:] == [("outside", "Outside the city", False), ("declined", "Not given", False)]


@pytest.mark.parametrize(("age_band", "ward", "stored", "label"), [
    ("declined", "outside", ("", "outside"), "Walk-in (Not given, Outside the city)"),
    ("70-74", "declined", ("70-74", "declined"), "Walk-in (70–74, Prefer not to say)"),
    ("declined", "declined", ("", "declined"), "Walk-in (Not given, Prefer not to say)"),
])
def test_a_walk_in_from_outside_the_city_or_who_says_nothing_is_recorded_as_such(client, site, age_band, ward,
                                                                                 stored, label):
    partner = factories.partner()
    session = started(partner)
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, partner))
    response = client.post(url("walk_in", session.pk), {"age_band": age_band, "ward": ward})
    assert response.status_code == 302
    person = session.registrations.get(channel=Registration.Channel.WALK_IN).participant
    assert (person.age_band, person.residence, person.ward) == (*stored, None)
    page = client.get(url("session", session.pk)).content.decode()
    assert label in page


def test_a_walk_in_with_a_ward_lives_in_the_city(client, site):
    partner = factories.partner()
    session = started(partner)
    ward = factories.ward()
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, partner))
    client.post(url("walk_in", session.pk), {"age_band": "80-84", "ward": ward.pk})
    person = session.registrations.get(channel=Registration.Channel.WALK_IN).participant
    assert (person.age_band, person.residence, person.ward) == ("80-84", "city", ward)


@pytest.mark.parametrize("bad", [{"ward": "abroad"}, {"ward": "99999999"}, {"ward": "-1"}, {"age_band": "70s"},
                                 {"age_band": ""}, {"ward": ""}])
def test_a_walk_in_with_a_missing_or_unknown_answer_is_refused(client, site, bad):
    partner = factories.partner()
    session = started(partner)
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, partner))
    response = client.post(url("walk_in", session.pk), {"age_band": "70-74", "ward": "outside", **bad})
    assert response.status_code == 400
    assert response.context["walk_in_form"].errors.keys() == set(bad)
    assert not session.registrations.exists()


# --- Entering the paper sheet ----------------------------------------------------------------------------------


@pytest.fixture
def sheet(site):
    partner = factories.partner()
    session = started(partner, capacity=5)
    people = [factories.registration(session_obj=session, participant=factories.participant(name=f"紙 {n}"))
              for n in range(3)]
    waiting = factories.registration(session_obj=session, status=Status.WAITLISTED, waitlist_position=1,
                                     participant=factories.participant(name="紙 待機"))
    return {"partner": partner, "session": session, "people": people, "waiting": waiting}


def test_the_entry_form_lists_every_booked_person_prefilled(client, sheet):
    first, second, third = sheet["people"]
    attendance.mark_attendance(registration=second, attended=False)
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, sheet["partner"]))
    content = client.get(url("enter", sheet["session"].pk)).content.decode()
    for person in [*sheet["people"], sheet["waiting"]]:
        assert person.participant.name in content
    assert re.search(rf'name="reg_{second.pk}" value="no_show"[^>]*checked', content)
    assert f'name="initial-reg_{second.pk}" value="no_show"' in content
    assert content.count('name="walk_in-') >= 5 * 4


def test_the_paper_sheet_is_applied_in_one_go(client, sheet):
    first, second, third = sheet["people"]
    user = staff(roles.PARTNER_INSTRUCTOR, sheet["partner"])
    client.force_login(user)
    ward = factories.ward()
    data = entry_data({first: ("", "attended"), second: ("", "no_show"), third: ("", ""),
                       sheet["waiting"]: ("", "attended")},
                      walk_ins=[{"age_band": "65-69", "ward": ward.pk, "name": "手書き 一"},
                                {"age_band": "85+", "ward": ward.pk}])
    response = client.post(url("enter", sheet["session"].pk), data)
    assert response.status_code == 302, response.context and response.context["form"].errors
    statuses = {r.pk: r.status for r in Registration.objects.filter(session=sheet["session"])}
    assert (statuses[first.pk], statuses[second.pk], statuses[third.pk], statuses[sheet["waiting"].pk]) == (
        Status.ATTENDED, Status.NO_SHOW, Status.CONFIRMED, Status.ATTENDED)
    walk_ins = sheet["session"].registrations.filter(channel=Registration.Channel.WALK_IN)
    assert sorted(walk_ins.values_list("participant__age_band", flat=True)) == ["65-69", "85+"]
    assert any("3 marks changed, 2 walk-ins added" in m for m in message_texts(response))


def test_mark_all_unmarked_as_attended_keeps_explicit_choices_and_marks_made_meanwhile(client, sheet):
    first, second, third = sheet["people"]
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, sheet["partner"]))
    data = entry_data({first: ("", ""), second: ("", "no_show"), third: ("", "")}, mark_rest=True)
    # Meanwhile, at the door, the third person is marked a no-show: the untouched row must not override it.
    attendance.mark_attendance(registration=third, attended=False)
    response = client.post(url("enter", sheet["session"].pk), data)
    assert response.status_code == 302
    statuses = {r.pk: r.status for r in Registration.objects.filter(session=sheet["session"])}
    assert (statuses[first.pk], statuses[second.pk], statuses[third.pk]) == (
        Status.ATTENDED, Status.NO_SHOW, Status.NO_SHOW)
    assert statuses[sheet["waiting"].pk] == Status.WAITLISTED  # the waiting list is not "unmarked"


def test_an_explicit_change_to_not_marked_undoes_a_mark(client, sheet):
    first = sheet["people"][0]
    attendance.mark_attendance(registration=first, attended=True)
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, sheet["partner"]))
    client.post(url("enter", sheet["session"].pk), entry_data({first: ("attended", "")}, mark_rest=True))
    first.refresh_from_db()
    assert first.status == Status.CONFIRMED


def test_paper_walk_ins_from_outside_or_without_answers_and_empty_rows_skipped(client, sheet):
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, sheet["partner"]))
    page = client.get(url("enter", sheet["session"].pk)).content.decode()
    assert options(page, "walk_in-0-ward")[-2:] == [("outside", "Outside the city", False),
                                                     ("declined", "Not given", False)]
    assert options(page, "walk_in-0-age_band")[0][:2] == ("", "Please choose")
    data = entry_data({}, rows=4, walk_ins=[{"age_band": "declined", "ward": "outside", "name": "市外 一"},
                                            {},  # an empty row is skipped
                                            {"age_band": "75-79", "ward": "declined"}])
    response = client.post(url("enter", sheet["session"].pk), data)
    assert response.status_code == 302
    people = Participant.objects.filter(registrations__session=sheet["session"],
                                        registrations__channel=Registration.Channel.WALK_IN)
    assert sorted(people.values_list("age_band", "residence", "ward")) == [("", "outside", None),
                                                                           ("75-79", "declined", None)]


def test_a_bad_walk_in_row_saves_nothing_and_is_shown(client, sheet):
    first = sheet["people"][0]
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, sheet["partner"]))
    data = entry_data({first: ("", "attended")},
                      walk_ins=[{"age_band": "65-69", "ward": factories.ward().pk}, {"name": "区の記入なし"}])
    response = client.post(url("enter", sheet["session"].pk), data)
    assert response.status_code == 400
    errors = response.context["formset"].errors
    assert errors[0] == {} and set(errors[1]) == {"age_band", "ward"}
    first.refresh_from_db()
    assert first.status == Status.CONFIRMED
    assert not sheet["session"].registrations.filter(channel=Registration.Channel.WALK_IN).exists()
    assert "Nothing was saved" in " ".join(message_texts(response))


def test_a_refusal_by_a_service_rolls_back_every_row(client, sheet, monkeypatch):
    """All or nothing: when one row is refused while applying, the rows applied before it are rolled back."""
    first, second, third = sheet["people"]
    real = attendance.mark_attendance

    def refuse_third(*, registration, **kwargs):
        if registration.pk == third.pk:
            raise attendance.AttendanceError("refused for the test")
        return real(registration=registration, **kwargs)

    monkeypatch.setattr(attendance, "mark_attendance", refuse_third)
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, sheet["partner"]))
    data = entry_data({first: ("", "attended"), second: ("", "no_show"), third: ("", "attended")},
                      walk_ins=[{"age_band": "65-69", "ward": factories.ward().pk}])
    response = client.post(url("enter", sheet["session"].pk), data)

    assert response.status_code == 400
    assert response.context["form"].errors == {f"reg_{third.pk}": ["refused for the test"]}
    statuses = set(Registration.objects.filter(pk__in=[first.pk, second.pk, third.pk])
                   .values_list("status", flat=True))
    assert statuses == {Status.CONFIRMED}
    assert not sheet["session"].registrations.filter(channel=Registration.Channel.WALK_IN).exists()


def test_the_entry_form_is_closed_outside_the_window(client, site):
    partner = factories.partner()
    session = factories.session(course_page=factories.course(owner=partner), organiser=partner,
                                starts_in=-timedelta(days=20))
    registration = factories.registration(session_obj=session)
    client.force_login(staff(roles.PARTNER_MANAGER, partner))
    assert "is now closed" in client.get(url("enter", session.pk)).content.decode()
    response = client.post(url("enter", session.pk), entry_data({registration: ("", "attended")}))
    assert response.status_code == 400
    registration.refresh_from_db()
    assert registration.status == Status.CONFIRMED
