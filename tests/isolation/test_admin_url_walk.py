"""Partner isolation, proven by walking the admin: every admin URL pattern of the project (Django's URL resolver,
so views added later are walked too) is requested with the ids of partner A's objects, as a partner-B manager and
as a partner-B instructor, by GET and by POST. A's private data never appears in a response (HTML, CSV or XLSX),
and nothing of A's changes.

Every object of partner A that a URL could name gets the same id (A_ID), except its pages (Wagtail's page tree
chooses their ids), so each int or pk parameter needs only those few values. Private markers: a participant's
name, e-mail and phone, a session's internal notes, a draft course title, a private feed address.
"""

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

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
)
from courses.page_access import sync_partner_page_access
from partners.feeds import feed_token, get_or_create_feed
from partners.models import Partner, PartnerMembership, StaffCalendarFeed, Venue
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.url_walk, pytest.mark.clock]

A_ID = 9001
NAME, EMAIL, PHONE = "秘匿 花子", "secret-a@example.jp", "09099998888"
NOTES, DRAFT_TITLE = "A社内部メモ：鍵は事務所", "A社下書き講座（未公開）"
WORDS = ["sessions", "registrations", "attendance", "session", "registration", "participant", "venue", "courses",
         "partners", "coursepage", "outgoingmessage", "sessionseries", "partner"]
APP_MODELS = [("courses", "session"), ("courses", "registration"), ("courses", "participant"),
              ("courses", "coursepage"), ("courses", "outgoingmessage"), ("courses", "sessionseries"),
              ("partners", "venue"), ("partners", "partner"), ("partners", "partnermembership")]
POST_DATA = {"reason": "walk", "action": "revoke", "membership": str(A_ID), "confirm": "1", "cancel": "1",
             "status": "attended", "attended": "1", "session": str(A_ID), "registration": str(A_ID),
             "capacity": "1", "start_time": "03:00"}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


PARAM = re.compile(r"<(?:(\w+):)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def _candidates(converter: str | None, name: str, ids: list[int]) -> list[str]:
    if converter == "int" or name.endswith(("_id", "pk")) or name in ("pk", "id", "object_id"):
        return [str(pk) for pk in ids]
    if name in ("app_label", "app_name", "content_type_app_name"):
        return sorted({app for app, _model in APP_MODELS})
    if name in ("model_name", "content_type_model_name"):
        return sorted({model for _app, model in APP_MODELS})
    if converter == "uuid":
        return []
    return WORDS


def admin_urls(ids: list[int]) -> list[str]:
    """Every admin URL pattern filled in with A's ids (and plausible words for other parameters)."""
    urls = set()
    for route in _walk(get_resolver().url_patterns):
        route = route.replace("^", "").replace("$", "")
        if not route.startswith("admin/"):
            continue
        params = PARAM.findall(route)
        choices = [[]]
        for converter, name, regex_name in params:
            options = _candidates(converter or None, name or regex_name, ids)
            choices = [done + [value] for done in choices for value in options][:60]
        for values in choices:
            values = iter(values)
            url = "/" + PARAM.sub(lambda _match, values=values: next(values), route)
            if re.search(r"[()\[\]\\?*+|{}]", url):
                continue  # an unusual regex we cannot fill in
            urls.add(url)
    return sorted(urls)


def _text(response) -> str:
    content_type = response.get("Content-Type", "")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if "spreadsheetml" in content_type:
        from openpyxl import load_workbook

        workbook = load_workbook(io.BytesIO(body), read_only=True)
        return "\n".join(str(cell) for sheet in workbook for row in sheet.iter_rows(values_only=True)
                         for cell in row if cell is not None)
    for encoding in ("utf-8", "cp932"):
        try:
            return body.decode(encoding)
        except UnicodeDecodeError:
            continue
    return body.decode("utf-8", "replace")


@pytest.fixture
def partner_a(site):
    """Partner A with one of everything, all under A_ID."""
    a = Partner.objects.create(pk=A_ID, name="NPO法人エー", name_en="A NPO", kind=Partner.Kind.NPO)
    index = CourseIndexPage.objects.get()
    group = CourseGroupPage(title="NPO法人エー", slug="a-npo", partner=a)
    index.add_child(instance=group)
    group.save_revision().publish()
    sync_partner_page_access(a)
    course = CoursePage(title="A社公開講座", slug="a-course", title_kana="エーコウザ", summary="公開の説明")
    group.add_child(instance=course)
    course.save_revision().publish()
    course.title = DRAFT_TITLE
    course.save_revision()  # a draft only A and the city may see, in the city's approval workflow
    venue = Venue.objects.create(pk=A_ID, name="A社会場", partner=a, ward=factories.ward(), address="川崎市")
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    series = SessionSeries.objects.create(
        pk=A_ID, course=course, organiser=a, venue=venue, weekdays=[start.weekday()], start_time=start.time(),
        duration_minutes=90, starts_on=start.date(), weeks=1, capacity=10)
    session = Session.objects.create(pk=A_ID, course=course, organiser=a, venue=venue, series=series,
                                     starts_at=start, ends_at=start + timedelta(hours=2), capacity=10, notes=NOTES)
    person = Participant.objects.create(pk=A_ID, name=NAME, kana="ヒトク ハナコ", email=EMAIL, phone=PHONE,
                                        age_band=Participant.AgeBand.AGE_70_74)
    registration = Registration.objects.create(pk=A_ID, session=session, participant=person,
                                               status=Registration.Status.CONFIRMED)
    OutgoingMessage.objects.create(
        pk=A_ID, key="walk:a", kind=OutgoingMessage.Kind.CONFIRMED, registration=registration, session=session,
        to_name=NAME, to_email=EMAIL, status=OutgoingMessage.Status.FAILED, last_error="400")
    OutgoingMessage.objects.create(
        key="walk:a:phone", kind=OutgoingMessage.Kind.REMINDER, registration=registration, session=session,
        to_name=NAME, to_phone=PHONE, channel=OutgoingMessage.Channel.PHONE, status=OutgoingMessage.Status.TO_CALL)
    staff = get_user_model().objects.create_user("a-staff", password="pw")
    PartnerMembership.objects.create(pk=A_ID, partner=a, user=staff, role=PartnerMembership.Role.MANAGER)
    sync_partner_page_access(a)
    feed = StaffCalendarFeed.objects.create(pk=A_ID, membership_id=A_ID)
    course.get_workflow().start(course, staff)  # waiting for the city's approval, with the draft title
    services.register(session=session, participant=services.ParticipantDetails(
        name=NAME + "二", kana="ヒトク ハナコ", email="secret-a2@example.jp", age_band="70-74", consent=True))
    markers = [NAME, EMAIL, PHONE, "secret-a2", "ヒトク", "090-9999-8888", NOTES, DRAFT_TITLE, "se***@",
               feed_token(feed)]
    return {"partner": a, "ids": [A_ID, group.pk, course.pk], "markers": markers}


def _snapshot():
    session = Session.objects.get(pk=A_ID)
    course = CoursePage.objects.get(slug="a-course")
    return {
        "session": (session.status, session.starts_at, session.capacity, session.venue_id, session.notes),
        "registration": Registration.objects.filter(pk=A_ID).values_list("status", "participant_id").first(),
        "participant": Participant.objects.filter(pk=A_ID).values_list("name", "email", "phone").first(),
        "messages": sorted(OutgoingMessage.objects.filter(session_id=A_ID).values_list("pk", "status", "attempts")),
        "feed": StaffCalendarFeed.objects.filter(pk=A_ID).values_list("key", "revoked_at").first(),
        "course": (course.title, course.live, course.latest_revision_id, course.has_unpublished_changes),
        "venue": Venue.objects.filter(pk=A_ID).values_list("name", "partner_id").first(),
        "series": SessionSeries.objects.filter(pk=A_ID).values_list("start_time", "capacity").first(),
        "membership": PartnerMembership.objects.filter(pk=A_ID).exists(),
        "partner": Partner.objects.filter(pk=A_ID).values_list("name", "is_active").first(),
        "pages": CoursePage.objects.count(),
    }


@pytest.mark.parametrize("role", ["manager", "instructor"])
def test_partner_b_staff_never_see_or_change_partner_a_data(client, partner_a, role):
    b = factories.partner()
    user = get_user_model().objects.create_user(f"b-{role}", password="pw")
    user.groups.add(Group.objects.get(name="Partner manager" if role == "manager" else "Partner instructor"))
    add_membership(partner=b, user=user, role=role)
    get_or_create_feed(membership=user.partner_memberships.get())
    b_session = factories.session(organiser=b, course_page=factories.course(owner=b))
    factories.registration(session_obj=b_session)  # B's own pages are not empty
    client.force_login(user)
    client.raise_request_exception = False
    before = _snapshot()

    urls = admin_urls(partner_a["ids"])
    assert len(urls) > 150  # the walk really covers the admin
    assert any(f"/{A_ID}/" in url for url in urls) and any(f"pages/{partner_a['ids'][2]}/" in url for url in urls)
    leaks, answered = [], 0
    for url in urls:
        if url == "/admin/logout/":
            continue  # signing out would turn the rest of the walk into redirects to the login page
        for method in ("get", "post"):
            if "_auth_user_id" not in client.session:
                client.force_login(user)
            if method == "get" and not any(ch.isdigit() for ch in url):
                target = url + "?q=" + NAME.split()[0]  # listings and search results
            else:
                target = url
            response = getattr(client, method)(target, POST_DATA if method == "post" else None)
            if response.status_code >= 500:
                # Wagtail's own views answer some made-up POSTs with an error; Dekiru's must not.
                if resolve(url).func.__module__.split(".")[0] in ("cms", "courses", "partners", "outreach"):
                    leaks.append(f"{method.upper()} {target}: {response.status_code}")
                continue
            if response.status_code == 200:
                answered += 1
                text = _text(response)
                found = [marker for marker in partner_a["markers"] if marker in text]
                if found:
                    leaks.append(f"{method.upper()} {target}: {found}")
    assert not leaks, "\n".join(leaks)
    assert answered > 50  # the pages B's staff may use did answer (and were searched for A's data)
    assert _snapshot() == before
