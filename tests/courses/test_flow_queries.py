"""What each request of the registration flow costs the database (issue 18): the form (GET), the review (POST), the
final 「この内容で申し込む」 (POST step=register) and the confirmation page it leads to. Counted in a real transaction
(transactional test), after one registration has warmed the per-process caches (content types, the page frame's
memo), so the figures are those of a running server.

The final POST writes in one transaction and commits once: lock the session (with its course's public check), find
or insert the participant, count the seats, insert the registration, the audit entry, the outbox row (one INSERT … ON
CONFLICT DO NOTHING) and, for a message the worker sends, its task row; then COMMIT. The figures include the page
chrome of templates/base.html (the site settings with the privacy page, the municipality's name, the site and its root
paths): read from cms.page_frame's per-process memo, checked against its version in the shared cache — one SELECT of
the database cache (the default without REDIS_URL; none with Redis).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from courses.models import OutgoingMessage, Registration
from tests import factories
from tests.courses.test_registration_review import form_data, hidden_fields

pytestmark = [pytest.mark.clock]

# Per request of the flow: (queries, commits), every statement counted (BEGIN, COMMIT, PostgreSQL's lock_timeout).
# Before issue 18's work: form 9, review 7, final POST 17 + 1 commit (19 + 2 commits with a task for the worker: its
# row was written after the commit, in a transaction of its own), confirmation 7, on both databases (PostgreSQL's
# final POST one more: the lock_timeout). Then form 7, review 6, confirmation 7, before the page frame's memo.
#
# The final POST, as a phone call (no task): BEGIN, [PostgreSQL: set_config lock_timeout (cms.overload)], the lock
# (with the course's public check and whether the contacts were reported undeliverable), the participant's select
# and insert, the seat count, the registration, the audit entry, the outbox row, COMMIT. By e-mail: and the task row.
# A ward chosen (not "outside the city", as here) adds its existence check to the review and the final POST.
#
# The pages' chrome (templates/base.html) is 1 query of the form, review and confirmation pages: the page frame's
# version, read from the database cache (none with Redis), which shows the memo of this process still current
# (cms.page_frame): the municipality's settings, the site, its root paths, the site settings and the privacy policy
# page were 5 queries. The rest: the form 2 (the session with its seat counts and public check; the wards), the
# review 1 (the session), the confirmation 2 (the registration with its session and course; Wagtail's site root
# paths from the cache, for the course's URL in the "add to calendar" links: courses.ical.course_url asks without the
# request, so not from the frame). The final POST redirects and renders nothing: no chrome.
EXPECTED = {
    "sqlite": {"form": (3, 0), "review": (2, 0), "register": (9, 1), "register_email": (10, 1), "confirm": (3, 0)},
    "postgresql": {"form": (3, 0), "review": (2, 0), "register": (10, 1), "register_email": (11, 1),
                   "confirm": (3, 0)},
}


def commits(statements: list[str]) -> int:
    """COMMITs, and writes made outside a transaction (each commits by itself, as the task row once did)."""
    count, in_transaction = 0, False
    for sql in statements:
        head = sql.lstrip().upper()
        if head.startswith("BEGIN"):
            in_transaction = True
        elif head in ("COMMIT", "ROLLBACK"):
            count += head == "COMMIT"
            in_transaction = False
        elif not in_transaction and head.startswith(("INSERT", "UPDATE", "DELETE")):
            count += 1
    return count


def one_registration(client, session, n: int, assert_num_queries, expected: dict | None = None,
                     **overrides) -> dict[str, tuple[int, int]]:
    """Drive the flow once, as a browser does; with `expected` ({request: (queries, commits)}), pin what each
    request costs (django_assert_num_queries). Returns the figures."""
    url = f"/sessions/{session.pk}/register/"
    figures, kept = {}, {}

    def request(name, send):
        queries = expected[name][0] if expected else None
        with assert_num_queries(queries) if expected else CaptureQueriesContext(connection) as captured:
            kept["response"] = send()
        statements = [query["sql"] for query in captured.captured_queries]
        figures[name] = (len(statements), commits(statements))
        return kept["response"]

    response = request("form", lambda: client.get(url))
    assert response.status_code == 200
    data = form_data(name=f"川崎 花子{n}", phone=f"090-1234-{n:04d}", **overrides)
    response = request("review", lambda: client.post(url, data))
    assert response.status_code == 200, response.content.decode()[:2000]
    answers = hidden_fields(response.content.decode()) | {"step": "register"}
    response = request("register", lambda: client.post(url, answers))
    assert response.status_code == 302, response.content.decode()[:2000]
    confirmation = response["Location"]
    response = request("confirm", lambda: client.get(confirmation))
    assert response.status_code == 200
    if expected:
        assert figures == expected
    return figures


@pytest.mark.django_db(transaction=True)
def test_each_request_of_the_flow_costs_a_pinned_number_of_queries_and_one_commit_to_register(
        client, site, django_assert_num_queries):
    session = factories.session(capacity=5)
    one_registration(client, session, 1, django_assert_num_queries)  # warms the per-process caches
    pinned = EXPECTED[connection.vendor]

    by_phone = {name: figure for name, figure in pinned.items() if name != "register_email"}
    one_registration(client, session, 2, django_assert_num_queries, by_phone)  # a phone call: no task
    by_email = by_phone | {"register": pinned["register_email"]}
    one_registration(client, session, 3, django_assert_num_queries, by_email, email="hanako3@example.jp",
                     notify_by="email")

    assert Registration.objects.filter(session=session).count() == 3
    message = OutgoingMessage.objects.get(registration__participant__email="hanako3@example.jp")
    [task] = DBTaskResult.objects.filter(args_kwargs__args=[message.pk])
    assert task.task_path == "courses.tasks.send_message_task"


@pytest.mark.django_db(transaction=True)
def test_a_double_click_registers_once_and_commits_once(client, site, django_assert_num_queries):
    """The same answers sent twice (a double click on 「この内容で申し込む」): one registration; the second request
    finds the person and their registration and queues no second confirmation."""
    session = factories.session(capacity=5)
    url = f"/sessions/{session.pk}/register/"
    data = form_data(email="hanako@example.jp", notify_by="email") | {"step": "register"}
    first = client.post(url, data)
    with CaptureQueriesContext(connection) as captured:
        second = client.post(url, data)
    assert first.status_code == second.status_code == 302
    assert second["Location"] == reverse("courses:already_registered")
    assert Registration.objects.filter(session=session).count() == 1
    assert OutgoingMessage.objects.filter(registration__session=session).count() == 1
    assert commits([query["sql"] for query in captured.captured_queries]) == 1


# --- The form's inputs are Django's, without a template per input ------------------------------------------------


def rendered(form) -> list[str]:
    """Everything of the form the pages show: each field as an input, its radio buttons one by one, as hidden."""
    out = []
    for field in form:
        out += [str(field), field.as_hidden()]
        if field.field.widget.use_fieldset:  # radio buttons: one by one, as the page writes them
            out += [choice.tag() for choice in field] + [str(choice) for choice in field]
    return out


@pytest.mark.django_db
@pytest.mark.parametrize("data", [
    None,  # the empty form
    {},  # every required answer missing: errors, aria-invalid, aria-describedby to the errors
    form_data(),  # valid
    form_data(name="<b>\"川崎\" & 'はなこ'</b>", accessibility_needs="<script>alert(1)</script>\n車いす",
              email="not an address", ward="999999", notify_by="sms", booking_for="other"),
])
def test_the_registration_form_renders_the_markup_of_djangos_templates(site, data):
    from django.forms.renderers import get_default_renderer

    from courses.forms import RegistrationForm, WidgetHtmlRenderer

    ours = RegistrationForm(data, renderer=WidgetHtmlRenderer())
    djangos = RegistrationForm(data, renderer=get_default_renderer())
    assert isinstance(RegistrationForm(data).renderer, WidgetHtmlRenderer)
    assert rendered(ours) == rendered(djangos)
