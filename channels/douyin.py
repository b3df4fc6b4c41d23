"""Douyin shop (抖店) orders as ``order.orderDetail`` returns them (``shop_order_detail``).

Money is int fen, times int Unix seconds (``0`` = not yet). ``main_status`` is read when present
because only it tells a deposit-paid presale (103) and refunds (21/22/39) apart; otherwise
``order_status``. 备货中 (2) is Douyin's ordinary "paid, awaiting shipment", so it is PAID, not
PICKING (picking is only ever reported by a warehouse).

Presale (sku ``trade_type == 2`` 定金预售, or ``main_status == 103``): ``order_phase_list`` has one
entry per payment phase (``current_phase`` 1 = deposit, 2 = balance); DEPOSIT_PAID and PAID are
entered at that phase's ``phase_pay_time``, and each phase's ``channel_payment_no`` is a payment.

A sku whose after-sale refund succeeded (``after_sale_info.refund_status`` 3 退款成功) is a
refund of the order's payment (``channel_payment_no``, a presale's last phase's), for
reconciliation. ``after_sale_info`` gives no refund number, amount or time, so the refund is
known by the sku's ``order_id``, of the sku's ``pay_amount``, at the order's ``update_time``.

A paid order with a sku whose after-sale is open (``after_sale_info.after_sale_status`` 6 售后申请,
7 售后退货中, 11 售后已发货) is ON_HOLD from ``update_time`` (channels.holds). The ship-by is
``exp_ship_time``. With Douyin's encryption ``post_tel`` comes masked and the ciphertexts
(``encrypt_post_tel``, …) are kept as handles for its decryption API.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from channels import limits
from channels.base import Channel, NormalizedOrder
from channels.holds import held_stage, refund_hold
from channels.reader import RecordReader
from channels.timeparse import first_known
from rules.details import (
    Item,
    Payment,
    PaymentPhase,
    Refund,
    Waybill,
    categories_of,
    distinct_waybills,
    first_shipped,
)
from rules.stages import Stage

CHANNEL = "douyin"
LABEL = "抖店"

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
_PAYMENT_PHASES: dict[int, PaymentPhase] = {1: "deposit", 2: "final"}
_TIMES = ("create_time", "pay_time", "ship_time", "finish_time", "update_time")
_PRESALE_TRADE_TYPE = 2
_ADDRESS_LEVELS = ("province", "city", "town", "street")
# pay_type / phase_pay_type → the method as orderbot names it
_PAY_METHODS = {0: "cod", 1: "wechat", 2: "alipay", 4: "bankcard", 5: "balance", 8: "dou_credit"}
# after_sale_status values of an after-sale still open, in Douyin's words
_OPEN_AFTER_SALES = {6: "售后申请", 7: "售后退货中", 11: "售后已发货"}
_AFTER_SALE_TYPES = {0: "退货退款", 1: "已发货仅退款", 2: "未发货仅退款", 3: "换货"}
_REFUNDED = 3  # after_sale_info.refund_status 3 退款成功 (1 待退款, 4 失败)
_HANDLES = ("encrypt_post_tel", "encrypt_post_receiver", "open_address_id", "doudian_open_id")


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
    "exp_ship_time",
    "channel_payment_no",
    "pay_type",
    "mask_post_tel",
    *_HANDLES,
)


def normalize(record: Mapping[str, Any], now: datetime) -> NormalizedOrder:
    """The order as a normalised order; ``now`` bounds its times (channels.limits)."""
    r = RecordReader(record, now)
    times = {name: r.unix_time(name) for name in _TIMES}
    created = r.required(times["create_time"], "create_time")
    main = r.value("main_status") is not None
    status, table = ("main_status", _MAIN_STATUS) if main else ("order_status", _ORDER_STATUS)
    stage = r.stage(table, status)
    skus = r.objects("sku_order_list")
    presale = stage is Stage.DEPOSIT_PAID or any(
        sku.value("trade_type") == _PRESALE_TRADE_TYPE for sku in skus
    )
    items, open_after_sales = _items(skus)
    refund_reason = refund_hold(open_after_sales)
    stage = held_stage(stage, refund_reason)
    own = _STAGE_TIME.get(stage) if stage else None
    phases = r.objects("order_phase_list")
    phase_paid = _phase_pay_time(phases, _PHASE[stage]) if presale and stage in _PHASE else None
    entered = first_known(
        phase_paid, times[own] if own else None, times["update_time"], default=created
    )
    addr = r.obj("post_addr")
    amount = r.fen("pay_amount")
    phone, masked = r.phones("post_tel", "mask_post_tel")
    waybills = _waybills(r)
    categories = categories_of(items)
    payments = _payments(r, phases, amount, times["pay_time"])
    handles = {name: value for name in _HANDLES if (value := r.handle(name))}
    if encrypted_address := addr.handle("encrypt_detail"):
        handles["post_addr.encrypt_detail"] = encrypted_address
    order = NormalizedOrder(
        channel=CHANNEL,
        channel_order_id=r.required(r.ident("order_id", limits.ORDER_ID), "order_id"),
        stage=r.required(stage, status),
        stage_entered_at=entered,
        amount_fen=r.required(amount, "pay_amount"),
        order_type="presale" if presale else "normal",
        shop=r.text("shop_name", limits.SHOP),
        category=categories[0] if categories else None,
        province=addr.obj("province").text("name", limits.REGION),
        city=addr.obj("city").text("name", limits.REGION),
        # Douyin's "town" is the county level (区/县)
        district=addr.obj("town").text("name", limits.REGION),
        receiver_phone=phone,
        created_at=created,
        paid_at=times["pay_time"],
        raw=dict(record),
        raw_json=r.record_json,
        items=items,
        payments=payments,
        refunds=_refunds(skus, payments, times["update_time"]),
        waybills=waybills,
        ship_by_at=r.unix_deadline("exp_ship_time"),
        shipped_at=times["ship_time"] or first_shipped(waybills),
        hold_reason=refund_reason,
        buyer_message=r.shown_text("buyer_words", limits.MESSAGE),
        seller_memo=r.shown_text("seller_words", limits.MESSAGE),
        receiver_phone_masked=masked,
        buyer_handles=handles,
        categories=categories,
    )
    r.check()
    return order


def _phase_pay_time(phases: list[RecordReader], phase: int) -> datetime | None:
    for entry in phases:
        if entry.value("current_phase") == phase:
            return entry.unix_time("phase_pay_time")
    return None


def _items(skus: list[RecordReader]) -> tuple[list[Item], list[str]]:
    """Each sku as an item, and each of its after-sales still open, in words."""
    items, open_after_sales = [], []
    for sku in skus:
        after_sale = sku.obj("after_sale_info")
        status = after_sale.count("after_sale_status")
        open_status = None if status is None else _OPEN_AFTER_SALES.get(status)
        if open_status is not None:
            kind = _AFTER_SALE_TYPES.get(after_sale.count("after_sale_type") or 0, "售后")
            sku_order = sku.ident("order_id", limits.ORDER_ID) or "?"
            open_after_sales.append(f"子订单 {sku_order} ({open_status}, {kind})")
        items.append(
            Item(
                title=sku.shown_text("product_name", limits.TITLE),
                quantity=sku.count("item_num", default=1) or 0,
                sku=sku.ident("sku_id", limits.SKU) or sku.ident("out_sku_id", limits.SKU),
                amount_fen=sku.fen("pay_amount"),
                category_id=sku.ident("first_cid", limits.ITEM_CATEGORY),
                refund_status=open_status,
            )
        )
    return items, open_after_sales


def _payments(
    r: RecordReader, phases: list[RecordReader], amount: int | None, paid_at: datetime | None
) -> list[Payment]:
    """Each presale phase's payment, else the order's own once it is paid."""
    paid_phases = [
        Payment(
            serial=serial,
            phase=_PAYMENT_PHASES.get(phase.count("current_phase") or 0, "full"),
            amount_fen=phase.fen("phase_pay_amount"),
            paid_at=phase.unix_time("phase_pay_time"),
            method=_method(phase, "phase_pay_type"),
        )
        for phase in phases
        if (serial := phase.ident("channel_payment_no", limits.SERIAL))
    ]
    if paid_phases:
        return paid_phases
    serial = r.ident("channel_payment_no", limits.SERIAL)
    if serial is None or paid_at is None:
        return []
    return [Payment(serial, amount_fen=amount, paid_at=paid_at, method=_method(r, "pay_type"))]


def _refunds(
    skus: list[RecordReader], payments: list[Payment], updated: datetime | None
) -> list[Refund]:
    """The skus refunded, each a refund of the order's (last) payment."""
    paid = payments[-1] if payments else None
    refunds = []
    for sku in skus:
        if sku.obj("after_sale_info").count("refund_status") != _REFUNDED:
            continue
        sku_order = sku.ident("order_id", limits.ORDER_ID)
        amount = sku.fen("pay_amount")
        if sku_order is not None and amount is not None and updated is not None:
            serial, method = (paid.serial, paid.method) if paid else (None, None)
            refunds.append(Refund(sku_order, serial, amount, updated, method))
    return refunds


def _method(r: RecordReader, key: str) -> str | None:
    pay_type = r.count(key)
    return None if pay_type is None else _PAY_METHODS.get(pay_type)


def _waybills(r: RecordReader) -> list[Waybill]:
    return distinct_waybills(
        Waybill(
            tracking_no=tracking_no,
            carrier=parcel.text("company_name", limits.CARRIER)
            or parcel.text("company", limits.CARRIER),
            shipped_at=parcel.unix_time("ship_time"),
        )
        for parcel in r.objects("logistics_info")
        if (tracking_no := parcel.ident("tracking_no", limits.TRACKING_NO))
    )


ADAPTER = Channel(CHANNEL, LABEL, normalize, CSV_HEADERS)
