"""The one line shape every gateway's statement is read into, and the statement around it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

GATEWAYS = {"wechat": "微信支付", "alipay": "支付宝", "unionpay": "银联"}
KINDS = {"trade": "交易账单", "fundflow": "资金账单"}

# Money is integer fen, except fees: WeChat Pay states them to 5 decimals of a yuan, so
# ``fee_milli`` keeps them exactly in 1/1000 fen and ``fee_fen`` is that rounded half away from
# zero (rules.statements.money.fen_of_milli). Amounts are signed from the merchant's side:
# ``amount_fen`` is what the line moves into (+) or out of (-) the merchant's money before fees;
# ``refund_fen`` repeats a refund's amount as a positive number; ``fee_milli`` is positive when
# charged and negative when the gateway gives a fee back (on a refund).
LINE_SCHEMA = pl.Schema(
    {
        "gateway": pl.String(),
        "bill_date": pl.Date(),
        "line_no": pl.Int64(),  # the line in the file as downloaded (1 = its first line)
        "trade_at": pl.Datetime("us", "UTC"),
        "merchant_id": pl.String(),
        "merchant_order_no": pl.String(),  # 商户订单号: our order's or its payment's number
        "gateway_trade_no": pl.String(),  # 微信订单号 / 支付宝交易号 / 银联查询流水号
        "kind": pl.String(),  # payment | refund | fee | fee_return | other (fund flow)
        "status": pl.String(),  # the gateway's own word for the line (SUCCESS, 交易, S22 ...)
        "order_fen": pl.Int64(),  # the order's amount as the bill states it (before vouchers)
        "amount_fen": pl.Int64(),
        "coupon_fen": pl.Int64(),  # vouchers / merchant discounts the bill names
        "refund_fen": pl.Int64(),
        "refund_no": pl.String(),  # 商户退款单号 / 退款批次号: ours
        "gateway_refund_no": pl.String(),  # 微信退款单号 (the gateway's)
        "fee_milli": pl.Int64(),
        "fee_fen": pl.Int64(),
        "attach": pl.String(),  # 商户数据包 / 备注 / 商户自定义域: what we sent along
    }
)


class StatementRefused(ValueError):
    """The file is refused whole; the message says why in Chinese (which line, which total,
    expected against found)."""


@dataclass(frozen=True)
class Statement:
    """One bill file, read: its lines in ``LINE_SCHEMA`` and what identifies it."""

    gateway: str
    kind: str
    layout: str  # which of the accepted layouts it was, in words (docs/reconciliation.md)
    bill_date: date
    merchant_id: str
    lines: pl.DataFrame
    digest: str = ""  # SHA-256 of the bill as unpacked: the same bill zipped or not is one

    @property
    def title(self) -> str:
        return f"{GATEWAYS[self.gateway]}{KINDS[self.kind]} ({self.layout})"
