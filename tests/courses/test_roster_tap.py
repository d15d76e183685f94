"""Tap-to-mark on the roster (courses.admin.roster.MarkView answering js/roster-mark.js): asked for JSON, a mark
answers with the person's row as the server now holds it and the counts, leaves no admin message behind, costs a
fixed number of queries, marks once when tapped twice, and refuses junk with 4xx (never 5xx), another partner's
people with 404, a user who may only view with 403."""

from datetime import timedelta

import pytest
from django.test import Client
from wagtail.models import ModelLogEntry

from cms import roles
from courses.models import Registration
from tests import factories
from tests.courses import test_roster_admin
from tests.courses.test_roster_admin import message_texts, staff, started, url

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status
JSON = {"HTTP_ACCEPT": "application/json", "HTTP_X_REQUESTED_WITH": "fetch"}
# The JSON mark, end to end: the admin's session, user, permissions (2), profile; the user's roles and partner scope
# (privacy.rights); the scoped session and the registration; the service's savepoint, locks of session and
# registration, update and audit entry (one INSERT, cms.audit); the counts for the answer.
MARK_QUERIES = 16

world = test_roster_admin.world  # the roster tests' partners A and B, people on A's session


def mark(client, registration, action, **extra):
    return client.post(url("mark", registration.session_id, registration.pk), {"action": action}, **extra)


@pytest.fixture
def instructor(client, world):
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, world["a"]))
    return client


def test_a_tap_answers_with_the_row_and_the_counts_as_the_server_holds_them(instructor, world):
    booked = world["booked"]
    response = mark(instructor, booked, "attended", **JSON)

    assert response.status_code == 200
    answer = response.json()
    assert (answer["ok"], answer["status"], answer["registration"], answer["reload"]) == (
        True, Status.ATTENDED, booked.pk, False)
    assert answer["message"] == "中原 春子: attended."
    assert answer["summary"] == {"unmarked": 0, "attended": 2, "walk_ins": 1, "no_show": 0, "waitlisted": 1,
                                 "seated": 2}
    row = answer["html"]
    assert row.strip().startswith(f'<li class="roster-person roster-person--attended" id="person-{booked.pk}"')
    assert 'value="undo"' in row and 'value="no_show"' in row and 'value="attended"' not in row
    assert "data-roster-mark" in row and "csrfmiddlewaretoken" in row
    assert "車いすを使用" in row  # the same row as the page's, notes and all
    booked.refresh_from_db()
    assert booked.status == Status.ATTENDED
    assert message_texts(response) == []  # nothing waits for the next page load

    undone = mark(instructor, booked, "undo", **JSON).json()
    assert (undone["status"], undone["summary"]["unmarked"]) == (Status.CONFIRMED, 1)
    assert 'value="attended"' in undone["html"]


def test_the_json_mark_costs_a_fixed_number_of_queries(instructor, world, django_assert_num_queries):
    # A first mark fills the process's caches (content types for the audit entry), whatever ran before.
    warm_up = factories.registration(session_obj=world["session_a"])
    assert mark(instructor, warm_up, "attended", **JSON).status_code == 200
    with django_assert_num_queries(MARK_QUERIES):
        assert mark(instructor, world["booked"], "attended", **JSON).status_code == 200
    with django_assert_num_queries(MARK_QUERIES - 2):  # already marked: no update, no audit entry
        assert mark(instructor, world["booked"], "attended", **JSON).status_code == 200


def test_a_double_tap_marks_once(instructor, world):
    booked = world["booked"]
    answers = [mark(instructor, booked, "no_show", **JSON).json() for _ in range(2)]
    assert [a["status"] for a in answers] == [Status.NO_SHOW, Status.NO_SHOW]
    assert ModelLogEntry.objects.filter(object_id=str(booked.pk), action="courses.registration.no_show").count() == 1


def test_a_refusal_is_a_409_with_the_reason_and_the_current_row(instructor, world):
    walk_in = world["walk_in"]
    response = mark(instructor, walk_in, "no_show", **JSON)
    assert response.status_code == 409
    answer = response.json()
    assert answer["ok"] is False and answer["status"] == Status.ATTENDED
    assert answer["message"].startswith("宮前 三郎: A walk-in cannot be marked")
    assert f'id="person-{walk_in.pk}"' in answer["html"]
    assert message_texts(response) == []


def test_the_answer_follows_a_mark_made_meanwhile_on_another_tablet(instructor, world):
    """The server is the source of truth: a refused tap shows the row as it now is, not as the page had it."""
    session = started(world["a"], capacity=3)
    person = factories.registration(session_obj=session)
    session.status, session.cancellation_reason = session.Status.CANCELLED, "講師の急病のため"
    session.save(update_fields=["status", "cancellation_reason"])
    response = mark(instructor, person, "attended", **JSON)
    assert response.status_code == 409
    answer = response.json()
    assert "cancelled" in answer["message"]
    assert 'value="attended"' not in answer["html"]  # no buttons: attendance cannot be taken


def test_a_waiting_list_person_given_a_seat_reloads_the_roster(instructor, world):
    waiting = world["waiting"]
    response = mark(instructor, waiting, "attended", **JSON)
    answer = response.json()
    assert (answer["ok"], answer["reload"], answer["html"]) == (True, True, "")
    assert answer["roster_url"] == f"{url('session', world['session_a'].pk)}#person-{waiting.pk}"
    assert [m.strip() for m in message_texts(response)] == ["高津 次郎: attended."]  # shown on the reloaded roster
    waiting.refresh_from_db()
    assert waiting.status == Status.ATTENDED


def test_without_the_json_header_the_plain_form_still_redirects(instructor, world):
    response = mark(instructor, world["booked"], "attended")
    assert response.status_code == 302
    assert response["Location"].endswith(f"#person-{world['booked'].pk}")


@pytest.mark.parametrize("action", ["", "explode", "attended\x00", "a" * 5000, "\x00"])
def test_junk_actions_are_refused_with_4xx(instructor, world, action):
    response = mark(instructor, world["booked"], action, **JSON)
    assert 400 <= response.status_code < 500
    world["booked"].refresh_from_db()
    assert world["booked"].status == Status.CONFIRMED


def test_other_ids_are_404_and_viewers_403(client, instructor, world):
    session_a, other = world["session_a"], world["other"]
    assert mark(instructor, other, "attended", **JSON).status_code == 404  # partner B's person
    # partner A's session in the URL with partner B's person
    assert instructor.post(url("mark", session_a.pk, other.pk), {"action": "attended"}, **JSON).status_code == 404
    assert instructor.post(url("mark", 999999, 999999), {"action": "attended"}, **JSON).status_code == 404
    assert instructor.post(f"/admin/roster/{session_a.pk}/people/abc/mark/", {"action": "attended"},
                           **JSON).status_code == 404
    other.refresh_from_db()
    assert other.status == Status.CONFIRMED

    analyst = Client()
    analyst.force_login(staff(roles.CITY_ANALYST))
    assert mark(analyst, world["booked"], "attended", **JSON).status_code == 403


def test_the_json_mark_needs_the_csrf_token_the_script_sends(world):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff(roles.PARTNER_INSTRUCTOR, world["a"]))
    browser.get(url("session", world["session_a"].pk))  # sets the CSRF cookie, as the page does
    token = browser.cookies["csrftoken"].value
    booked = world["booked"]
    assert mark(browser, booked, "attended", **JSON).status_code == 403
    assert mark(browser, booked, "attended", HTTP_X_CSRFTOKEN=token, **JSON).status_code == 200


def test_the_roster_loads_the_script_and_its_live_region_only_for_those_who_mark(client, instructor, world):
    page = instructor.get(url("session", world["session_a"].pk)).content.decode()
    assert "js/roster-mark.js" in page and "data-roster-mark-result" in page and "<form method=\"post\"" in page
    session = started(world["a"], capacity=2)
    session.starts_at -= timedelta(days=30)
    session.ends_at -= timedelta(days=30)
    session.save(update_fields=["starts_at", "ends_at"])
    closed = instructor.get(url("session", session.pk)).content.decode()
    assert "js/roster-mark.js" not in closed and "data-roster-mark-result" not in closed
