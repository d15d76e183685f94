"""Reference data (outreach.reference_data, outreach.resources, the admin at /admin/outreach/reference/ and the
`load_reference_data` command): the shipped defaults match PRODUCT.md, loading is an idempotent upsert, a file with
bad rows changes nothing and reports every one of them, and only the right roles may import."""

import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.urls import reverse
from django.utils import translation
from wagtail.models import ModelLogEntry

from cms import roles
from courses.spreadsheets import ImportRefused
from outreach import reference_data
from outreach.models import InternetUsageRate, KpiTarget, PopulationFigure
from partners.models import Ward
from tests import factories
from tests.courses.test_spreadsheets import csv_bytes, staff, xlsx_bytes
from tests.refusals import refused_page

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

SENIOR = ("65-69", "70-74", "75-79", "80-84", "85+")
WARD_TOTALS_2020 = {"141313": 233_228, "141321": 171_188, "141330": 263_785, "141348": 234_342, "141364": 233_796}
POPULATION_HEADERS = ["年", "区", "年齢階級", "人口"]


def url(name, *args):
    return reverse(f"outreach_reference:{name}", args=args)


def population_rows():
    return sorted(PopulationFigure.objects.values_list("year", "ward__code", "age_band", "population"))


def import_log():
    return ModelLogEntry.objects.filter(action=reference_data.IMPORTED)


def load(kind, rows, name="upload.csv"):
    data = xlsx_bytes(rows) if name.endswith(".xlsx") else csv_bytes(rows)
    return reference_data.import_reference(kind, reference_data.read_file(data, filename=name), filename=name)


# --- The shipped defaults and the command -----------------------------------------------------------------------


def test_load_reference_data_matches_product_figures_and_is_idempotent(site):
    out = StringIO()
    call_command("load_reference_data", stdout=out)
    assert "population: 154 rows, 154 new" in out.getvalue()

    census = PopulationFigure.objects.filter(year=2020)
    assert census.aggregate(total=Sum("population"))["total"] == 1_539_081
    assert census.filter(age_band__in=SENIOR).aggregate(total=Sum("population"))["total"] == 311_515
    assert census.count() == 7 * 11  # every ward, every age band
    by_ward = {row["ward__code"]: row["total"] for row in census.values("ward__code").annotate(total=Sum("population"))}
    assert {code: by_ward[code] for code in WARD_TOTALS_2020} == WARD_TOTALS_2020
    assert by_ward["141356"] + by_ward["141372"] == 402_742  # 多摩区 and 麻生区 together

    def senior_share(code):
        seniors = census.filter(ward__code=code, age_band__in=SENIOR).aggregate(total=Sum("population"))["total"]
        return seniors * 100 / by_ward[code]

    shares = {code: senior_share(code) for code in by_ward}
    assert round(shares["141330"], 1) == 15.3 and min(shares, key=shares.get) == "141330"  # 中原区 lowest
    assert abs(shares["141372"] - 23) < 0.5 and max(shares, key=shares.get) == "141372"  # 麻生区 highest
    assert PopulationFigure.objects.filter(year=2024).count() == 77

    rates = {(rate.year, rate.age_band): rate.rate for rate in InternetUsageRate.objects.all()}
    assert rates[2021, "20-29"] == Decimal("98.4") and rates[2021, "60-69"] == Decimal("84.4")
    assert rates[2021, "70-79"] == Decimal("59.4") and rates[2021, "80+"] == Decimal("27.6")
    assert rates[2021, "all"] == Decimal("82.9") and rates[2023, "all"] == Decimal("86.2")
    assert all(rates[2023, band] > 90 for band in ("13-19", "20-29", "30-39", "40-49", "50-59", "60-69"))
    assert {year for year, _band in rates} == {2021, 2022, 2023}
    for fiscal_year in (2025, 2026):
        assert set(KpiTarget.objects.filter(fiscal_year=fiscal_year).values_list("metric", flat=True)) == set(
            KpiTarget.Metric.values)
    assert import_log().count() == 3

    before = (population_rows(), list(InternetUsageRate.objects.values_list()), list(KpiTarget.objects.values_list()))
    out = StringIO()
    call_command("load_reference_data", stdout=out)
    assert "154 rows, 0 new, 0 changed, 154 unchanged" in out.getvalue()
    after = (population_rows(), list(InternetUsageRate.objects.values_list()), list(KpiTarget.objects.values_list()))
    assert after == before
    assert import_log().count() == 3, "a run that changes nothing logs nothing"


def test_command_with_a_bad_file_loads_nothing_and_lists_every_problem(site, tmp_path):
    bad = tmp_path / "population.csv"
    bad.write_bytes(csv_bytes([POPULATION_HEADERS, [2020, "川崎区", "70-74", 100], [2020, "どこか区", "70-74", 5],
                               [2020, "幸区", "70歳代", 5]]))
    good_kpi = tmp_path / "kpi.csv"
    good_kpi.write_bytes(csv_bytes([["年度", "指標", "目標値"], ["FY2027", "consultations", 1200]]))
    with translation.override("en"), pytest.raises(CommandError) as raised:
        call_command("load_reference_data", population=str(bad), kpi=str(good_kpi))
    message = str(raised.value)
    assert "Row 3, 区" in message and "どこか区" in message
    assert "Row 4, 年齢階級" in message and "70歳代" in message
    assert not PopulationFigure.objects.exists() and not KpiTarget.objects.exists()

    call_command("load_reference_data", kpi=str(good_kpi), stdout=StringIO())
    assert list(KpiTarget.objects.values_list("fiscal_year", "metric", "target")) == [
        (2027, "consultations", Decimal("1200.0"))]
    assert not PopulationFigure.objects.exists(), "only the files given are loaded"


# --- Importing: all or nothing, every bad row, upsert -------------------------------------------------------------


def test_import_is_an_upsert_and_a_file_with_bad_rows_changes_nothing(site):
    first = load("population", [POPULATION_HEADERS, [2020, "川崎区", "70-74", 13750],
                                [2020, "141321", "85歳以上", 5141], [2020, "Nakahara-ku", "20〜29歳", 44685]],
                 name="p.xlsx")
    assert (first.new, first.updated, first.unchanged) == (3, 0, 0)
    assert population_rows() == [(2020, "141313", "70-74", 13750), (2020, "141321", "85+", 5141),
                                 (2020, "141330", "20-29", 44685)]

    again = load("population", [POPULATION_HEADERS, [2020, "川崎", "70-74", 13800], [2020, "幸区", "85+", 5141],
                                [2021, "中原区", "u20", 42000]])
    assert (again.new, again.updated, again.unchanged) == (1, 1, 1)
    assert population_rows() == [(2020, "141313", "70-74", 13800), (2020, "141321", "85+", 5141),
                                 (2020, "141330", "20-29", 44685), (2021, "141330", "u20", 42000)]

    before = population_rows()
    with translation.override("en"), pytest.raises(ImportRefused) as refused:
        load("population", [
            POPULATION_HEADERS,
            [2020, "川崎区", "70-74", 99999],  # row 2: fine on its own, but the file is refused
            [2020, "品川区", "70-74", 10],  # row 3: not a ward of this city
            [2020, "幸区", "70代", 10],  # row 4: not an age band of ours
            [2020, "中原区", "65-69", "many"],  # row 5: not a number
            [2020, "川崎区", "70-74", 5],  # row 6: the same key as row 2
            [20200, "高津区", "65-69", -1],  # row 7: two problems
            ["", "", "", ""],  # blank rows are skipped
        ])
    report = refused.value.report
    assert population_rows() == before
    assert report.error_rows == 5
    errors = {(error.row, error.column) for error in report.errors}
    assert errors == {(3, "区"), (4, "年齢階級"), (5, "人口"), (6, ""), (7, "年"), (7, "人口")}
    messages = " ".join(error.message for error in report.errors)
    assert "品川区" in messages and "70代" in messages and "row 2" in messages


def test_usage_rates_and_kpi_targets_read_the_usual_spellings(site):
    report = load("usage", [["Year", "Source", "Age band", "Usage rate (%)"], [2024, "全国", "70代", "66.1%"],
                            [2024, "city", "80歳以上", 35], [2024, "", "全体", "８７．０"]])
    assert report.new == 3
    assert sorted(InternetUsageRate.objects.values_list("year", "source", "age_band", "rate")) == [
        (2024, "city", "80+", Decimal("35.0")), (2024, "national", "70-79", Decimal("66.1")),
        (2024, "national", "all", Decimal("87.0"))]

    with translation.override("en"), pytest.raises(ImportRefused) as refused:
        load("usage", [["年", "年齢階級", "利用率(%)"], [2025, "70-79", "101"], [2025, "all", "86.25"],
                       [2025, "80+", ""]])
    assert {(error.row, error.column) for error in refused.value.report.errors} == {
        (2, "利用率(%)"), (3, "利用率(%)"), (4, "利用率(%)")}

    load("kpi", [["年度", "指標", "目標値"], ["令和7年度", "consultations", "1,200"],
                 ["2026年度", "Share reaching “on my own” on the foundation items (%)", 65]])
    assert sorted(KpiTarget.objects.values_list("fiscal_year", "metric", "target")) == [
        (2025, "consultations", Decimal("1200.0")), (2026, "foundation_on_my_own", Decimal("65.0"))]
    with pytest.raises(ImportRefused) as refused:
        load("kpi", [["年度", "指標", "目標値"], ["2027", "foundation_on_my_own", 120], ["next year", "attendances", 1],
                     ["2027", "happiness", 3]])
    assert {(error.row, error.column) for error in refused.value.report.errors} == {
        (2, "目標値"), (3, "年度"), (4, "指標")}


def test_comment_lines_are_skipped_and_row_numbers_stay_the_files(site):
    data = ("# demo figures\r\n# more notes, with commas\r\n"
            "年,区,年齢階級,人口\r\n2020,川崎区,70-74,1\r\n2020,X区,70-74,1\r\n")
    with pytest.raises(ImportRefused) as refused:
        reference_data.import_reference("population", reference_data.read_file(data.encode(), filename="p.csv"))
    assert [(error.row, error.column) for error in refused.value.report.errors] == [(5, "区")]


def test_export_imports_back_unchanged(site):
    call_command("load_reference_data", stdout=StringIO())
    for kind in reference_data.KINDS:
        with translation.override("en"):
            export = reference_data.export_csv(kind)
            data = b"".join(export.chunks)
        report = reference_data.preview_import(kind, reference_data.read_file(data, filename="export.csv"))
        assert report.ok and report.changes == 0 and report.unchanged == export.rows, kind


# --- The admin ------------------------------------------------------------------------------------------------


def every_url():
    return [url("index")] + [url(name, kind) for kind in reference_data.KINDS for name in ("export", "import")]


@pytest.mark.parametrize("role", [roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR, roles.CALL_CENTRE_OPERATOR])
def test_roles_without_reference_permissions_are_refused_everywhere(client, site, role):
    partner = factories.partner() if role != roles.CALL_CENTRE_OPERATOR else None
    client.force_login(staff(role, partner))
    for address in every_url():
        assert refused_page(client.get(address)), address
    for kind in reference_data.KINDS:
        for name in ("import", "confirm"):
            response = client.post(url(name, kind), {"file": SimpleUploadedFile("p.csv", b"x"), "token": "x"})
            assert response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")
    assert not PopulationFigure.objects.exists()


def test_analyst_views_and_downloads_but_cannot_import(client, site):
    call_command("load_reference_data", stdout=StringIO())
    client.force_login(staff(roles.CITY_ANALYST))
    page = client.get(url("index"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "1,539,081" in html and url("export", "population") in html and url("import", "population") not in html
    for kind in reference_data.KINDS:
        response = client.get(url("export", kind))
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        assert b"".join(response.streaming_content).startswith(b"\xef\xbb\xbf")
        assert refused_page(client.get(url("import", kind)))
        response = client.post(url("import", kind), {"file": SimpleUploadedFile("p.csv", b"x")})
        assert response.status_code == 302


def test_officer_imports_through_preview_and_confirm(client, site):
    officer = staff(roles.CITY_PROGRAMME_OFFICER)
    client.force_login(officer)
    assert client.get(url("index")).status_code == 200
    assert client.get(url("import", "population")).status_code == 200
    data = xlsx_bytes([POPULATION_HEADERS, [2020, "川崎区", "70-74", 100], [2020, "幸区", "70-74", 200]])
    preview = client.post(url("import", "population"), {"file": SimpleUploadedFile("p.xlsx", data),
                                                        "encoding": "auto"})
    assert preview.status_code == 200 and not PopulationFigure.objects.exists()
    token = re.search(r'name="token" value="([^"]+)"', preview.content.decode()).group(1)
    done = client.post(url("confirm", "population"), {"token": token})
    assert done.status_code == 302 and done["Location"] == url("index")
    assert population_rows() == [(2020, "141313", "70-74", 100), (2020, "141321", "70-74", 200)]
    entry = import_log().get()
    assert entry.user_id == officer.pk and entry.data["created"] == 2 and entry.data["kind"] == "population"
    # The kept file is taken once.
    assert client.post(url("confirm", "population"), {"token": token}).status_code == 302
    assert import_log().count() == 1

    bad = csv_bytes([POPULATION_HEADERS, [2020, "川崎区", "70-74", 1], [2020, "X区", "70-74", 1],
                     [2020, "幸区", "?", 1]])
    preview = client.post(url("import", "population"), {"file": SimpleUploadedFile("p.csv", bad),
                                                        "encoding": "auto"})
    html = preview.content.decode()
    assert preview.status_code == 200 and 'name="token"' not in html
    assert 'data-count="errors">2<' in html and "X区" in html
    assert population_rows()[0] == (2020, "141313", "70-74", 100)


def test_wards_are_found_by_code_and_name(site):
    ward = Ward.objects.get(code="141372")
    for given in ("141372", "麻生区", "麻生", "Asao-ku", "asao", "１４１３７２"):
        report = reference_data.preview_import("population", reference_data.read_file(
            csv_bytes([POPULATION_HEADERS, [2020, given, "70-74", 1]]), filename="p.csv"))
        assert report.ok, given
        assert str(ward) in report.rows[0][2]
