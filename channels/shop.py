"""Our self-built web shop, in the schema we recommend for it (commerce-facts §1.4).

Money is int fen, times ISO 8601 with offset (``2024-05-01T10:00:00+08:00``). Fields:
``order_no``, ``status``, ``created_at`` / ``paid_at`` / ``shipped_at`` / ``updated_at``,
``total_fen`` (what the buyer pays in all; ``paid_fen`` if absent), ``shop_name``, ``category``,
``receiver{name, mobile, province, city, district, street, detail}`` and ``payments[]``, one row
per payment with ``stage`` ``DEPOSIT`` / ``FINAL`` for presale, ``amount_fen`` and ``paid_at``.

A receiver without ``province`` is free text: ``detail`` goes to ``address_text`` for the region
parser (``channels.address``). REFUNDING is ON_HOLD: nothing may ship while a refund is open.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from channels.base import NormalizedOrder, RecordError
from channels.timeparse import (
    fen,
    first_known,
    iso_time,
    obj,
    objects,
    required,
    stage_of,
    text,
)
from rules.stages import Stage

CHANNEL = "shop"

_STAGES = {
    "PENDING_PAYMENT": Stage.PENDING_PAYMENT,
    "PARTIALLY_PAID": Stage.DEPOSIT_PAID,
    "PAID": Stage.PAID,
    "PICKING": Stage.PICKING,
    "SHIPPED": Stage.SHIPPED,
    "DELIVERED": Stage.DELIVERED,
    "COMPLETED": Stage.COMPLETED,
    "CANCELLED": Stage.CANCELLED,
    "REFUNDING": Stage.ON_HOLD,
    "REFUNDED": Stage.REFUNDED,
}
# The order's own time for entering a stage; other stages count from ``updated_at``.
_STAGE_TIME = {
    Stage.PENDING_PAYMENT: "created_at",
    Stage.DEPOSIT_PAID: "paid_at",
    Stage.PAID: "paid_at",
    Stage.SHIPPED: "shipped_at",
}
# Presale stages are better timed by their own payment row.
_PAYMENT_STAGE = {Stage.DEPOSIT_PAID: "DEPOSIT", Stage.PAID: "FINAL"}
_TIMES = ("created_at", "paid_at", "shipped_at", "updated_at")
# WeChat Pay's out_trade_no limit; the shop's order numbers double as payment references.
_ORDER_NO = re.compile(r"[A-Za-z0-9_-]{1,32}")


def normalize(record: Mapping[str, Any]) -> NormalizedOrder:
    order_no = _order_no(record.get("order_no"))
    times = {name: iso_time(record.get(name), name) for name in _TIMES}
    created = required(times["created_at"], "created_at")
    stage = stage_of(_STAGES, record.get("status"), "status")
    payments = _payment_times(record)
    presale = stage is Stage.DEPOSIT_PAID or "DEPOSIT" in payments
    own = _STAGE_TIME.get(stage)
    pay_stage = _PAYMENT_STAGE.get(stage)
    entered = first_known(
        payments.get(pay_stage) if pay_stage else None,
        times[own] if own else None,
        times["updated_at"],
        default=created,
    )
    amount = fen(record.get("total_fen"), "total_fen")
    if amount is None:
        amount = required(fen(record.get("paid_fen"), "paid_fen"), "total_fen")
    receiver = obj(record.get("receiver"), "receiver")
    province = text(receiver.get("province"), "receiver.province")
    structured = province is not None
    return NormalizedOrder(
        channel=CHANNEL,
        channel_order_id=order_no,
        stage=stage,
        stage_entered_at=entered,
        amount_fen=amount,
        order_type="presale" if presale else "normal",
        shop=text(record.get("shop_name"), "shop_name"),
        category=text(record.get("category"), "category"),
        province=province,
        city=text(receiver.get("city"), "receiver.city") if structured else None,
        district=text(receiver.get("district"), "receiver.district") if structured else None,
        address_text=None if structured else text(receiver.get("detail"), "receiver.detail"),
        receiver_phone=text(receiver.get("mobile"), "receiver.mobile"),
        created_at=created,
        paid_at=times["paid_at"],
        raw=dict(record),
    )


def _order_no(value: object) -> str:
    order_no = required(text(value, "order_no"), "order_no")
    if not _ORDER_NO.fullmatch(order_no):
        raise RecordError(f"order_no: 须为 1-32 位字母、数字、_ 或 -, 收到 {order_no!r}")
    return order_no


def _payment_times(record: Mapping[str, Any]) -> dict[str, datetime | None]:
    """Each payment ``stage`` present (``DEPOSIT``, ``FINAL``) → its paid time, None if unpaid."""
    paid: dict[str, datetime | None] = {}
    for i, row in enumerate(objects(record.get("payments"), "payments")):
        stage = text(row.get("stage"), f"payments[{i}].stage")
        at = iso_time(row.get("paid_at"), f"payments[{i}].paid_at")
        if stage is not None:
            paid[stage] = paid.get(stage) or at  # a failed retry must not hide the paid row
    return paid
