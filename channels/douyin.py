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

from channels.base import NormalizedOrder
from channels.timeparse import (
    fen,
    first_known,
    ident,
    obj,
    objects,
    required,
    stage_of,
    text,
    unix_time,
)
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


def normalize(record: Mapping[str, Any]) -> NormalizedOrder:
    order_id = required(ident(record.get("order_id"), "order_id"), "order_id")
    times = {name: unix_time(record.get(name), name) for name in _TIMES}
    created = required(times["create_time"], "create_time")
    if record.get("main_status") is not None:
        stage = stage_of(_MAIN_STATUS, record["main_status"], "main_status")
    else:
        stage = stage_of(_ORDER_STATUS, record.get("order_status"), "order_status")
    skus = objects(record.get("sku_order_list"), "sku_order_list")
    presale = stage is Stage.DEPOSIT_PAID or any(
        sku.get("trade_type") == _PRESALE_TRADE_TYPE for sku in skus
    )
    own = _STAGE_TIME.get(stage)
    phase_paid = _phase_pay_time(record, _PHASE[stage]) if presale and stage in _PHASE else None
    entered = first_known(
        phase_paid, times[own] if own else None, times["update_time"], default=created
    )
    addr = obj(record.get("post_addr"), "post_addr")
    return NormalizedOrder(
        channel=CHANNEL,
        channel_order_id=order_id,
        stage=stage,
        stage_entered_at=entered,
        amount_fen=required(fen(record.get("pay_amount"), "pay_amount"), "pay_amount"),
        order_type="presale" if presale else "normal",
        shop=text(record.get("shop_name"), "shop_name"),
        category=ident(skus[0].get("first_cid"), "sku_order_list[0].first_cid") if skus else None,
        province=_region_name(addr, "province"),
        city=_region_name(addr, "city"),
        district=_region_name(addr, "town"),  # Douyin's "town" is the county level (区/县)
        receiver_phone=text(record.get("post_tel"), "post_tel"),
        created_at=created,
        paid_at=times["pay_time"],
        raw=dict(record),
    )


def _phase_pay_time(record: Mapping[str, Any], phase: int) -> datetime | None:
    phases = objects(record.get("order_phase_list"), "order_phase_list")
    for i, entry in enumerate(phases):
        if entry.get("current_phase") == phase:
            return unix_time(entry.get("phase_pay_time"), f"order_phase_list[{i}].phase_pay_time")
    return None


def _region_name(addr: Mapping[str, Any], level: str) -> str | None:
    return text(obj(addr.get(level), f"post_addr.{level}").get("name"), f"post_addr.{level}.name")
