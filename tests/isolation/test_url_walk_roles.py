"""Every URL of the project, public and admin, Japanese and /en/, is requested by GET anonymously and as a user of
each role (partner roles as members of the partner that owns the data). Nothing answers with a server error; the
anonymous visitor only gets the answers a stranger may get (and never an admin page but the login and password-reset
pages); and a table of key URLs says who gets in (200) and who is turned away.

URL patterns come from Django's resolver (as in test_admin_url_walk), so views added later are walked too. Path
parameters are filled with real objects: every object a URL can name has the same id (ID) where its model lets us
choose it; pages, revisions, workflows, groups, sites and settings get their own. Signed tokens are real ones of
the right kind, and the same token tampered with (which must give 404).

Refusals: Dekiru's own views answer 403 (or 404 for an object outside the user's partner), but Wagtail's views
(and the admin's menu-level permission checks) redirect a user without permission to the admin home with 302 and
a message, so "refused" below means 302 or 403 (or 404).
"""

import re
import traceback
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import LocalePrefixPattern
from django.utils import timezone
from wagtail.models import Collection, Page

from cms import roles
from cms.models import HomePage, MunicipalitySettings
from courses import services
from courses.models import (
    CourseGroupPage,
    CourseIndexPage,
    CoursePage,
    OutgoingMessage,
    Participant,
    Registration,
    Session,
    SessionSeries,
    SessionStaff,
    Topic,
)
from courses.page_access import sync_partner_page_access
from courses.tokens import registration_token
from outreach.assessment_tokens import assessment_token
from outreach.models import Consultation, ConsultationTopic, SelfAssessment, SkillItem
from partners.feeds import feed_token, get_or_create_feed
from partners.models import Partner, PartnerMembership, Venue, Ward
from partners.services import add_membership
from tests import factories
from tests.isolation.test_admin_url_walk import PARAM

pytestmark = [pytest.mark.django_db, pytest.mark.url_walk, pytest.mark.clock]

ID = 9101  # the id of every walk object whose id we can choose
ANONYMOUS = "anonymous"
ROLES = [ANONYMOUS, *roles.ALL_ROLES]
PARTNER_ROLE = {roles.PARTNER_MANAGER: "manager", roles.PARTNER_INSTRUCTOR: "instructor"}
TAMPERED = "x"  # appended to a real token: the signature no longer matches

ANONYMOUS_OK = {200, 301, 302, 304, 308, 400, 403, 404, 405, 410}
# Admin URLs an anonymous visitor may open: signing in, resetting a password, and static helpers of the login page
# (the admin's icon sprite and JavaScript translations, the same for everyone and holding no data).
ANONYMOUS_ADMIN_PAGES = re.compile(r"^/admin/(login/|password_reset/|sprite/|jsi18n/)")

# Wagtail's own views allowed to answer with a server error (Wagtail's, never Dekiru's: test_admin_url_walk tolerates
# errors of Wagtail's views the same way). Each entry: a URL regex and why; keep it short.
WAGTAIL_500_ALLOWED = {
    r"^/admin/failwhale/$": "Wagtail's error-reporting test view: it raises on purpose, to check error reports",
}

# Regex routes cannot be filled in mechanically: each gets its URLs here (a new one fails the test until added).
# Wagtail's page-serving catch-all is walked with every page of the site instead (see _page_paths).
REGEX_ROUTES = {
    r"admin/pages/(?P<pk>\d+)/revisions/compare/(?P<revision_id_a>live|earliest|\d+)\.\.\."
    r"(?P<revision_id_b>live|latest|\d+)/": lambda w: [
        f"admin/pages/{w.course.pk}/revisions/compare/earliest...latest/",
        f"admin/pages/{w.course.pk}/revisions/compare/live...latest/"],
    r"admin/.*/": lambda w: ["admin/no-such-view/"],
    r"documents/(\d+)/(.*)": lambda w: [f"documents/{ID}/walk.pdf"],
    r"((?:[\w\-]+/)*)": lambda w: w.page_paths,
}
# Query strings some views need to show an object rather than answer 404.
QUERY_STRINGS = {"admin/outreach/reports/partners/report.<str:fmt>": f"?partner={ID}"}
REFUSED = {302, 403, 404}
CITY = {roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.CITY_ANALYST, roles.CALL_CENTRE_OPERATOR}
PARTNER = {roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR}


def expect(ok: set[str], *, refused=REFUSED, anonymous=frozenset({302})) -> dict:
    """Expected status codes per role: 200 for `ok`, `refused` for every other role, `anonymous` for the stranger
    (302 to the login page for admin URLs)."""
    return {ANONYMOUS: set(anonymous)} | {role: {200} if role in ok else set(refused) for role in roles.ALL_ROLES}


# Key URLs and who may open them ({ID}, {course}, {token}, {check}, {feed} are filled in from the walk's data).
KEY_URLS = {
    "/admin/": expect(CITY | PARTNER),
    "/admin/login/": expect(set(), anonymous={200}) | {role: {302} for role in roles.ALL_ROLES},
    "/admin/outreach/dashboard/": expect(
        {roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.CITY_ANALYST, roles.PARTNER_MANAGER}),
    "/admin/outreach/consultations/new/": expect(
        {roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.CALL_CENTRE_OPERATOR}),
    "/admin/outreach/consultations/": expect(
        {roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.CITY_ANALYST, roles.CALL_CENTRE_OPERATOR}),
    # Personal data and the access review refuse with a plain 403 (courses.admin.data_requests, partners.admin.staff).
    "/admin/personal-data/": expect(
        {roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.CALL_CENTRE_OPERATOR}, refused={403}),
    "/admin/personal-data/{ID}/": expect(
        {roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.CALL_CENTRE_OPERATOR}, refused={403}),
    "/admin/personal-data/{ID}/erase/": expect(
        {roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER}, refused={403}),
    "/admin/staff/access-review/": expect({roles.CITY_ADMINISTRATOR}, refused={403}),
    "/admin/call-centre/": expect(
        {roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.CALL_CENTRE_OPERATOR}),
    "/admin/sessions/": expect(CITY | PARTNER),
    "/admin/sessions/edit/{ID}/": expect(
        {roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.PARTNER_MANAGER}),
    "/admin/roster/{ID}/": expect(CITY | PARTNER),  # read-only for those who may not change registrations
    "/admin/my-calendar-feeds/": expect(CITY | PARTNER),  # one's own feeds only (city staff have none)
    "/admin/users/": expect({roles.CITY_ADMINISTRATOR}),
    # Two-factor sign-in (cms.admin.two_factor): one's own page for every member of staff, resets for administrators.
    "/admin/two-factor/": expect(CITY | PARTNER),
    "/admin/two-factor/setup/": expect(CITY | PARTNER),
    "/admin/staff/{staff}/two-factor/reset/": expect({roles.CITY_ADMINISTRATOR}, refused={403}),
    "/admin/staff/invitations/": expect({roles.CITY_ADMINISTRATOR}, refused={403}),
    "/admin/staff/invitations/new/": expect({roles.CITY_ADMINISTRATOR}, refused={403}),
    "/admin/outreach/reference/": expect(
        {roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.CITY_ANALYST}),
    # Public pages: the same for everyone.
    "/": {role: {200} for role in ROLES},
    "/en/classes/": {role: {200} for role in ROLES},
    "/opendata/events.csv": {role: {200} for role in ROLES},
    "/en/opendata/participation-FY{fy}.csv": {role: {200} for role in ROLES},
    "/registrations/{token}/": {role: {200} for role in ROLES},
    "/registrations/{token}x/": {role: {404} for role in ROLES},
    "/en/registrations/{token}x/cancel/": {role: {404} for role in ROLES},
    "/check/{check}/": {role: {200} for role in ROLES},
    "/check/{check}x/": {role: {404} for role in ROLES},
    "/check/{token}/": {role: {404} for role in ROLES},  # a registration token does not open a check
    "/calendar/staff/{feed}.ics": {role: {200} for role in ROLES},
    "/calendar/staff/{feed}x.ics": {role: {404} for role in ROLES},
    "/sessions/{ID}/register/": {role: {200} for role in ROLES},
    "/en/sessions/{ID}/register/": {role: {200} for role in ROLES},
    # The form's old address under the course page redirects to the new one (308 keeps a POST's data).
    "{course_url}sessions/{ID}/register/": {role: {308} for role in ROLES},
}


@dataclass
class World:
    partner: Partner
    index: CourseIndexPage
    group: CourseGroupPage
    course: CoursePage
    session: Session
    registration: Registration
    token: str
    check: str
    feed: str
    staff_user: object
    page_paths: list[str] = field(default_factory=list)


def _page_path(page) -> str:
    home = HomePage.objects.get()
    return page.specific.url_path[len(home.url_path):]


@pytest.fixture
def world(site):
    """A partner with a venue, a course under its group page (live, with a draft in the city's approval workflow),
    a weekly series and a session, two registrations, a message, a staff member with a private feed, a support-desk
    consultation and a self-assessment."""
    partner = Partner.objects.create(pk=ID, name="NPO法人ウォーク", name_en="Walk NPO", kind=Partner.Kind.NPO)
    index = CourseIndexPage.objects.get()
    group = CourseGroupPage(title="NPO法人ウォーク", slug="walk-npo", partner=partner)
    index.add_child(instance=group)
    group.save_revision().publish()
    course = CoursePage(title="ウォーク講座", slug="walk-course", title_kana="ウォークコウザ", summary="説明")
    group.add_child(instance=course)
    course.save_revision().publish()
    Topic.objects.create(pk=ID, name="ウォーク", name_en="Walk")
    venue = Venue.objects.create(pk=ID, name="ウォーク会場", partner=partner, ward=factories.ward(), address="川崎市")
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    series = SessionSeries.objects.create(
        pk=ID, course=course, organiser=partner, venue=venue, weekdays=[start.weekday()], start_time=start.time(),
        duration_minutes=90, starts_on=start.date(), weeks=1, capacity=10)
    session = Session.objects.create(pk=ID, course=course, organiser=partner, venue=venue, series=series,
                                     starts_at=start, ends_at=start + timedelta(hours=2), capacity=10)
    person = Participant.objects.create(pk=ID, name="歩 花子", kana="アユミ ハナコ", email="walk@example.jp",
                                        phone="09011112222", age_band=Participant.AgeBand.AGE_70_74)
    Participant.objects.create(pk=ID + 1, name="歩 太郎", kana="アユミ タロウ", phone="09011113333",
                               age_band=Participant.AgeBand.AGE_75_79)
    registration = Registration.objects.create(pk=ID, session=session, participant=person,
                                               status=Registration.Status.CONFIRMED)
    services.register(session=session, participant=services.ParticipantDetails(
        name="歩 次郎", kana="アユミ ジロウ", email="walk2@example.jp", age_band="70-74", consent=True))
    OutgoingMessage.objects.create(  # on the call list (/admin/messages/calls/<id>/)
        pk=ID, key="walk:url", kind=OutgoingMessage.Kind.REMINDER, registration=registration, session=session,
        to_name=person.name, to_phone=person.phone, channel=OutgoingMessage.Channel.PHONE,
        status=OutgoingMessage.Status.TO_CALL)
    staff_user = get_user_model().objects.create_user("walk-staff", password="pw", pk=ID)
    staff_user.groups.add(Group.objects.get(name=roles.PARTNER_MANAGER))
    membership = PartnerMembership.objects.create(pk=ID, partner=partner, user=staff_user,
                                                  role=PartnerMembership.Role.MANAGER)
    feed = get_or_create_feed(membership=membership)
    sync_partner_page_access(partner)
    course.title = "ウォーク講座（下書き）"
    course.save_revision()
    course.get_workflow().start(course, staff_user)  # a task state and a workflow state for the workflow URLs
    Consultation.objects.create(
        pk=ID, date=timezone.localdate(), place=Consultation.Place.WARD_OFFICE, place_ward=factories.ward(),
        outcome=Consultation.Outcome.SOLVED).topics.add(ConsultationTopic.objects.first())
    SelfAssessment.objects.create(pk=ID, registration=registration, kind=SelfAssessment.Kind.PRE,
                                  source=SelfAssessment.Source.ONLINE)
    pages = list(Page.objects.filter(depth__gt=1).specific())
    world = World(partner=partner, index=index, group=group, course=CoursePage.objects.get(pk=course.pk),
                  session=session, registration=registration, token=registration_token(registration),
                  check=assessment_token(registration, SelfAssessment.Kind.PRE), feed=feed_token(feed),
                  staff_user=staff_user)
    world.page_paths = sorted({_page_path(page) for page in pages} | {
        _page_path(course) + f"sessions/{ID}/register/", "no-such-page/"})
    return world


def _routes():
    """(route, localized) for every URL pattern: localized ones live under /en/ too."""
    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    for top in get_resolver().url_patterns:
        localized = isinstance(getattr(top, "pattern", None), LocalePrefixPattern)
        for route in walk([top], ""):
            yield route.replace("^", "").replace("$", ""), localized


# Pairs of (app, model) parameters, by the route they appear in.
MODEL_PAIRS = {
    "admin/settings/": [("cms", "sitesettings"), ("cms", "municipalitysettings")],
    "admin/workflows/tasks/add/": [("wagtailcore", "groupapprovaltask")],
    "admin/bulk/": [("wagtailcore", "page")],
    "admin/editing-sessions/": [("wagtailcore", "page")],
}
SNIPPETS = {"courses/topic": Topic, "partners/partner": Partner, "partners/venue": Venue, "partners/ward": Ward,
            "outreach/skillitem": SkillItem, "outreach/consultationtopic": ConsultationTopic}


def _values(route: str, name: str, w: World) -> list[str]:  # noqa: C901 - one rule per parameter, flat on purpose
    """Values for one path parameter of one route: real ids and words, and tampered tokens."""
    today = timezone.localdate()
    fiscal_year = today.year if today.month >= 4 else today.year - 1
    snippet = next((model for key, model in SNIPPETS.items() if f"/{key}/" in route), None)
    if name in ("parent_page_id",):
        return [str(w.group.pk)]
    if name in ("page_id", "page_to_move_id", "destination_id", "page_pk", "object_id") or (
            name == "pk" and "pages/" in route):
        return [str(w.course.pk)]
    if name == "revision_id":
        return [str(w.course.latest_revision_id)]
    if name == "task_state_id":
        return [str(w.course.current_workflow_task_state.pk)]
    if name == "workflow_state_id":
        return [str(w.course.current_workflow_state.pk)]
    if name == "task_id" or (name == "pk" and "workflows/tasks/" in route):
        return [str(w.course.current_workflow_task.pk)]
    if name == "workflow_pk" or (name == "pk" and "workflows/" in route):
        return [str(w.course.get_workflow().pk)]
    if name in ("collection_id",) or (name == "pk" and "collections/" in route):
        return [str(Collection.get_first_root_node().pk)]
    if name == "pk" and "admin/groups/" in route:
        return [str(Group.objects.get(name=roles.PARTNER_MANAGER).pk)]
    if name == "pk" and "admin/sites/" in route:
        return [str(w.course.get_site().pk)]
    if name == "pk" and "admin/settings/" in route:
        return [str(w.course.get_site().pk), str(MunicipalitySettings.load().pk)]
    if name == "pk" and snippet is not None:
        return [str(snippet.objects.order_by("pk").values_list("pk", flat=True).first())]
    if name == "other_pk":
        return [str(ID + 1)]
    if name in ("year", "month"):
        return [str(today.year if name == "year" else today.month)]
    if name == "fiscal_year":
        return [str(fiscal_year)]
    if name == "token":
        token = {"registrations/": w.token, "check/": w.check, "calendar/staff/": w.feed}.get(
            next((key for key in ("registrations/", "check/", "calendar/staff/") if route.startswith(key)), ""))
        if token is None:
            return ["set-password"]  # Django's password-reset confirmation
        return [token, token + TAMPERED]
    if name == "uidb64":
        return ["MQ"]
    if name == "code":
        return [factories.ward().code, "000000"]
    if name == "fmt":
        return ["png"] if "charts/" in route else ["json"] if "personal-data/" in route else ["csv"]
    if name == "name":
        return ["kpi"] if "charts/" in route else ["summary"]
    if name == "kind":
        if "can-do/" in route:
            return [SelfAssessment.Kind.PRE]
        return ["population"] if "reference/" in route else ["sessions"]
    if name == "source":
        return ["tablet"]
    if name in ("action_name",):
        return ["approve"]
    if name == "action":
        return ["delete"]
    if name == "filter_spec":
        return ["original"]
    if name in ("app_label", "app_name", "content_type_app_name", "model_name", "content_type_model_name"):
        raise AssertionError("model pairs are filled in by _fill")
    return [str(ID)]  # any other id: session_id, registration_id, pk, image_id, …


def _fill(route: str, w: World) -> list[str]:
    params = PARAM.findall(route)
    names = [name or regex_name for _converter, name, regex_name in params]
    pairs = next((pairs for prefix, pairs in MODEL_PAIRS.items() if route.startswith(prefix)),
                 [("courses", "coursepage")])
    choices = [[]]
    for name in names:
        if name in ("app_label", "app_name", "content_type_app_name"):
            choices = [done + [app] for done in choices for app in dict.fromkeys(app for app, _m in pairs)]
        elif name in ("model_name", "content_type_model_name"):
            choices = [done + [model] for done in choices for app, model in pairs if app in done]
        else:
            choices = [done + [value] for done in choices for value in _values(route, name, w)]
    urls = []
    for values in choices:
        values = iter(values)
        urls.append(PARAM.sub(lambda _match, values=values: next(values), route))
    return urls


def all_urls(w: World) -> list[str]:
    urls, unfilled = set(), []
    for route, localized in _routes():
        if route in REGEX_ROUTES:
            filled = REGEX_ROUTES[route](w)
        else:
            filled = _fill(route, w)
            if any(re.search(r"[()\[\]\\?*+|{}^$]", url) for url in filled):
                unfilled.append(route)
                continue
        for url in filled:
            url += QUERY_STRINGS.get(route, "")
            urls.add("/" + url)
            if localized:
                urls.add("/en/" + url)
    assert not unfilled, f"Routes this walk cannot fill in (add them to REGEX_ROUTES): {unfilled}"
    return sorted(urls)


def _user(role: str, w: World):
    user = get_user_model().objects.create_user(f"walk-{role.lower().replace(' ', '-')}", password="pw")
    user.groups.add(Group.objects.get(name=role))
    if role in PARTNER_ROLE:
        membership = add_membership(partner=w.partner, user=user, role=PARTNER_ROLE[role])
        get_or_create_feed(membership=membership)
        SessionStaff.objects.create(session=w.session, user=user)
    return user


def _trace(response) -> str:
    exc_info = getattr(response, "exc_info", None)
    if not exc_info:
        return ""
    frames = traceback.extract_tb(exc_info[2])[-2:]
    where = "; ".join(f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno} {frame.name}" for frame in frames)
    return f" {exc_info[0].__name__}: {str(exc_info[1])[:160]} at {where}"


@pytest.mark.parametrize("role", ROLES)
def test_every_url_answers_each_role_as_expected(client, world, role):
    client.raise_request_exception = False
    user = None if role == ANONYMOUS else _user(role, world)
    today = timezone.localdate()
    fiscal_year = today.year if today.month >= 4 else today.year - 1
    key_urls = {url.format(ID=ID, token=world.token, check=world.check, feed=world.feed, fy=fiscal_year,
                           staff=world.staff_user.pk,
                           course_url="/" + _page_path(world.course)): table
                for url, table in KEY_URLS.items()}
    urls = all_urls(world)
    assert len(urls) > 400  # the walk really covers the project
    errors, statuses = [], {}
    for url in urls + sorted(set(key_urls) - set(urls)):
        if user is not None and "_auth_user_id" not in client.session:
            client.force_login(user)  # the walk passed /admin/logout/
        response = client.get(url)
        status = statuses[url] = response.status_code
        if status >= 500 and not any(re.search(pattern, url) for pattern in WAGTAIL_500_ALLOWED):
            errors.append(f"{url}: {status}{_trace(response)}")
        elif role == ANONYMOUS and status not in ANONYMOUS_OK:
            errors.append(f"{url}: {status} for an anonymous visitor")
        elif role == ANONYMOUS and url.startswith("/admin/") and not ANONYMOUS_ADMIN_PAGES.match(url):
            if status == 200:
                errors.append(f"{url}: an admin page answered an anonymous visitor")
            elif status == 302 and not response["Location"].startswith("/admin/login/"):
                errors.append(f"{url}: redirects an anonymous visitor to {response['Location']}, not to log in")
        if url in key_urls and status not in key_urls[url][role]:
            errors.append(f"{url}: {status} for {role}, expected {sorted(key_urls[url][role])}")
    assert not errors, f"{role}:\n" + "\n".join(errors)
    # The walk reached real pages, not only redirects to the login page (public pages for the stranger).
    assert sum(status == 200 for status in statuses.values()) > (50 if role == ANONYMOUS else 100)
