"""WeChat Pay's trade bill (交易账单, bill_type=ALL, the current and the pre-2018 layout) and its
fund-flow bill (资金账单): docs/reconciliation.md says what is read from each column."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import polars as pl

from rules.statements.checks import (
    LINE,
    beijing_times,
    bill_date_of,
    check_total,
    once,
    refuse_bad_money,
    single_valued,
)
from rules.statements.csvbill import Bill, Layout, cut, names
from rules.statements.money import FEN_DECIMALS, MILLI_DECIMALS, fen_of_milli, units
from rules.statements.shape import LINE_SCHEMA, Statement, StatementRefused

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TRADE = "微信支付交易账单"
FUNDFLOW = "微信支付资金账单"

ALL = Layout(
    "ALL",
    names(
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
        "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
        "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
        "费率备注"
    ),
    names(
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
    ),
)
OLD_ALL = Layout(
    "ALL, 2018 年前的旧版",
    names(
        "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
        "交易状态,付款银行,货币种类,总金额,企业红包金额,微信退款单号,商户退款单号,退款金额,"
        "企业红包退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率"
    ),
    names("总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额"),
)
FUND_FLOW = Layout(
    "资金账单",
    names(
        "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),"
        "账户结余(元),资金变更提交申请人,备注,业务凭证号"
    ),
    names("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额"),
)
# What each layout calls the normalized amounts: 应结订单金额 is the old 总金额.
_NAMES = {
    ALL: {
        "sub": "特约商户号",
        "settled": "应结订单金额",
        "coupon": "代金券金额",
        "order": "订单金额",
    },
    OLD_ALL: {"sub": "子商户号", "settled": "总金额", "coupon": "企业红包金额", "order": "总金额"},
}
_ALL_TOTALS = {  # summary column → (detail column or None for the line count, decimals)
    ALL: {
        "总交易单数": (None, 0),
        "应结订单总金额": ("应结订单金额", FEN_DECIMALS),
        "退款总金额": ("退款金额", FEN_DECIMALS),
        "充值券退款总金额": ("充值券退款金额", FEN_DECIMALS),
        "手续费总金额": ("手续费", MILLI_DECIMALS),
        "订单总金额": ("订单金额", FEN_DECIMALS),
        "申请退款总金额": ("申请退款金额", FEN_DECIMALS),
    },
    OLD_ALL: {
        "总交易单数": (None, 0),
        "总交易额": ("总金额", FEN_DECIMALS),
        "总退款金额": ("退款金额", FEN_DECIMALS),
        "总企业红包退款金额": ("企业红包退款金额", FEN_DECIMALS),
        "手续费总金额": ("手续费", MILLI_DECIMALS),
    },
}


def _none_if_zero(column: str) -> pl.Expr:
    """A payment line's refund numbers are ``0``: no refund."""
    value = pl.col(column)
    return pl.when(value.is_in(["", "0"])).then(None).otherwise(value)


def _check_totals(bill: Bill, totals: dict[str, tuple[str | None, int]], what: str) -> None:
    """The summary line against the detail lines, whose amounts are integers by now."""
    sums = bill.details.select(
        pl.len().alias("__count"), *(pl.col(c).sum() for c, _ in totals.values() if c)
    ).row(0, named=True)
    for label, (column, decimals) in totals.items():
        found = sums["__count"] if column is None else sums[column] or 0
        check_total(what, bill.summary_line, label, bill.summary[label], int(found), decimals)


_TRADE_TEXT = names(
    "交易时间,商户号,微信订单号,商户订单号,交易状态,退款状态,商户退款单号,微信退款单号,商户数据包"
)


def read_trade(body: bytes, name: str, layout: Layout) -> Statement:
    """A WeChat Pay ALL trade bill."""
    what = f"{TRADE} ({layout.name}) "
    names = _NAMES[layout]
    totals = _ALL_TOTALS[layout]
    money = {c: d for c, d in totals.values() if c is not None} | {names["coupon"]: FEN_DECIMALS}
    bill = cut(body, layout, what, [*_TRADE_TEXT, names["sub"], *money])
    refuse_bad_money(bill.details, money, what)
    single = single_valued(bill.details, money)
    bill = replace(
        bill,
        details=bill.details.with_columns(
            units(once(c, single), d).alias(c) for c, d in money.items()
        ),
    )
    _check_totals(bill, totals, what)
    moments = beijing_times(bill.details, "交易时间", TIME_FORMAT, what)
    bill_date = bill_date_of(name, moments, what)
    refunded, fee = pl.col("退款金额"), pl.col("手续费")
    is_refund = pl.col("交易状态") == "REFUND"
    sub = pl.col(names["sub"])
    lines = bill.details.select(
        pl.lit("wechat").alias("gateway"),
        pl.lit(bill_date).alias("bill_date"),
        pl.col(LINE).alias("line_no"),
        pl.Series("trade_at", moments),
        pl.when(sub.is_in(["", "0"])).then(pl.col("商户号")).otherwise(sub).alias("merchant_id"),
        pl.col("商户订单号").alias("merchant_order_no"),
        pl.col("微信订单号").alias("gateway_trade_no"),
        pl.when(is_refund).then(pl.lit("refund")).otherwise(pl.lit("payment")).alias("kind"),
        pl.when(is_refund).then(pl.col("退款状态")).otherwise(pl.col("交易状态")).alias("status"),
        pl.col(names["order"]).alias("order_fen"),
        pl.when(is_refund).then(-refunded).otherwise(pl.col(names["settled"])).alias("amount_fen"),
        pl.col(names["coupon"]).alias("coupon_fen"),
        pl.when(is_refund).then(refunded).otherwise(0).alias("refund_fen"),
        _none_if_zero("商户退款单号").alias("refund_no"),
        _none_if_zero("微信退款单号").alias("gateway_refund_no"),
        fee.alias("fee_milli"),
        fen_of_milli(fee).alias("fee_fen"),
        pl.col("商户数据包").alias("attach"),
    )
    owners = bill.details.get_column("商户号").unique().sort().to_list()
    return _statement("trade", layout.name, bill_date, "/".join(owners), lines)


_FLOW_KINDS = {
    "交易": "payment",
    "退款": "refund",
    "扣除交易手续费": "fee",
    "退还交易手续费": "fee_return",
}
_FLOW_MONEY = "收支金额(元)"


def read_fundflow(body: bytes, name: str) -> Statement:
    """A WeChat Pay fund-flow bill: money moved on the merchant's account."""
    what = f"{FUNDFLOW} "
    bill = cut(body, FUND_FLOW, what, FUND_FLOW.header)
    details = bill.details
    refuse_bad_money(details, {_FLOW_MONEY: FEN_DECIMALS, "账户结余(元)": FEN_DECIMALS}, what)
    direction = pl.col("收支类型")
    row = details.filter(~direction.is_in(["收入", "支出"])).head(1)
    if not row.is_empty():
        found = row.row(0, named=True)
        raise StatementRefused(
            f"{what}第 {found[LINE]} 行的「收支类型」是 {found['收支类型']!r}, 应为 收入 或 支出, "
            "未导入任何内容"
        )
    money = units(pl.col(_FLOW_MONEY), FEN_DECIMALS).abs()
    signed = pl.when(direction == "收入").then(money).otherwise(-money)
    sums = details.select(
        pl.len().alias("资金流水总笔数"),
        (direction == "收入").sum().alias("收入笔数"),
        money.filter(direction == "收入").sum().alias("收入金额"),
        (direction == "支出").sum().alias("支出笔数"),
        money.filter(direction == "支出").sum().alias("支出金额"),
    ).row(0, named=True)
    for label in FUND_FLOW.summary:
        decimals = 0 if label.endswith("笔数") else FEN_DECIMALS
        check_total(
            what, bill.summary_line, label, bill.summary[label], int(sums[label] or 0), decimals
        )
    moments = beijing_times(details, "记账时间", TIME_FORMAT, what)
    bill_date = bill_date_of(name, moments, what)
    kind = pl.col("业务类型").replace_strict(_FLOW_KINDS, default="other")
    fee_line = kind.is_in(["fee", "fee_return"])
    lines = details.select(
        pl.lit("wechat").alias("gateway"),
        pl.lit(bill_date).alias("bill_date"),
        pl.col(LINE).alias("line_no"),
        pl.Series("trade_at", moments),
        pl.lit("").alias("merchant_id"),  # the fund-flow bill does not name the merchant
        pl.col("业务凭证号").alias("merchant_order_no"),
        pl.col("微信支付业务单号").alias("gateway_trade_no"),
        kind.alias("kind"),
        pl.col("业务名称").alias("status"),
        pl.lit(0).alias("order_fen"),
        pl.when(fee_line).then(0).otherwise(signed).alias("amount_fen"),
        pl.lit(0).alias("coupon_fen"),
        pl.when(kind == "refund").then(money).otherwise(0).alias("refund_fen"),
        pl.lit(None, pl.String()).alias("refund_no"),
        pl.lit(None, pl.String()).alias("gateway_refund_no"),
        pl.when(fee_line).then(-signed * 1000).otherwise(0).alias("fee_milli"),
        pl.when(fee_line).then(-signed).otherwise(0).alias("fee_fen"),
        pl.col("备注").alias("attach"),
    )
    return _statement("fundflow", FUND_FLOW.name, bill_date, "", lines)


def _statement(
    kind: str, layout: str, bill_date: date, merchant: str, lines: pl.DataFrame
) -> Statement:
    return Statement("wechat", kind, layout, bill_date, merchant, lines.cast(LINE_SCHEMA))
