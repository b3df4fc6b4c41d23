"""Douyin shop (抖店) orders as ``order.orderDetail`` returns them (``shop_order_detail``).

Money is int fen, times int Unix seconds (``0`` = not yet). ``main_status`` is read when present
because only it tells a deposit-paid presale (103) and refunds (21/22/39) apart; otherwise
``order_status``. 备货中 (2) is Douyin's ordinary "paid, awaiting shipment", so it is PAID, not
PICKING (picking is only ever reported by a warehouse).

Presale (sku ``trade_type == 2`` 定金预售, or ``main_status == 103``): ``order_phase_list`` has one
entry per payment phase (``current_phase`` 1 = deposit, 2 = balance); DEPOSIT_PAID and PAID are
entered at that phase's ``phase_pay_time``.
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

CHANNEL = "douyin"

_ORDER_STATUS = {
    1: Stage.PENDING_PAYMENT,
    105: Stage.PAID,
    2: Stage.PAID,
    101: Stage.SHIPPED,  # partially shipped
    3: Stage.SHIPPED,
    4: Stage.CANCELLED,
    5: Stage.COMPLETED,
}
_MAIN_STATUS = {
    **_ORDER_STATUS,
    103: Stage.DEPOSIT_PAID,
    21: Stage.REFUNDED,  # refunded before shipping
    22: Stage.REFUNDED,  # refunded after shipping
    39: Stage.REFUNDED,  # refunded after receipt
}
# The order's own time for entering a stage; other stages count from ``update_time``.
_STAGE_TIME = {
    Stage.PENDING_PAYMENT: "create_time",
    Stage.DEPOSIT_PAID: "pay_time",
    Stage.PAID: "pay_time",
    Stage.SHIPPED: "ship_time",
    Stage.COMPLETED: "finish_time",
}
_PHASE = {Stage.DEPOSIT_PAID: 1, Stage.PAID: 2}
_TIMES = ("create_time", "pay_time", "ship_time", "finish_time", "update_time")
_PRESALE_TRADE_TYPE = 2
_ADDRESS_LEVELS = ("province", "city", "town", "street")


# Flat fields a CSV import may carry, the address's as ``post_addr.<level>.name``; the sku and
# phase lists need JSON lines.
CSV_HEADERS = (
    "order_id",
    "shop_id",
    "shop_name",
    "order_status",
    "main_status",
    "order_status_desc",
    "main_status_desc",
    *_TIMES,
    "pay_amount",
    "order_amount",
    "post_amount",
    "post_receiver",
    "post_tel",
    *(f"post_addr.{level}.{part}" for level in _ADDRESS_LEVELS for part in ("id", "name")),
    "post_addr.detail",
    "buyer_words",
    "seller_words",
)


def normalize(record: Mapping[str, Any], now: datetime) -> NormalizedOrder:
    """The order as a normalised order; ``now`` bounds its times (channels.limits)."""
    r = RecordReader(record, now)
    times = {name: r.unix_time(name) for name in _TIMES}
    created = r.required(times["create_time"], "create_time")
    if r.value("main_status") is not None:
        stage = r.stage(_MAIN_STATUS, "main_status")
    else:
        stage = r.stage(_ORDER_STATUS, "order_status")
    skus = r.objects("sku_order_list")
    presale = stage is Stage.DEPOSIT_PAID or any(
        sku.value("trade_type") == _PRESALE_TRADE_TYPE for sku in skus
    )
    own = _STAGE_TIME.get(stage) if stage else None
    phase_paid = _phase_pay_time(r, _PHASE[stage]) if presale and stage in _PHASE else None
    entered = first_known(
        phase_paid, times[own] if own else None, times["update_time"], default=created
    )
    addr = r.obj("post_addr")
    order = NormalizedOrder(
        channel=CHANNEL,
        channel_order_id=r.required(r.ident("order_id", limits.ORDER_ID), "order_id"),
        stage=stage,
        stage_entered_at=entered,
        amount_fen=r.required(r.fen("pay_amount"), "pay_amount"),
        order_type="presale" if presale else "normal",
        shop=r.text("shop_name", limits.SHOP),
        category=skus[0].ident("first_cid", limits.CATEGORY) if skus else None,
        province=addr.obj("province").text("name", limits.REGION),
        city=addr.obj("city").text("name", limits.REGION),
        # Douyin's "town" is the county level (区/县)
        district=addr.obj("town").text("name", limits.REGION),
        receiver_phone=r.phone("post_tel"),
        created_at=created,
        paid_at=times["pay_time"],
        raw=dict(record),
    )
    r.check()
    return order


def _phase_pay_time(r: RecordReader, phase: int) -> datetime | None:
    for entry in r.objects("order_phase_list"):
        if entry.value("current_phase") == phase:
            return entry.unix_time("phase_pay_time")
    return None
