"""The reconciliation XLSX files (the digest's list, the export), written straight as
SpreadsheetML: what openpyxl reads back of them."""

from __future__ import annotations

import io
import zipfile

import polars as pl
from openpyxl import load_workbook

from rules.recon.export import to_xlsx


def test_the_xlsx_has_bold_headers_numbers_as_numbers_and_text_as_it_is() -> None:
    frame = pl.DataFrame(
        {
            "工单": [7, None, 9],
            "原因": ["a < b & c > d", "", "\x01控制字符 "],
            "金额": ["12.50", "-0.05", None],
            "整额": ["100.00", "0.00", "1234567.00"],
        },
        schema_overrides={"工单": pl.Int64},
    )
    data = to_xlsx([("差异", frame), ('汇总 "二"', frame.head(0))], frozenset({"金额", "整额"}))
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["差异", '汇总 "二"']
    sheet = book["差异"]
    assert [c.value for c in sheet[1]] == ["工单", "原因", "金额", "整额"]
    assert all(c.font.b for c in sheet[1]) and not any(c.font.b for c in sheet[2])
    assert list(sheet.iter_rows(min_row=2, values_only=True)) == [
        (7, "a < b & c > d", 12.5, 100),
        (None, None, -0.05, 0),
        (9, "控制字符 ", None, 1234567),
    ]
    assert isinstance(sheet["D2"].value, int)  # whole yuan as openpyxl wrote them
    assert list(book['汇总 "二"'].iter_rows(values_only=True)) == [("工单", "原因", "金额", "整额")]
    with zipfile.ZipFile(io.BytesIO(data)) as parts:
        assert parts.testzip() is None
        assert b'<dimension ref="A1:D4"/>' in parts.read("xl/worksheets/sheet1.xml")


def test_a_large_xlsx_is_written_in_parts_with_every_row() -> None:
    rows = 50_001  # more than one part of rows (export._ROWS_PER_PART)
    frame = pl.DataFrame({"n": range(rows), "text": ["x"] * rows})
    sheet = load_workbook(io.BytesIO(to_xlsx([("大", frame)])), read_only=True)["大"]
    values = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(values) == rows
    assert values[0] == (0, "x") and values[-1] == (rows - 1, "x")
    assert [v[0] for v in values] == list(range(rows))
