"""UnionPay 全渠道's transaction-flow file (INN…ZM): fixed width, one space between fields,
amounts in zero-padded fen, GBK, no summary line (so a cut is seen only inside a line)."""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from rules.statements.checks import LINE, beijing_times
from rules.statements.csvbill import first_line
from rules.statements.shape import LINE_SCHEMA, Statement, StatementRefused

WHAT = "银联全渠道交易流水文件 (ZM) "
# (name, width in bytes), in file order (commerce-facts §2.4).
FIELDS: tuple[tuple[str, int], ...] = (
    ("交易代码", 3), ("代理机构标识码", 11), ("发送机构标识码", 11), ("系统跟踪号", 6),
    ("交易传输时间", 10), ("账号", 19), ("交易金额", 12), ("商户类别", 4), ("终端类型", 2),
    ("查询流水号", 21), ("支付方式旧", 2), ("商户订单号", 32), ("支付卡类型", 2),
    ("原始交易系统跟踪号", 6), ("原始交易日期时间", 10), ("商户手续费", 13), ("结算金额", 13),
    ("支付方式", 4), ("集团商户代码", 15), ("交易类型", 2), ("交易子类", 2), ("业务类型", 6),
    ("账号类型", 2), ("账单类型", 4), ("账单号码", 32), ("交互方式", 1), ("原交易查询流水号", 21),
    ("商户代码", 15), ("分账入账方式", 1), ("二级商户代码", 15), ("二级商户简称", 32),
    ("二级商户分账入账金额", 13), ("清算净额", 13), ("终端号", 8), ("商户自定义域", 32),
    ("优惠金额", 13), ("发票金额", 13), ("分期付款附加手续费", 12), ("分期付款期数", 2),
    ("交易介质", 1), ("保留使用", 131),
)  # fmt: skip
RECORD = sum(width for _, width in FIELDS) + len(FIELDS) - 1
MEANINGFUL = RECORD - FIELDS[-1][1] - 1  # a line may leave the reserved tail out
_OFFSETS = {  # field → (first byte, width)
    name: (sum(w + 1 for _, w in FIELDS[:i]), width) for i, (name, width) in enumerate(FIELDS)
}
# ACP txnType: 01 consumption, 03 pre-authorisation completed; 04 return, 31 / 33 their reversal.
_KINDS = {"01": "payment", "03": "payment", "04": "refund", "31": "refund", "33": "refund"}
_NAME = re.compile(r"INN(\d{2})(\d{2})(\d{2})\d{2}ZM")
_SIGNED = r"^[CD+-]?\d{12,13}$"  # whether a sign can appear is undocumented: C/D or +/- read


def bill_date_of(name: str) -> date:
    found = _NAME.search(name)
    if found is None:
        raise StatementRefused(
            f"{WHAT}的清算日期取自文件名 (INN{{yyMMdd}}88ZM_{{商户代码}}), "
            f"而 {name!r} 不是这种名字; 请用银联下载时的原文件名导入, 未导入任何内容"
        )
    return date(2000 + int(found[1]), int(found[2]), int(found[3]))


def decode(data: bytes) -> list[str]:
    """The file's lines, one character per byte (the widths are bytes), once it is known to be
    GBK text."""
    try:
        data.decode("gb18030")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise StatementRefused(f"{WHAT}第 {line} 行不是 GBK 编码, 未导入任何内容") from None
    return [line.rstrip("\r") for line in data.decode("latin-1").split("\n") if line.strip()]


def looks_like(body: bytes, name: str) -> bool:
    """A ZM file by its name, or by its first line's width and transaction code."""
    if _NAME.search(name):
        return True
    first = first_line(body)
    return MEANINGFUL <= len(first) <= RECORD and first[:3].isalnum()


def _field(name: str) -> pl.Expr:
    start, width = _OFFSETS[name]
    return pl.col("raw").str.slice(start, width).str.strip_chars(" ").alias(name)


def _gbk(value: str) -> str:
    return value.encode("latin-1").decode("gb18030")


def read(data: bytes, name: str) -> Statement:
    bill_date = bill_date_of(name)
    raw = pl.DataFrame({"raw": decode(data)}).with_row_index(LINE, offset=1)
    raw = raw.with_columns(pl.col(LINE).cast(pl.Int64))
    length = pl.col("raw").str.len_chars()
    wrong = raw.filter((length < MEANINGFUL) | (length > RECORD)).head(1)
    if not wrong.is_empty():
        row = wrong.row(0, named=True)
        raise StatementRefused(
            f"{WHAT}第 {row[LINE]} 行长 {len(row['raw'])} 字节, 应为 {RECORD} 字节 "
            "(文件被截断, 或不是 ZM 流水文件), 未导入任何内容"
        )
    frame = raw.select(LINE, *(_field(n) for n, _ in FIELDS[:-1]))
    for column, pattern in (
        ("交易金额", r"^\d{12}$"),
        ("商户手续费", _SIGNED),
        ("优惠金额", _SIGNED),
        ("交易传输时间", r"^\d{10}$"),
    ):
        bad = frame.filter(~pl.col(column).str.contains(pattern)).head(1)
        if not bad.is_empty():
            row = bad.row(0, named=True)
            raise StatementRefused(
                f"{WHAT}第 {row[LINE]} 行的「{column}」是 {row[column]!r}, 格式不对, 未导入任何内容"
            )
    # The time has no year: the bill's, or the year before for December lines in a January bill.
    month = pl.col("交易传输时间").str.slice(0, 2).cast(pl.Int32)
    year = pl.when(month > bill_date.month).then(bill_date.year - 1).otherwise(bill_date.year)
    frame = frame.with_columns((year.cast(pl.String) + pl.col("交易传输时间")).alias("交易时间"))
    moments = beijing_times(frame, "交易时间", "%Y%m%d%H%M%S", WHAT)
    attach = frame.get_column("商户自定义域")
    wide = attach.str.contains(r"[^\x00-\x7f]")
    if wide.any():
        positions = wide.arg_true()
        attach = attach.scatter(positions, [_gbk(v) for v in attach.gather(positions).to_list()])
    return _statement(frame.with_columns(attach), moments, bill_date)


def _signed_fen(column: str) -> pl.Expr:
    text = pl.col(column)
    digits = text.str.extract(r"(\d+)$", 1).cast(pl.Int64)
    return (
        pl.when(text.str.starts_with("C") | text.str.starts_with("-"))
        .then(-digits)
        .otherwise(digits)
    )


def _statement(frame: pl.DataFrame, moments: pl.Series, bill_date: date) -> Statement:
    kind = pl.col("交易类型").replace_strict(_KINDS, default="other")
    amount = pl.col("交易金额").cast(pl.Int64)
    is_refund = kind == "refund"
    fee = _signed_fen("商户手续费")
    order_no = pl.col("商户订单号")
    lines = frame.select(
        pl.lit("unionpay").alias("gateway"),
        pl.lit(bill_date).alias("bill_date"),
        pl.col(LINE).alias("line_no"),
        pl.Series("trade_at", moments),
        pl.col("商户代码").alias("merchant_id"),
        # A refund has an order number of its own; it names its payment by the queryId.
        pl.when(is_refund).then(None).otherwise(order_no).alias("merchant_order_no"),
        pl.when(is_refund)
        .then(pl.col("原交易查询流水号"))
        .otherwise(pl.col("查询流水号"))
        .alias("gateway_trade_no"),
        kind.alias("kind"),
        pl.col("交易代码").alias("status"),
        amount.alias("order_fen"),
        pl.when(is_refund).then(-amount).otherwise(amount).alias("amount_fen"),
        _signed_fen("优惠金额").abs().alias("coupon_fen"),
        pl.when(is_refund).then(amount).otherwise(0).alias("refund_fen"),
        pl.when(is_refund).then(order_no).otherwise(None).alias("refund_no"),
        pl.when(is_refund).then(pl.col("查询流水号")).otherwise(None).alias("gateway_refund_no"),
        (fee * 1000).alias("fee_milli"),
        fee.alias("fee_fen"),
        pl.col("商户自定义域").alias("attach"),
    )
    merchants = frame.get_column("商户代码").unique().sort().to_list()
    return Statement(
        "unionpay", "trade", "ZM 交易流水", bill_date, "/".join(merchants), lines.cast(LINE_SCHEMA)
    )
