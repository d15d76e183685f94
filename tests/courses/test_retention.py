"""The retention purge (courses.retention): who is due, what is erased and kept, statistics unchanged.

Times are Japan time. NOW = 2026-02-15 12:00, so with 13 months the cut-off is 2025-01-15 12:00: a last session that
ended before it is due, one that ended at it or later is kept.
"""

import datetime as dt
import json
import logging
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.test import override_settings
from wagtail.log_actions import log as wagtail_log
from wagtail.models import ModelLogEntry

from courses import retention
from courses.models import OutgoingMessage, Participant, Registration, Session
from courses.tasks import purge_personal_data_task
from outreach import metrics, summaries
from outreach.assessment_tokens import assessment_path
from outreach.models import PopulationFigure, SelfAssessment, SkillItem, SkillScore
from partners.models import Ward
from tests import clock, factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

JST = ZoneInfo("Asia/Tokyo")
NOW = dt.datetime(2026, 2, 15, 12, 0, tzinfo=JST)
CUTOFF = dt.datetime(2025, 1, 15, 12, 0, tzinfo=JST)
Status = Registration.Status


def at(year, month, day, hour=10) -> dt.datetime:
    return dt.datetime(year, month, day, hour, 0, tzinfo=JST)


def make_session(course, starts_at, *, venue, capacity=10, duration=dt.timedelta(hours=2)) -> Session:
    return Session.objects.create(course=course, organiser=course.owner_partner, venue=venue, starts_at=starts_at,
                                  ends_at=starts_at + duration, capacity=capacity)


def person(n, band, ward, **fields) -> Participant:
    fields.setdefault("name", f"川崎 花子{n}")
    fields.setdefault("kana", f"カワサキ ハナコ{n}")
    fields.setdefault("email", f"hanako{n}@example.jp")
    fields.setdefault("phone", f"0901234{n:04d}")
    fields.setdefault("accessibility_needs", f"車椅子を使います（{n}）")
    return factories.participant(age_band=band, ward=ward, **fields)


def book(session, participant, status, **fields) -> Registration:
    return factories.registration(session_obj=session, participant=participant, status=status, **fields)


def message(registration, n, **fields) -> OutgoingMessage:
    participant = registration.participant
    return OutgoingMessage.objects.create(
        key=f"test:{registration.pk}:{n}", kind=OutgoingMessage.Kind.CONFIRMED, registration=registration,
        session=registration.session, to_name=participant.name, to_email=participant.email,
        to_phone=participant.phone, subject=f"{participant.name}様 お申し込みを受け付けました",
        body_text=f"{participant.name}様\n{participant.email}", status=OutgoingMessage.Status.SENT,
        context={"greeting": participant.name}, **fields)


def assess(registration, kind, scores) -> None:
    assessment = SelfAssessment.objects.create(registration=registration, kind=kind,
                                               source=SelfAssessment.Source.TABLET)
    for number, score in scores.items():
        SkillScore.objects.create(assessment=assessment, item=SkillItem.objects.get(number=number), score=score)


def secrets_of(participant: Participant, registrations=()) -> list[str]:
    values = [participant.name, participant.kana, participant.email, participant.phone,
              participant.accessibility_needs]
    for registration in registrations:
        values += [registration.booker_name, registration.booker_email, registration.booker_phone]
    return [value for value in values if value]


def rows_text() -> str:
    """Every stored value of the participant, registration, message and audit-log tables, as one text."""
    rows = []
    for model in (Participant, Registration, OutgoingMessage, ModelLogEntry):
        rows += [json.dumps(row, default=str, ensure_ascii=False) for row in model.objects.values()]
    return "\n".join(rows)


def figures(years=(2024, 2025, None)) -> dict:
    """The statistics a purge must not change, computed from the raw rows."""
    result = {}
    with summaries.plain():
        for year in years:
            filters = metrics.Filters(fiscal_year=year)
            result[year] = {
                "summary": metrics.summary(filters, now=NOW),
                "by_ward": metrics.attendance_by_band(filters),
                "by_topic": metrics.attendance_by_band(filters, by="topic"),
                "reach": metrics.reach(filters),
                "skills": metrics.skills(filters),
                "foundation": metrics.foundation_on_my_own(filters),
            }
    return result


@pytest.fixture
def programme(site):
    """Old participants (last session before the cut-off), recent ones, and one with an old and a future session."""
    w1, w2 = Ward.objects.order_by("sort_order", "code")[:2]
    partner = factories.partner()
    course = factories.course(owner=partner)
    venue = factories.venue(ward=w1, partner=partner)
    old_session = make_session(course, at(2024, 6, 10), venue=venue)  # FY2024, long ago
    older_session = make_session(course, at(2024, 11, 5), venue=venue)
    recent_session = make_session(course, at(2025, 6, 9), venue=venue)  # FY2025
    future_session = make_session(course, at(2026, 3, 10), venue=venue)

    old = [person(1, "70-74", w1), person(2, "75-79", w2), person(3, "65-69", w1), person(4, "80-84", w2)]
    recent = [person(5, "70-74", w1), person(6, "60-64", w2)]
    returning = person(7, "85+", w1)  # old session, and booked on a future one: kept

    r1 = book(old_session, old[0], Status.ATTENDED)
    book(older_session, old[0], Status.ATTENDED)
    r2 = book(old_session, old[1], Status.ATTENDED, booked_by=Registration.BookedBy.FAMILY, booker_name="川崎 一郎",
              booker_relationship="長男", booker_email="ichiro@example.jp", booker_phone="08011112222")
    book(old_session, old[2], Status.NO_SHOW)
    book(older_session, old[3], Status.ATTENDED, channel=Registration.Channel.WALK_IN)
    book(old_session, returning, Status.ATTENDED)
    book(future_session, returning, Status.CONFIRMED)
    r5 = book(recent_session, recent[0], Status.ATTENDED)
    book(recent_session, recent[1], Status.NO_SHOW)
    book(old_session, recent[1], Status.ATTENDED)

    assess(r1, SelfAssessment.Kind.PRE, {1: 0, 2: 1})
    assess(r1, SelfAssessment.Kind.POST, {1: 2, 2: 3})
    assess(r2, SelfAssessment.Kind.PRE, {1: 1})
    assess(r2, SelfAssessment.Kind.POST, {1: 3})
    assess(r5, SelfAssessment.Kind.PRE, {1: 0})
    assess(r5, SelfAssessment.Kind.POST, {1: 2})
    for year in (2024, 2025):
        for ward, band, population in [(w1, "70-74", 2000), (w2, "75-79", 1500), (w1, "65-69", 1000),
                                       (w2, "80-84", 800), (w2, "60-64", 2500), (w1, "85+", 400)]:
            PopulationFigure.objects.create(year=year, ward=ward, age_band=band, population=population)

    messages = [message(r1, 1), message(r2, 2, to_booker=True), message(r5, 3)]
    OutgoingMessage.objects.filter(pk=messages[1].pk).update(
        to_name="川崎 一郎", to_email="ichiro@example.jp", last_error="550 ichiro@example.jp: mailbox full")
    # Audit entries written before cms.audit labelled them with ids: Wagtail's label is the person's name.
    for participant in (*old, *recent, returning):
        wagtail_log(participant, "wagtail.edit",
                    data={"merged_name": f"旧姓 花子{participant.pk}", "note": f"電話 {participant.phone}"})
    for registration in Registration.objects.all():
        wagtail_log(registration, "courses.registration.confirmed")
    for item in messages:
        wagtail_log(item, "courses.message.retried")
    return {"old": old, "recent": recent, "returning": returning, "registrations": [r1, r2, r5],
            "messages": messages, "sessions": [old_session, older_session, recent_session, future_session]}


def test_cutoff_is_thirteen_calendar_months_in_local_time():
    assert retention.retention_cutoff(NOW) == CUTOFF
    assert retention.months_before(dt.datetime(2026, 3, 31, 9, tzinfo=JST), 13) == dt.datetime(
        2025, 2, 28, 9, tzinfo=JST)
    with override_settings(DEKIRU_RETENTION_MONTHS=6):
        assert retention.retention_cutoff(NOW) == dt.datetime(2025, 8, 15, 12, tzinfo=JST)


def test_statistics_are_equal_before_and_after(programme):
    before = figures()
    assert before[2024]["summary"].attendances == 6  # the data is not trivially empty
    assert before[2025]["summary"].attendances == 1
    assert any(row.pairs for row in before[2024]["skills"])

    result = retention.purge_personal_data(now=NOW)

    assert result.anonymised == 4
    assert figures() == before


def test_old_participants_are_anonymised_and_recent_ones_untouched(programme):
    recent_before = {p.pk: Participant.objects.values().get(pk=p.pk) for p in
                     [*programme["recent"], programme["returning"]]}
    retention.purge_personal_data(now=NOW)

    for old in programme["old"]:
        old.refresh_from_db()
        assert old.anonymised_at == NOW
        assert (old.name, old.kana, old.email, old.phone, old.accessibility_needs) == ("", "", "", "", "")
    kept = Participant.objects.get(pk=programme["old"][0].pk)
    assert (kept.age_band, kept.ward_id, kept.language) == ("70-74", Ward.objects.order_by("sort_order")[0].pk, "ja")
    assert kept.registrations.filter(status=Status.ATTENDED).count() == 2
    assert SelfAssessment.objects.filter(registration__participant=kept).count() == 2
    for pk, values in recent_before.items():
        assert Participant.objects.values().get(pk=pk) == values  # not even updated_at


def test_proxy_details_tokens_and_messages_are_cleared(programme):
    r2 = programme["registrations"][1]
    old_key = r2.token_key
    recent_message = programme["messages"][2]
    recent_before = OutgoingMessage.objects.values().get(pk=recent_message.pk)
    retention.purge_personal_data(now=NOW)

    r2.refresh_from_db()
    assert (r2.booker_name, r2.booker_relationship, r2.booker_email, r2.booker_phone) == ("", "", "", "")
    assert r2.booked_by == Registration.BookedBy.FAMILY and r2.status == Status.ATTENDED
    assert r2.token_key and r2.token_key != old_key
    for item in programme["messages"][:2]:
        item.refresh_from_db()
        assert (item.to_name, item.to_email, item.to_phone, item.subject, item.body_text, item.context,
                item.last_error) == ("", "", "", "", "", {}, "")
        assert item.status == OutgoingMessage.Status.SENT  # the log of what happened stays
    assert OutgoingMessage.objects.values().get(pk=recent_message.pk) == recent_before


def test_nothing_personal_remains(programme):
    old = programme["old"]
    gone = [secret for participant in old
            for secret in secrets_of(participant, participant.registrations.all())]
    gone += [f"旧姓 花子{participant.pk}" for participant in old]  # a merged record's name, in the entries' data
    text = rows_text()
    assert all(secret in text for secret in gone)  # the scan does find them before

    retention.purge_personal_data(now=NOW)

    text = rows_text()
    assert [secret for secret in gone if secret in text] == []
    # The others' details are all still there (their audit entries keep their data too).
    for participant in (*programme["recent"], programme["returning"]):
        assert participant.name in text and participant.phone in text


def test_old_log_entries_get_id_only_labels(programme):
    first = programme["old"][0]
    r1 = programme["registrations"][0]
    retention.purge_personal_data(now=NOW)

    participant_entry = ModelLogEntry.objects.get(object_id=str(first.pk), action="wagtail.edit",
                                                  content_type__model="participant")
    assert participant_entry.label == f"Participant {first.pk}"
    assert participant_entry.data == {"note": retention.REMOVED}
    registration_entry = ModelLogEntry.objects.get(object_id=str(r1.pk), content_type__model="registration")
    assert registration_entry.label.startswith(f"Registration {r1.pk} – ")
    assert first.name not in registration_entry.label
    message_entry = ModelLogEntry.objects.get(object_id=str(programme["messages"][0].pk),
                                              content_type__model="outgoingmessage")
    assert message_entry.label.endswith(f" {programme['messages'][0].pk}")


def test_boundary_at_exactly_thirteen_months(site):
    course = factories.course(owner=factories.partner())
    venue = factories.venue()
    at_cutoff = make_session(course, CUTOFF - dt.timedelta(hours=2), venue=venue)  # ends exactly at the cut-off
    just_before = make_session(course, CUTOFF - dt.timedelta(hours=2, seconds=1), venue=venue)
    kept = book(at_cutoff, factories.participant(), Status.ATTENDED).participant
    due = book(just_before, factories.participant(), Status.ATTENDED).participant

    assert retention.purge_personal_data(now=NOW).anonymised == 1

    kept.refresh_from_db()
    due.refresh_from_db()
    assert kept.anonymised_at is None and kept.name
    assert due.anonymised_at == NOW and due.name == ""
    # A second later it is kept's turn.
    assert retention.purge_personal_data(now=NOW + dt.timedelta(seconds=1)).anonymised == 1


def test_participants_without_registration_go_after_the_period_from_creation(site):
    old, new = factories.participant(), factories.participant()
    Participant.objects.filter(pk=old.pk).update(created_at=CUTOFF - dt.timedelta(days=1))
    Participant.objects.filter(pk=new.pk).update(created_at=CUTOFF + dt.timedelta(days=1))

    assert retention.purge_personal_data(now=NOW).anonymised == 1
    assert Participant.objects.get(pk=old.pk).anonymised_at == NOW
    assert Participant.objects.get(pk=new.pk).anonymised_at is None


def test_a_future_booking_keeps_an_old_participant(programme):
    returning = programme["returning"]
    retention.purge_personal_data(now=NOW)
    returning.refresh_from_db()
    assert returning.anonymised_at is None and returning.name == "川崎 花子7"


def test_idempotent(programme):
    first = retention.purge_personal_data(now=NOW)
    snapshot = {model: list(model.objects.order_by("pk").values()) for model in (Participant, Registration,
                                                                                 OutgoingMessage)}
    second = retention.purge_personal_data(now=NOW + dt.timedelta(days=1))

    assert (first.anonymised, second.anonymised) == (4, 0)
    assert second.registrations == second.messages == second.log_entries == 0
    for model, rows in snapshot.items():
        assert list(model.objects.order_by("pk").values()) == rows  # token keys not rotated again, dates kept


def test_batches(programme):
    result = retention.purge_personal_data(now=NOW, batch_size=1)
    assert result.anonymised == 4
    assert Participant.objects.filter(anonymised_at__isnull=False).count() == 4


def test_dry_run_changes_nothing(programme):
    before = list(Participant.objects.order_by("pk").values())
    entries = ModelLogEntry.objects.count()
    result = retention.purge_personal_data(now=NOW, dry_run=True)
    assert (result.anonymised, result.dry_run) == (4, True)
    assert list(Participant.objects.order_by("pk").values()) == before
    assert ModelLogEntry.objects.count() == entries


def test_the_count_is_logged_without_names(programme, caplog):
    with caplog.at_level(logging.INFO, logger="courses.retention"):
        retention.purge_personal_data(now=NOW)
    assert "4 participant(s) anonymised" in caplog.text
    entry = ModelLogEntry.objects.get(action=retention.PURGE_LOG_ACTION)
    assert entry.data["anonymised"] == 4 and entry.data["retention_months"] == 13
    assert entry.content_type.model == "site"
    for participant in programme["old"]:
        assert participant.name not in caplog.text and participant.name not in json.dumps(entry.data)


def test_old_registration_links_answer_404(client, programme):
    r1, _r2, r5 = programme["registrations"]
    links = [r1.get_manage_url(), r1.get_cancel_url(), assessment_path(r1, SelfAssessment.Kind.POST)]
    assert client.get(links[0]).status_code == 200
    assert client.get(links[2]).status_code == 410  # genuine, but long expired
    recent_link = r5.get_manage_url()

    retention.purge_personal_data(now=NOW)

    for link in links:
        assert client.get(link).status_code == 404, link
    assert client.get(recent_link).status_code == 200


def test_merged_away_records_lose_their_names_in_the_log(site):
    ghost = factories.participant(name="消えた 太郎")
    wagtail_log(ghost, "wagtail.edit", data={"merged_name": "消えた 太郎"})
    pk = ghost.pk
    ghost.delete()

    retention.purge_personal_data(now=NOW)

    entry = ModelLogEntry.objects.get(object_id=str(pk), content_type__model="participant")
    assert (entry.label, entry.data) == (f"Participant {pk}", {})


@clock.frozen_at(NOW)
def test_management_command(programme):
    out = StringIO()
    call_command("purge_personal_data", "--dry-run", stdout=out)
    assert "Dry run" in out.getvalue()
    assert Participant.objects.filter(anonymised_at__isnull=False).count() == 0
    # The command reads the clock: at NOW, the four old participants are due (as in the tests above).
    assert retention.due_participants(retention.retention_cutoff()).count() == 4
    out = StringIO()
    call_command("purge_personal_data", stdout=out)
    assert "Anonymised 4 participant(s)" in out.getvalue()
    assert retention.due_participants(retention.retention_cutoff()).count() == 0
    assert {p.pk for p in Participant.objects.filter(anonymised_at=NOW)} == {p.pk for p in programme["old"]}


@clock.frozen_at(NOW)
def test_task(programme):
    result = purge_personal_data_task.enqueue()
    assert result.return_value["anonymised"] == 4
    assert purge_personal_data_task.enqueue().return_value["anonymised"] == 0
