"""Importing a filled-in attendance roster: marks, walk-ins, the rules of courses.attendance (kept identical by
running both on every case), partner scoping, bad input, all or nothing, and the audit log."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from cms import roles
from courses import attendance, services, spreadsheets
from courses.models import Participant, Registration, Session
from courses.resources import attendance_target
from courses.spreadsheets import ImportRefused
from tests import factories
from tests.courses.test_spreadsheets import csv_bytes, errors_of, log_entries, read, staff, xlsx_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status
HEADERS = ["申込番号", "開催回の番号", "お名前", "年齢層", "区", "出欠"]


@pytest.fixture
def roster(site):
    """A partner's session that started an hour ago, four people booked, one on the waiting list; its instructor."""
    partner = factories.partner()
    session = factories.session(course_page=factories.course(owner=partner), starts_in=-timedelta(hours=1),
                                capacity=4)
    booked = [factories.registration(session_obj=session) for _ in range(4)]
    waiting = factories.registration(session_obj=session, status=Status.WAITLISTED)
    instructor = staff(roles.PARTNER_INSTRUCTOR, partner)
    return {"partner": partner, "session": session, "booked": booked, "waiting": waiting, "user": instructor}


def statuses(registrations):
    return [Registration.objects.get(pk=registration.pk).status for registration in registrations]


def snapshot():
    return (list(Registration.objects.order_by("pk").values_list("pk", "status", "waitlist_position")),
            Participant.objects.count())


def expect_refused(rows, user, *, fmt="csv"):
    table = read(xlsx_bytes(rows) if fmt == "xlsx" else csv_bytes(rows), f"roster.{fmt}")
    before = snapshot()
    with translation.override("en"):  # stable messages, whatever the Japanese catalogue says
        report = spreadsheets.preview_import("attendance", table, user=user)
    assert report.errors
    with pytest.raises(ImportRefused):
        spreadsheets.apply_import("attendance", table, user=user)
    assert snapshot() == before
    assert not log_entries("courses.spreadsheet.imported")
    return errors_of(report)


def test_marks_in_every_accepted_spelling(roster):
    booked = roster["booked"]
    rows = [HEADERS,
            [booked[0].pk, roster["session"].pk, "", "", "", "出席"],
            [booked[1].pk, "", "", "", "", "×"],
            [booked[2].pk, "", "", "", "", "1"],
            [booked[3].pk, "", "", "", "", "no_show"]]
    table = read(csv_bytes(rows, "cp932"))
    report = spreadsheets.preview_import("attendance", table, user=roster["user"])
    assert (report.new, report.updated, report.unchanged, report.errors) == (0, 4, 0, [])
    assert statuses(booked) == [Status.CONFIRMED] * 4  # the preview wrote nothing

    report = spreadsheets.apply_import("attendance", table, user=roster["user"], filename="roster.csv")
    assert statuses(booked) == [Status.ATTENDED, Status.NO_SHOW, Status.ATTENDED, Status.NO_SHOW]
    [entry] = log_entries("courses.spreadsheet.imported")
    assert entry.user_id == roster["user"].pk and entry.object_id == str(roster["partner"].pk)
    assert entry.data["kind"] == "attendance" and entry.data["updated"] == 4
    assert entry.data["attended"] == 2 and entry.data["no_show"] == 2 and entry.data["walk_ins"] == 0

    again = spreadsheets.preview_import("attendance", table, user=roster["user"])
    assert (again.updated, again.unchanged) == (0, 4)  # marking what is marked changes nothing


@pytest.mark.parametrize("value", ["出席", "○", "〇", "1", "yes", "YES", "attended", "Attended", "はい", 1, 1.0])
def test_attended_spellings(roster, value):
    rows = [["Registration number", "Attendance"], [roster["booked"][0].pk, value]]
    spreadsheets.apply_import("attendance", read(xlsx_bytes(rows), "r.xlsx"), user=roster["user"])
    assert statuses(roster["booked"][:1]) == [Status.ATTENDED]


@pytest.mark.parametrize("value", ["欠席", "×", "0", "no", "No", "no_show", "No-show", "no-show", 0])
def test_no_show_spellings(roster, value):
    rows = [["registration_id", "attended"], [roster["booked"][0].pk, value]]
    spreadsheets.apply_import("attendance", read(xlsx_bytes(rows), "r.xlsx"), user=roster["user"])
    assert statuses(roster["booked"][:1]) == [Status.NO_SHOW]


def test_a_blank_mark_changes_nothing_and_the_waiting_list_is_let_in(roster):
    rows = [HEADERS, [roster["booked"][0].pk, "", "", "", "", ""], [roster["waiting"].pk, "", "", "", "", "出席"]]
    report = spreadsheets.apply_import("attendance", read(csv_bytes(rows)), user=roster["user"])
    assert (report.updated, report.unchanged) == (1, 1)
    waiting = Registration.objects.get(pk=roster["waiting"].pk)
    assert waiting.status == Status.ATTENDED and waiting.waitlist_position is None and waiting.confirmed_at


def test_walk_ins_are_added(roster):
    session = roster["session"]
    rows = [HEADERS,
            ["", session.pk, "山田 太郎", "70〜74歳", "中原区", ""],
            ["", session.pk, "", "80-84", "Nakahara", "出席"],
            ["", session.pk, "", "85歳以上", "141305", ""]]
    rows[3][4] = "川崎区"
    report = spreadsheets.apply_import("attendance", read(csv_bytes(rows, "utf-8-sig")), user=roster["user"])
    assert report.new == 3
    walk_ins = list(Registration.objects.filter(channel=Registration.Channel.WALK_IN).select_related(
        "participant", "participant__ward").order_by("pk"))
    assert [w.status for w in walk_ins] == [Status.ATTENDED] * 3
    assert [w.participant.age_band for w in walk_ins] == ["70-74", "80-84", "85+"]
    assert [w.participant.ward.name for w in walk_ins] == ["中原区", "中原区", "川崎区"]
    assert walk_ins[0].participant.name == "山田 太郎" and walk_ins[0].created_by == roster["user"]
    assert all(w.booked_by == Registration.BookedBy.STAFF and w.session == session for w in walk_ins)
    assert log_entries("courses.spreadsheet.imported")[0].data["walk_ins"] == 3


def test_walk_ins_need_an_age_band_and_a_ward(roster):
    session = roster["session"]
    rows = [HEADERS, ["", session.pk, "", "", "中原区", ""], ["", session.pk, "", "70-74", "", ""],
            ["", session.pk, "", "百歳", "中原区", ""], ["", session.pk, "", "70-74", "火星区", ""],
            ["", "", "名前だけ", "70-74", "中原区", ""], ["", session.pk, "", "70-74", "中原区", "欠席"]]
    errors = expect_refused(rows, roster["user"])
    assert [(row, column) for row, column, _message in errors] == [
        (2, "年齢層"), (3, "区"), (4, "年齢層"), (5, "区"), (6, "申込番号"), (7, "出欠")]
    assert errors[0][2] == "Give the walk-in's age band, or “Prefer not to say”: the cell is blank."
    assert errors[1][2] == "Give the walk-in's ward, “Outside the city” or “Prefer not to say”: the cell is blank."


def test_the_rules_of_the_attendance_service_are_errors(site, roster):
    future = factories.session(course_page=factories.course(owner=roster["partner"]), starts_in=timedelta(days=3))
    not_yet = factories.registration(session_obj=future)
    cancelled = factories.registration(session_obj=roster["session"], status=Status.CANCELLED)
    rows = [HEADERS,
            [not_yet.pk, "", "", "", "", "出席"],
            [cancelled.pk, "", "", "", "", "出席"],
            [roster["waiting"].pk, "", "", "", "", "欠席"],
            ["", future.pk, "", "70-74", "中原区", ""]]
    errors = expect_refused(rows, roster["user"])
    assert [(row, column) for row, column, _message in errors] == [(2, "出欠"), (3, "出欠"), (4, "出欠"),
                                                                   (5, "開催回の番号")]
    translation.activate("en")
    assert [message for _r, _c, message in errors] == [str(attendance.AttendanceClosed.message),
                                                       str(attendance.NotOnRoster.message),
                                                       str(attendance.WaitlistedNoShow.message),
                                                       str(attendance.AttendanceClosed.message)]


def test_unknown_duplicate_and_mismatched_ids_are_errors(roster):
    booked = roster["booked"]
    rows = [HEADERS,
            [999999, "", "", "", "", "出席"],
            [booked[0].pk, "", "", "", "", "出席"],
            [booked[0].pk, "", "", "", "", "欠席"],
            [booked[1].pk, roster["session"].pk + 1000, "", "", "", "出席"],
            ["abc", "", "", "", "", "出席"],
            [booked[2].pk, "", "", "", "", "たぶん"]]
    errors = expect_refused(rows, roster["user"])
    assert [(row, column) for row, column, _message in errors] == [
        (2, "申込番号"), (4, "申込番号"), (5, "開催回の番号"), (6, "申込番号"), (7, "出欠")]


def test_another_partners_registrations_and_sessions_are_errors(site, roster):
    other = factories.partner()
    their_session = factories.session(course_page=factories.course(owner=other), starts_in=-timedelta(hours=1))
    theirs = factories.registration(session_obj=their_session)
    rows = [HEADERS, [theirs.pk, "", "", "", "", "欠席"], ["", their_session.pk, "", "70-74", "中原区", ""]]
    errors = expect_refused(rows, roster["user"])
    assert [(row, column) for row, column, _message in errors] == [(2, "申込番号"), (3, "開催回の番号")]
    assert Registration.objects.get(pk=theirs.pk).status == Status.CONFIRMED
    # City staff may.
    report = spreadsheets.apply_import("attendance", read(csv_bytes(rows)), user=staff(roles.CITY_ADMINISTRATOR))
    assert (report.updated, report.new) == (1, 1)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_formula_is_an_error_for_its_row(roster, fmt):
    rows = [HEADERS, [roster["booked"][0].pk, "", "", "", "", "出席"], [roster["booked"][1].pk, "", "", "", "",
                                                                       '=IF(1,"出席","欠席")']]
    errors = expect_refused(rows, roster["user"], fmt=fmt)
    assert [(row, column) for row, column, _message in errors] == [(3, "出欠")]


def test_missing_columns_are_named(roster):
    with translation.override("en"):
        with pytest.raises(spreadsheets.SpreadsheetError) as refused:
            spreadsheets.preview_import("attendance", read(csv_bytes([["お名前"], ["山田"]])), user=roster["user"])
    assert "Registration number" in refused.value.message and "Attendance" in refused.value.message


def test_an_error_in_row_500_of_1000_leaves_nothing_applied(roster):
    session = roster["session"]
    people = Participant.objects.bulk_create(Participant(name=f"受講者{n}") for n in range(999))
    registrations = [Registration(session=session, participant=person, status=Status.CONFIRMED) for person in people]
    services.assign_references(registrations)  # distinct booking references: random ones collide ~5 % of runs
    registrations = Registration.objects.bulk_create(registrations)
    rows = [HEADERS] + [[registration.pk, "", "", "", "", "出席"] for registration in registrations]
    rows[499][5] = "遅刻"  # row 500, as Excel shows it: not a mark
    table = read(csv_bytes(rows))
    with pytest.raises(ImportRefused) as refused:
        spreadsheets.apply_import("attendance", table, user=roster["user"])
    assert [(error.row, error.column) for error in refused.value.report.errors] == [(500, "出欠")]
    assert not Registration.objects.filter(status=Status.ATTENDED).exists()
    rows[499][5] = "欠席"
    report = spreadsheets.apply_import("attendance", read(csv_bytes(rows)), user=roster["user"])
    assert report.updated == 999
    assert Registration.objects.filter(status=Status.ATTENDED).count() == 998


def test_the_roster_export_imports_back(roster):
    user = roster["user"]
    exported = spreadsheets.export("attendance", user=user, fmt="xlsx")
    import openpyxl

    sheet = openpyxl.load_workbook(exported.file).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    attended_column = rows[0].index(str(translation.gettext("Attendance")))
    for row in rows[1:3]:
        row[attended_column] = "出席"
    report = spreadsheets.apply_import("attendance", read(xlsx_bytes(rows), "roster.xlsx"), user=user)
    assert (report.updated, report.unchanged, report.errors) == (2, 3, [])


# --- The bulk rules are the service's rules -----------------------------------------------------------------------


def test_attendance_target_agrees_with_mark_attendance(site):
    """courses.resources.attendance_target decides as courses.attendance.mark_attendance does, for every status,
    channel, mark and session state: the same refusal, or the same resulting status."""
    course, organiser, venue = factories.course(), factories.partner(), factories.venue()
    sessions = {state: factories.session(course_page=course, organiser=organiser, venue=venue, starts_in=starts_in)
                for state, starts_in in (("open", -timedelta(hours=1)), ("not_yet", timedelta(days=3)),
                                         ("over", -timedelta(days=20)), ("cancelled", -timedelta(hours=2)))}
    Session.objects.filter(pk=sessions["cancelled"].pk).update(status=Session.Status.CANCELLED,
                                                               cancellation_reason="雨")
    sessions["cancelled"].refresh_from_db()
    now = timezone.now()
    disagreements = []
    for state, status, channel, attended in itertools.product(
            sessions, [Status.CONFIRMED, Status.WAITLISTED, Status.CANCELLED, Status.ATTENDED, Status.NO_SHOW],
            [Registration.Channel.WEB, Registration.Channel.WALK_IN], [True, False, None]):
        session = sessions[state]
        registration = factories.registration(session_obj=session, status=status, channel=channel)
        try:
            target = attendance_target(session, status=status, channel=channel, attended=attended, now=now)
            bulk = ("status", target or status)
        except attendance.AttendanceError as refusal:
            bulk = ("refused", type(refusal))
        try:
            marked = attendance.mark_attendance(registration=registration, attended=attended, now=now)
            service = ("status", Registration.objects.get(pk=marked.pk).status)
        except attendance.AttendanceError as refusal:
            service = ("refused", type(refusal))
        if bulk != service:
            disagreements.append((state, status, channel, attended, bulk, service))
    assert disagreements == []
