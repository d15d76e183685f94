"""Municipality reference data: local government codes, the CSV loader and the `load_municipality` command.

Nothing may assume Kawasaki: its data is only the default CSV, and another city loads its own.
"""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation
from wagtail.models import ModelLogEntry

from cms.models import MunicipalitySettings
from partners.models import Venue, Ward
from partners.services import (
    DEFAULT_MUNICIPALITY_CSV,
    MunicipalityDataError,
    check_digit,
    is_valid_local_government_code,
    load_municipality,
)

HEADER = "level,code,name,name_en,prefecture_code,prefecture_name"

KAWASAKI_WARDS = [
    ("141313", "川崎区"), ("141321", "幸区"), ("141330", "中原区"), ("141348", "高津区"),
    ("141356", "多摩区"), ("141364", "宮前区"), ("141372", "麻生区"),
]


def lg_code(code5: str) -> str:
    """A six-digit local government code with its check digit."""
    return code5 + check_digit(code5)


SAPPORO = lg_code("01100")
SAPPORO_WARDS = [(lg_code("01101"), "中央区", "Chuo-ku"), (lg_code("01102"), "北区", "Kita-ku"),
                 (lg_code("01103"), "東区", "Higashi-ku")]


def write_csv(path: Path, lines: list[str], *, header: str | None = HEADER, encoding="utf-8",
              newline="\n") -> Path:
    text = newline.join(([header] if header is not None else []) + lines) + newline
    path.write_bytes(text.encode(encoding))
    return path


def sapporo_csv(tmp_path: Path, *, ward_suffix: str = "") -> Path:
    return write_csv(tmp_path / "sapporo.csv", [
        f"municipality,{SAPPORO},札幌市,Sapporo City,01,北海道",
        *[f"ward,{code},{name},{name_en}{ward_suffix},," for code, name, name_en in SAPPORO_WARDS],
    ])


def ward_snapshot():
    return list(Ward.objects.order_by("code").values_list("pk", "code", "name", "name_en", "sort_order"))


def municipality_snapshot():
    return list(MunicipalitySettings.objects.values_list("code", "name", "name_en", "prefecture_code",
                                                        "prefecture_name"))


def errors_of(path) -> list[str]:
    with translation.override("en"), pytest.raises(MunicipalityDataError) as exc_info:
        load_municipality(path)
    return exc_info.value.errors


# --- Local government codes (全国地方公共団体コード) ---------------------------------------------------------


@pytest.mark.parametrize("code", [
    "141305",  # 川崎市
    *[code for code, _name in KAWASAKI_WARDS],
    "011002",  # 札幌市
    "011011",  # 札幌市中央区: weighted sum ≡ 0 (mod 11) → check digit 1
    "141330",  # 中原区: weighted sum ≡ 1 (mod 11) → check digit 0
    "130001",  # 東京都: weighted sum ≡ 10 (mod 11) → check digit 1
    "131041",  # 新宿区
    "271004",  # 大阪市
])
def test_check_digit_of_real_codes(code):
    assert check_digit(code[:5]) == code[5]
    assert is_valid_local_government_code(code)


@pytest.mark.parametrize("code", [
    "141306",  # wrong check digit
    "141304",
    "011001",
    "14130",  # Excel dropped a digit
    "11002",  # Excel dropped the leading zero of 011002
    "1413050",
    "14130a",
    " 141305",
    "",
    "１４１３０５",  # full-width digits
])
def test_invalid_local_government_codes(code):
    assert not is_valid_local_government_code(code)


def test_a_code_with_non_ascii_digits_is_invalid_rather_than_a_crash():
    assert not is_valid_local_government_code("²41305")


# --- The default data set: Kawasaki -----------------------------------------------------------------------


@pytest.mark.django_db
def test_default_csv_loads_kawasaki_and_its_seven_wards():
    assert not Ward.objects.exists()
    result = load_municipality()

    assert (result.wards_created, result.wards_updated) == (7, 0)
    assert list(Ward.objects.order_by("sort_order").values_list("code", "name")) == KAWASAKI_WARDS
    assert list(Ward.objects.order_by("sort_order").values_list("sort_order", flat=True)) == list(range(1, 8))
    assert Ward.objects.get(code="141330").name_en == "Nakahara-ku"

    settings = MunicipalitySettings.load()
    assert (settings.code, settings.name, settings.name_en) == ("141305", "川崎市", "Kawasaki City")
    assert (settings.prefecture_code, settings.prefecture_name) == ("14", "神奈川県")
    assert result.municipality.pk == settings.pk
    assert ModelLogEntry.objects.filter(action="wagtail.edit", object_id=str(settings.pk)).count() == 1


@pytest.mark.django_db
def test_loading_twice_is_idempotent():
    load_municipality()
    before = ward_snapshot()

    result = load_municipality()

    assert (result.wards_created, result.wards_updated) == (0, 7)
    assert ward_snapshot() == before
    assert Ward.objects.count() == 7
    assert MunicipalitySettings.objects.count() == 1
    assert municipality_snapshot() == [("141305", "川崎市", "Kawasaki City", "14", "神奈川県")]


@pytest.mark.django_db
def test_reloading_updates_wards_in_place_and_keeps_their_venues(tmp_path):
    load_municipality()
    nakahara = Ward.objects.get(code="141330")
    venue = Venue.objects.create(name="中原市民館", ward=nakahara, address="川崎市中原区新丸子東3-1100-12")
    edited = DEFAULT_MUNICIPALITY_CSV.read_text(encoding="utf-8").replace("Nakahara-ku", "Nakahara Ward")
    path = tmp_path / "kawasaki.csv"
    path.write_text(edited, encoding="utf-8")

    result = load_municipality(path)

    assert (result.wards_created, result.wards_updated) == (0, 7)
    nakahara.refresh_from_db()
    assert nakahara.name_en == "Nakahara Ward"
    venue.refresh_from_db()
    assert venue.ward_id == nakahara.pk
    assert Ward.objects.count() == 7


# --- Another city --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_city_replaces_the_municipality_and_loads_its_wards(tmp_path):
    load_municipality()
    path = sapporo_csv(tmp_path)

    result = load_municipality(path)

    assert (result.wards_created, result.wards_updated) == (3, 0)
    assert municipality_snapshot() == [(SAPPORO, "札幌市", "Sapporo City", "01", "北海道")]
    assert MunicipalitySettings.load().code == "011002"
    sapporo = Ward.objects.filter(code__in=[code for code, _n, _e in SAPPORO_WARDS]).order_by("sort_order")
    assert [(w.code, w.name, w.name_en, w.sort_order) for w in sapporo] == [
        (code, name, name_en, order) for order, (code, name, name_en) in enumerate(SAPPORO_WARDS, start=1)]


@pytest.mark.django_db
def test_another_city_reloaded_updates_its_wards(tmp_path):
    load_municipality(sapporo_csv(tmp_path))
    pks = dict(Ward.objects.values_list("code", "pk"))

    result = load_municipality(sapporo_csv(tmp_path, ward_suffix=" (Sapporo)"))

    assert (result.wards_created, result.wards_updated) == (0, 3)
    assert dict(Ward.objects.values_list("code", "pk")) == pks
    assert Ward.objects.get(code=lg_code("01102")).name_en == "Kita-ku (Sapporo)"


@pytest.mark.django_db
def test_another_city_leaves_no_wards_of_the_previous_one(tmp_path):
    load_municipality()
    load_municipality(sapporo_csv(tmp_path))
    assert set(Ward.objects.values_list("code", flat=True)) == {code for code, _n, _e in SAPPORO_WARDS}


@pytest.mark.django_db
def test_excel_style_csv_with_bom_crlf_and_padded_cells_loads(tmp_path):
    path = write_csv(tmp_path / "excel.csv", [
        f"municipality, {SAPPORO} , 札幌市 ,Sapporo City,01,北海道",
        f"ward,{SAPPORO_WARDS[0][0]},中央区 ,Chuo-ku,,",
    ], encoding="utf-8-sig", newline="\r\n")

    load_municipality(path)

    assert municipality_snapshot() == [(SAPPORO, "札幌市", "Sapporo City", "01", "北海道")]
    assert list(Ward.objects.values_list("code", "name")) == [(SAPPORO_WARDS[0][0], "中央区")]


# --- A bad file: every problem reported, nothing changed -------------------------------------------------


def bad_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "bad.csv", [
        f"municipality,{SAPPORO},札幌市,Sapporo City,01,北海道",  # line 2: fine
        "ward,011010,中央区,Chuo-ku,,",  # line 3: bad check digit (011011)
        f"ward,{lg_code('01102')},,Kita-ku,,",  # line 4: empty name
        f"ward,{lg_code('01102')},北区,Kita-ku,,",  # line 5: code of line 4 again
        f"district,{lg_code('01103')},東区,Higashi-ku,,",  # line 6: unknown level
        "municipality,141305,川崎市,Kawasaki City,14,神奈川県",  # line 7: second municipality
        f"ward,{lg_code('01104')},白石区,Shiroishi-ku,,",  # line 8: fine
        "ward,11052,厚別区,Atsubetsu-ku,,",  # line 9: leading zero lost (011053)
    ])


EXPECTED_BAD_CSV_ERRORS = [
    "Line 3: 011010 is not a valid local government code.",
    "Line 4: the name is empty.",
    f"Line 5: code {lg_code('01102')} appears twice.",
    "Line 6: level must be “municipality” or “ward”.",
    "Line 7: only one municipality row is allowed.",
    "Line 9: 11052 is not a valid local government code.",
]


@pytest.mark.django_db
def test_bad_csv_reports_every_problem_with_its_line(tmp_path):
    assert errors_of(bad_csv(tmp_path)) == EXPECTED_BAD_CSV_ERRORS


@pytest.mark.django_db
def test_bad_csv_changes_nothing(tmp_path):
    load_municipality()
    wards, municipality = ward_snapshot(), municipality_snapshot()
    log_entries = ModelLogEntry.objects.count()

    errors_of(bad_csv(tmp_path))

    assert ward_snapshot() == wards
    assert municipality_snapshot() == municipality
    assert ModelLogEntry.objects.count() == log_entries


@pytest.mark.django_db
def test_bad_csv_on_an_empty_database_creates_nothing(tmp_path):
    errors_of(bad_csv(tmp_path))
    assert not Ward.objects.exists()
    assert not MunicipalitySettings.objects.exists()


@pytest.mark.parametrize(("lines", "expected"), [
    pytest.param([f"municipality,{SAPPORO},札幌市,,01,北海道", "ward,011012,中央区,,,"],
                 ["Line 3: 011012 is not a valid local government code."], id="bad-check-digit"),
    pytest.param(["municipality,141306,川崎市,,14,神奈川県"],
                 ["Line 2: 141306 is not a valid local government code."], id="bad-municipality-code"),
    pytest.param([f"municipality,{SAPPORO},札幌市,,01,北海道", f"ward,{SAPPORO_WARDS[0][0]},   ,,,"],
                 ["Line 3: the name is empty."], id="blank-name"),
    pytest.param([f"municipality,{SAPPORO},札幌市,,01,北海道", f"ward,{SAPPORO_WARDS[0][0]},中央区,,,",
                  f"ward,{SAPPORO_WARDS[1][0]},北区,,,", f"ward,{SAPPORO_WARDS[0][0]},東区,,,"],
                 [f"Line 5: code {SAPPORO_WARDS[0][0]} appears twice."], id="duplicate-code"),
    pytest.param([f"ward,{SAPPORO},札幌市,,01,北海道", f"ward,{SAPPORO_WARDS[0][0]},中央区,,,"],
                 ["The file has no municipality row."], id="no-municipality-row"),
    pytest.param([f"municipality,{SAPPORO},札幌市,,01,北海道", f"Ward,{SAPPORO_WARDS[0][0]},中央区,,,"],
                 ["Line 3: level must be “municipality” or “ward”."], id="unknown-level"),
    pytest.param([f"municipality,{SAPPORO},札幌市,,01,北海道", "municipality,141305,川崎市,,14,神奈川県"],
                 ["Line 3: only one municipality row is allowed."], id="two-municipalities"),
    pytest.param([f"municipality,{SAPPORO},札幌市,,01,北海道", ",,,,,"],
                 ["Line 3:  is not a valid local government code.", "Line 3: the name is empty.",
                  "Line 3: level must be “municipality” or “ward”."], id="empty-excel-row"),
])
@pytest.mark.django_db
def test_each_kind_of_problem_is_reported(tmp_path, lines, expected):
    load_municipality()
    wards = ward_snapshot()
    assert errors_of(write_csv(tmp_path / "city.csv", lines)) == expected
    assert ward_snapshot() == wards
    assert MunicipalitySettings.load().code == "141305"


@pytest.mark.parametrize(("header", "expected"), [
    ("level,name,name_en", "Missing columns: code"),
    ("kind,code,name", "Missing columns: level"),
    ("区分,コード,名称", "Missing columns: code, level, name"),
    (None, "Missing columns: code, level, name"),
])
@pytest.mark.django_db
def test_missing_columns_are_reported(tmp_path, header, expected):
    path = tmp_path / "city.csv"
    path.write_text("" if header is None else f"{header}\nmunicipality,{SAPPORO},札幌市\n", encoding="utf-8")
    assert errors_of(path) == [expected]
    assert not Ward.objects.exists()
    assert not MunicipalitySettings.objects.exists()


@pytest.mark.django_db
def test_line_numbers_count_blank_lines(tmp_path):
    path = write_csv(tmp_path / "city.csv", [
        f"municipality,{SAPPORO},札幌市,,01,北海道",
        "",
        "ward,011010,中央区,,,",  # physical line 4
    ])
    assert errors_of(path) == ["Line 4: 011010 is not a valid local government code."]


@pytest.mark.django_db
def test_too_long_values_are_reported(tmp_path):
    path = write_csv(tmp_path / "city.csv", [
        f"municipality,{SAPPORO},札幌市,Sapporo City,001,北海道",
        f"ward,{SAPPORO_WARDS[0][0]},{'中央区' * 20},,,",
    ])
    errors = errors_of(path)
    assert [e.split(":")[0] for e in errors] == ["Line 2", "Line 3"]


# --- The management command ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_command_loads_the_default_kawasaki_data():
    out = StringIO()
    call_command("load_municipality", stdout=out)
    assert "川崎市 (141305): 7 wards created, 0 updated, 0 removed." in out.getvalue()
    assert list(Ward.objects.order_by("sort_order").values_list("code", "name")) == KAWASAKI_WARDS

    out = StringIO()
    call_command("load_municipality", stdout=out)
    assert "川崎市 (141305): 0 wards created, 7 updated, 0 removed." in out.getvalue()
    assert Ward.objects.count() == 7


@pytest.mark.django_db
def test_command_loads_another_city(tmp_path):
    out = StringIO()
    call_command("load_municipality", str(sapporo_csv(tmp_path)), stdout=out)
    assert f"札幌市 ({SAPPORO}): 3 wards created, 0 updated, 0 removed." in out.getvalue()
    assert MunicipalitySettings.load().name == "札幌市"


@pytest.mark.django_db
def test_command_reports_every_problem_and_changes_nothing(tmp_path):
    call_command("load_municipality", stdout=StringIO())
    wards, municipality = ward_snapshot(), municipality_snapshot()

    with translation.override("en"), pytest.raises(CommandError) as exc_info:
        call_command("load_municipality", str(bad_csv(tmp_path)), stdout=StringIO())

    assert str(exc_info.value).splitlines() == EXPECTED_BAD_CSV_ERRORS
    assert ward_snapshot() == wards
    assert municipality_snapshot() == municipality


@pytest.mark.django_db
def test_command_reports_a_missing_file(tmp_path):
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(CommandError, match="nowhere.csv"):
        call_command("load_municipality", str(missing), stdout=StringIO())
    assert not Ward.objects.exists()


@pytest.mark.django_db
def test_command_loads_a_shift_jis_file_as_excel_saves_it(tmp_path):
    path = write_csv(tmp_path / "sapporo-sjis.csv", [f"municipality,{SAPPORO},札幌市,Sapporo City,01,北海道",
                                                     f"ward,{SAPPORO_WARDS[0][0]},中央区,Chuo-ku,,"],
                     encoding="cp932", newline="\r\n")
    call_command("load_municipality", str(path), stdout=StringIO())
    assert MunicipalitySettings.load().name == "札幌市"
    assert list(Ward.objects.values_list("name", flat=True)) == ["中央区"]


@pytest.mark.django_db
def test_command_reports_a_file_that_is_not_text(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"level,code\n\xff\xfe\x81\x00\x81")
    with pytest.raises(CommandError, match="UTF-8"):
        call_command("load_municipality", str(path), stdout=StringIO())
    assert not Ward.objects.exists()
