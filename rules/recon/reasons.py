"""A difference in plain Chinese: what was expected, what the bill says, what to look at.

Made column-wise (a large shop's day has tens of thousands of differences): ``reason`` is a
polars expression over a frame of rules.recon.matching.DIFFERENCE_SCHEMA."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import polars as pl

from rules.recon import GATEWAY_LABELS, STAGE_LABELS, Difference
from rules.recon.export import yuan_text
from rules.statements.money import MILLI_DECIMALS

_CLASSES = pl.Enum([cls.value for cls in Difference])


def reason(gateway: str, tz: ZoneInfo) -> pl.Expr:
    """Each difference's reason (a row of an unknown class is an error, as is its class)."""
    bill = f"{GATEWAY_LABELS.get(gateway, gateway)}账单"
    order = _given("order_no", "订单 ").fill_null("无对应订单")
    stage = pl.col("stage").replace(STAGE_LABELS)
    serial = _given("serial").fill_null(pl.col("key"))
    expected, actual = _fen_text(pl.col("expected_fen")), _fen_text(pl.col("actual_fen"))
    when = pl.col("at").dt.convert_time_zone(tz.key).dt.strftime("%m-%d %H:%M:%S")
    when = when.fill_null("时间未知")
    refund_no = pl.col("key").str.strip_prefix("refund:")
    waited = pl.when(pl.col("carried")).then(pl.lit(", 已多等一晚仍未入账")).otherwise(pl.lit(""))
    gap = _fen_text(pl.col("actual_fen") - pl.col("expected_fen"))
    what = pl.when(pl.col("stage") == "refund").then(pl.lit("退款")).otherwise(pl.lit("收款"))
    lines = pl.col("lines").cast(pl.String)
    charged = yuan_text(pl.col("fee_milli"), MILLI_DECIMALS)
    contract = yuan_text(pl.col("fee_expected_milli"), MILLI_DECIMALS)
    texts = {
        Difference.UNRECORDED: (
            f"长款: {bill}收款 ", actual, " (流水号 ", serial, ", ", when, "), 订单池中没有这笔付款"
        ),
        Difference.MISSING: (
            "漏账: ", order, " ", stage, "已付 ", expected, " (", when, ", 流水号 ", serial,
            f"), {bill}中没有", waited,
        ),
        Difference.AMOUNT: (
            "金额不符: ", order, " ", stage, "应收 ", expected, f", {bill}实收 ", actual,
            ", 相差 ", gap,
        ),
        Difference.DUPLICATE: (
            f"重复入账: {bill}中", what, " ", serial, " 出现 ", lines, " 次, 共 ", actual,
            " (", order, "应为 ", expected, ")",
        ),
        Difference.REFUND_UNRECORDED: (
            f"退款无对应订单: {bill}退款 ", actual, " (退款单号 ", refund_no,
            "), 订单上没有这笔退款",
        ),
        Difference.REFUND_MISSING: (
            "退款未入账: ", order, " 退款 ", expected, " (退款单号 ", refund_no, ", ", when,
            f"), {bill}中没有",
        ),
        Difference.REFUND_AMOUNT: (
            "退款金额不符: ", order, " 退款应为 ", expected, f", {bill}为 ", actual,
        ),
        Difference.FEE: (
            "手续费不符: 流水号 ", serial, " 收款 ", actual, f", {bill}手续费 ¥", charged,
            ", 按签约费率应为 ¥", contract,
        ),
        Difference.BALANCE_UNPAID: (
            "尾款未付: ", order, " 定金已付 (", when, ", 流水号 ", serial,
            "), 尾款期已过仍未付尾款 (尚欠 ", expected, ")",
        ),
    }  # fmt: skip
    cls = pl.col("cls").cast(_CLASSES)  # strict: an unknown class fails
    return pl.coalesce(
        pl.when(cls == kind.value).then(_joined(parts)) for kind, parts in texts.items()
    )


def _joined(parts: tuple[str | pl.Expr, ...]) -> pl.Expr:
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def _given(name: str, prefix: str = "") -> pl.Expr:
    """The column's text after ``prefix``; null where it is null or empty."""
    value = pl.col(name)
    return pl.when(value != "").then(pl.concat_str(pl.lit(prefix), value))


def _fen_text(fen: pl.Expr) -> pl.Expr:
    """rules.money.format_fen, column-wise: ``123456`` → ``¥1,234.56``, ``-5`` → ``¥-0.05``."""
    whole = (fen.abs() // 100).cast(pl.String)
    grouped = whole.str.reverse().str.replace_all(r"(\d{3})", "${1},").str.strip_suffix(",")
    sign = pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    cents = (fen.abs() % 100).cast(pl.String).str.zfill(2)
    return pl.concat_str([pl.lit("¥"), sign, grouped.str.reverse(), pl.lit("."), cents])
