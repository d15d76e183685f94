"""Booking references (受付番号): eight digits with a Damm check digit, unique, given to every new registration
whatever the path (web, phone, walk-in, move, imports), shown in every message, found by the call centre."""

import itertools
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from courses import attendance, emails, references, services
from courses.models import OutgoingMessage, Registration
from courses.services import BookerDetails, ParticipantDetails
from tests import factories
from tests.courses.test_call_centre import logged_in
from tests.courses.test_emails import message_for, visible_text

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status


def details(**fields) -> ParticipantDetails:
    fields = {"name": "川崎 太郎", "kana": "カワサキ タロウ", "phone": "09011112222", "email": "",
              "age_band": "75-79"} | fields
    return ParticipantDetails(**fields)


def register(session, **fields) -> Registration:
    return services.register(session=session, participant=details(**fields), booker=BookerDetails(),
                             channel=Registration.Channel.PHONE).registration


def draws(monkeypatch, *bodies):
    """Make the next references drawn start with `bodies` (7 digits each), then random again."""
    queue = iter(bodies)
    original = references._random_body
    calls = []

    def body():
        calls.append(1)
        return next(queue, None) or original()

    monkeypatch.setattr(references, "_random_body", body)
    return calls


def with_check(body: str) -> str:
    return body + references.damm_check_digit(body)


# --- The check digit ------------------------------------------------------------------------------------------


def test_damm_check_digit_matches_the_published_example():
    # Damm's worked example: 572 → check digit 4, and 5724 validates.
    assert references.damm_check_digit("572") == "4"
    assert references.has_valid_check_digit("5724")
    assert not references.has_valid_check_digit("5723")


def test_every_single_wrong_digit_and_every_swap_of_neighbours_is_caught():
    for n in range(300):
        reference = references.new_reference()
        assert len(reference) == 8 and reference.isdigit() and reference[0] != "0", reference
        assert references.has_valid_check_digit(reference)
        for position, digit in itertools.product(range(8), "0123456789"):
            if digit != reference[position]:
                typo = reference[:position] + digit + reference[position + 1:]
                assert not references.has_valid_check_digit(typo), (reference, typo)
        for position in range(7):
            if reference[position] != reference[position + 1]:
                swapped = (reference[:position] + reference[position + 1] + reference[position]
                           + reference[position + 2:])
                assert not references.has_valid_check_digit(swapped), (reference, swapped, n)


@pytest.mark.parametrize("typed", ["3804-1279", "3804 1279", "３８０４－１２７９", "３８０４ー１２７９", " 38041279 ",
                                   "3804\u30001279"])
def test_a_reference_is_read_however_it_is_typed(typed):
    assert references.digits_of(typed) == "38041279"
    assert references.looks_like_reference(typed)


@pytest.mark.parametrize("typed", ["3804-127", "380412790", "abcd-efgh", "090-1234-5678", "", "3804-12７x"])
def test_other_input_is_not_a_reference(typed):
    assert not references.looks_like_reference(typed)


def test_format_groups_four_and_four():
    assert references.format_reference("38041279") == "3804-1279"


# --- Given on every path, unique ----------------------------------------------------------------------------


def test_every_way_of_creating_a_registration_gives_a_valid_unique_reference(site):
    session, other = factories.session(), factories.session()
    booked = register(session)
    walk_in = attendance.add_walk_in(session=factories.session(starts_in=-timedelta(hours=1)),
                                     age_band="75-79", ward=factories.ward())
    moved = services.move_registration(registration=register(session, name="川崎 次郎", phone="09011113333"),
                                       to_session=other).registration
    made = [booked, walk_in, moved, factories.registration(session_obj=other)]
    refs = [registration.reference for registration in made]
    assert len(set(refs)) == len(refs)
    assert all(len(ref) == 8 and references.has_valid_check_digit(ref) for ref in refs), refs
    assert Registration.objects.filter(reference="").count() == 0


def test_the_reference_is_unique_in_the_database(site):
    first = factories.registration(session_obj=factories.session())
    with pytest.raises(IntegrityError):
        factories.registration(session_obj=factories.session(), reference=first.reference)


def test_a_collision_is_drawn_again(site, monkeypatch):
    taken = factories.registration(session_obj=factories.session())
    fresh = "4711081"
    calls = draws(monkeypatch, taken.reference[:7], fresh)

    registration = register(factories.session())

    assert registration.reference == with_check(fresh)
    assert len(calls) == 2
    assert Registration.objects.filter(participant=registration.participant).count() == 1  # nothing written twice


def test_a_collision_on_a_walk_in_and_a_move_is_drawn_again(site, monkeypatch):
    taken = factories.registration(session_obj=factories.session())
    draws(monkeypatch, taken.reference[:7], "5123456")
    walk_in = attendance.add_walk_in(session=factories.session(starts_in=-timedelta(hours=1)),
                                     age_band="75-79", ward=factories.ward())
    assert walk_in.reference == with_check("5123456")

    original = register(factories.session())
    draws(monkeypatch, taken.reference[:7], "6123456")
    moved = services.move_registration(registration=original, to_session=factories.session()).registration
    assert moved.reference == with_check("6123456")
    original.refresh_from_db()
    assert original.status == Status.CANCELLED


def test_other_integrity_errors_are_not_retried():
    calls = []

    @services.retry_on_reference_collision
    def service():
        calls.append(1)
        raise IntegrityError("UNIQUE constraint failed: courses_registration.session_id")

    with pytest.raises(IntegrityError):
        service()
    assert calls == [1]


def test_bulk_references_are_distinct_and_not_in_use(site, monkeypatch):
    taken = factories.registration(session_obj=factories.session())
    draws(monkeypatch, taken.reference[:7], "7000001", "7000001", "7000002")
    session = factories.session()
    rows = [Registration(session=session, participant=factories.participant(), status=Status.CONFIRMED)
            for _n in range(2)]

    services.assign_references(rows)

    assert [row.reference for row in rows] == [with_check("7000001"), with_check("7000002")]
    Registration.objects.bulk_create(rows)


# --- The migration fills in existing rows ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_registrations_unique_references(site):
    """Run 0007 forwards over registrations stored without a reference (SQLite and PostgreSQL)."""
    before, after = [("courses", "0006_participant_residence")], [("courses", "0007_registration_reference")]
    session = factories.session()
    people = [factories.participant() for _n in range(5)]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old_apps = executor.loader.project_state(before).apps
        OldRegistration = old_apps.get_model("courses", "Registration")
        now = timezone.now()
        for person in people:
            OldRegistration.objects.create(session_id=session.pk, participant_id=person.pk, status="confirmed",
                                           channel="web", booked_by="self", token_key=f"k{person.pk}",
                                           created_at=now, updated_at=now, confirmed_at=now)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())  # and the later migrations, for the tests after this
    refs = list(Registration.objects.values_list("reference", flat=True))
    assert len(refs) == 5 and len(set(refs)) == 5
    assert all(references.has_valid_check_digit(ref) for ref in refs)
    with pytest.raises(IntegrityError):
        factories.registration(session_obj=factories.session(), reference=refs[0])


# --- In every message ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(OutgoingMessage.Kind))
@pytest.mark.parametrize("language", ["ja", "en"])
def test_every_message_quotes_the_reference(site, kind, language):
    message = message_for(kind, language=language)
    rendered = emails.render(message)
    shown = message.registration.reference_display

    assert shown in rendered.text
    assert shown in visible_text(rendered.html)
    label = "受付番号" if language == "ja" else "Booking reference"
    assert label in rendered.text and label in visible_text(rendered.html)


# --- Call centre ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["{a}-{b}", "{a}{b}", "{a} {b}", "{wide}"])
def test_the_call_centre_finds_a_booking_by_its_reference(client, site, typed):
    registration = factories.registration(session_obj=factories.session())
    ref = registration.reference
    wide = "".join(chr(ord(c) + 0xFEE0) for c in ref[:4]) + "－" + "".join(chr(ord(c) + 0xFEE0) for c in ref[4:])
    logged_in(client)

    response = client.get(reverse("call_centre:lookup"),
                          {"q": typed.format(a=ref[:4], b=ref[4:], wide=wide)})

    assert response.status_code == 302
    assert response["Location"] == reverse("call_centre:registration", args=[registration.pk])
    page = client.get(response["Location"])
    assert registration.reference_display in page.content.decode()


def test_a_wrong_check_digit_says_check_the_number(client, site):
    registration = factories.registration(session_obj=factories.session())
    ref = registration.reference
    typo = ref[:7] + str((int(ref[7]) + 1) % 10)
    logged_in(client)

    response = client.get(reverse("call_centre:lookup"), {"q": f"{typo[:4]}-{typo[4:]}"})

    assert response.status_code == 200
    text = response.content.decode()
    assert "check digit" in text and "check the number" in text
    assert f"{typo[:4]}-{typo[4:]}" in text
    assert "No one found" not in text


def test_a_valid_reference_nobody_has_is_said_so(client, site):
    logged_in(client)
    unused = with_check("1000000")
    assert not Registration.objects.filter(reference=unused).exists()

    response = client.get(reverse("call_centre:lookup"), {"q": unused})

    assert response.status_code == 200
    assert f"No booking has the reference {unused[:4]}-{unused[4:]}" in response.content.decode()


@pytest.mark.parametrize("typed", ["ｍａｒｉａ garcia", "MARIA GARCIA", "maria", "Ｇａｒｃｉａ"])
def test_the_call_centre_finds_a_latin_name_whatever_its_case_and_width(client, site, typed):
    person = factories.participant(name="Maria Garcia", kana="")
    factories.participant(name="川崎 花子")
    logged_in(client)

    response = client.get(reverse("call_centre:lookup"), {"q": typed})

    assert [p.pk for p in response.context["people"]] == [person.pk]
