"""Spreadsheets (courses.spreadsheets, courses.resources): reading uploads (formats, encodings, formulas, size),
exporting (scope, headers in the user's language, local times, formula escaping, audit log), and importing a
term's timetable (preview writes nothing, apply is all or nothing and goes through the session services).

The helpers at the top are shared by the other test_spreadsheets_* modules.
"""

import csv
import io
from datetime import datetime, time, timedelta

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone, translation
from wagtail.models import ModelLogEntry

from cms import roles
from courses import spreadsheets
from courses.models import Registration, Session
from courses.resources import SessionResource
from courses.spreadsheets import ExportFilters, ImportRefused, SpreadsheetError
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

TZ = timezone.get_default_timezone()


# --- Shared helpers ------------------------------------------------------------------------------------------------


def staff(role: str, partner=None, *, username: str | None = None):
    """A user in one role group; partner staff are made members of `partner`."""
    user = get_user_model().objects.create_user(username=username or f"{role}-{get_user_model().objects.count()}",
                                                password="x")
    user.groups.add(Group.objects.get(name=role))
    if partner is not None:
        member_role = "instructor" if role == roles.PARTNER_INSTRUCTOR else "manager"
        add_membership(partner=partner, user=user, role=member_role)
    return get_user_model().objects.get(pk=user.pk)  # no cached permissions


def city_admin():
    return staff(roles.CITY_ADMINISTRATOR)


def xlsx_bytes(rows: list[list]) -> bytes:
    """A workbook made by openpyxl: a text starting with "=" becomes a real formula cell."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def local(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


def future_day(days: int = 30):
    return timezone.localdate() + timedelta(days=days)


def read(data: bytes, name: str = "upload.csv", encoding: str = "auto"):
    return spreadsheets.read_upload(data, filename=name, encoding=encoding)


def errors_of(report) -> list[tuple[int, str, str]]:
    return [(error.row, error.column, error.message) for error in report.errors]


def log_entries(action: str):
    return list(ModelLogEntry.objects.filter(action=action).order_by("pk"))


def export_rows(kind: str, user, filters: ExportFilters | None = None, fmt: str = "csv") -> list[list[str]]:
    result = spreadsheets.export(kind, user=user, fmt=fmt, filters=filters)
    if fmt == "csv":
        text = b"".join(result.chunks).decode("utf-8-sig")
        return list(csv.reader(io.StringIO(text)))
    sheet = openpyxl.load_workbook(result.file).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


SESSION_HEADERS_JA = ["開催回の番号", "講座", "会場", "日付", "開始時刻", "終了時刻", "定員"]


# --- Reading uploads ---------------------------------------------------------------------------------------------


def test_empty_and_blank_files_are_refused():
    with translation.override("en"), pytest.raises(SpreadsheetError, match="empty"):
        read(b"")
    with pytest.raises(SpreadsheetError):
        read(b"\r\n,,,\r\n")
    with pytest.raises(SpreadsheetError):
        read(csv_bytes([["講座", "日付"]]))  # names, no rows


def test_wrong_file_types_are_refused_by_content():
    with translation.override("en"), pytest.raises(SpreadsheetError, match=r"\.xls"):
        read(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old.xls")
    with pytest.raises(SpreadsheetError):
        read(b"%PDF-1.7\n\x00\x01binary", "timetable.pdf")
    with pytest.raises(SpreadsheetError):
        read(b"not a workbook", "renamed.xlsx")
    with pytest.raises(SpreadsheetError):
        read(b"PK\x03\x04 broken zip", "broken.xlsx")


def test_size_limit_is_checked_before_reading():
    with translation.override("en"), pytest.raises(SpreadsheetError, match="10 MB"):
        read(b"a," * (15 * 1024 * 1024))


@pytest.mark.parametrize(("encoding", "detected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("cp932", "cp932")])
def test_csv_encodings_are_detected(encoding, detected):
    data = csv_bytes([["講座", "会場"], ["スマホはじめて講座", "中原市民館①"]], encoding)
    table = read(data)
    assert table.encoding == detected
    assert table.headers == ["講座", "会場"]  # no BOM left in the first header
    assert table.rows == [["スマホはじめて講座", "中原市民館①"]]


def test_the_user_can_override_the_encoding():
    data = csv_bytes([["講座"], ["スマホ講座"]], "cp932")
    assert read(data, encoding="cp932").rows == [["スマホ講座"]]
    with translation.override("en"), pytest.raises(SpreadsheetError, match="UTF-8"):
        read(data, encoding="utf-8")
    assert read(csv_bytes([["講座"], ["スマホ講座"]], "utf-8"), encoding="utf-8").rows == [["スマホ講座"]]


def test_excel_row_numbers_skip_blank_rows_and_count_the_header_as_row_1():
    table = read(xlsx_bytes([["a", "b"], [1, 2], [None, None], [3, 4]]), "x.xlsx")
    assert table.format == "xlsx"
    assert table.row_numbers == [2, 4]
    assert table.rows == [[1.0, 2.0], [3.0, 4.0]]


def test_formula_cells_are_found_in_xlsx_and_csv_and_never_evaluated():
    table = read(xlsx_bytes([["a", "b"], ["x", "=1+1"], ["y", "z"], [None, "=SUM(A1:A2)"]]), "f.xlsx")
    assert table.formulas == {0: {1}, 2: {1}}
    assert table.rows[0] == ["x", ""]  # openpyxl saved no value: nothing computed
    table = read(csv_bytes([["a", "b"], ["=HYPERLINK(\"http://evil\")", "ok"]]))
    assert table.formulas == {0: {0}}


# --- Exporting ----------------------------------------------------------------------------------------------------


@pytest.fixture
def two_partners(site):
    """Partner A and partner B, each with a course, a session next month and two registrations."""
    data = {}
    for key in ("a", "b"):
        partner = factories.partner()
        course = factories.course(owner=partner)
        session = factories.session(course_page=course, starts_in=timedelta(days=30))
        registrations = [factories.registration(session_obj=session) for _ in range(2)]
        data[key] = {"partner": partner, "course": course, "session": session, "registrations": registrations}
    return data


@pytest.mark.parametrize("kind", ["sessions", "registrations", "attendance"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_partner_staff_export_only_their_own_rows(two_partners, kind, fmt):
    manager_b = staff(roles.PARTNER_MANAGER, two_partners["b"]["partner"])
    rows = export_rows(kind, manager_b, fmt=fmt)
    ids = {int(row[0]) for row in rows[1:]}
    if kind == "sessions":
        assert ids == {two_partners["b"]["session"].pk}
    else:
        assert ids == {registration.pk for registration in two_partners["b"]["registrations"]}
    a_names = {registration.participant.name for registration in two_partners["a"]["registrations"]}
    flat = {str(value) for row in rows for value in row}
    assert not a_names & flat
    assert two_partners["a"]["course"].title not in flat
    city = export_rows(kind, city_admin(), fmt=fmt)
    assert len(city) - 1 == (2 if kind == "sessions" else 4)


def test_headers_are_in_the_users_language():
    with translation.override("ja"):
        headers = SessionResource().get_export_headers()
    assert headers[:5] == ["開催回の番号", "講座番号", "講座", "主催", "会場番号"] or "開催回の番号" in headers
    assert {"講座", "日付", "開始時刻", "終了時刻", "定員", "状態"} <= set(headers)
    with translation.override("en"):
        headers = SessionResource().get_export_headers()
    assert {"Session number", "Course", "Date", "Start time", "End time", "Capacity", "Status"} <= set(headers)


def test_export_in_japanese_and_english(two_partners):
    user = city_admin()
    with translation.override("ja"):
        ja = export_rows("registrations", user)
    with translation.override("en"):
        en = export_rows("registrations", user)
    assert {"開催回の番号", "講座", "状態", "お名前", "年齢層"} <= set(ja[0])
    assert {"Session number", "Course", "Status", "Name", "Age band"} <= set(en[0])
    status = ja[0].index("状態")
    assert ja[1][status] == "申込済み" and en[1][en[0].index("Status")] == "Confirmed"


def test_sessions_export_local_dates_and_times(site):
    day = future_day(40)
    session = factories.session(starts_in=local(day, 10) - timezone.now(), duration=timedelta(minutes=90))
    Session.objects.filter(pk=session.pk).update(starts_at=local(day, 10), ends_at=local(day, 11, 30))
    with translation.override("en"):
        rows = export_rows("sessions", city_admin())
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["Date"], row["Start time"], row["End time"]) == (day.isoformat(), "10:00", "11:30")
    with translation.override("en"):
        rows = export_rows("registrations", city_admin())
    assert rows[1:] == []
    registration = factories.registration(session_obj=session)
    with translation.override("en"):
        rows = export_rows("registrations", city_admin())
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Registered at"] == timezone.localtime(registration.created_at, TZ).strftime("%Y-%m-%d %H:%M")
    assert len(row["Registered at"]) == 16


@pytest.mark.parametrize("dangerous", ["=HYPERLINK(\"http://x\",\"y\")", "+81 90", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_injection_is_escaped_in_csv(site, dangerous):
    session = factories.session()
    factories.registration(session_obj=session, participant=factories.participant(name=dangerous))
    with translation.override("en"):
        rows = export_rows("registrations", city_admin())
    assert rows[1][rows[0].index("Name")] == "'" + dangerous


def test_formula_injection_is_text_in_xlsx(site):
    session = factories.session()
    factories.registration(session_obj=session, participant=factories.participant(name="=1+1"))
    result = spreadsheets.export("registrations", user=city_admin(), fmt="xlsx")
    sheet = openpyxl.load_workbook(result.file).active
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value == "=1+1"]
    assert cells and all(cell.data_type == "s" for cell in cells)
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)


def test_export_filters(site):
    partner = factories.partner()
    course, other_course = factories.course(owner=partner), factories.course(owner=partner)
    venue = factories.venue()
    soon = factories.session(course_page=course, venue=venue, starts_in=timedelta(days=3))
    later = factories.session(course_page=course, starts_in=timedelta(days=60))
    other = factories.session(course_page=other_course, starts_in=timedelta(days=3))
    cancelled = factories.session(course_page=course, starts_in=timedelta(days=4), status=Session.Status.CANCELLED,
                                  cancellation_reason="台風")
    user = city_admin()

    def ids(**filters):
        return {int(row[0]) for row in export_rows("sessions", user, ExportFilters(**filters))[1:]}

    today = timezone.localdate()
    assert ids(date_from=today, date_to=today + timedelta(days=10)) == {soon.pk, other.pk, cancelled.pk}
    assert ids(course=course.pk) == {soon.pk, later.pk, cancelled.pk}
    assert ids(venue=venue.pk) == {soon.pk}
    assert ids(status="cancelled") == {cancelled.pk}
    booked = factories.registration(session_obj=soon)
    factories.registration(session_obj=soon, status=Registration.Status.CANCELLED)
    rows = export_rows("registrations", user, ExportFilters(status="confirmed", course=course.pk))
    assert {int(row[0]) for row in rows[1:]} == {booked.pk}
    assert len(export_rows("attendance", user)) - 1 == 1  # a roster leaves out cancelled registrations


def test_each_export_is_logged_with_who_what_and_how_many(two_partners):
    manager = staff(roles.PARTNER_MANAGER, two_partners["a"]["partner"])
    result = spreadsheets.export("registrations", user=manager, fmt="csv",
                                 filters=ExportFilters(status="confirmed"))
    assert result.filename == f"dekiru-registrations-{timezone.localdate().isoformat()}.csv"
    [entry] = log_entries("courses.spreadsheet.exported")
    assert entry.user_id == manager.pk
    assert entry.object_id == str(two_partners["a"]["partner"].pk)  # logged on the partner whose data it is
    assert entry.data["kind"] == "registrations" and entry.data["format"] == "csv"
    assert entry.data["rows"] == 2 and entry.data["filters"] == {"status": "confirmed"}
    spreadsheets.export("sessions", user=city_admin(), fmt="xlsx")
    city_entry = log_entries("courses.spreadsheet.exported")[-1]
    assert city_entry.content_type.model == "site" and city_entry.data["rows"] == 2
    assert city_entry.data["partners"] == sorted([two_partners["a"]["partner"].pk, two_partners["b"]["partner"].pk])


# --- Importing sessions -------------------------------------------------------------------------------------------


@pytest.fixture
def timetable(site):
    """A partner with a course and a venue, its manager, and a file of two new sessions next month."""
    partner = factories.partner()
    course = factories.course(owner=partner, title="スマホ入門")
    venue = factories.venue(name="中原市民館")
    manager = staff(roles.PARTNER_MANAGER, partner)
    day = future_day(30)
    rows = [SESSION_HEADERS_JA,
            ["", "スマホ入門", "中原市民館", day.isoformat(), "10:00", "11:30", 12],
            ["", "スマホ入門", "中原市民館", f"{day.year}/{day.month}/{day.day}", "14:00", "15:30", 12]]
    return {"partner": partner, "course": course, "venue": venue, "manager": manager, "day": day, "rows": rows}


def test_preview_writes_nothing_and_apply_creates_the_sessions(timetable):
    table = read(csv_bytes(timetable["rows"]))
    report = spreadsheets.preview_import("sessions", table, user=timetable["manager"])
    assert (report.new, report.updated, report.unchanged, report.errors) == (2, 0, 0, [])
    assert not Session.objects.exists() and not log_entries("courses.spreadsheet.imported")

    report = spreadsheets.apply_import("sessions", table, user=timetable["manager"], filename="term.csv")
    assert report.new == 2
    sessions = list(Session.objects.order_by("starts_at"))
    assert [timezone.localtime(s.starts_at, TZ).time() for s in sessions] == [time(10), time(14)]
    assert all(s.organiser == timetable["partner"] and s.venue == timetable["venue"] and s.capacity == 12
               for s in sessions)
    [entry] = log_entries("courses.spreadsheet.imported")
    assert entry.user_id == timetable["manager"].pk and entry.object_id == str(timetable["partner"].pk)
    assert entry.data | {"created": 2, "updated": 0, "rows": 2, "kind": "sessions", "file": "term.csv"} == entry.data


def test_english_headers_field_names_and_xlsx_cells_are_accepted(timetable):
    day = timetable["day"]
    rows = [["Session number", "Course number", "course", "Venue number", "date", "Start time", "end_time",
             "CAPACITY"],
            [None, None, "スマホ入門", timetable["venue"].pk, datetime.combine(day, time()), time(9, 30), time(11),
             10.0],
            [None, timetable["course"].pk, None, timetable["venue"].pk, day, "13時", "14時30分", "１５"]]
    report = spreadsheets.apply_import("sessions", read(xlsx_bytes(rows), "t.xlsx"), user=timetable["manager"])
    assert report.new == 2
    assert sorted(Session.objects.values_list("capacity", flat=True)) == [10, 15]


def test_changes_go_through_the_services_and_unchanged_rows_are_reported(timetable, monkeypatch):
    from courses import services

    day = timetable["day"]
    session = Session.objects.create(course=timetable["course"], organiser=timetable["partner"],
                                     venue=timetable["venue"], starts_at=local(day, 10), ends_at=local(day, 11, 30),
                                     capacity=12)
    booked = factories.registration(session_obj=session)
    other = Session.objects.create(course=timetable["course"], organiser=timetable["partner"],
                                   venue=timetable["venue"], starts_at=local(day, 14), ends_at=local(day, 15),
                                   capacity=12)
    calls = []
    original_move, original_cancel = services.move_session, services.cancel_session
    monkeypatch.setattr(services, "move_session", lambda **kw: calls.append(("move", kw)) or original_move(**kw))
    monkeypatch.setattr(services, "cancel_session",
                        lambda **kw: calls.append(("cancel", kw)) or original_cancel(**kw))
    unchanged = Session.objects.create(course=timetable["course"], organiser=timetable["partner"],
                                       venue=timetable["venue"], starts_at=local(day, 16), ends_at=local(day, 17),
                                       capacity=8)
    rows = [[*SESSION_HEADERS_JA, "状態", "中止の理由"],
            [session.pk, "スマホ入門", "中原市民館", day.isoformat(), "10:30", "12:00", 20, "", ""],
            [other.pk, "スマホ入門", "中原市民館", day.isoformat(), "14:00", "15:00", 12, "中止", "講師の急病"],
            [unchanged.pk, "スマホ入門", "中原市民館", day.isoformat(), "16:00", "17:00", 8, "開催予定", ""]]
    table = read(csv_bytes(rows))
    report = spreadsheets.preview_import("sessions", table, user=timetable["manager"])
    assert (report.new, report.updated, report.unchanged, report.errors) == (0, 2, 1, [])
    assert calls == []
    spreadsheets.apply_import("sessions", table, user=timetable["manager"])
    assert [name for name, _kw in calls] == ["move", "cancel"]
    session.refresh_from_db()
    assert timezone.localtime(session.starts_at, TZ).time() == time(10, 30) and session.capacity == 20
    assert session.sequence == 1  # calendar clients are told
    assert ModelLogEntry.objects.filter(action="courses.session.moved", object_id=str(session.pk)).exists()
    other.refresh_from_db()
    assert other.is_cancelled and other.cancellation_reason == "講師の急病"
    from courses.models import OutgoingMessage

    assert OutgoingMessage.objects.filter(registration=booked, kind=OutgoingMessage.Kind.SESSION_MOVED).exists()


def _expect_refused(kind, rows, user, *, fmt="csv"):
    """Preview and apply both report errors; nothing is written. Returns the preview's errors."""
    data = xlsx_bytes(rows) if fmt == "xlsx" else csv_bytes(rows)
    table = read(data, f"file.{fmt}")
    before = (Session.objects.count(), list(Session.objects.values_list("pk", "starts_at", "capacity", "status")),
              list(Registration.objects.values_list("pk", "status")))
    with translation.override("en"):  # stable messages, whatever the Japanese catalogue says
        report = spreadsheets.preview_import(kind, table, user=user)
    assert report.errors
    with pytest.raises(ImportRefused):
        spreadsheets.apply_import(kind, table, user=user)
    after = (Session.objects.count(), list(Session.objects.values_list("pk", "starts_at", "capacity", "status")),
             list(Registration.objects.values_list("pk", "status")))
    assert after == before
    assert not log_entries("courses.spreadsheet.imported")
    return errors_of(report)


def test_past_dates_bad_formats_and_out_of_range_values_are_errors(timetable):
    day, past = timetable["day"], timezone.localdate() - timedelta(days=1)
    far = timezone.localdate() + timedelta(days=365 * 3)
    rows = [SESSION_HEADERS_JA,
            ["", "スマホ入門", "中原市民館", past.isoformat(), "10:00", "11:00", 10],
            ["", "スマホ入門", "中原市民館", "来週の火曜", "10:00", "11:00", 10],
            ["", "スマホ入門", "中原市民館", day.isoformat(), "25:00", "11:00", 10],
            ["", "スマホ入門", "中原市民館", day.isoformat(), "12:00", "11:00", 10],
            ["", "スマホ入門", "中原市民館", far.isoformat(), "10:00", "11:00", 10],
            ["", "スマホ入門", "中原市民館", day.isoformat(), "16:00", "17:00", 0],
            ["", "スマホ入門", "中原市民館", f"{day.year}-02-30", "16:00", "17:00", 5],
            ["", "スマホ入門", "中原市民館", day.isoformat(), "18:00", "19:00", "たくさん"]]
    errors = _expect_refused("sessions", rows, timetable["manager"])
    by_row = {row: (column, message) for row, column, message in errors}
    assert by_row[2][0] == "日付" and "future" in by_row[2][1]
    assert by_row[3][0] == "日付" and "2027-01-05" in by_row[3][1]
    assert by_row[4][0] == "開始時刻"
    assert by_row[5][0] == "終了時刻"
    assert by_row[6][0] == "日付" and "years ahead" in by_row[6][1]
    assert by_row[7][0] == "定員"
    assert by_row[8][0] == "日付"
    assert by_row[9][0] == "定員"


def test_unknown_ids_and_names_are_errors(timetable):
    day = timetable["day"]
    rows = [SESSION_HEADERS_JA,
            [999999, "スマホ入門", "中原市民館", day.isoformat(), "10:00", "11:00", 10],
            ["", "存在しない講座", "中原市民館", day.isoformat(), "10:00", "11:00", 10],
            ["", "スマホ入門", "どこか", day.isoformat(), "10:00", "11:00", 10]]
    errors = _expect_refused("sessions", rows, timetable["manager"])
    assert [(row, column) for row, column, _message in errors] == [(2, "開催回の番号"), (3, "講座"), (4, "会場")]
    assert "999999" in errors[0][2]


def test_duplicate_rows_are_errors(timetable):
    day = timetable["day"]
    session = Session.objects.create(course=timetable["course"], organiser=timetable["partner"],
                                     venue=timetable["venue"], starts_at=local(day, 9), ends_at=local(day, 10),
                                     capacity=12)
    rows = [SESSION_HEADERS_JA,
            [session.pk, "スマホ入門", "中原市民館", day.isoformat(), "09:00", "10:00", 14],
            [session.pk, "スマホ入門", "中原市民館", day.isoformat(), "09:00", "10:00", 15],
            ["", "スマホ入門", "中原市民館", day.isoformat(), "13:00", "14:00", 10],
            ["", "スマホ入門", "中原市民館", day.isoformat(), "13:00", "14:30", 10],
            ["", "スマホ入門", "中原市民館", day.isoformat(), "09:00", "10:00", 10],
            ["", "スマホ入門", "中原市民館", day.isoformat(), "11:00", "12:00", 10]]
    not_in_file = Session.objects.create(course=timetable["course"], organiser=timetable["partner"],
                                         venue=timetable["venue"], starts_at=local(day, 11),
                                         ends_at=local(day, 12), capacity=12)
    errors = _expect_refused("sessions", rows, timetable["manager"])
    assert {row for row, _column, _message in errors} == {3, 5, 6, 7}
    assert any("row 2" in message.lower() for row, _c, message in errors if row == 3)  # the same id twice
    assert any("row 4" in message.lower() for row, _c, message in errors if row == 5)  # the same course and time
    assert any("row 2" in message.lower() for row, _c, message in errors if row == 6)
    assert any(str(not_in_file.pk) in message for row, _c, message in errors if row == 7)  # already in the database


def test_missing_columns_are_named(timetable):
    with translation.override("en"):
        with pytest.raises(SpreadsheetError) as refused:
            spreadsheets.preview_import("sessions", read(csv_bytes([["講座", "日付"], ["スマホ入門", "2030-01-01"]])),
                                        user=timetable["manager"])
    assert "Start time" in refused.value.message and "Capacity" in refused.value.message
    assert "Date" not in refused.value.message


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_formula_is_an_error_for_its_row(timetable, fmt):
    rows = [*timetable["rows"]]
    rows[2] = [*rows[2]]
    rows[2][6] = "=6*2"
    errors = _expect_refused("sessions", rows, timetable["manager"], fmt=fmt)
    assert [(row, column) for row, column, _message in errors] == [(3, "定員")]
    assert "formula" in errors[0][2]


def test_partner_staff_cannot_import_rows_of_another_partner(timetable):
    other = factories.partner()
    other_course = factories.course(owner=other, title="他団体の講座")
    other_venue = factories.venue(name="他団体の会場", partner=other)
    day = timetable["day"]
    other_session = Session.objects.create(course=other_course, organiser=other, venue=other_venue,
                                           starts_at=local(day, 10), ends_at=local(day, 11), capacity=5)
    rows = [SESSION_HEADERS_JA,
            [other_session.pk, "他団体の講座", "他団体の会場", day.isoformat(), "10:00", "11:00", 50],
            ["", "他団体の講座", "中原市民館", day.isoformat(), "12:00", "13:00", 10],
            ["", "スマホ入門", "他団体の会場", day.isoformat(), "12:00", "13:00", 10]]
    errors = _expect_refused("sessions", rows, timetable["manager"])
    assert [(row, column) for row, column, _message in errors] == [(2, "開催回の番号"), (3, "講座"), (4, "会場")]
    other_session.refresh_from_db()
    assert other_session.capacity == 5


def test_an_error_in_row_500_of_1000_leaves_nothing_applied(timetable):
    start = timetable["day"]
    rows = [SESSION_HEADERS_JA]
    for n in range(999):
        day = start + timedelta(days=n // 8)
        rows.append(["", "スマホ入門", "中原市民館", day.isoformat(), f"{9 + n % 8}:00", f"{9 + n % 8}:45", 10])
    rows[499][3] = "2025-13-01"  # row 500 as Excel shows it
    table = read(csv_bytes(rows))
    with pytest.raises(ImportRefused) as refused:
        spreadsheets.apply_import("sessions", table, user=timetable["manager"])  # applied without a preview
    assert [(error.row, error.column) for error in refused.value.report.errors] == [(500, "日付")]
    assert not Session.objects.exists()


def test_a_refusal_by_a_service_while_applying_rolls_everything_back(timetable):
    day = timetable["day"]
    session = Session.objects.create(course=timetable["course"], organiser=timetable["partner"],
                                     venue=timetable["venue"], starts_at=local(day, 9), ends_at=local(day, 10),
                                     capacity=3)
    rows = [SESSION_HEADERS_JA,
            ["", "スマホ入門", "中原市民館", day.isoformat(), "13:00", "14:00", 10],
            [session.pk, "スマホ入門", "中原市民館", day.isoformat(), "09:00", "10:00", 1]]
    table = read(csv_bytes(rows))
    assert spreadsheets.preview_import("sessions", table, user=timetable["manager"]).ok
    for _ in range(2):  # booked between the preview and the confirmation
        factories.registration(session_obj=session)
    with pytest.raises(ImportRefused) as refused:
        spreadsheets.apply_import("sessions", table, user=timetable["manager"])
    assert refused.value.report.errors[0].row == 3
    assert Session.objects.count() == 1 and Session.objects.get().capacity == 3


def test_an_online_link_cannot_change_silently_under_people_booked(timetable):
    day = timetable["day"]
    session = Session.objects.create(course=timetable["course"], organiser=timetable["partner"], venue=None,
                                     online_url="https://meet.example/a", starts_at=local(day, 9),
                                     ends_at=local(day, 10), capacity=3)
    factories.registration(session_obj=session)
    rows = [[*SESSION_HEADERS_JA, "オンライン参加用リンク"],
            [session.pk, "スマホ入門", "", day.isoformat(), "09:00", "10:00", 3, "https://meet.example/b"]]
    errors = _expect_refused("sessions", rows, timetable["manager"])
    assert errors[0][1] == "オンライン参加用リンク"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_exported_timetable_imports_back_unchanged(timetable, fmt):
    day = timetable["day"]
    Session.objects.create(course=timetable["course"], organiser=timetable["partner"], venue=timetable["venue"],
                           starts_at=local(day, 10), ends_at=local(day, 11, 30), capacity=12,
                           notes="-持ち物: スマホ", notes_en="=bring your phone")
    Session.objects.create(course=timetable["course"], organiser=timetable["partner"], venue=None,
                           online_url="https://meet.example/x", starts_at=local(day, 14), ends_at=local(day, 15),
                           capacity=30)
    user = timetable["manager"]
    for language in ("ja", "en"):
        with translation.override(language):
            exported = spreadsheets.export("sessions", user=user, fmt=fmt)
            data = b"".join(exported.chunks) if fmt == "csv" else exported.file.read()
            if fmt == "xlsx":  # a text that looks like a formula is refused from a workbook, even our own
                Session.objects.filter(notes_en__startswith="=").update(notes_en="bring your phone")
                exported = spreadsheets.export("sessions", user=user, fmt=fmt)
                data = exported.file.read()
            report = spreadsheets.preview_import("sessions", read(data, f"x.{fmt}"), user=user)
        assert (report.new, report.updated, report.unchanged, report.errors) == (0, 0, 2, []), language


def test_a_formula_in_a_column_the_import_ignores_is_still_an_error(timetable):
    rows = [[*row, note] for row, note in zip(timetable["rows"], ["メモ", "", "=cmd|' /C calc'!A0"], strict=True)]
    errors = _expect_refused("sessions", rows, timetable["manager"])
    assert [(row, column) for row, column, _message in errors] == [(3, "メモ")]


def test_unknown_course_and_venue_numbers_are_errors(timetable):
    day = timetable["day"]
    rows = [["Course number", "Venue number", "Date", "Start time", "End time", "Capacity"],
            [999999, timetable["venue"].pk, day.isoformat(), "10:00", "11:00", 10],
            [timetable["course"].pk, 999999, day.isoformat(), "10:00", "11:00", 10],
            [timetable["course"].pk, timetable["venue"].pk, day.isoformat(), "10:00", "11:00", 10]]
    errors = _expect_refused("sessions", rows, timetable["manager"])
    assert [(row, column) for row, column, _message in errors] == [(2, "Course number"), (3, "Venue number")]
