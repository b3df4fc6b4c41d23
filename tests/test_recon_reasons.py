"""Each reconciliation difference's reason, in plain Chinese, made column-wise."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from rules.recon.matching import DIFFERENCE_SCHEMA
from rules.recon.reasons import reason

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROW: dict[str, Any] = {
    "key": "S1",
    "stage": "full",
    "order_id": 1,
    "order_no": "SH1",
    "shop": "s",
    "channel": "c",
    "serial": "S1",
    "expected_fen": 123456,
    "actual_fen": 123450,
    "fee_milli": 600,
    "fee_expected_milli": 60,
    "lines": 2,
    "at": datetime(2026, 3, 1, 2, 3, 4, tzinfo=UTC),
    "carried": False,
    "at_stake_fen": 6,
}
REASONS = [
    (
        "unrecorded",
        {"order_no": None, "order_id": None, "serial": "", "key": "GH1", "at": None},
        "长款: 微信支付账单收款 ¥1,234.50 (流水号 GH1, 时间未知), 订单池中没有这笔付款",
    ),
    (
        "missing",
        {"carried": True, "stage": "deposit"},
        "漏账: 订单 SH1 定金已付 ¥1,234.56 (03-01 10:03:04, 流水号 S1), 微信支付账单中没有, "
        "已多等一晚仍未入账",
    ),
    (
        "amount",
        {"expected_fen": 10000, "actual_fen": 9000},
        "金额不符: 订单 SH1 全款应收 ¥100.00, 微信支付账单实收 ¥90.00, 相差 ¥-10.00",
    ),
    (
        "duplicate",
        {"stage": "refund", "key": "refund:R1", "order_no": ""},
        "重复入账: 微信支付账单中退款 S1 出现 2 次, 共 ¥1,234.50 (无对应订单应为 ¥1,234.56)",
    ),
    (
        "refund_unrecorded",
        {"key": "refund:RX", "actual_fen": -500},
        "退款无对应订单: 微信支付账单退款 ¥-5.00 (退款单号 RX), 订单上没有这笔退款",
    ),
    (
        "refund_missing",
        {"key": "refund:R2"},
        "退款未入账: 订单 SH1 退款 ¥1,234.56 (退款单号 R2, 03-01 10:03:04), 微信支付账单中没有",
    ),
    (
        "refund_amount",
        {"expected_fen": 100000000, "actual_fen": 5},
        "退款金额不符: 订单 SH1 退款应为 ¥1,000,000.00, 微信支付账单为 ¥0.05",
    ),
    (
        "fee",
        {"fee_milli": 100000, "fee_expected_milli": 60000},
        "手续费不符: 流水号 S1 收款 ¥1,234.50, 微信支付账单手续费 ¥1.00000, "
        "按签约费率应为 ¥0.60000",
    ),
    (
        "balance_unpaid",
        {"key": "balance:B", "stage": "deposit"},
        "尾款未付: 订单 SH1 定金已付 (03-01 10:03:04, 流水号 S1), 尾款期已过仍未付尾款 "
        "(尚欠 ¥1,234.56)",
    ),
]


def test_each_class_of_difference_has_its_reason_in_plain_chinese() -> None:
    rows = [ROW | changed | {"cls": cls} for cls, changed, _ in REASONS]
    frame = pl.DataFrame(rows, schema=DIFFERENCE_SCHEMA)
    made = frame.select(reason("wechat", SHANGHAI)).to_series().to_list()
    assert made == [text for _, _, text in REASONS]


def test_a_difference_of_an_unknown_class_has_no_reason() -> None:
    frame = pl.DataFrame([ROW | {"cls": "nonsense"}], schema=DIFFERENCE_SCHEMA)
    with pytest.raises(pl.exceptions.InvalidOperationError):
        frame.select(reason("wechat", SHANGHAI))
