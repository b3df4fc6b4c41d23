"""A difference in plain Chinese: what was expected, what the bill says, what to look at."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rules.money import format_fen
from rules.recon import GATEWAY_LABELS, STAGE_LABELS, Difference
from rules.statements.money import MILLI_DECIMALS, yuan


def reason(row: Mapping[str, Any], gateway: str, tz: ZoneInfo) -> str:
    """The reason of one difference row (rules.recon.matching.DIFFERENCE_SCHEMA)."""
    cls = Difference(row["cls"])
    bill = f"{GATEWAY_LABELS.get(gateway, gateway)}账单"
    order = f"订单 {row['order_no']}" if row["order_no"] else "无对应订单"
    stage = STAGE_LABELS.get(row["stage"], row["stage"])
    serial = row["serial"] or row["key"]
    expected, actual = format_fen(row["expected_fen"]), format_fen(row["actual_fen"])
    when = _local(row["at"], tz)
    if cls is Difference.UNRECORDED:
        return f"长款: {bill}收款 {actual} (流水号 {serial}, {when}), 订单池中没有这笔付款"
    if cls is Difference.MISSING:
        waited = ", 已多等一晚仍未入账" if row["carried"] else ""
        return (
            f"漏账: {order} {stage}已付 {expected} ({when}, 流水号 {serial}), {bill}中没有{waited}"
        )
    if cls is Difference.AMOUNT:
        gap = format_fen(row["actual_fen"] - row["expected_fen"])
        return f"金额不符: {order} {stage}应收 {expected}, {bill}实收 {actual}, 相差 {gap}"
    if cls is Difference.DUPLICATE:
        what = "退款" if row["stage"] == "refund" else "收款"
        return (
            f"重复入账: {bill}中{what} {serial} 出现 {row['lines']} 次, 共 {actual}"
            f" ({order}应为 {expected})"
        )
    if cls is Difference.REFUND_UNRECORDED:
        return (
            f"退款无对应订单: {bill}退款 {actual} (退款单号 {_refund_no(row)}), 订单上没有这笔退款"
        )
    if cls is Difference.REFUND_MISSING:
        number = _refund_no(row)
        return f"退款未入账: {order} 退款 {expected} (退款单号 {number}, {when}), {bill}中没有"
    if cls is Difference.REFUND_AMOUNT:
        return f"退款金额不符: {order} 退款应为 {expected}, {bill}为 {actual}"
    if cls is Difference.FEE:
        charged = yuan(row["fee_milli"], MILLI_DECIMALS)
        contract = yuan(row["fee_expected_milli"], MILLI_DECIMALS)
        return (
            f"手续费不符: 流水号 {serial} 收款 {actual}, {bill}手续费 ¥{charged}, "
            f"按签约费率应为 ¥{contract}"
        )
    return (
        f"尾款未付: {order} 定金已付 ({when}, 流水号 {serial}), 尾款期已过仍未付尾款 "
        f"(尚欠 {expected})"
    )


def _refund_no(row: Mapping[str, Any]) -> str:
    return str(row["key"]).removeprefix("refund:")


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return "时间未知" if moment is None else f"{moment.astimezone(tz):%m-%d %H:%M:%S}"
