"""Participants' names, contacts and notes in the admin are shown exactly where courses.privacy allows, per role.

One participant with distinctive details (name, kana, e-mail, phone, accessibility needs) is booked by a family
member (the proxy, with their own name, relationship, e-mail and phone) on a session of a partner that started
today, with a failed e-mail and a call-list entry. Each role (partner roles as staff of that partner, the instructor
assigned to the session) and a superuser open every admin page and export that shows people (PAGES below). On each
page a detail the page shows is present when the role has the right for it, and absent otherwise -- with the masked
form in its place where there is one; details a page never shows are absent for everyone.

The expected rights are written out here (EXPECTED_RIGHTS), not read from courses.privacy: changing the policy
there must fail this test until the table here is changed too.

Pages (see courses/privacy.py for why):

| Page                               | Who gets in                        | Shows (the right it needs)               |
|------------------------------------|------------------------------------|------------------------------------------|
| Roster                             | every role                         | name, kana, proxy's name, relationship   |
|                                    |                                    | (names), accessibility needs (notes);    |
|                                    |                                    | else "Booking no. N"                     |
| Sign-in sheet                      | every role                         | name, kana, proxy's name (names)         |
| Paper-sheet entry                  | all but analysts (attendance)      | name, kana (names)                       |
| Can-do checks of a session         | every role                         | name, kana (names)                       |
| One can-do check                   | all but analysts (entering checks) | name (names)                             |
| Message log                        | every role                         | e-mail, phone (message addresses);       |
|                                    |                                    | else masked, errors included             |
| Call list, one call                | all but analysts                   | name, phone (call list)                  |
| Call centre: look-up, person,      | administrator, programme officer,  | everything the page shows (they hold     |
| booking, cancel, move, merge       | call-centre operator               | every right)                             |
| Personal data: person, export      | the same                           | everything                               |
| Registrations, attendance exports  | every role                         | name and kana columns (names); never     |
|                                    |                                    | contacts or notes                        |
| Sessions export, sessions, history,| whoever the page lets in           | no personal detail at all                |
| today's classes, series, dashboard,|                                    |                                          |
| reports, consultations, home       |                                    |                                          |
"""

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from wagtail.users.models import UserProfile

from cms import roles
from courses import privacy, services
from courses.admin import call_centre as admin_views
from courses.admin import data_requests as data_request_admin
from courses.models import OutgoingMessage, Registration, SessionStaff
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

SUPERUSER = "Superuser"
ADMIN, OFFICER, ANALYST = roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.CITY_ANALYST
OPERATOR, MANAGER, INSTRUCTOR = roles.CALL_CENTRE_OPERATOR, roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR
ROLES = [ADMIN, OFFICER, ANALYST, OPERATOR, MANAGER, INSTRUCTOR, SUPERUSER]
EVERYONE = frozenset(ROLES)
RECORD_KEEPERS = frozenset({ADMIN, OFFICER, OPERATOR, SUPERUSER})  # the call centre and personal-data requests
ANYONE = None  # pages that show nobody: whoever gets in, nothing personal is on them

NAMES, CONTACTS, NOTES = privacy.NAMES, privacy.CONTACTS, privacy.NOTES
ADDRESSES, CALL_LIST = privacy.MESSAGE_ADDRESSES, privacy.CALL_LIST
ALL_RIGHTS = frozenset({NAMES, CONTACTS, NOTES, ADDRESSES, CALL_LIST})
EXPECTED_RIGHTS = {
    ADMIN: ALL_RIGHTS, OFFICER: ALL_RIGHTS, OPERATOR: ALL_RIGHTS, SUPERUSER: ALL_RIGHTS,
    ANALYST: frozenset(),
    MANAGER: frozenset({NAMES, CONTACTS, NOTES, CALL_LIST}),
    INSTRUCTOR: frozenset({NAMES, NOTES, CALL_LIST}),
}

# The distinctive details, each with the texts any of which counts as the detail being shown.
NAME, KANA = "秘密 花子", "ヒミツ ハナコ"
EMAIL, PHONE = "himitsu.hanako@example.jp", "09087654321"
NOTE = "補聴器を使用（マスク試験）"
PROXY_NAME, PROXY_RELATIONSHIP = "秘密 一郎", "義理の甥"
PROXY_EMAIL, PROXY_PHONE = "proxy.ichiro@example.jp", "08011223344"
DETAILS = {
    "name": [NAME], "kana": [KANA], "email": [EMAIL], "phone": [PHONE, "090-8765-4321"], "notes": [NOTE],
    "proxy_name": [PROXY_NAME], "proxy_relationship": [PROXY_RELATIONSHIP],
    "proxy_email": [PROXY_EMAIL], "proxy_phone": [PROXY_PHONE, "080-1122-3344"],
}
MASKED_EMAIL, MASKED_PHONE = "hi***@example.jp", "090-****-4321"
PEOPLE = {"name": NAMES, "kana": NAMES, "proxy_name": NAMES, "proxy_relationship": NAMES}
EVERYTHING = {**PEOPLE, "email": CONTACTS, "phone": CONTACTS, "notes": NOTES, "proxy_email": CONTACTS,
              "proxy_phone": CONTACTS}


@dataclass
class World:
    session: object
    registration: Registration
    call: OutgoingMessage
    users: dict = field(default_factory=dict)

    @property
    def participant(self):
        return self.registration.participant


@dataclass
class Page:
    """One admin page or export: who gets in (None: not checked), what it shows and the right each needs, and the
    masked form shown instead to those without the right (a text, or a function of the world)."""

    name: str
    url: Callable[[World], str]
    open_to: frozenset | None
    shows: dict = field(default_factory=dict)
    masked: dict = field(default_factory=dict)  # right → text shown to those without it
    post: dict | None = None
    kind: str = "html"


def booking_no(w: World) -> str:
    return f"Booking no. {w.registration.pk}"


def session_id(w: World) -> int:
    return w.session.pk


PAGES = [
    Page("Today's classes", lambda w: reverse("roster:today"), EVERYONE),
    Page("Roster", lambda w: reverse("roster:session", args=[session_id(w)]), EVERYONE,
         shows={**PEOPLE, "notes": NOTES}, masked={NAMES: booking_no}),
    Page("Sign-in sheet", lambda w: reverse("roster:sheet", args=[session_id(w)]), EVERYONE,
         shows={"name": NAMES, "kana": NAMES, "proxy_name": NAMES}, masked={NAMES: booking_no}),
    Page("Paper-sheet entry", lambda w: reverse("roster:enter", args=[session_id(w)]), EVERYONE - {ANALYST},
         shows={"name": NAMES, "kana": NAMES}),
    Page("Can-do checks of a session", lambda w: reverse("self_assessment:session", args=[session_id(w)])
         + "?source=paper", EVERYONE, shows={"name": NAMES, "kana": NAMES}, masked={NAMES: booking_no}),
    Page("One can-do check", lambda w: reverse("self_assessment:enter", args=[w.registration.pk, "post", "paper"]),
         EVERYONE - {ANALYST}, shows={"name": NAMES}),
    Page("Message log", lambda w: reverse("message_log:log"), EVERYONE,
         shows={"email": ADDRESSES, "phone": ADDRESSES}, masked={ADDRESSES: MASKED_EMAIL}),
    Page("Message log, phone calls", lambda w: reverse("message_log:log") + "?channel=phone", EVERYONE,
         shows={"phone": ADDRESSES}, masked={ADDRESSES: MASKED_PHONE}),
    Page("Call list", lambda w: reverse("message_log:call_list"), EVERYONE - {ANALYST},
         shows={"name": CALL_LIST, "phone": CALL_LIST}),
    Page("One call", lambda w: reverse("message_log:call", args=[w.call.pk]), EVERYONE - {ANALYST},
         shows={"name": CALL_LIST, "phone": CALL_LIST}),
    Page("Call centre: look-up", lambda w: reverse("call_centre:lookup") + f"?q={PHONE}", RECORD_KEEPERS,
         shows={"name": NAMES, "kana": NAMES, "email": CONTACTS, "phone": CONTACTS}),
    Page("Call centre: person", lambda w: reverse("call_centre:person", args=[w.participant.pk]), RECORD_KEEPERS,
         shows={**PEOPLE, "email": CONTACTS, "phone": CONTACTS, "notes": NOTES}),
    Page("Call centre: booking", lambda w: reverse("call_centre:registration", args=[w.registration.pk]),
         RECORD_KEEPERS, shows={**EVERYTHING, "notes": None}),
    Page("Call centre: cancel", lambda w: reverse("call_centre:cancel", args=[w.registration.pk]), RECORD_KEEPERS,
         shows={"name": NAMES, "kana": NAMES}),
    Page("Call centre: move", lambda w: reverse("call_centre:move", args=[w.registration.pk]), RECORD_KEEPERS,
         shows={"name": NAMES, "kana": NAMES}),
    Page("Call centre: merge", lambda w: reverse("call_centre:merge_choose", args=[w.participant.pk]),
         RECORD_KEEPERS, shows={"name": NAMES, "phone": CONTACTS}),
    Page("Personal data: person", lambda w: reverse("data_requests:person", args=[w.participant.pk]),
         RECORD_KEEPERS, shows=EVERYTHING),
    Page("Personal data: export", lambda w: reverse("data_requests:export", args=[w.participant.pk, "json"]),
         RECORD_KEEPERS, shows=EVERYTHING, post={}, kind="json"),
    Page("Export: registrations (CSV)", lambda w: reverse("spreadsheets:export", args=["registrations"]), EVERYONE,
         shows={"name": NAMES, "kana": NAMES}, post={"format": "csv"}, kind="csv"),
    Page("Export: registrations (Excel)", lambda w: reverse("spreadsheets:export", args=["registrations"]),
         EVERYONE, shows={"name": NAMES, "kana": NAMES}, post={"format": "xlsx"}, kind="xlsx"),
    Page("Export: attendance (CSV)", lambda w: reverse("spreadsheets:export", args=["attendance"]), EVERYONE,
         shows={"name": NAMES, "kana": NAMES}, post={"format": "csv"}, kind="csv"),
    Page("Export: attendance (Excel)", lambda w: reverse("spreadsheets:export", args=["attendance"]), EVERYONE,
         shows={"name": NAMES, "kana": NAMES}, post={"format": "xlsx"}, kind="xlsx"),
    Page("Export: sessions (CSV)", lambda w: reverse("spreadsheets:export", args=["sessions"]), EVERYONE,
         post={"format": "csv"}, kind="csv"),
    Page("Admin home", lambda w: reverse("wagtailadmin_home"), EVERYONE),
    Page("Sessions", lambda w: reverse("sessions:index"), EVERYONE),
    Page("Session", lambda w: reverse("sessions:inspect", args=[session_id(w)]), EVERYONE),
    Page("Session history", lambda w: reverse("sessions:history", args=[session_id(w)]), ANYONE),
    Page("Weekly series", lambda w: reverse("courses_series_index"), ANYONE),
    Page("Site history", lambda w: reverse("wagtailadmin_reports:site_history"), ANYONE),
    Page("Dashboard", lambda w: reverse("outreach_dashboard"), ANYONE),
    Page("Annual report", lambda w: reverse("outreach_reports:annual"), ANYONE),
    Page("Partner report", lambda w: reverse("outreach_reports:partners"), ANYONE),
    Page("Consultations", lambda w: reverse("outreach_consultations:index"), ANYONE),
]


def started_session(partner):
    """A session of `partner` that started today, up to an hour ago: its attendance can be taken now."""
    course = factories.course(owner=partner)
    now = timezone.localtime()
    since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
    return factories.session(course_page=course, organiser=partner,
                             starts_in=-min(timedelta(hours=1), since_midnight / 2))


def user_for(role: str, partner, session):
    """A user of `role` (partner roles: staff of `partner`, the instructor assigned to `session`), whose admin
    speaks English."""
    users = get_user_model().objects
    username = role.lower().replace(" ", "-")
    if role == SUPERUSER:
        user = users.create_superuser(username, password="pw")
    else:
        user = users.create_user(username, password="pw")
        user.groups.add(Group.objects.get(name=role))
    if role == MANAGER:
        add_membership(partner=partner, user=user, role="manager")
    if role == INSTRUCTOR:
        add_membership(partner=partner, user=user, role="instructor")
        SessionStaff.objects.create(session=session, user=user)
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


@pytest.fixture
def world(site):
    partner = factories.partner()
    session = started_session(partner)
    person = factories.participant(name=NAME, kana=KANA, email=EMAIL, phone=PHONE, accessibility_needs=NOTE,
                                   ward=factories.ward())
    registration = factories.registration(
        session_obj=session, participant=person, channel=Registration.Channel.PHONE,
        booked_by=Registration.BookedBy.FAMILY, booker_name=PROXY_NAME, booker_relationship=PROXY_RELATIONSHIP,
        booker_email=PROXY_EMAIL, booker_phone=PROXY_PHONE)
    OutgoingMessage.objects.create(
        key="masking:email", kind=OutgoingMessage.Kind.CONFIRMED, status=OutgoingMessage.Status.FAILED,
        registration=registration, session=session, to_name=NAME, to_email=EMAIL, attempts=1,
        last_error=f"550 5.1.1 <{EMAIL}>: Recipient address rejected")
    call = OutgoingMessage.objects.create(
        key="masking:call", kind=OutgoingMessage.Kind.REMINDER, channel=OutgoingMessage.Channel.PHONE,
        status=OutgoingMessage.Status.TO_CALL, registration=registration, session=session, to_name=NAME,
        to_phone=PHONE)
    # A booking through the service as well, so that the audit log and the history pages have entries.
    upcoming = factories.session(course_page=session.course, organiser=partner, starts_in=timedelta(days=3))
    services.register(session=upcoming, participant=services.ParticipantDetails(
        name="別人 太郎", kana="ベツジン タロウ", phone="09000000001", age_band="70-74", consent=True))
    world = World(session=session, registration=registration, call=call)
    world.users = {role: user_for(role, partner, session) for role in ROLES}
    return world


def text_of(response, kind: str) -> str:
    if kind == "html":
        return response.content.decode()
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if kind == "csv":
        return content.decode("utf-8-sig")
    if kind == "json":
        return json.dumps(json.loads(content), ensure_ascii=False)
    workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return "\n".join(" ".join(str(value) for value in row if value is not None)
                     for row in workbook.active.iter_rows(values_only=True))


def fetch(client, page: Page, w: World):
    address = page.url(w)
    if page.post is not None:
        return client.post(address, page.post)
    return client.get(address)


@pytest.mark.parametrize("role", ROLES)
def test_each_page_shows_each_role_what_the_policy_allows(client, world, role):
    client.force_login(world.users[role])
    rights = EXPECTED_RIGHTS[role]
    problems = []
    for page in PAGES:
        response = fetch(client, page, world)
        status = response.status_code
        if page.open_to is not None:
            expected = {200} if role in page.open_to else {302, 403}
            if status not in expected:
                problems.append(f"{page.name}: {status}, expected {sorted(expected)}")
                continue
        if status != 200:
            body = response.content.decode(errors="replace") if not response.streaming else ""
            leaked = [key for key, texts in DETAILS.items() if any(text in body for text in texts)]
            if leaked:
                problems.append(f"{page.name} (refused, {status}): shows {leaked}")
            continue
        body = text_of(response, page.kind)
        for key, texts in DETAILS.items():
            right = page.shows.get(key)
            allowed = right is not None and right in rights
            shown = any(text in body for text in texts)
            if shown != allowed:
                problems.append(f"{page.name}: {key} {'shown' if shown else 'missing'}")
        for right, masked in page.masked.items():
            text = masked(world) if callable(masked) else masked
            if (text in body) == (right in rights):
                problems.append(f"{page.name}: masked form {text!r} {'shown' if text in body else 'missing'}")
    assert not problems, f"{role}:\n" + "\n".join(problems)


def test_the_policy_is_the_table_of_the_docstring():
    assert privacy.ROLE_RIGHTS == {role: rights for role, rights in EXPECTED_RIGHTS.items() if role != SUPERUSER}
    assert set(privacy.ROLE_RIGHTS) == set(roles.ALL_ROLES)


def test_the_record_keepers_pages_are_open_only_to_roles_with_every_right(world):
    """The call centre and the personal-data pages are not masked: whoever their permissions let in must hold
    every right."""
    for role, user in world.users.items():
        if admin_views.can_use_call_centre(user) or data_request_admin.can_find(user):
            assert privacy.rights(user) == ALL_RIGHTS, role


def test_no_role_no_rights_and_an_inactive_user_none(world):
    plain = get_user_model().objects.create_user("plain", password="pw")
    assert privacy.rights(plain) == frozenset()
    officer = world.users[OFFICER]
    officer.is_active = False
    assert privacy.rights(officer) == frozenset()


def test_an_export_without_names_leaves_the_columns_out(client, world):
    client.force_login(world.users[ANALYST])
    for kind in ("registrations", "attendance"):
        response = client.post(reverse("spreadsheets:export", args=[kind]), {"format": "csv"})
        rows = list(csv.reader(io.StringIO(text_of(response, "csv"))))
        assert "Name" not in rows[0] and "Name (kana)" not in rows[0], rows[0]
        assert "Registration number" in rows[0] and "Age band" in rows[0]
        assert str(world.registration.pk) in {row[0] for row in rows[1:]}
        assert all(len(row) == len(rows[0]) for row in rows)
    client.force_login(world.users[INSTRUCTOR])
    response = client.post(reverse("spreadsheets:export", args=["attendance"]), {"format": "csv"})
    assert "Name" in next(csv.reader(io.StringIO(text_of(response, "csv"))))


def test_masked_text_hides_addresses_and_numbers_only():
    assert privacy.masked_text(f"550 <{EMAIL}> rejected; call 090-8765-4321 or {PHONE}") == (
        f"550 <{MASKED_EMAIL}> rejected; call {MASKED_PHONE} or {MASKED_PHONE}")
    assert privacy.masked_text("400: The to email does not contain a valid address.") == (
        "400: The to email does not contain a valid address.")
    assert privacy.masked_text("") == ""


MASKED_PAGES = {
    "roster": lambda w: reverse("roster:session", args=[session_id(w)]),
    "sheet": lambda w: reverse("roster:sheet", args=[session_id(w)]),
    "can-do": lambda w: reverse("self_assessment:session", args=[session_id(w)]),
    "message log": lambda w: reverse("message_log:log"),
    "call list": lambda w: reverse("message_log:call_list"),
}


@pytest.mark.parametrize("role", [INSTRUCTOR, ANALYST, OFFICER])
@pytest.mark.parametrize("page", list(MASKED_PAGES))
def test_masking_costs_no_query(client, world, monkeypatch, role, page):
    """The pages read the user's roles once, in the same query as the partner scope: as many queries as when
    everything was shown to everyone."""
    client.force_login(world.users[role])
    address = MASKED_PAGES[page](world)
    client.get(address)  # warm up the per-process caches

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            status = client.get(address).status_code
        return status, len(queries)

    masked = count()
    monkeypatch.setattr(privacy, "rights", lambda user: ALL_RIGHTS)
    unmasked = count()
    if masked[0] == 200:
        assert masked == unmasked
