"""Explicit answers in the spreadsheets: the registration and roster exports write an age band of “prefer not to
say” and where a person lives (a ward, outside the city, prefer not to say, or — for people recorded before the
question was asked — “Not recorded (before DATE)”) instead of a blank cell; the roster import reads those values
back, refuses a blank answer for a walk-in, and an exported roster re-imports unchanged."""

import datetime as dt
from datetime import timedelta

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone, translation

from cms import roles
from courses import spreadsheets
from courses.data_quality import FIX_MIGRATION
from courses.models import Participant, Registration
from partners.models import Ward
from tests import factories
from tests.courses.test_spreadsheets import csv_bytes, export_rows, read, staff, xlsx_bytes
from tests.courses.test_spreadsheets_attendance import expect_refused

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Residence, AgeBand = Participant.Residence, Participant.AgeBand
FIX_DAY = dt.date(2026, 12, 6)


def move_fix(moment: dt.datetime) -> None:
    """Pretend the explicit answers went live at `moment` (when migration courses 0006 was applied)."""
    app, name = FIX_MIGRATION
    assert MigrationRecorder.Migration.objects.filter(app=app, name=name).update(applied=moment) == 1


@pytest.fixture
def people(site):
    """A session that started an hour ago, one person booked for each kind of answer, and its instructor."""
    move_fix(timezone.make_aware(dt.datetime.combine(FIX_DAY, dt.time(18, 43))))
    nakahara = Ward.objects.get(name="中原区")
    partner = factories.partner()
    session = factories.session(course_page=factories.course(owner=partner), starts_in=-timedelta(hours=1))
    answers = {
        "city": factories.participant(age_band=AgeBand.AGE_70_74, ward=nakahara, residence=Residence.CITY),
        "outside": factories.participant(age_band=AgeBand.NOT_GIVEN, residence=Residence.OUTSIDE),
        "declined": factories.participant(age_band=AgeBand.UNDER_20, residence=Residence.DECLINED),
        # before the fix: no ward, residence not recorded (outside the city or prefer not to say)
        "unrecorded": factories.participant(age_band=AgeBand.AGE_85_PLUS, residence=Residence.NOT_RECORDED),
        # a ward but no residence (a walk-in added before walk-ins recorded it): in the city
        "ward_only": factories.participant(age_band=AgeBand.AGE_60_64, ward=nakahara,
                                           residence=Residence.NOT_RECORDED),
    }
    registrations = {key: factories.registration(session_obj=session, participant=person)
                     for key, person in answers.items()}
    return {"session": session, "registrations": registrations, "partner": partner,
            "user": staff(roles.PARTNER_INSTRUCTOR, partner)}


def by_registration(rows: list[list], *columns: str) -> dict[int, tuple]:
    header = rows[0]
    first = header.index(header[0])
    return {int(row[first]): tuple(row[header.index(column)] for column in columns) for row in rows[1:]}


EXPECTED_JA = {
    "city": ("70〜74歳", "中原区", "市内の区"),
    "outside": ("答えたくない", "市外", "市外"),
    "declined": ("20歳未満", "答えたくない", "答えたくない"),
    "unrecorded": ("85歳以上", "記録なし（2026-12-06より前の記録）", "記録なし（2026-12-06より前の記録）"),
    "ward_only": ("60〜64歳", "中原区", "市内の区"),
}
EXPECTED_EN = {
    "city": ("70–74", "Nakahara-ku", "A ward of the city"),
    "outside": ("Prefer not to say", "Outside the city", "Outside the city"),
    "declined": ("Under 20", "Prefer not to say", "Prefer not to say"),
    "unrecorded": ("85 and over", "Not recorded (before 2026-12-06)", "Not recorded (before 2026-12-06)"),
    "ward_only": ("60–64", "Nakahara-ku", "A ward of the city"),
}


@pytest.mark.parametrize("kind", ["registrations", "attendance"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exports_write_every_answer_explicitly(people, kind, fmt):
    user = staff(roles.CITY_ADMINISTRATOR)
    ids = {registration.pk: key for key, registration in people["registrations"].items()}
    for language, expected, columns in (("ja", EXPECTED_JA, ("年齢層", "区", "お住まい")),
                                        ("en", EXPECTED_EN, ("Age band", "Ward", "Residence"))):
        with translation.override(language):
            rows = export_rows(kind, user, fmt=fmt)
        header = rows[0]
        assert header.index(columns[2]) == header.index(columns[1]) + 1  # residence next to the ward
        cells = by_registration(rows, *columns)
        assert {ids[pk]: values for pk, values in cells.items()} == expected, language
        assert all(value not in ("", None) for values in cells.values() for value in values)


def test_the_unrecorded_value_carries_this_installations_date(people):
    move_fix(timezone.make_aware(dt.datetime(2027, 2, 3, 9, 0)))
    with translation.override("en"):
        rows = export_rows("attendance", staff(roles.CITY_ADMINISTRATOR))
    cells = by_registration(rows, "Ward", "Residence")
    assert cells[people["registrations"]["unrecorded"].pk] == ("Not recorded (before 2027-02-03)",) * 2


def participant_details():
    return list(Participant.objects.order_by("pk").values_list("pk", "age_band", "ward_id", "residence", "name"))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("language", ["ja", "en"])
def test_an_exported_roster_imports_back_unchanged(people, fmt, language):
    user = people["user"]
    before = (participant_details(), list(Registration.objects.order_by("pk").values_list("pk", "status")))
    with translation.override(language):
        rows = export_rows("attendance", user, fmt=fmt)
        data = csv_bytes(rows) if fmt == "csv" else xlsx_bytes(rows)
        report = spreadsheets.apply_import("attendance", read(data, f"roster.{fmt}"), user=user)
    assert (report.new, report.updated, report.unchanged, report.errors) == (0, 0, 5, [])
    assert (participant_details(), list(Registration.objects.order_by("pk").values_list("pk", "status"))) == before


@pytest.mark.parametrize("language", ["ja", "en"])
def test_walk_ins_with_explicit_answers_are_exported_as_typed(people, language):
    """A walk-in row typed the way an export writes rows imports, and exports again with the same cells."""
    session, user = people["session"], people["user"]
    columns = ("Age band", "Ward", "Residence") if language == "en" else ("年齢層", "区", "お住まい")
    typed = [("答えたくない", "市外", "市外"), ("Prefer not to say", "Prefer not to say", "Prefer not to say"),
             ("70–74", "中原区", "市内の区"), ("80-84", "中原区", ""), ("60〜64歳", "市外", ""),
             ("20歳未満", "", "答えたくない")]
    with translation.override(language):
        rows = export_rows("attendance", user)
        header = rows[0]
        walk_ins = []
        for answers in typed:
            row = [""] * len(header)
            row[1] = session.pk  # the session number; no registration number: a walk-in
            for column, value in zip(columns, answers, strict=True):
                row[header.index(column)] = value
            walk_ins.append(row)
        report = spreadsheets.apply_import("attendance", read(csv_bytes([header, *walk_ins])), user=user)
        assert (report.new, report.errors) == (6, [])
        people_added = list(Participant.objects.filter(registrations__channel=Registration.Channel.WALK_IN)
                            .order_by("pk").values_list("age_band", "ward__name", "residence"))
        assert people_added == [("", None, Residence.OUTSIDE), ("", None, Residence.DECLINED),
                                ("70-74", "中原区", Residence.CITY), ("80-84", "中原区", Residence.CITY),
                                ("60-64", None, Residence.OUTSIDE), ("u20", None, Residence.DECLINED)]
        again = export_rows("attendance", user)
        cells = by_registration(again, *columns)
        walk_in_ids = Registration.objects.filter(channel=Registration.Channel.WALK_IN).order_by("pk")
        exported = [cells[pk] for pk in walk_in_ids.values_list("pk", flat=True)]
        expected = EXPECTED_EN if language == "en" else EXPECTED_JA
        eighties, sixties = ("80–84", "60–64") if language == "en" else ("80〜84歳", "60〜64歳")
        assert exported == [expected["outside"], (expected["outside"][0], *expected["declined"][1:]),
                            expected["city"], (eighties, *expected["city"][1:]),
                            (sixties, *expected["outside"][1:]), expected["declined"]]
        # and that export imports back unchanged too
        report = spreadsheets.apply_import("attendance", read(csv_bytes(again)), user=user)
        assert (report.new, report.updated, report.errors) == (0, 0, [])


def test_a_walk_in_row_refuses_blank_and_unrecorded_answers(people):
    session = people["session"]
    header = ["開催回の番号", "年齢層", "区", "お住まい"]
    rows = [header,
            [session.pk, "", "中原区", "市内"],  # 2: no age band
            [session.pk, "70-74", "", ""],  # 3: nowhere
            [session.pk, "70-74", "記録なし（2026-12-06より前の記録）", ""],  # 4: not an answer for a walk-in
            [session.pk, "70-74", "", "Not recorded"],  # 5: nor here
            [session.pk, "70-74", "中原区", "市外"],  # 6: the two columns disagree
            [session.pk, "70-74", "", "市内の区"],  # 7: in the city, but which ward?
            [session.pk, "70-74", "市内", ""],  # 8: the same, in the ward column
            [session.pk, "七十代", "火星区", ""],  # 9: neither is a value
            [session.pk, "答えたくない", "答えたくない", ""]]  # 10: fine
    errors = expect_refused(rows, people["user"])
    assert [(row, column) for row, column, _message in errors] == [
        (2, "年齢層"), (3, "区"), (4, "区"), (5, "お住まい"), (6, "お住まい"), (7, "区"), (8, "区"), (9, "年齢層"),
        (9, "区")]
    messages = [message for _row, _column, message in errors]
    assert messages[0] == "Give the walk-in's age band, or “Prefer not to say”: the cell is blank."
    assert messages[1] == "Give the walk-in's ward, “Outside the city” or “Prefer not to say”: the cell is blank."
    assert messages[2] == messages[3] == ("“Not recorded” is only for people recorded before residence was asked. "
                                          "For a walk-in, give the ward, “Outside the city” or “Prefer not to say”.")
    assert messages[4] == ("The ward column says “中原区” and the residence column “Outside the city”: they must "
                           "agree.")
    assert messages[5] == messages[6] == "Give the name of the ward in the city."
    assert "Prefer not to say" in messages[7]  # the accepted values are listed, the explicit answer among them
    # In Japanese too.
    with translation.override("ja"):
        report = spreadsheets.preview_import("attendance", read(csv_bytes(rows[:4])), user=people["user"])
    assert [error.message for error in report.errors] == [
        "年齢層が空欄です。当日参加者の年齢層、または「答えたくない」を入力してください。",
        "お住まいが空欄です。当日参加者のお住まいの区、「市外」または「答えたくない」を入力してください。",
        "「記録なし」は、お住まいをお尋ねする前に記録された方のための値です。当日参加者には、お住まいの区、"
        "「市外」または「答えたくない」を入力してください。"]


def test_an_old_roster_without_the_residence_column_still_imports(people):
    session = people["session"]
    rows = [["開催回の番号", "年齢層", "区"], [session.pk, "70-74", "高津区"], [session.pk, "85歳以上", "市外"],
            [session.pk, "回答なし", "答えたくない"]]
    report = spreadsheets.apply_import("attendance", read(csv_bytes(rows)), user=people["user"])
    assert (report.new, report.errors) == (3, [])
    assert list(Participant.objects.filter(registrations__channel=Registration.Channel.WALK_IN).order_by("pk")
                .values_list("age_band", "ward__name", "residence")) == [
        ("70-74", "高津区", Residence.CITY), ("85+", None, Residence.OUTSIDE), ("", None, Residence.DECLINED)]
