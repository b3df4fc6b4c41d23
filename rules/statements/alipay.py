"""Alipay's business bill (业务明细, bill_type=trade): a GBK CSV between ``#`` lines, ids ending
in a tab, refunds and fees negative, the day's 交易合计 / 退款合计 after the list."""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from rules.statements.checks import (
    LINE,
    beijing_times,
    check_total,
    header_refusal,
    refuse_bad_money,
)
from rules.statements.csvbill import names
from rules.statements.money import FEN_DECIMALS, units
from rules.statements.shape import LINE_SCHEMA, Statement, StatementRefused

WHAT = "支付宝业务明细账单 "
TITLE = "#支付宝业务明细查询"
LIST_START, LIST_END = "业务明细列表", "业务明细列表结束"
HEADER = names(
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
    "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
    "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
    "退款批次号/请求号,服务费（元）,分润（元）,备注"
)
_MONEY = [c for c in HEADER if c.endswith("（元）")]
_ACCOUNT = re.compile(r"^#账号：\[(\d+)\]")
_START_DAY = re.compile(r"^#起始日期：\[(\d{4})年(\d{2})月(\d{2})日")
_TOTALS = {
    "交易": re.compile(r"^#交易合计：(\d+)笔，商家实收共([-\d.]+)元，商家优惠共([-\d.]+)元"),
    "退款": re.compile(
        r"^#退款合计：(\d+)笔，商家实收退款共([-\d.]+)元，商家优惠退款共([-\d.]+)元"
    ),
}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def decode(data: bytes) -> str:
    """The bill's text: Alipay writes GBK (GB 18030 reads it, and the few characters GBK
    lacks); a file saved again as UTF-8 is refused, since its ids may have been altered."""
    if data.startswith(("\ufeff" + TITLE).encode()) or data.startswith(TITLE.encode()):
        raise StatementRefused(
            f"{WHAT}应为 GBK 编码, 此文件是 UTF-8 (可能被 Excel 等另存过, 交易号可能已被改写); "
            "请导入从支付宝下载的原始文件, 未导入任何内容"
        )
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise StatementRefused(
            f"{WHAT}第 {line} 行不是 GBK 编码 (支付宝账单是 GBK), 未导入任何内容"
        ) from None


def read(text: str) -> Statement:
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines[0].startswith(TITLE):
        raise StatementRefused(f"不是{WHAT.strip()}: 第 1 行应为「{TITLE}」, 未导入任何内容")
    start = next(
        (
            i
            for i, t in enumerate(lines)
            if t.startswith("#") and t.strip("#-").strip() == LIST_START
        ),
        None,
    )
    end = next((i for i, t in enumerate(lines) if LIST_END in t), None)
    if start is None:
        raise StatementRefused(f"不是{WHAT.strip()}: 找不到「{LIST_START}」一行, 未导入任何内容")
    if end is None:
        raise StatementRefused(
            f"{WHAT}不完整: 找不到「{LIST_END}」一行和其后的合计, 可能下载中断, 未导入任何内容"
        )
    header = [h.strip() for h in lines[start + 1].split(",")]
    if tuple(header) != HEADER:
        raise header_refusal(WHAT.strip(), header, HEADER)
    details = _details(lines[start + 2 : end], first_line=start + 3)
    _check_totals(details, lines, end)
    bill_date = _field(lines, _START_DAY, "起始日期")
    account = _field(lines, _ACCOUNT, "账号")
    return _statement(details, date(*map(int, bill_date)), _pid(account[0]))


def _field(lines: list[str], pattern: re.Pattern[str], label: str) -> tuple[str, ...]:
    for line in lines[:4]:
        if (found := pattern.match(line)) is not None:
            return found.groups()
    raise StatementRefused(f"不是{WHAT.strip()}: 开头几行没有「#{label}：」, 未导入任何内容")


def _pid(account: str) -> str:
    """The account line shows the partner id with ``0156`` after it."""
    return account[:-4] if len(account) == 20 and account.endswith("0156") else account


def _details(rows: list[str], first_line: int) -> pl.DataFrame:
    raw = pl.DataFrame({"raw": rows}).with_row_index(LINE, offset=first_line)
    raw = raw.with_columns(pl.col(LINE).cast(pl.Int64))
    width = raw.select(pl.col("raw").str.count_matches(",", literal=True) + 1).to_series()
    wrong = raw.filter(width != len(HEADER)).head(1)
    if not wrong.is_empty():
        row = wrong.row(0, named=True)
        raise StatementRefused(
            f"{WHAT}第 {row[LINE]} 行有 {row['raw'].count(',') + 1} 列, 应为 {len(HEADER)} 列 "
            "(被截断或多了逗号), 未导入任何内容"
        )
    fields = pl.col("raw").str.split_exact(",", len(HEADER) - 1).struct.rename_fields(list(HEADER))
    frame = raw.select(LINE, fields).unnest("raw")
    # Ids end in a tab (Alipay's guard against spreadsheets); amounts left blank are nothing.
    frame = frame.with_columns(pl.col(*HEADER).str.strip_chars())
    return frame.with_columns(
        pl.when(pl.col(c) == "").then(pl.lit("0")).otherwise(pl.col(c)).alias(c) for c in _MONEY
    )


def _check_totals(details: pl.DataFrame, lines: list[str], end: int) -> None:
    refuse_bad_money(details, dict.fromkeys(_MONEY, FEN_DECIMALS), WHAT)
    for offset, (kind, pattern) in enumerate(_TOTALS.items(), start=1):
        number = end + offset + 1
        found = pattern.match(lines[end + offset]) if end + offset < len(lines) else None
        if found is None:
            raise StatementRefused(
                f"{WHAT}不完整: 第 {number} 行应为「#{kind}合计：…」, 可能下载中断, 未导入任何内容"
            )
        of_kind = details.filter(pl.col("业务类型") == kind)
        sums = of_kind.select(
            units(pl.col("商家实收（元）"), FEN_DECIMALS).sum(),
            units(pl.col("商家优惠（元）"), FEN_DECIMALS).sum(),
        ).row(0)
        refund = "退款" if kind == "退款" else ""
        check_total(WHAT, number, f"{kind}合计 笔数", found[1], of_kind.height, 0)
        check_total(WHAT, number, f"{kind}合计 商家实收{refund}", found[2], sums[0] or 0)
        check_total(WHAT, number, f"{kind}合计 商家优惠{refund}", found[3], sums[1] or 0)


def _statement(details: pl.DataFrame, bill_date: date, pid: str) -> Statement:
    done = pl.col("完成时间")
    details = details.with_columns(
        pl.when(done == "").then(pl.col("创建时间")).otherwise(done).alias("完成时间")
    )
    moments = beijing_times(details, "完成时间", TIME_FORMAT, WHAT)
    received = units(pl.col("商家实收（元）"), FEN_DECIMALS)
    fee = units(pl.col("服务费（元）"), FEN_DECIMALS)  # negative: deducted
    is_refund = pl.col("业务类型") == "退款"
    kind = pl.col("业务类型").replace_strict({"交易": "payment", "退款": "refund"}, default="other")
    refund_no = pl.col("退款批次号/请求号")
    lines = details.select(
        pl.lit("alipay").alias("gateway"),
        pl.lit(bill_date).alias("bill_date"),
        pl.col(LINE).alias("line_no"),
        pl.Series("trade_at", moments),
        pl.lit(pid).alias("merchant_id"),
        pl.col("商户订单号").alias("merchant_order_no"),
        pl.col("支付宝交易号").alias("gateway_trade_no"),
        kind.alias("kind"),
        pl.col("业务类型").alias("status"),
        units(pl.col("订单金额（元）"), FEN_DECIMALS).abs().alias("order_fen"),
        received.alias("amount_fen"),
        units(pl.col("商家优惠（元）"), FEN_DECIMALS).abs().alias("coupon_fen"),
        pl.when(is_refund).then(-received).otherwise(0).alias("refund_fen"),
        pl.when(refund_no == "").then(None).otherwise(refund_no).alias("refund_no"),
        pl.lit(None, pl.String()).alias("gateway_refund_no"),
        (-fee * 1000).alias("fee_milli"),
        (-fee).alias("fee_fen"),
        pl.col("备注").alias("attach"),
    )
    return Statement("alipay", "trade", "业务明细", bill_date, pid, lines.cast(LINE_SCHEMA))
