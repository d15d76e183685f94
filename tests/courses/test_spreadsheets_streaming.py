"""The XLSX export is streamed: a few hundred rows a chunk, readable by openpyxl and by our own import reader,
text never a formula, dates as dates (courses.spreadsheets.xlsx_chunks)."""

import io
from datetime import date, datetime

import openpyxl

from courses import spreadsheets


def test_xlsx_is_streamed_in_chunks_and_reads_back():
    rows = [[f"=HYPERLINK(\"x\"){n}", n, 1.5, None, "a&b<c>\x01", date(2027, 1, 2), datetime(2027, 1, 2, 10, 30),
             True, "日本語"] for n in range(1200)]
    chunks = list(spreadsheets.xlsx_chunks([f"h{i}" for i in range(9)], iter(rows), title="registrations"))
    assert len(chunks) >= 3  # handed out as it grows, not at the end
    data = b"".join(chunks)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet.title == "registrations"
    assert sheet.max_row == 1201
    assert [cell.value for cell in sheet[2]] == ['=HYPERLINK("x")0', 0, 1.5, None, "a&b<c>", datetime(2027, 1, 2),
                                                 datetime(2027, 1, 2, 10, 30), True, "日本語"]
    assert sheet["A2"].data_type == "s"  # a text, never a formula
    table = spreadsheets.read_upload(data, filename="export.xlsx")
    assert table.format == "xlsx" and len(table.rows) == 1200


def test_write_xlsx_writes_the_same_workbook_to_a_file():
    stream = io.BytesIO()
    spreadsheets.write_xlsx(["a"], iter([["x"], [2]]), stream, title="bad:/name?")
    sheet = openpyxl.load_workbook(io.BytesIO(stream.getvalue())).active
    assert list(sheet.iter_rows(values_only=True)) == [("a",), ("x",), (2,)]
