"""Export → (edit →) import round trips of the partner spreadsheets (issue 19, partner workspace).

Every export the app offers, read back by every import that accepts it, as every role that may do both: an
unchanged file is reported unchanged, writes nothing and has no error, including the rows the user may not change
(sessions of a city course a partner runs, started and cancelled sessions, rosters whose attendance is closed),
which are reported as such. An edited file changes the rows it changes; a changed row the user may not change is
an error naming the row and why, and the file is then refused as a whole (all or nothing, as every import here),
while the other rows still report what they would do. Also: the export's course filter, the query count of a
dry run, and junk input (NUL bytes, huge numbers) giving translated row errors, never a 5xx.
"""

import csv
import io
from datetime import datetime, time, timedelta

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from cms import roles
from courses import spreadsheets
from courses.admin.spreadsheets import ExportForm, can_export, can_import
from courses.models import Participant, Registration, Session
from courses.spreadsheets import ImportRefused
from tests import factories
from tests.courses.test_spreadsheets import csv_bytes, log_entries, read, staff
from tests.courses.test_spreadsheets_admin import login, upload, url

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status
Residence = Participant.Residence

# Which import reads which export: the registrations export has the roster's columns but the attendance one.
PAIRS = [("sessions", "sessions"), ("attendance", "attendance"), ("registrations", "attendance")]
ROLES = [roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR, roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER,
         roles.CITY_ANALYST, roles.CALL_CENTRE_OPERATOR]


@pytest.fixture
def world(site):
    """A partner running sessions of its own course and of a city course (future, started an hour ago, a month
    ago, cancelled), with people booked in every status, walk-ins and every kind of residence answer; another
    partner's session it must never see."""
    partner, other = factories.partner(), factories.partner()
    own, city = factories.course(owner=partner, title="スマホ入門"), factories.course(title="市のデジタル講座")
    venue = factories.venue(name="中原市民館")
    sessions = {}
    for name, course in (("own", own), ("city", city)):
        for when, starts_in in (("future", timedelta(days=20)), ("now", -timedelta(hours=1)),
                                ("old", -timedelta(days=30))):
            sessions[f"{name}_{when}"] = factories.session(course_page=course, organiser=partner, venue=venue,
                                                           starts_in=starts_in, capacity=8)
        sessions[f"{name}_cancelled"] = factories.session(
            course_page=course, organiser=partner, venue=venue, starts_in=timedelta(days=10),
            status=Session.Status.CANCELLED, cancellation_reason="講師の都合")
    sessions["own_online"] = factories.session(course_page=own, organiser=partner, venue=None,
                                               online_url="https://meet.example/x", starts_in=timedelta(days=25))
    factories.session(course_page=factories.course(owner=other), starts_in=timedelta(days=20))
    ward = factories.ward()
    people = [factories.participant(ward=ward, residence=Residence.CITY),
              factories.participant(age_band=Participant.AgeBand.NOT_GIVEN, residence=Residence.OUTSIDE),
              factories.participant(residence=Residence.DECLINED),
              factories.participant(residence=Residence.NOT_RECORDED)]
    for key, session in sessions.items():
        if "cancelled" in key:
            continue
        past = key.endswith(("now", "old"))
        for person, status in zip(people, [Status.ATTENDED if past else Status.CONFIRMED,
                                           Status.NO_SHOW if past else Status.CONFIRMED,
                                           Status.CONFIRMED, Status.CANCELLED], strict=True):
            factories.registration(session_obj=session, participant=person, status=status)
        factories.registration(session_obj=session, status=Status.WAITLISTED)
        if past:
            factories.registration(session_obj=session, status=Status.ATTENDED, channel=Registration.Channel.WALK_IN,
                                   participant=factories.participant(name="", kana=""))
    return {"partner": partner, "other": other, "own": own, "city": city, "venue": venue, "sessions": sessions}


def snapshot():
    """Everything an import could write."""
    return (list(Session.objects.order_by("pk").values_list("pk", "starts_at", "ends_at", "venue_id", "capacity",
                                                            "status", "online_url", "notes", "notes_en")),
            list(Registration.objects.order_by("pk").values_list("pk", "status", "waitlist_position")),
            Participant.objects.count())


def exported(kind: str, user, fmt: str) -> bytes:
    return b"".join(spreadsheets.export(kind, user=user, fmt=fmt).chunks)


def rows_of(data: bytes, fmt: str) -> list[list]:
    if fmt == "csv":
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def user_in(role: str, partner):
    return staff(role, partner if role in (roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR) else None)


# --- Unchanged round trips ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_export_imports_back_unchanged_for_every_role(world, role):
    user = user_in(role, world["partner"])
    before, done = snapshot(), 0
    for export_kind, import_kind in PAIRS:
        if not (can_export(user, export_kind) and can_import(user, import_kind)):
            continue
        for fmt, language in (("csv", "ja"), ("xlsx", "en")):
            with translation.override(language):
                data = exported(export_kind, user, fmt)
                table = read(data, f"export.{fmt}")
                report = spreadsheets.preview_import(import_kind, table, user=user)
                assert report.errors == [], (export_kind, fmt, report.errors[:3])
                assert (report.new, report.updated, report.unchanged) == (0, 0, report.total) and report.total
                applied = spreadsheets.apply_import(import_kind, table, user=user)  # no error, nothing written
                assert (applied.changes, applied.errors) == (0, [])
            done += 1
    assert snapshot() == before
    expected = {roles.PARTNER_MANAGER: 6, roles.PARTNER_INSTRUCTOR: 4, roles.CITY_ADMINISTRATOR: 6,
                roles.CITY_PROGRAMME_OFFICER: 6, roles.CALL_CENTRE_OPERATOR: 4, roles.CITY_ANALYST: 0}
    assert done == expected[role], "a role gained or lost an export/import pair: check the expectations"


def test_a_partner_managers_sessions_export_says_which_rows_it_may_not_change(world):
    user = staff(roles.PARTNER_MANAGER, world["partner"])
    table = read(exported("sessions", user, "csv"), "sessions.csv")
    report = spreadsheets.preview_import("sessions", table, user=user)
    assert report.errors == [] and report.unchanged == report.total == 9  # its 9 sessions, the other's not
    # city course: future, now, old, cancelled; own course: started twice, cancelled once
    assert report.read_only == {"not_own_course": 4, "started": 2, "cancelled": 1}


def test_city_staff_may_change_every_session_so_only_started_and_cancelled_are_read_only(world):
    user = staff(roles.CITY_ADMINISTRATOR)
    report = spreadsheets.preview_import("sessions", read(exported("sessions", user, "xlsx"), "s.xlsx"), user=user)
    assert report.errors == [] and report.unchanged == report.total == 10
    assert report.read_only == {"started": 4, "cancelled": 2}


def test_the_roster_export_reports_closed_attendance_as_read_only(world):
    user = staff(roles.PARTNER_INSTRUCTOR, world["partner"])
    report = spreadsheets.preview_import("attendance", read(exported("attendance", user, "csv"), "r.csv"),
                                         user=user)
    assert report.errors == [] and report.unchanged == report.total
    # the sessions of a month ago (own and city: 4 active + 1 walk-in each) and the three future ones (4 each)
    assert report.read_only == {"attendance_closed": 2 * 5 + 3 * 4}


def test_the_admin_preview_of_an_unchanged_export_offers_nothing_to_import(client, world):
    user = login(client, staff(roles.PARTNER_MANAGER, world["partner"]))
    before = snapshot()
    response = client.post(url("export", "sessions"), {"format": "xlsx"})
    data = b"".join(response.streaming_content)
    response = upload(client, "sessions", data, "sessions.xlsx")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="token"' not in page and 'id="spreadsheet-errors"' not in page
    assert 'id="spreadsheet-read-only"' in page and "ファイル" in page
    assert snapshot() == before and user


# --- Edited round trips ---------------------------------------------------------------------------------------------


def _edit_capacity(rows: list[list], session_ids: dict[int, int]) -> list[list]:
    """The rows with the capacity of the sessions given (id → capacity) changed."""
    header = rows[0]
    id_column, capacity_column = header.index("開催回の番号"), header.index("定員")
    for row in rows[1:]:
        if int(row[id_column]) in session_ids:
            row[capacity_column] = session_ids[int(row[id_column])]
    return rows


def _row_of(rows, session) -> int:
    id_column = rows[0].index("開催回の番号")
    return next(index for index, row in enumerate(rows, 1) if row[id_column] == str(session.pk))


def test_an_edited_export_changes_own_sessions_and_refuses_a_city_course_row_by_name(world):
    user = staff(roles.PARTNER_MANAGER, world["partner"])
    own, city = world["sessions"]["own_future"], world["sessions"]["city_future"]
    rows = rows_of(exported("sessions", user, "csv"), "csv")
    edited = _edit_capacity(rows, {own.pk: 12, city.pk: 12})
    table = read(csv_bytes(edited))
    before = snapshot()
    with translation.override("en"):
        report = spreadsheets.preview_import("sessions", table, user=user)
    assert (report.updated, report.unchanged, report.error_rows) == (1, report.total - 2, 1)
    [error] = report.errors
    assert error.row == _row_of(rows, city) and error.column == ""
    assert f"Session number {city.pk}" in error.message and "市のデジタル講座" in error.message
    assert "course of the city" in error.message
    with translation.override("ja"):  # translated
        [error_ja] = spreadsheets.preview_import("sessions", table, user=user).errors
    assert "市の講座" in error_ja.message
    with pytest.raises(ImportRefused) as refused:  # all or nothing, as every import
        spreadsheets.apply_import("sessions", table, user=user)
    assert refused.value.report.updated == 1 and snapshot() == before

    edited = _edit_capacity(rows_of(exported("sessions", user, "csv"), "csv"), {own.pk: 12})
    report = spreadsheets.apply_import("sessions", read(csv_bytes(edited)), user=user, filename="edited.csv")
    assert (report.updated, report.errors) == (1, [])
    assert Session.objects.get(pk=own.pk).capacity == 12 and Session.objects.get(pk=city.pk).capacity == 8
    [entry] = log_entries("courses.spreadsheet.imported")
    assert entry.data["updated"] == 1 and entry.data["read_only"] == 7


def test_city_staff_may_change_a_city_course_session_by_file(world):
    user = staff(roles.CITY_ADMINISTRATOR)
    city = world["sessions"]["city_future"]
    rows = _edit_capacity(rows_of(exported("sessions", user, "csv"), "csv"), {city.pk: 12})
    report = spreadsheets.apply_import("sessions", read(csv_bytes(rows)), user=user)
    assert (report.updated, report.errors) == (1, []) and Session.objects.get(pk=city.pk).capacity == 12


def test_a_changed_started_session_row_is_refused_and_the_unchanged_ones_are_not(world):
    user = staff(roles.PARTNER_MANAGER, world["partner"])
    started = world["sessions"]["own_now"]
    rows = rows_of(exported("sessions", user, "csv"), "csv")
    edited = _edit_capacity(rows, {started.pk: 7})
    with translation.override("en"):
        report = spreadsheets.preview_import("sessions", read(csv_bytes(edited)), user=user)
    assert [(error.row, error.message) for error in report.errors] == [
        (_row_of(rows, started), "This session has already started: it can no longer be changed here.")]
    assert report.unchanged == report.total - 1


def test_an_edited_roster_marks_the_open_session_and_refuses_a_closed_one(world):
    user = staff(roles.PARTNER_MANAGER, world["partner"])
    now, old = world["sessions"]["city_now"], world["sessions"]["own_old"]
    rows = rows_of(exported("attendance", user, "csv"), "csv")
    header = rows[0]
    id_column, session_column, mark = header.index("申込番号"), header.index("開催回の番号"), header.index("出欠")
    to_mark = next(row for row in rows[1:] if row[session_column] == str(now.pk) and not row[mark])
    to_unmark = next(row for row in rows[1:] if row[session_column] == str(old.pk) and row[mark] == "出席")
    to_mark[mark], to_unmark[mark] = "出席", "欠席"
    table = read(csv_bytes(rows))
    with translation.override("en"):
        report = spreadsheets.preview_import("attendance", table, user=user)
    [error] = report.errors
    assert error.row == rows.index(to_unmark) + 1 and error.column == "出欠" and "attendance" in error.message.lower()
    assert (report.updated, report.unchanged) == (1, report.total - 2)
    with pytest.raises(ImportRefused):
        spreadsheets.apply_import("attendance", table, user=user)
    to_unmark[mark] = "出席"
    report = spreadsheets.apply_import("attendance", read(csv_bytes(rows)), user=user)
    assert (report.updated, report.errors) == (1, [])
    assert Registration.objects.get(pk=int(to_mark[id_column])).status == Status.ATTENDED


# --- The export's filter, the query count -----------------------------------------------------------------------


def test_the_export_course_filter_lists_every_course_the_partner_runs(world):
    user = staff(roles.PARTNER_MANAGER, world["partner"])
    courses = set(ExportForm(kind="sessions", user=user).fields["course"].queryset)
    assert courses == {world["own"].specific, world["city"].specific}
    venues = set(ExportForm(kind="sessions", user=user).fields["venue"].queryset)
    assert world["venue"] in venues
    form = ExportForm({"format": "csv", "course": world["city"].pk}, kind="sessions", user=user)
    assert form.is_valid(), form.errors
    rows = list(csv.reader(io.StringIO(b"".join(spreadsheets.export(
        "sessions", user=user, fmt="csv", filters=form.filters()).chunks).decode("utf-8-sig"))))
    assert len(rows) == 1 + 4


def _preview_queries(user, rows) -> int:
    table = read(csv_bytes(rows))
    with CaptureQueriesContext(connection) as queries:
        report = spreadsheets.preview_import("sessions", table, user=user)
    assert report.errors == [], report.errors[:2]
    return len(queries)


# A dry run of a sessions file, whatever its length: the user's partners, the file's sessions, the courses (per
# course group the user may schedule on), venues, partners, the scheduled sessions at the file's times, and the
# transaction's savepoints. Before issue 19 every new or moved row cost one more query (the clash check).
SESSIONS_DRY_RUN_QUERIES = 16


def test_a_dry_run_costs_the_same_queries_for_10_or_60_rows(world):
    user = staff(roles.PARTNER_MANAGER, world["partner"])
    header = ["開催回の番号", "講座番号", "会場番号", "日付", "開始時刻", "終了時刻", "定員"]
    base = timezone.localdate() + timedelta(days=40)
    # At 14:00 local time (the new rows are at 10:00): a session made at now + 50 days would end after midnight when
    # the test runs after 23:00.
    starts = [timezone.make_aware(datetime.combine(base + timedelta(days=10 + day), time(14))) for day in range(30)]
    many = [Session.objects.create(course=world["own"], organiser=world["partner"], venue=world["venue"],
                                   starts_at=start, capacity=5, ends_at=start + timedelta(hours=1))
            for start in starts]
    rows = [header]
    for session in many:
        local_start = timezone.localtime(session.starts_at)
        local_end = timezone.localtime(session.ends_at)
        rows.append([session.pk, world["own"].pk, world["venue"].pk, local_start.date().isoformat(),
                     local_start.strftime("%H:%M"), local_end.strftime("%H:%M"), 5])
    for day in range(30):  # and as many new rows
        rows.append(["", world["own"].pk, world["venue"].pk, (base + timedelta(days=day)).isoformat(), "10:00",
                     "11:00", 6])
    small = [header, *rows[1:6], *rows[31:36]]
    _preview_queries(user, small)  # the first run also fills per-process caches (content types, the page tree)
    assert _preview_queries(user, small) == _preview_queries(user, rows) == SESSIONS_DRY_RUN_QUERIES


# --- Junk in a file ---------------------------------------------------------------------------------------------


def _junk_rows(world, padding: int = 0) -> list[list]:
    day = (timezone.localdate() + timedelta(days=40)).isoformat()
    own = world["own"].pk
    return [["開催回の番号", "講座番号", "会場番号", "日付", "開始時刻", "終了時刻", "定員", "お知らせ"],
            ["", own, world["venue"].pk, day, "10:00", "11:00", 10, "x" * padding],  # fine: past 4 KB with padding
            ["", own, world["venue"].pk, day, "12:00", "13:00", 10, "持ち物\x00スマホ"],
            ["9" * 40, own, world["venue"].pk, day, "14:00", "15:00", 10, ""],
            ["", "99999999999999999999", "1e400", day, "15:00", "16:00", "9" * 5000, ""],
            ["", own, world["venue"].pk, "0001-01-01", "10:00", "11:00", 10, ""],
            ["", own, world["venue"].pk, "9999-12-31", "23:00", "01:00", 10, ""],
            ["", own, world["venue"].pk, day, "25:99", "\x01", "-5", "\ufffe\u200b"]]


def test_nul_bytes_junk_and_huge_numbers_are_translated_row_errors(world, client):
    user = staff(roles.PARTNER_MANAGER, world["partner"])
    rows = _junk_rows(world, padding=5000)
    table = read(csv_bytes(rows))
    before = snapshot()
    with translation.override("ja"):
        report = spreadsheets.preview_import("sessions", table, user=user)
    assert sorted({error.row for error in report.errors}) == [3, 4, 5, 6, 7, 8]
    assert all(error.message.isascii() is False for error in report.errors)  # Japanese, not English
    with pytest.raises(ImportRefused):
        spreadsheets.apply_import("sessions", table, user=user)
    assert snapshot() == before
    login(client, user)
    response = upload(client, "sessions", csv_bytes(rows), "junk.csv")
    assert response.status_code == 200 and 'id="spreadsheet-errors"' in response.content.decode()
    # a NUL byte near the start: the file as a whole is refused, in words
    response = upload(client, "sessions", csv_bytes(_junk_rows(world)), "junk.csv")
    assert response.status_code == 400 and "CSV" in response.content.decode()

    roster = [["申込番号", "開催回の番号", "年齢層", "区", "出欠", "お名前", "メモ"],
              ["9" * 30, "", "", "", "出席", "", "x" * 5000],
              ["", str(world["sessions"]["own_now"].pk), "70-74", "市外", "", "名" * 500, ""],
              ["", "1e400", "\x00", "", "", "", ""]]
    with translation.override("ja"):
        report = spreadsheets.preview_import("attendance", read(csv_bytes(roster)), user=user)
    assert sorted({error.row for error in report.errors}) == [2, 3, 4]
    with pytest.raises(ImportRefused):
        spreadsheets.apply_import("attendance", read(csv_bytes(roster)), user=user)
    assert snapshot() == before
