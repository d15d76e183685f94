"""Where the person of a support-desk consultation lives (issue 16, no silent default): a ward, outside the city and
"not given" are three stored answers (Consultation.residence); historic rows keep "not recorded"; the spreadsheet
import refuses blanks in the age band and residence columns; the export writes every answer out and re-imports
unchanged; the figures by ward of residence keep working."""

import importlib
import io
from datetime import timedelta

import openpyxl
import pytest
from django.apps import apps
from django.utils import timezone, translation
from wagtail.models import ModelLogEntry

from cms import roles
from courses import spreadsheets
from outreach import consultation_import, consultations, metrics
from outreach.models import Consultation
from tests import factories
from tests.courses.test_spreadsheets import csv_bytes, staff, xlsx_bytes
from tests.outreach.test_consultations import JA_HEADERS, Outcome, Place, Residence, record, topic, url, wards
from tests.refusals import refused_page

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def desk(site):
    return staff(roles.CALL_CENTRE_OPERATOR)


def preview(rows, user, *, language="ja"):
    with translation.override(language):
        return consultation_import.preview_import(spreadsheets.read_upload(xlsx_bytes(rows), filename="f.xlsx"),
                                                  user=user)


# --- The migration ---------------------------------------------------------------------------------------------


def test_the_migration_marks_rows_with_a_ward_as_city_and_leaves_the_others_unrecorded(site):
    with_ward = record(residence_ward=wards()[2])
    without = record()
    Consultation.objects.update(residence="")  # as they were before the field existed
    importlib.import_module("outreach.migrations.0007_consultation_residence").residence_of_known_wards(apps, None)
    assert Consultation.objects.get(pk=with_ward.pk).residence == "city"
    assert Consultation.objects.get(pk=without.pk).residence == ""  # unknown, never "prefer not to say"


# --- Import ----------------------------------------------------------------------------------------------------


def test_the_import_refuses_a_blank_age_band_or_residence_row_by_row(desk):
    day = timezone.localdate() - timedelta(days=1)
    rows = [JA_HEADERS,
            [day, "区役所", "川崎区", "", "幸区", "その他", "解決", 10],  # row 2: no age band
            [day, "区役所", "川崎区", "70-74", "", "その他", "解決", 10],  # row 3: no residence
            [day, "区役所", "川崎区", "70-74", "記録なし", "その他", "解決", 10],  # row 4: not an answer
            [day, "区役所", "川崎区", "-", "―", "その他", "解決", 10],  # row 5: a dash says nothing either
            [day, "区役所", "川崎区", "回答なし", "答えたくない", "その他", "解決", 10]]  # row 6: fine
    report = preview(rows, desk)
    assert sorted((error.row, error.column) for error in report.errors) == [
        (2, "年齢階級"), (3, "居住区"), (4, "居住区"), (5, "居住区")]
    messages = {(error.row, error.column): error.message for error in report.errors}
    assert messages[(2, "年齢階級")] == ("年齢階級を入力してください（または「答えたくない」）。"
                                        "空欄は受け付けられません。")
    assert messages[(3, "居住区")] == ("お住まいを入力してください（区名、「市外」または「答えたくない」）。"
                                     "空欄は受け付けられません。")
    assert report.new == 1 and report.error_rows == 4
    with pytest.raises(spreadsheets.ImportRefused):
        consultation_import.import_consultations(spreadsheets.read_upload(xlsx_bytes(rows), filename="f.xlsx"),
                                                 user=desk)
    assert not Consultation.objects.exists()

    english = preview(rows, desk, language="en")
    assert {error.message for error in english.errors if error.row == 3} == {
        "Give where the person lives: a ward, “Outside the city” or “Prefer not to say”."}


def test_the_import_needs_the_age_band_and_residence_columns(desk):
    table = spreadsheets.read_upload(csv_bytes([["日付", "場所", "実施区", "相談内容", "結果"],
                                                ["2025-05-01", "区役所", "川崎区", "その他", "解決"]]),
                                     filename="old.csv")
    with translation.override("en"), pytest.raises(spreadsheets.SpreadsheetError) as refused:
        consultation_import.preview_import(table, user=desk)
    assert "Age band" in str(refused.value.message) and "Ward of residence" in str(refused.value.message)


@pytest.mark.parametrize("text", ["市外", "Outside the city", "outside", "ＯＵＴＳＩＤＥ　ＴＨＥ　ＣＩＴＹ",
                                  "市外在住"])
def test_the_import_reads_outside_the_city(desk, text):
    day = timezone.localdate()
    report = preview([JA_HEADERS, [day, "区役所", "川崎区", "70-74", text, "その他", "解決", 10]], desk)
    assert report.ok, report.errors
    table = spreadsheets.read_upload(xlsx_bytes([JA_HEADERS, [day, "区役所", "川崎区", "70-74", text, "その他", "解決",
                                                              10]]), filename="f.xlsx")
    consultation_import.import_consultations(table, user=desk)
    assert Consultation.objects.values_list("residence", "residence_ward").get() == ("outside", None)


# --- Export and the round trip ---------------------------------------------------------------------------------


def recorded_set():
    return sorted((c.date, c.place, c.place_ward_id, c.age_band, c.residence_ward_id, c.residence, c.outcome,
                   c.duration_minutes, tuple(sorted(t.pk for t in c.topics.all())))
                  for c in Consultation.objects.all())


@pytest.mark.parametrize(("language", "fmt"), [("ja", "xlsx"), ("ja", "csv"), ("en", "xlsx"), ("en", "csv")])
def test_an_export_writes_every_answer_and_imports_again_unchanged(desk, language, fmt):
    day = timezone.localdate() - timedelta(days=2)
    record(date=day, age_band="75-79", residence_ward=wards()[1], topics=[topic("My Number Card"), topic("Other")],
           duration_minutes=25)
    record(date=day, age_band="", residence=Residence.OUTSIDE, place=Place.COMMUNITY_CENTRE,
           outcome=Outcome.REFERRED_CLASS)
    record(date=day, age_band="85+", residence=Residence.DECLINED, place_ward=wards()[4])
    before = recorded_set()

    with translation.override(language):
        result = consultation_import.export_consultations(
            consultations.with_details(Consultation.objects.order_by("pk")), user=desk, fmt=fmt)
        data = b"".join(result.chunks) if fmt == "csv" else result.file.read()
    table = spreadsheets.read_upload(data, filename=f"export.{fmt}")
    cells = {row[4] for row in table.rows}
    residence_words = {"ja": {"市外", "答えたくない"}, "en": {"Outside the city", "Prefer not to say"}}[language]
    assert residence_words <= cells  # explicit answers, not blank cells
    assert {row[3] for row in table.rows} >= {{"ja": "答えたくない", "en": "Prefer not to say"}[language]}
    assert all(value not in (None, "") for row in table.rows for value in row)
    assert ModelLogEntry.objects.get(action=consultations.EXPORTED).data["rows"] == 3

    Consultation.objects.all().delete()
    consultation_import.import_consultations(table, user=desk)
    assert recorded_set() == before


def test_historic_consultations_are_exported_as_not_recorded(desk):
    record(residence_ward=None, residence=Residence.DECLINED)
    Consultation.objects.update(residence="")
    with translation.override("ja"):
        result = consultation_import.export_consultations(consultations.with_details(Consultation.objects.all()),
                                                          user=desk, fmt="csv")
        rows = spreadsheets.read_upload(b"".join(result.chunks), filename="x.csv").rows
    assert rows[0][4] == "記録なし"


def test_the_list_offers_the_export_with_its_filters(client, site):
    officer = staff(roles.CITY_PROGRAMME_OFFICER)
    client.force_login(officer)
    record(residence=Residence.OUTSIDE)
    record(residence_ward=wards()[0])
    page = client.get(url("index"), {"residence_ward": "outside"}).content.decode()
    assert f'{url("export")}?residence_ward=outside&amp;format=xlsx' in page
    response = client.get(url("export"), {"residence_ward": "outside", "format": "xlsx"})
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert sheet.max_row == 2 and sheet.cell(2, 5).value == "市外"
    assert client.get(url("export"), {"format": "pdf"}).status_code == 400
    client.force_login(staff(roles.PARTNER_MANAGER, factories.partner()))
    assert refused_page(client.get(url("export"), {"format": "csv"}))


# --- Figures ---------------------------------------------------------------------------------------------------


def test_figures_by_ward_of_residence_count_city_answers_only(site):
    today = timezone.localdate()
    record(date=today, residence_ward=wards()[0])
    record(date=today, residence_ward=wards()[0])
    record(date=today, residence=Residence.OUTSIDE)
    record(date=today, residence=Residence.DECLINED)
    everyone = metrics.Filters()
    assert metrics.consultation_figures(everyone).total == 4
    assert metrics.consultation_figures(metrics.Filters(ward=wards()[0].pk)).total == 2
    assert metrics.consultation_figures(metrics.Filters(ward=wards()[1].pk)).total == 0


def test_the_import_refuses_a_blank_length(desk):
    """The length feeds the consultation minutes: a blank cell is refused, never read as a default."""
    day = timezone.localdate() - timedelta(days=1)
    rows = [JA_HEADERS, [day, "区役所", "川崎区", "70-74", "幸区", "その他", "解決", None],
            [day, "区役所", "川崎区", "70-74", "幸区", "その他", "解決", 20]]
    report = preview(rows, desk)
    assert [(error.row, error.column, error.message) for error in report.errors] == [
        (2, "所要時間(分)", "所要時間を分で入力してください（1〜600）。")]
    assert report.new == 1
