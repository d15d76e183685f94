"""Fuzzing with hypothesis: the public registration form and the spreadsheet importers take anything a browser or a
file can hold (any Unicode, control characters, NULs, undecodable bytes, 100 KB fields, broken workbooks) and answer
with validation errors: never a 500 or an exception escaping, and nothing partially written.

Deterministic for CI (derandomize: the same examples on every run); a failure prints the example to reproduce it.
"""

import csv
import io
import zipfile
from datetime import timedelta
from urllib.parse import quote_from_bytes

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from wagtail.models import ModelLogEntry

from courses import spreadsheets
from courses.models import Participant, Registration, Session
from courses.resources import RESOURCES
from outreach import consultation_import, reference_data
from outreach.models import Consultation, ConsultationTopic, InternetUsageRate, KpiTarget, PopulationFigure
from outreach.resources import REFERENCE_RESOURCES, ConsultationResource
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# Text a person, a phone keyboard or a broken client can send: every code point but lone surrogates (which cannot
# be encoded; they come as raw bytes below), with control characters, NULs, right-to-left marks, combining marks.
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
NASTY = st.sampled_from([
    "\x00", "a\x00b", "\r\n", "\t", "\x1b[31m", "\u202e\u0627", "e\u0301\u0301\u0301", "\ufeff", "\uffff",
    "Ｆｕｌｌ　ｗｉｄｔｈ", "ﾊﾝｶｸ ｶﾅ", "<script>alert(1)</script>", "' OR 1=1 --", "=HYPERLINK(\"x\")", "🧓📱",
    "x" * 100_000, "あ" * 40_000, "\x00" * 1_000,
])
FIELD_TEXT = st.one_of(ANY_TEXT, NASTY)


# --- The registration form -----------------------------------------------------------------------------------------


@pytest.fixture
def register_url(site, settings):
    settings.RATELIMIT_ENABLE = False  # the fuzzer is one very busy client
    session = factories.session(capacity=1_000, starts_in=timedelta(days=10))
    with translation.override("ja"):
        return f"/sessions/{session.pk}/register/"


VALID = {
    "booking_for": "other", "name": "川崎 花子", "kana": "かわさき はなこ", "phone": "090-1234-5678",
    "email": "hanako@example.jp", "age_band": Participant.AgeBand.AGE_70_74.value, "ward": "",
    "device": Participant.Device.ANDROID.value, "accessibility_needs": "", "consent": "on", "notify_by": "email",
    "booker_name": "川崎 一郎", "booker_relationship": "息子", "booker_phone": "044-200-0000", "booker_email": "",
    "step": "register",  # the review page's final button (courses.views.register)
}
FIELDS = list(VALID)
# A valid form with a few fields (or all of them) replaced by junk, or left out: most answers are refusals, and
# some get through to the booking with odd but acceptable text (a control character in the notes, a long name).
FORM = st.builds(
    lambda junk, missing: {name: junk.get(name, value) for name, value in VALID.items() if name not in missing},
    st.dictionaries(st.sampled_from(FIELDS), FIELD_TEXT, max_size=len(FIELDS)),
    st.sets(st.sampled_from(FIELDS), max_size=2),
)


def counts() -> tuple[int, int]:
    return Participant.objects.count(), Registration.objects.count()


def check_answer(response, before: tuple[int, int]) -> None:
    assert response.status_code in (200, 302, 400), response.status_code
    after = counts()
    if response.status_code == 302:
        assert after[1] - before[1] in (0, 1)  # one booking, or none for "already registered"
    else:
        assert after == before, "a refused form wrote rows"


@FUZZ
@given(data=FORM)
def test_registration_form_takes_any_text(client, register_url, data):
    before = counts()
    response = client.post(register_url, data)
    event(f"HTTP {response.status_code}")
    check_answer(response, before)


# Raw bytes in every field, percent-encoded as a form post: invalid UTF-8, lone surrogates (ED A0 80), overlong forms.
RAW = st.one_of(st.binary(max_size=80), st.sampled_from([b"\xed\xa0\x80", b"\xc0\x80", b"\xff\xfe", b"\x00",
                                                        b"\xe3\x81", b"\xf4\x90\x80\x80"]))


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(FIELDS), RAW, min_size=1), extra=st.binary(max_size=40))
def test_registration_form_takes_any_bytes(client, register_url, fields, extra):
    body = "&".join(f"{name}={quote_from_bytes(value)}" for name, value in fields.items())
    body += f"&consent=on&age_band=70-74&{quote_from_bytes(extra)}={quote_from_bytes(extra)}"
    before = counts()
    response = client.post(register_url, body.encode("ascii"), content_type="application/x-www-form-urlencoded")
    event(f"HTTP {response.status_code}")
    check_answer(response, before)


def test_a_huge_form_is_refused_without_a_500(client, register_url):
    before = counts()
    fields = ["name", "kana", "phone", "email", "accessibility_needs", "booker_name"]
    response = client.post(register_url, dict.fromkeys(fields, "長" * 100_000))
    check_answer(response, before)
    assert response.status_code == 400


# --- The spreadsheet importers ---------------------------------------------------------------------------------------

WRITTEN = (Session, Registration, Participant, PopulationFigure, InternetUsageRate, KpiTarget, Consultation,
           ModelLogEntry)


def snapshot() -> dict:
    return {model.__name__: model.objects.count() for model in WRITTEN}


@pytest.fixture
def city_admin(site):
    return get_user_model().objects.create_superuser(username="city", password="x", email="city@example.jp")


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


XLSX_PARTS = ["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
              "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "xl/styles.xml"]
FILE_BYTES = st.one_of(
    st.binary(max_size=2_000),
    st.binary(max_size=500).map(lambda data: b"PK\x03\x04" + data),  # looks like a zip, is not
    st.binary(max_size=500).map(lambda data: b"\xef\xbb\xbf" + data),  # UTF-8 BOM, then anything
    st.binary(max_size=500).map(lambda data: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + data),  # old .xls
    st.dictionaries(st.sampled_from(XLSX_PARTS), st.binary(max_size=300) | st.just(b"<worksheet><sheetData><row>"),
                    max_size=len(XLSX_PARTS)).map(zip_of),  # a zip holding broken workbook parts
    st.lists(st.lists(FIELD_TEXT.map(lambda text: text[:300]), max_size=6), max_size=6).map(
        lambda rows: "\n".join(",".join(row) for row in rows).encode("utf-8")),
)
FILENAMES = st.sampled_from(["", "upload.csv", "upload.xlsx", "upload.xls", "data.txt", "image.png"])
ENCODINGS = st.sampled_from(spreadsheets.ENCODINGS)


def read(reader, data: bytes, filename: str, encoding: str):
    try:
        return reader(data, filename=filename, encoding=encoding)
    except spreadsheets.SpreadsheetError as error:
        assert str(error.message)
        event("file refused")
        return None


IMPORTS = {
    # kind: (preview, apply)
    "sessions": (lambda table, user: spreadsheets.preview_import("sessions", table, user=user),
                 lambda table, user: spreadsheets.apply_import("sessions", table, user=user)),
    "attendance": (lambda table, user: spreadsheets.preview_import("attendance", table, user=user),
                   lambda table, user: spreadsheets.apply_import("attendance", table, user=user)),
    "consultations": (lambda table, user: consultation_import.preview_import(table, user=user),
                      lambda table, user: consultation_import.import_consultations(table, user=user)),
    **{kind: ((lambda table, user, kind=kind: reference_data.preview_import(kind, table, user=user)),
              (lambda table, user, kind=kind: reference_data.import_reference(kind, table, user=user)))
       for kind in REFERENCE_RESOURCES},
}


def import_checked(kind: str, table, user) -> None:
    """Preview then apply `table` as `kind`: errors are reports, never exceptions; refusals write nothing."""
    preview, apply = IMPORTS[kind]
    before = snapshot()
    try:
        report = preview(table, user)
    except spreadsheets.SpreadsheetError:
        report = None
    assert snapshot() == before, f"previewing {kind} wrote rows"
    if report is None:
        event("columns refused")
        return
    try:
        applied = apply(table, user)
    except spreadsheets.ImportRefused as refused:
        assert refused.report.errors
        assert snapshot() == before, f"a refused {kind} import wrote rows"
        event("rows refused")
    else:
        assert applied.ok
        event("imported")


@FUZZ
@given(data=FILE_BYTES, filename=FILENAMES, encoding=ENCODINGS, kind=st.sampled_from(sorted(IMPORTS)))
def test_importers_take_any_file(city_admin, data, filename, encoding, kind):
    for reader in (spreadsheets.read_upload, reference_data.read_file):
        table = read(reader, data, filename, encoding)
        if table is not None:
            import_checked(kind, table, city_admin)


def headers_of(kind: str) -> list[str]:
    resource = ConsultationResource if kind == "consultations" else (REFERENCE_RESOURCES.get(kind) or RESOURCES[kind])
    return [column.header() for column in resource.columns().values()]


def valid_rows() -> dict[str, dict[str, str]]:
    """One acceptable row per kind where one can be written without ids (by header)."""
    return {
        "population": {"年": "2031", "区": "川崎区", "年齢階級": "65-69", "人口": "1000"},
        "usage": {"年": "2031", "調査": "national", "年齢階級": "60-69", "利用率(%)": "80.5"},
        "kpi": {"年度": "2031", "指標": "participants_65_plus", "目標値": "700"},
        "consultations": {"日付": "2025-06-01", "場所": "ward_office", "実施区": "川崎区", "年齢階級": "70-74",
                          "居住区": "中原区", "相談内容": ConsultationTopic.objects.order_by("sort_order")[0].name,
                          "結果": "solved", "所要時間(分)": "15"},
    }


CELL = st.one_of(ANY_TEXT, NASTY.map(lambda text: text[:5_000]),
                 st.sampled_from(["2025", "2025-04-01", "10:00", "川崎区", "中原区", "65-69", "70-74", "national",
                                  "12.5", "100", "-1", "1e309", "NaN", "０１２", "出席", "participants_65_plus"]))
# Each row: the valid row (if any) with some cells replaced by junk, as a header → cell mapping.
ROW_JUNK = st.dictionaries(st.integers(0, 20), CELL, max_size=4)


@FUZZ
@given(kind=st.sampled_from(sorted(IMPORTS)), rows=st.lists(ROW_JUNK, min_size=1, max_size=5),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp932", "xlsx"]), shuffle=st.randoms(use_true_random=False))
def test_importers_take_any_cell_text(city_admin, kind, rows, encoding, shuffle):
    headers = headers_of(kind)
    shuffle.shuffle(headers)
    valid = valid_rows().get(kind, {})
    records = [[junk.get(index, valid.get(header, "")) for index, header in enumerate(headers)] for junk in rows]
    data = workbook([headers, *records]) if encoding == "xlsx" else csv_file([headers, *records], encoding)
    for reader in (spreadsheets.read_upload, reference_data.read_file):
        table = read(reader, data, f"upload.{'xlsx' if encoding == 'xlsx' else 'csv'}", "auto")
        if table is not None:
            import_checked(kind, table, city_admin)


def csv_file(records: list[list[str]], encoding: str) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows(records)
    return text.getvalue().encode(encoding, errors="replace")


def workbook(records: list[list[str]]) -> bytes:
    """An .xlsx of these cells as text (minus the control characters XML cannot hold at all)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook()
    for record in records:
        book.active.append([ILLEGAL_CHARACTERS_RE.sub("", cell) for cell in record])
    stream = io.BytesIO()
    book.save(stream)
    return stream.getvalue()
