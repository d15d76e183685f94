"""The spreadsheet pages of the Wagtail admin, end to end: permissions, export downloads, and upload → preview →
confirm, with the kept file taken once, bound to its user, and never trusted from the page."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from wagtail.users.models import UserProfile

from cms import roles
from courses.models import Registration, Session
from tests import factories
from tests.courses.test_spreadsheets import SESSION_HEADERS_JA, csv_bytes, future_day, log_entries, staff, xlsx_bytes
from tests.refusals import refused_page

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status


def url(name, *args):
    return reverse(f"spreadsheets:{name}", args=args)


def login(client, user, language="ja"):
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = language
    profile.save()
    client.force_login(user)
    return user


def upload(client, kind, data: bytes, name: str, encoding: str = "auto"):
    return client.post(url("import", kind), {"file": SimpleUploadedFile(name, data), "encoding": encoding})


def token_of(response) -> str:
    match = re.search(r'name="token" value="([^"]+)"', response.content.decode())
    assert match, "no confirm form on the page"
    return match.group(1)


@pytest.fixture
def partner_setup(site):
    partner = factories.partner()
    course = factories.course(owner=partner, title="スマホ入門")
    factories.venue(name="中原市民館")
    session = factories.session(course_page=course, starts_in=-timedelta(hours=1))
    booked = [factories.registration(session_obj=session) for _ in range(3)]
    return {"partner": partner, "course": course, "session": session, "booked": booked,
            "manager": staff(roles.PARTNER_MANAGER, partner), "instructor": staff(roles.PARTNER_INSTRUCTOR, partner)}


def timetable_csv(day=None) -> bytes:
    day = day or future_day(30)
    return csv_bytes([SESSION_HEADERS_JA,
                      ["", "スマホ入門", "中原市民館", day.isoformat(), "10:00", "11:30", 12],
                      ["", "スマホ入門", "中原市民館", day.isoformat(), "14:00", "15:30", 12]])


# --- Who may do what ----------------------------------------------------------------------------------------------


def test_pages_by_role(client, partner_setup):
    analyst = login(client, staff(roles.CITY_ANALYST))
    assert client.get(url("index")).status_code == 200
    assert client.get(url("export", "registrations")).status_code == 200
    for kind in ("sessions", "attendance"):
        assert refused_page(client.get(url("import", kind)))
    assert client.post(url("import", "attendance"), {}).status_code == 302
    assert analyst

    login(client, partner_setup["instructor"])
    assert client.get(url("import", "attendance")).status_code == 200
    assert refused_page(client.get(url("import", "sessions")))  # instructors cannot add sessions
    login(client, partner_setup["manager"])
    assert client.get(url("import", "sessions")).status_code == 200
    assert client.get(url("export", "nonsense")).status_code == 404
    assert client.get(url("import", "registrations")).status_code == 404  # export only

    login(client, staff(roles.CALL_CENTRE_OPERATOR))
    assert refused_page(client.get(url("import", "sessions")))


def test_menu_item_only_for_those_let_in(client, partner_setup):
    login(client, partner_setup["instructor"])
    assert url("index") in client.get(reverse("wagtailadmin_home")).content.decode()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    plain = get_user_model().objects.create_user("plain", password="x")
    plain.user_permissions.add(Permission.objects.get(codename="access_admin"))
    login(client, plain)
    assert url("index") not in client.get(reverse("wagtailadmin_home")).content.decode()
    assert refused_page(client.get(url("index")))


# --- Export -------------------------------------------------------------------------------------------------------


def test_export_downloads_are_scoped_and_logged(client, partner_setup):
    other = factories.session(starts_in=-timedelta(hours=2))
    theirs = factories.registration(session_obj=other)
    login(client, partner_setup["manager"], language="en")
    response = client.post(url("export", "attendance"), {"format": "csv", "status": ""})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="dekiru-attendance-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:2] == ["Registration number", "Session number"]
    assert {int(row[0]) for row in rows[1:]} == {r.pk for r in partner_setup["booked"]}
    assert theirs.participant.name not in str(rows)
    response = client.post(url("export", "sessions"), {"format": "xlsx"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert b"".join(response.streaming_content)[:2] == b"PK"
    entries = log_entries("courses.spreadsheet.exported")
    assert [(entry.data["kind"], entry.data["rows"], entry.user_id) for entry in entries] == [
        ("attendance", 3, partner_setup["manager"].pk), ("sessions", 1, partner_setup["manager"].pk)]


def test_export_form_errors(client, partner_setup):
    login(client, partner_setup["manager"])
    response = client.post(url("export", "sessions"), {"format": "xlsx", "date_from": "2027-02-01",
                                                       "date_to": "2027-01-01"})
    assert response.status_code == 400
    other_course = factories.course()
    response = client.post(url("export", "sessions"), {"format": "csv", "course": other_course.pk})
    assert response.status_code == 400  # another partner's course is not a choice
    assert not log_entries("courses.spreadsheet.exported")


# --- Import: upload → preview → confirm ---------------------------------------------------------------------------


def test_upload_preview_confirm_sessions(client, partner_setup):
    login(client, partner_setup["manager"])
    before = Session.objects.count()
    response = upload(client, "sessions", timetable_csv(), "term.csv")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-count="new">2<' in page and 'data-count="errors">0<' in page
    assert Session.objects.count() == before  # the preview wrote nothing

    response = client.post(url("confirm", "sessions"), {"token": token_of(response)})
    assert response.status_code == 302 and response["Location"] == url("import", "sessions")
    assert Session.objects.count() == before + 2
    assert len(log_entries("courses.spreadsheet.imported")) == 1


def test_upload_preview_confirm_attendance_from_xlsx_on_a_tablet_sized_flow(client, partner_setup):
    login(client, partner_setup["instructor"])
    booked = partner_setup["booked"]
    data = xlsx_bytes([["申込番号", "開催回の番号", "年齢層", "区", "出欠"],
                                    [booked[0].pk, None, None, None, "○"], [booked[1].pk, None, None, None, "×"],
                                    [None, partner_setup["session"].pk, "75〜79歳", "宮前区", None]])
    response = upload(client, "attendance", data, "名簿.xlsx")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-count="updated">2<' in page and 'data-count="new">1<' in page
    response = client.post(url("confirm", "attendance"), {"token": token_of(response)})
    assert response.status_code == 302
    assert [Registration.objects.get(pk=r.pk).status for r in booked] == [Status.ATTENDED, Status.NO_SHOW,
                                                                           Status.CONFIRMED]
    assert Registration.objects.filter(channel=Registration.Channel.WALK_IN).count() == 1


def test_errors_are_listed_with_row_column_and_message_and_cannot_be_confirmed(client, partner_setup):
    login(client, partner_setup["instructor"], language="en")
    rows = [["Registration number", "Attendance"], [partner_setup["booked"][0].pk, "○"], [999999, "○"]]
    response = upload(client, "attendance", csv_bytes(rows), "roster.csv")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="token"' not in page
    errors = re.search(r'<table[^>]*id="spreadsheet-errors".*?</table>', page, re.S).group(0)
    assert "<td>3</td><td>Registration number</td>" in errors and "999999" in errors
    assert Registration.objects.filter(status=Status.ATTENDED).count() == 0


@pytest.mark.parametrize(("data", "name", "expected"), [
    (b"", "empty.csv", "empty"),
    (b"%PDF-1.4\x00\x01", "timetable.pdf", ".xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls", ".xls"),
    ("講座,日付\r\nスマホ入門,2030-01-01\r\n".encode(), "term.csv", "Start time"),
])
def test_bad_files_get_a_clear_message_and_nothing_is_kept(client, partner_setup, data, name, expected):
    login(client, partner_setup["manager"], language="en")
    response = upload(client, "sessions", data, name)
    assert response.status_code == 400
    assert expected in response.content.decode()
    assert 'name="token"' not in response.content.decode()


def test_a_30_mb_upload_is_refused_before_reading(client, partner_setup, monkeypatch):
    from courses import spreadsheets

    read_calls = []
    monkeypatch.setattr(spreadsheets, "read_upload", lambda *a, **k: read_calls.append(1))
    login(client, partner_setup["manager"], language="en")
    big = b"a,b\r\n" + b"1,2\r\n" * (30 * 1024 * 1024 // 5)
    response = upload(client, "sessions", big, "big.csv")
    assert response.status_code == 400
    assert "10 MB" in response.content.decode()
    assert read_calls == []
    assert Session.objects.count() == 1


def test_the_encoding_can_be_chosen(client, partner_setup):
    login(client, partner_setup["manager"], language="en")
    data = timetable_csv().decode().encode("cp932")
    response = upload(client, "sessions", data, "term.csv", encoding="utf-8")
    assert response.status_code == 400 and "not in UTF-8" in response.content.decode()
    response = upload(client, "sessions", data, "term.csv", encoding="cp932")
    assert response.status_code == 200 and 'data-count="new">2<' in response.content.decode()
    response = upload(client, "sessions", data, "term.csv")
    assert "Shift_JIS" in response.content.decode()  # what was detected is shown


def test_confirm_takes_the_kept_file_once(client, partner_setup):
    login(client, partner_setup["manager"])
    token = token_of(upload(client, "sessions", timetable_csv(), "term.csv"))
    assert client.post(url("confirm", "sessions"), {"token": token}).status_code == 302
    count = Session.objects.count()
    response = client.post(url("confirm", "sessions"), {"token": token})  # double click, back button
    assert response.status_code == 302
    assert Session.objects.count() == count
    assert len(log_entries("courses.spreadsheet.imported")) == 1


def test_a_token_is_bound_to_its_user_and_kind_and_cannot_be_forged(client, partner_setup):
    login(client, partner_setup["manager"])
    token = token_of(upload(client, "sessions", timetable_csv(), "term.csv"))
    count = Session.objects.count()
    other_manager = staff(roles.PARTNER_MANAGER, partner_setup["partner"])
    login(client, other_manager)
    client.post(url("confirm", "sessions"), {"token": token})
    client.post(url("confirm", "sessions"), {"token": token[:-3] + "abc"})
    login(client, partner_setup["manager"])
    client.post(url("confirm", "attendance"), {"token": token})
    client.post(url("confirm", "sessions"), {"token": token[:-3] + "abc"})
    assert Session.objects.count() == count
    assert client.post(url("confirm", "sessions"), {"token": token}).status_code == 302
    assert Session.objects.count() == count + 2  # the owner still can


def test_confirm_rechecks_the_file_and_applies_nothing_if_it_is_no_longer_valid(client, partner_setup):
    login(client, partner_setup["instructor"], language="en")
    booked = partner_setup["booked"]
    rows = [["申込番号", "出欠"], [booked[0].pk, "出席"], [booked[1].pk, "欠席"]]
    token = token_of(upload(client, "attendance", csv_bytes(rows), "roster.csv"))
    Registration.objects.filter(pk=booked[1].pk).update(status=Status.CANCELLED)  # meanwhile, at the desk
    response = client.post(url("confirm", "attendance"), {"token": token})
    assert response.status_code == 409
    assert Registration.objects.get(pk=booked[0].pk).status == Status.CONFIRMED
    assert not log_entries("courses.spreadsheet.imported")
    page = response.content.decode()
    assert "Nothing was imported" in page and 'name="token"' not in page
    assert "<td>3</td><td>出欠</td>" in page  # the row now in error is listed, with the column as in the file
