"""rules.recon.matching on a handful of rows: the cases a day's million rows take apart from
the rest (numbers that repeat, a line known by its transaction number, a payment made outside
the day, one the previous day's bill had)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from rules.recon import Difference
from rules.recon.matching import (
    DEPOSIT_SCHEMA,
    LINE_COLUMNS,
    PAYMENT_SCHEMA,
    REFUND_SCHEMA,
    Day,
    match_day,
)

START = datetime(2024, 2, 29, 16, tzinfo=UTC)  # 2024-03-01 00:00 Beijing
DAY = Day(date(2024, 3, 1), START, START + timedelta(days=1), timedelta(minutes=30), None, 0)
LINES = pl.Schema(
    {
        name: pl.Datetime("us", "UTC")
        if name == "trade_at"
        else pl.Int64
        if "fen" in name or name == "fee_milli"
        else pl.String
        for name in LINE_COLUMNS
    }
)


def payment(order_id: int, serial: str, fen: int, at: datetime) -> dict[str, Any]:
    return {
        "order_id": order_id, "order_no": f"NO{order_id}", "shop": "店", "channel": "shop",
        "serial": serial, "stage": "full", "expected_fen": fen, "paid_at": at,
        "deposit_seen": False, "billed_before": False,
    }  # fmt: skip


def line(ours: str | None, theirs: str, fen: int, at: datetime) -> dict[str, Any]:
    return {
        "trade_at": at, "merchant_order_no": ours, "gateway_trade_no": theirs, "kind": "payment",
        "amount_fen": fen, "refund_fen": 0, "refund_no": None, "gateway_refund_no": None,
        "fee_milli": 0,
    }  # fmt: skip


def test_repeated_numbers_other_numbers_and_other_days_are_matched_as_one_would_by_hand() -> None:
    noon = START + timedelta(hours=4)
    carry = START - timedelta(minutes=10)
    payments = pl.DataFrame(
        [
            payment(1, "S-SHARED", 300, noon),  # 合并付款: two orders, one payment
            payment(2, "S-SHARED", 200, noon + timedelta(minutes=1)),
            payment(3, "S-TWICE", 100, noon),  # the bill lists it twice
            payment(4, "T-4", 400, noon),  # the bill's 商户订单号 is not ours: its 交易单号 is
            payment(5, "S-EARLIER", 500, START - timedelta(days=3)),  # placed days before
            payment(6, "S-YESTERDAY", 600, carry),  # in the carry, yesterday's bill had it
            payment(7, "S-MISSING", 700, noon),
        ],
        schema=PAYMENT_SCHEMA,
        orient="row",
    )
    lines = pl.DataFrame(
        [
            line("S-SHARED", "W1", 500, noon),
            line("S-TWICE", "W2", 100, noon),
            line("S-TWICE", "W3", 100, noon),
            line("M-4", "T-4", 400, noon),
            line("S-EARLIER", "W5", 500, noon),
            line("S-STRANGER", "W8", 800, noon),
        ],
        schema=LINES,
        orient="row",
    )
    previous = pl.DataFrame(
        [("payment", "S-YESTERDAY", "W6", None)],
        schema={
            n: pl.String for n in ("kind", "merchant_order_no", "gateway_trade_no", "refund_no")
        },
        orient="row",
    )
    found = match_day(
        DAY,
        payments,
        pl.DataFrame(schema=REFUND_SCHEMA),
        lines,
        previous,
        pl.DataFrame(schema=DEPOSIT_SCHEMA),
    )
    rows = {r["key"]: r for r in found.rows.iter_rows(named=True)}
    assert set(rows) == {"S-SHARED", "S-TWICE", "T-4", "S-EARLIER", "S-STRANGER", "S-MISSING"}
    shared = rows["S-SHARED"]
    assert (shared["order_id"], shared["order_no"], shared["expected_fen"]) == (1, "NO1,NO2", 500)
    assert (shared["actual_fen"], shared["lines"], shared["status"]) == (500, 1, "matched")
    assert (rows["S-TWICE"]["lines"], rows["S-TWICE"]["actual_fen"]) == (2, 200)
    assert (rows["T-4"]["order_id"], rows["T-4"]["status"]) == (4, "matched")
    assert (rows["S-EARLIER"]["order_id"], rows["S-EARLIER"]["status"]) == (5, "matched")
    differences = sorted(
        (d["cls"], d["key"]) for d in found.differences.select("cls", "key").iter_rows(named=True)
    )
    assert differences == sorted(
        [
            (Difference.DUPLICATE.value, "S-TWICE"),
            (Difference.UNRECORDED.value, "S-STRANGER"),
            (Difference.MISSING.value, "S-MISSING"),
        ]
    )
