"""JD POP orders as ``jingdong.pop.order.search`` / ``jingdong.pop.order.get`` return them.

Money is yuan strings, times Beijing ``yyyy-MM-dd HH:mm:ss`` with ``0001-01-01 00:00:00`` or
``1970-01-01 00:00:00`` for "not yet". Orders reach the API paid (or cash on delivery), so there
is no pending-payment stage. JD gives no shop name, so ``shop`` is the ``venderId``; nor a ship
time, so SHIPPED counts from ``modified``.

Presale (定金/尾款) on JD is not documented in any source we have, so every JD order is "normal".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from channels import limits
from channels.base import NormalizedOrder
from channels.reader import RecordReader
from channels.timeparse import first_known
from rules.stages import Stage

CHANNEL = "jd"

_STAGES = {
    "WAIT_SELLER_STOCK_OUT": Stage.PAID,
    "WAIT_SELLER_DELIVERY": Stage.PAID,  # overseas purchase, awaiting domestic shipment
    "WAIT_SEND_CODE": Stage.PAID,  # virtual goods awaiting their code
    "LOCKED": Stage.ON_HOLD,  # usually an after-sale/refund lock
    "PAUSE": Stage.ON_HOLD,
    "POP_ORDER_PAUSE": Stage.ON_HOLD,
    # LBP/SOPL merchants ship through a JD distribution centre ("CENER" is JD's spelling).
    "SEND_TO_DISTRIBUTION_CENER": Stage.SHIPPED,
    "DISTRIBUTION_CENTER_RECEIVED": Stage.SHIPPED,
    "WAIT_GOODS_RECEIVE_CONFIRM": Stage.SHIPPED,
    "RECEIPTS_CONFIRM": Stage.DELIVERED,  # LBP/SOPL: receipt confirmed, before FINISHED_L
    "FINISHED_L": Stage.COMPLETED,
    "TRADE_CANCELED": Stage.CANCELLED,
}
# The order's own time for entering a stage; other stages count from ``modified``.
_STAGE_TIME = {
    Stage.PAID: "paymentConfirmTime",  # placeholder for cash on delivery → falls back
    Stage.COMPLETED: "orderEndTime",
    Stage.CANCELLED: "orderEndTime",
}
_TIMES = ("orderStartTime", "paymentConfirmTime", "orderEndTime", "modified")
_CONSIGNEE = (
    "fullname",
    "mobile",
    "telephone",
    "fullAddress",
    "province",
    "city",
    "county",
    "town",
)


# Flat fields a CSV import may carry, the consignee's as ``consigneeInfo.<field>``.
CSV_HEADERS = (
    "orderId",
    "venderId",
    "orderState",
    "orderStateRemark",
    *_TIMES,
    "orderPayment",
    "orderTotalPrice",
    "orderSellerPrice",
    "freightPrice",
    "orderType",
    "payType",
    "orderRemark",
    "venderRemark",
    *(f"consigneeInfo.{name}" for name in _CONSIGNEE),
)


def normalize(record: Mapping[str, Any], now: datetime) -> NormalizedOrder:
    """The order as a normalised order; ``now`` bounds its times (channels.limits)."""
    r = RecordReader(record, now)
    times = {name: r.jd_time(name) for name in _TIMES}
    created = r.required(times["orderStartTime"], "orderStartTime")
    stage = r.stage(_STAGES, "orderState")
    own = _STAGE_TIME.get(stage) if stage else None
    consignee = r.obj("consigneeInfo")
    order = NormalizedOrder(
        channel=CHANNEL,
        channel_order_id=r.required(r.ident("orderId", limits.ORDER_ID), "orderId"),
        stage=stage,
        stage_entered_at=first_known(
            times[own] if own else None, times["modified"], default=created
        ),
        amount_fen=r.required(r.yuan("orderPayment"), "orderPayment"),
        shop=r.ident("venderId", limits.SHOP),
        province=consignee.text("province", limits.REGION),
        city=consignee.text("city", limits.REGION),
        district=consignee.text("county", limits.REGION),
        receiver_phone=consignee.phone("mobile") or consignee.phone("telephone"),
        created_at=created,
        paid_at=times["paymentConfirmTime"],
        raw=dict(record),
    )
    r.check()
    return order
