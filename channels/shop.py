"""Our self-built web shop, in the schema we recommend for it (docs/channels.md).

Money is int fen, times ISO 8601 with offset (``2024-05-01T10:00:00+08:00``). Fields:
``order_no``, ``status``, ``created_at`` / ``paid_at`` / ``shipped_at`` / ``updated_at``,
``total_fen`` (what the buyer pays in all; ``paid_fen`` if absent), ``shop_name``, ``category``,
``receiver{name, mobile, province, city, district, street, detail}``, ``payments[]``, one row
per payment with ``out_trade_no``, ``stage`` ``DEPOSIT`` / ``FINAL`` for presale, ``amount_fen``
and ``paid_at``; and optionally ``items[]``, ``waybills[]``, ``ship_by_at`` (a promised ship-by),
``buyer_message`` and ``seller_memo``.

A receiver without ``province`` is free text: ``detail`` goes to ``address_text`` for the region
parser (``channels.address``), as ``""`` when blank, so that ingest counts it as not parsed.
REFUNDING is ON_HOLD: nothing may ship while a refund is open.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from channels import limits
from channels.base import Channel, NormalizedOrder
from channels.holds import refund_hold
from channels.reader import RecordReader
from channels.timeparse import first_known, shown
from rules.details import (
    Item,
    Payment,
    PaymentPhase,
    Refund,
    Waybill,
    distinct_waybills,
    first_shipped,
)
from rules.stages import Stage

CHANNEL = "shop"
LABEL = "自营商城"

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
_PHASES: dict[str, PaymentPhase] = {"DEPOSIT": "deposit", "FINAL": "final"}
_METHODS = {"WECHAT": "wechat", "ALIPAY": "alipay", "UNIONPAY": "unionpay"}  # pay_channel prefix
_TIMES = ("created_at", "paid_at", "shipped_at", "updated_at")
_RECEIVER = ("name", "mobile", "province", "city", "district", "street", "detail", "adcode")
# WeChat Pay's out_trade_no limit; the shop's order numbers double as payment references.
_ORDER_NO = re.compile(r"[A-Za-z0-9_-]{1,32}")


# Flat fields a CSV import may carry, the receiver's as ``receiver.<field>``; ``payments``
# (presale) needs JSON lines.
CSV_HEADERS = (
    "order_no",
    "status",
    *_TIMES,
    "total_fen",
    "paid_fen",
    "freight_fen",
    "discount_fen",
    "pay_channel",
    "shop_name",
    "category",
    "ship_by_at",
    "buyer_message",
    "seller_memo",
    *(f"receiver.{name}" for name in _RECEIVER),
)


# Every field the schema has; anything else is a misspelling or a field put at the wrong level
# (``province`` beside ``receiver``), refused as the CSV import refuses an unknown header,
# since an order with its region or phone silently lost would be routed by the default rule.
_FIELDS = frozenset(h for h in CSV_HEADERS if "." not in h) | {
    "receiver",
    "payments",
    "refunds",
    "items",
    "waybills",
}
# Each field by its own name, for suggestions: ``province`` → ``receiver.province``.
_BY_NAME = {
    name.removeprefix("receiver."): name
    for name in (*_FIELDS, *(f"receiver.{field}" for field in _RECEIVER))
}


def _unknown_fields(record: Mapping[str, Any]) -> list[str]:
    """A note per field the shop schema does not have, naming the nearest one it does."""
    sent = [key for key in record if key not in _FIELDS]
    receiver = record.get("receiver")
    if isinstance(receiver, Mapping):
        sent += [f"receiver.{key}" for key in receiver if key not in _RECEIVER]
    notes = []
    for key in sent:
        nearest = difflib.get_close_matches(key.removeprefix("receiver."), _BY_NAME, n=1)
        hint = f", 是否想写 {_BY_NAME[nearest[0]]}?" if nearest else ""
        name = key if key.isprintable() and len(key) <= 64 else shown(key)
        notes.append(f"{name}: 未知字段{hint} (字段见 docs/channels.md)")
    return notes


def normalize(record: Mapping[str, Any], now: datetime) -> NormalizedOrder:
    """The order as a normalised order; ``now`` bounds its times (channels.limits)."""
    r = RecordReader(record, now)
    order_no = _order_no(r)
    times = {name: r.iso_time(name) for name in _TIMES}
    created = r.required(times["created_at"], "created_at")
    stage = r.stage(_STAGES, "status")
    method = _method(r.text("pay_channel", limit=None))
    payments, paid = _payments(r, method)
    presale = stage is Stage.DEPOSIT_PAID or "DEPOSIT" in paid
    own = _STAGE_TIME.get(stage) if stage else None
    pay_stage = _PAYMENT_STAGE.get(stage) if stage else None
    entered = first_known(
        paid.get(pay_stage) if pay_stage else None,
        times[own] if own else None,
        times["updated_at"],
        default=created,
    )
    amount = r.fen("total_fen")
    if amount is None:
        amount = r.required(r.fen("paid_fen"), "total_fen")
    receiver = r.obj("receiver")
    province = receiver.text("province", limits.REGION)
    structured = province is not None
    phone, masked = receiver.phones("mobile")
    items = [_item(line) for line in r.objects("items")]
    category = r.text("category", limits.CATEGORY)
    categories = tuple(dict.fromkeys(c for c in (category, *(i.category_id for i in items)) if c))
    waybills = _waybills(r)
    order = NormalizedOrder(
        channel=CHANNEL,
        channel_order_id=order_no,
        stage=r.required(stage, "status"),
        stage_entered_at=entered,
        amount_fen=amount,
        order_type="presale" if presale else "normal",
        shop=r.text("shop_name", limits.SHOP),
        category=categories[0] if categories else None,
        province=province,
        city=receiver.text("city", limits.REGION) if structured else None,
        district=receiver.text("district", limits.REGION) if structured else None,
        # Without a province the address is free text for the parser, blank if none was given.
        address_text=None if structured else receiver.text("detail", limit=None) or "",
        receiver_phone=phone,
        created_at=created,
        paid_at=times["paid_at"],
        raw=dict(record),
        raw_json=r.record_json,
        items=items,
        payments=payments,
        refunds=_refunds(r, method),
        waybills=waybills,
        ship_by_at=r.iso_deadline("ship_by_at"),
        shipped_at=times["shipped_at"] or first_shipped(waybills),
        hold_reason=refund_hold(["REFUNDING 退款中"]) if stage is Stage.ON_HOLD else None,
        buyer_message=r.shown_text("buyer_message", limits.MESSAGE),
        seller_memo=r.shown_text("seller_memo", limits.MESSAGE),
        receiver_phone_masked=masked,
        categories=categories,
    )
    for note in _unknown_fields(record):
        r.note(note)
    r.check()
    return order


def _order_no(r: RecordReader) -> str:
    order_no = r.required(r.text("order_no", limits.ORDER_ID), "order_no")
    if order_no is not None and not _ORDER_NO.fullmatch(order_no):
        r.note(f"order_no: 须为 1-32 位字母、数字、_ 或 -, 收到 {shown(order_no)}")
    return order_no


def _payments(
    r: RecordReader, method: str | None
) -> tuple[list[Payment], dict[str, datetime | None]]:
    """The rows paid (a failed attempt has no ``paid_at``), and each payment ``stage`` present
    (``DEPOSIT``, ``FINAL``) → its paid time, None if unpaid."""
    payments: list[Payment] = []
    paid: dict[str, datetime | None] = {}
    for row in r.objects("payments"):
        stage = row.text("stage", limits.ORDER_ID)
        at = row.iso_time("paid_at")
        serial = row.text("out_trade_no", limits.SERIAL)
        amount = row.fen("amount_fen")
        voucher = row.fen("voucher_fen") or 0
        if stage is not None:
            paid[stage] = paid.get(stage) or at  # a failed retry must not hide the paid row
        if serial is not None and at is not None:
            phase = _PHASES.get(stage or "", "full")
            payments.append(Payment(serial, phase, amount, at, method, voucher))
    return payments, paid


def _refunds(r: RecordReader, method: str | None) -> list[Refund]:
    """The refunds done (``refunded_at`` given): ``out_refund_no`` is what the statement lists."""
    refunds = []
    for row in r.objects("refunds"):
        refund_no = row.required(row.text("out_refund_no", limits.SERIAL), "out_refund_no")
        amount = row.required(row.fen("amount_fen"), "amount_fen")
        at = row.iso_time("refunded_at")
        serial = row.text("out_trade_no", limits.SERIAL)
        if refund_no is not None and amount is not None and at is not None:
            refunds.append(Refund(refund_no, serial, amount, at, method))
    return refunds


def _method(pay_channel: str | None) -> str | None:
    """``WECHAT_JSAPI`` → ``wechat``: how the buyer paid, as orderbot names it."""
    return None if pay_channel is None else _METHODS.get(pay_channel.partition("_")[0])


def _item(line: RecordReader) -> Item:
    return Item(
        title=line.shown_text("title", limits.TITLE),
        quantity=line.count("quantity", default=1) or 0,
        sku=line.text("sku", limits.SKU),
        amount_fen=line.fen("amount_fen"),
        category_id=line.text("category", limits.ITEM_CATEGORY),
    )


def _waybills(r: RecordReader) -> list[Waybill]:
    waybills = []
    for parcel in r.objects("waybills"):
        number = parcel.required(parcel.text("tracking_no", limits.TRACKING_NO), "tracking_no")
        carrier = parcel.text("carrier", limits.CARRIER)
        shipped_at = parcel.iso_time("shipped_at")
        if number is not None:
            waybills.append(Waybill(number, carrier, shipped_at))
    return distinct_waybills(waybills)


ADAPTER = Channel(CHANNEL, LABEL, normalize, CSV_HEADERS)
