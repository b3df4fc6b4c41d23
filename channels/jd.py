"""JD POP orders as ``jingdong.pop.order.search`` / ``jingdong.pop.order.get`` return them.

Money is yuan strings, times Beijing ``yyyy-MM-dd HH:mm:ss`` with ``0001-01-01 00:00:00`` or
``1970-01-01 00:00:00`` for "not yet". Orders reach the API paid (or cash on delivery), so there
is no pending-payment stage. JD gives no shop name, so ``shop`` is the ``venderId``; nor a ship
time, so SHIPPED counts from ``modified``.

Presale (定金/尾款) on JD is not documented in any source we have, so every JD order is "normal".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.base import NormalizedOrder
from channels.timeparse import (
    first_known,
    ident,
    jd_time,
    obj,
    required,
    stage_of,
    text,
    yuan_to_fen,
)
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


def normalize(record: Mapping[str, Any]) -> NormalizedOrder:
    order_id = required(ident(record.get("orderId"), "orderId"), "orderId")
    times = {name: jd_time(record.get(name), name) for name in _TIMES}
    created = required(times["orderStartTime"], "orderStartTime")
    stage = stage_of(_STAGES, record.get("orderState"), "orderState")
    own = _STAGE_TIME.get(stage)
    consignee = obj(record.get("consigneeInfo"), "consigneeInfo")
    return NormalizedOrder(
        channel=CHANNEL,
        channel_order_id=order_id,
        stage=stage,
        stage_entered_at=first_known(
            times[own] if own else None, times["modified"], default=created
        ),
        amount_fen=required(
            yuan_to_fen(record.get("orderPayment"), "orderPayment"), "orderPayment"
        ),
        shop=ident(record.get("venderId"), "venderId"),
        province=text(consignee.get("province"), "consigneeInfo.province"),
        city=text(consignee.get("city"), "consigneeInfo.city"),
        district=text(consignee.get("county"), "consigneeInfo.county"),
        receiver_phone=text(consignee.get("mobile"), "consigneeInfo.mobile")
        or text(consignee.get("telephone"), "consigneeInfo.telephone"),
        created_at=created,
        paid_at=times["paymentConfirmTime"],
        raw=dict(record),
    )
