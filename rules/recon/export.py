"""The reconciliation report for an ERP and the digest's difference list, as CSV or XLSX.

Column names are stable (docs/reconciliation.md, "The report's columns"): money is yuan as
exact decimal text (two places; fees five, as WeChat Pay states them), days are ISO dates.
CSV is UTF-8 with a BOM (so Excel reads the Chinese); the XLSX has the same columns, money as
numbers.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from datetime import date
from typing import IO
from xml.sax.saxutils import escape

import polars as pl
from openpyxl.utils import get_column_letter

REPORT_COLUMNS = (
    "date", "shop", "channel", "order_no", "payment_no", "gateway", "stage", "expected",
    "actual", "fee", "refund", "difference", "class", "status",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "date", "shop", "gateway", "payments", "matched", "settled", "pending", "differences",
    "expected", "actual", "fee", "refund", "at_stake",
)  # fmt: skip
MONEY = frozenset({"expected", "actual", "refund", "difference", "at_stake"})
FEE = frozenset({"fee"})


def yuan_text(fen: pl.Expr, decimals: int = 2) -> pl.Expr:
    """Integer 10^-decimals yuan as exact decimal text: ``-1205`` → ``-12.05``."""
    scale = 10**decimals
    whole = (fen.abs() // scale).cast(pl.String)
    part = (fen.abs() % scale).cast(pl.String).str.zfill(decimals)
    sign = pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str([sign, whole, pl.lit("."), part])


def report_rows(day: date, gateway: str, rows: pl.DataFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """One row per order and payment (and refund, and bill key no order claims): ``rows`` as
    matched (rules.recon.matching.ROW_SCHEMA), ``classes`` each key's difference classes and
    stored status (``key``, ``cls``, ``state``: open | closed | written_off)."""
    per_key = classes.group_by("key").agg(
        pl.col("cls").sort().str.join("|").alias("class"),
        (pl.col("state") == "written_off").all().alias("written_off"),
    )
    joined = rows.join(per_key, on="key", how="left")
    status = (
        pl.when((pl.col("status") == "difference") & pl.col("written_off").fill_null(False))
        .then(pl.lit("written_off"))
        .otherwise(pl.col("status"))
    )
    return joined.select(
        date=pl.lit(day.isoformat()),
        shop=pl.col("shop"),
        channel=pl.col("channel"),
        order_no=pl.col("order_no"),
        payment_no=pl.col("serial"),
        gateway=pl.lit(gateway),
        stage=pl.col("stage"),
        expected=yuan_text(pl.col("expected_fen")),
        actual=yuan_text(pl.col("actual_fen")),
        fee=yuan_text(pl.col("fee_milli"), 5),
        refund=yuan_text(pl.col("refund_fen")),
        difference=yuan_text(pl.col("actual_fen") - pl.col("expected_fen")),
        **{"class": pl.col("class").fill_null("")},
        status=status,
    ).sort("shop", "order_no", "payment_no", nulls_last=True)


def summary_rows(day: date, gateway: str, rows: pl.DataFrame, stakes: pl.DataFrame) -> pl.DataFrame:
    """The day per shop: counts by status and the money; ``stakes`` is each key's money at
    stake (``key``, ``at_stake_fen``)."""
    status = pl.col("status")
    return (
        rows.join(stakes, on="key", how="left")
        .group_by("shop")
        .agg(
            pl.len().alias("payments"),
            (status == "matched").sum().alias("matched"),
            (status == "settled").sum().alias("settled"),
            (status == "pending").sum().alias("pending"),
            (status == "difference").sum().alias("differences"),
            pl.col("expected_fen").sum(),
            pl.col("actual_fen").sum(),
            pl.col("fee_milli").sum(),
            pl.col("refund_fen").sum(),
            pl.col("at_stake_fen").fill_null(0).sum(),
        )
        .select(
            date=pl.lit(day.isoformat()),
            shop=pl.col("shop"),
            gateway=pl.lit(gateway),
            payments="payments",
            matched="matched",
            settled="settled",
            pending="pending",
            differences="differences",
            expected=yuan_text(pl.col("expected_fen")),
            actual=yuan_text(pl.col("actual_fen")),
            fee=yuan_text(pl.col("fee_milli"), 5),
            refund=yuan_text(pl.col("refund_fen")),
            at_stake=yuan_text(pl.col("at_stake_fen")),
        )
        .sort("shop", nulls_last=True)
    )


def to_csv(report: pl.DataFrame, summary: pl.DataFrame) -> bytes:
    """The report, an empty line, then the summary with its own header."""
    out = io.BytesIO()
    out.write("\ufeff".encode())
    report.write_csv(out)
    out.write(b"\n")
    summary.write_csv(out)
    return out.getvalue()


def to_xlsx(
    sheets: Sequence[tuple[str, pl.DataFrame]], money: frozenset[str] = MONEY | FEE
) -> bytes:
    """Each (title, frame) as a sheet, its header bold; the ``money`` columns (decimal text) and
    integer columns as numbers, the others as text, an empty one as no cell. The sheets' XML
    is made column-wise by polars, ``_ROWS_PER_PART`` rows at a time: cell by cell a digest's
    10,000 differences (10 columns) took 0.87 s in openpyxl's write-only mode and 0.75 s in
    XlsxWriter's constant-memory mode (measured 2026-12-03), 0.07 s here; a large shop's
    report took minutes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        book.writestr("[Content_Types].xml", _content_types(len(sheets)))
        book.writestr("_rels/.rels", _ROOT_RELS)
        book.writestr("xl/workbook.xml", _workbook([title for title, _ in sheets]))
        book.writestr("xl/_rels/workbook.xml.rels", _workbook_rels(len(sheets)))
        book.writestr("xl/styles.xml", _STYLES)
        for n, (_, frame) in enumerate(sheets, 1):
            with book.open(f"xl/worksheets/sheet{n}.xml", "w") as part:
                _write_sheet(part, frame, money)
    return out.getvalue()


_ROWS_PER_PART = 50_000
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_ROOT_RELS = (
    f'{_HEAD}<Relationships xmlns="{_RELS}"><Relationship Id="rId1" '
    f'Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_STYLES = (  # the default font, and the header's: bold
    f'{_HEAD}<styleSheet xmlns="{_MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b val="1"/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _content_types(sheets: int) -> str:
    parts = [
        ("/xl/workbook.xml", f"{_TYPE}.sheet.main+xml"),
        ("/xl/styles.xml", f"{_TYPE}.styles+xml"),
        *((f"/xl/worksheets/sheet{n}.xml", f"{_TYPE}.worksheet+xml") for n in range(1, sheets + 1)),
    ]
    return (
        f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        + "".join(f'<Override PartName="{name}" ContentType="{kind}"/>' for name, kind in parts)
        + "</Types>"
    )


def _workbook(titles: Sequence[str]) -> str:
    sheets = "".join(
        f'<sheet name="{escape(title, {chr(34): "&quot;"})}" sheetId="{n}" r:id="rId{n}"/>'
        for n, title in enumerate(titles, 1)
    )
    return (
        f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}"><bookViews><workbookView/>'
        f"</bookViews><sheets>{sheets}</sheets></workbook>"
    )


def _workbook_rels(sheets: int) -> str:
    links = [(f"{_DOC}/worksheet", f"worksheets/sheet{n}.xml") for n in range(1, sheets + 1)]
    links.append((f"{_DOC}/styles", "styles.xml"))
    return (
        f'{_HEAD}<Relationships xmlns="{_RELS}">'
        + "".join(
            f'<Relationship Id="rId{n}" Type="{kind}" Target="{target}"/>'
            for n, (kind, target) in enumerate(links, 1)
        )
        + "</Relationships>"
    )


def _write_sheet(part: IO[bytes], frame: pl.DataFrame, money: frozenset[str]) -> None:
    letters = [get_column_letter(n) for n in range(1, frame.width + 1)]
    end = f":{letters[-1]}{frame.height + 1}" if letters else ""
    header = "".join(
        f'<c r="{letter}1" s="1" t="inlineStr"><is><t xml:space="preserve">{escape(name)}'
        "</t></is></c>"
        for letter, name in zip(letters, frame.columns, strict=True)
    )
    part.write(
        f'{_HEAD}<worksheet xmlns="{_MAIN}"><dimension ref="A1{end}"/><sheetData>'
        f'<row r="1">{header}</row>'.encode()
    )
    for first in range(0, frame.height, _ROWS_PER_PART):
        part.write(_rows(frame.slice(first, _ROWS_PER_PART), letters, money, first + 2).encode())
    part.write(b"</sheetData></worksheet>")


def _rows(frame: pl.DataFrame, letters: Sequence[str], money: frozenset[str], first: int) -> str:
    """The rows' XML, the first numbered ``first``."""
    number = (pl.int_range(pl.len(), dtype=pl.Int64) + first).cast(pl.String)
    cells = [
        _cell(frame.get_column(name), name in money, letter, number)
        for name, letter in zip(frame.columns, letters, strict=True)
    ]
    row = pl.concat_str([pl.lit('<row r="'), number, pl.lit('">'), *cells, pl.lit("</row>")])
    return str(frame.select(row.str.join("")).item())


def _cell(column: pl.Series, is_money: bool, letter: str, number: pl.Expr) -> pl.Expr:
    """A column's cells: a number as openpyxl wrote it (``%.16g``: no trailing zeros), text
    escaped, without the control characters XML cannot hold; null or empty, no cell."""
    value = pl.col(column.name)
    if is_money:
        shown = value.str.replace(r"(\.\d*?)0+$", "${1}").str.replace(r"\.$", "")
        kind, start, end = "", "<v>", "</v>"
    elif column.dtype.is_integer():
        shown, kind, start, end = value.cast(pl.String), "", "<v>", "</v>"
    else:
        shown = value.cast(pl.String)
        if column.cast(pl.String).str.contains(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]").any():
            shown = (
                shown.str.replace_all(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "")
                .str.replace_all("&", "&amp;", literal=True)
                .str.replace_all("<", "&lt;", literal=True)
                .str.replace_all(">", "&gt;", literal=True)
            )
        kind, start, end = ' t="inlineStr"', '<is><t xml:space="preserve">', "</t></is>"
    present = pl.when(shown != "").then(shown)  # null where empty
    head = pl.lit(f'<c r="{letter}'), number, pl.lit(f'"{kind}>{start}')
    return pl.concat_str([*head, present, pl.lit(end + "</c>")]).fill_null("")
