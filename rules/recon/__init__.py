"""Reconciliation, the pure part: the difference classes, the contracted fee, and the matching
of a gateway's bill day against the order pool's payments and refunds (``rules.recon.matching``),
all on polars frames; nothing here reads or writes anything."""

from __future__ import annotations

from enum import StrEnum


class Difference(StrEnum):
    """What a difference is; its label is what finance reads."""

    UNRECORDED = "unrecorded"  # 长款: money in the bill that no order's payment claims
    MISSING = "missing"  # 漏账: an order's payment the bill does not have
    AMOUNT = "amount"  # 金额不符
    DUPLICATE = "duplicate"  # 重复入账
    REFUND_UNRECORDED = "refund_unrecorded"  # a refund in the bill that no order has
    REFUND_MISSING = "refund_missing"  # an order's refund the bill does not have
    REFUND_AMOUNT = "refund_amount"
    FEE = "fee"  # the fee is not the contracted rate's
    BALANCE_UNPAID = "balance_unpaid"  # presale: 定金 paid, 尾款 not, the balance window closed

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS = {
    Difference.UNRECORDED: "长款",
    Difference.MISSING: "漏账",
    Difference.AMOUNT: "金额不符",
    Difference.DUPLICATE: "重复入账",
    Difference.REFUND_UNRECORDED: "退款无对应订单",
    Difference.REFUND_MISSING: "退款未入账",
    Difference.REFUND_AMOUNT: "退款金额不符",
    Difference.FEE: "手续费不符",
    Difference.BALANCE_UNPAID: "尾款未付",
}

GATEWAY_LABELS = {"wechat": "微信支付", "alipay": "支付宝", "unionpay": "银联"}
STAGE_LABELS = {"full": "全款", "deposit": "定金", "final": "尾款", "refund": "退款"}
STATUS_LABELS = {
    "matched": "已匹配",
    "settled": "已结清",  # a presale order whose 定金 and 尾款 are both matched
    "pending": "待次日账单",
    "difference": "有差异",
}
