"""The reconciliation report for an ERP and the digest's difference list, as CSV or XLSX.

Column names are stable (docs/reconciliation.md, "The report's columns"): money is yuan as
exact decimal text (two places; fees five, as WeChat Pay states them), days are ISO dates.
CSV is UTF-8 with a BOM (so Excel reads the Chinese); the XLSX has the same columns, money as
numbers.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import polars as pl
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

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
    """Each (title, frame) as a sheet; the ``money`` columns (decimal text) as numbers."""
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, frame in sheets:
        sheet = book.create_sheet(title)
        header = [WriteOnlyCell(sheet, value=name) for name in frame.columns]
        for cell in header:
            cell.font = bold
        sheet.append(header)
        numbers = [i for i, name in enumerate(frame.columns) if name in money]
        for row in frame.iter_rows():
            values = list(row)
            for i in numbers:
                if values[i] is not None:
                    values[i] = Decimal(values[i])
            sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
