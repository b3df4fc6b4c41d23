"""Taobao/Tmall trades as ``taobao.trade.fullinfo.get`` / ``taobao.trades.sold.get`` return them.

Money is yuan strings (or numbers), times Beijing ``yyyy-MM-dd HH:mm:ss``. ``shop`` is
``seller_nick``, else the trade's ``title`` (fullinfo titles a trade with its shop's name). TOP's
JSON wraps each list in an object named after its items (``"orders": {"order": [...]}``,
``"step_pay_details": {"step_pay_detail": [...]}``); a plain list is read too.

Presale (``type == "step"``, 定金+尾款): after the deposit ``status`` stays WAIT_BUYER_PAY with
``step_trade_status == FRONT_PAID_FINAL_NOPAID``; we report DEPOSIT_PAID. Once the balance is paid
the trade becomes WAIT_SELLER_SEND_GOODS and PAID should count from the balance payment. The
trade carries no balance-payment time (``step_pay_details`` rows have no time field) and
``pay_time`` may be the deposit's, so a presale PAID is entered at ``modified``: the balance
payment is what last moved the trade, and later edits only make the clock more lenient.

The two stages' payments (each ``step_channel_no``, an Alipay trade number) get the same times
for reconciliation: the 定金 is paid at ``pay_time``, the 尾款 at ``modified`` once
``step_trade_status`` is FRONT_PAID_FINAL_PAID (the time the trade is seen paid; a later record
of the trade moves it later). Reconciliation matches a payment by its serial whatever its time
(rules.recon.matching); the time only says which day's bill should have had it.

A sub-order refunded (``refund_status`` SUCCESS, with its ``refund_id``) is a refund of the
trade's Alipay payment (``alipay_no``, a presale's last stage), for reconciliation: by its
``refund_id``, of the sub-order's ``divide_order_fee`` (its share of what was paid), else its
``payment`` (the trade states no refund amount: a part refund shows as an amount difference),
at the sub-order's ``end_time``, else the trade's ``modified``.

A paid trade with a sub-order whose refund is open (``refund_status`` WAIT_SELLER_AGREE,
WAIT_BUYER_RETURN_GOODS, WAIT_SELLER_CONFIRM_GOODS) is ON_HOLD from ``modified`` (channels.holds).
The ship-by is ``delivery_time`` (最晚发货时间), else ``send_time`` (a presale's promised
shipping); ``timeout_action_time`` is not one: it is when the buyer's receipt is confirmed
automatically, after shipping.
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

CHANNEL = "taobao"
LABEL = "淘宝/天猫"

_STAGES = {
    "TRADE_NO_CREATE_PAY": Stage.PENDING_PAYMENT,
    "WAIT_BUYER_PAY": Stage.PENDING_PAYMENT,
    "PAY_PENDING": Stage.PENDING_PAYMENT,  # foreign card payment being confirmed
    "WAIT_PRE_AUTH_CONFIRM": Stage.PENDING_PAYMENT,  # 0-yuan pre-auth contract, nothing paid
    "WAIT_SELLER_SEND_GOODS": Stage.PAID,
    "PAID_FORBID_CONSIGN": Stage.ON_HOLD,
    "SELLER_CONSIGNED_PART": Stage.SHIPPED,
    "WAIT_BUYER_CONFIRM_GOODS": Stage.SHIPPED,
    "TRADE_BUYER_SIGNED": Stage.DELIVERED,
    "TRADE_FINISHED": Stage.COMPLETED,
    "TRADE_CLOSED": Stage.REFUNDED,
    "TRADE_CLOSED_BY_TAOBAO": Stage.CANCELLED,
}
# The trade's own time for entering a stage; other stages count from ``modified``.
_STAGE_TIME = {
    Stage.PENDING_PAYMENT: "created",
    Stage.DEPOSIT_PAID: "pay_time",
    Stage.PAID: "pay_time",
    Stage.SHIPPED: "consign_time",
    Stage.COMPLETED: "end_time",  # end_time is also when a trade was closed
    Stage.CANCELLED: "end_time",
    Stage.REFUNDED: "end_time",
}
_TIMES = ("created", "pay_time", "consign_time", "end_time", "modified")
_FORBIDDEN = "平台禁止发货 (PAID_FORBID_CONSIGN: 拼团未成团或发货受管控)"
# Sub-order refunds still open, and how far each has come.
_OPEN_REFUNDS = {
    "WAIT_SELLER_AGREE": "等待卖家同意",
    "WAIT_BUYER_RETURN_GOODS": "卖家已同意, 等待买家退货",
    "WAIT_SELLER_CONFIRM_GOODS": "买家已退货, 等待卖家确认收货",
}
_STEP_PHASES: dict[int, PaymentPhase] = {1: "deposit", 2: "final"}
_HANDLES = ("oaid", "buyer_open_uid")


# Flat fields a CSV import may carry; the trade's sub-orders (``orders``) need JSON lines.
CSV_HEADERS = (
    "tid",
    "tid_str",
    "type",
    "status",
    "step_trade_status",
    *_TIMES,
    "payment",
    "seller_nick",
    "title",
    "receiver_state",
    "receiver_city",
    "receiver_district",
    "receiver_mobile",
    "receiver_phone",
    "receiver_name",
    "receiver_town",
    "receiver_address",
    "receiver_zip",
    "buyer_nick",
    "buyer_message",
    "seller_memo",
    "total_fee",
    "post_fee",
    "alipay_no",
    "sid",
    "delivery_time",
    "send_time",
    "oaid",
    "buyer_open_uid",
)


def normalize(record: Mapping[str, Any], now: datetime) -> NormalizedOrder:
    """The trade as a normalised order; ``now`` bounds its times (channels.limits)."""
    r = RecordReader(record, now)
    tid = r.ident("tid_str", limits.ORDER_ID) or r.ident("tid", limits.ORDER_ID)
    times = {name: r.beijing_time(name) for name in _TIMES}
    created = r.required(times["created"], "created")
    presale = r.value("type") == "step"
    stage = r.stage(_STAGES, "status")
    deposit_only = r.value("step_trade_status") == "FRONT_PAID_FINAL_NOPAID"
    if presale and deposit_only and stage is Stage.PENDING_PAYMENT:
        stage = Stage.DEPOSIT_PAID
    sub_orders = r.objects("orders", wrapped="order")
    items = [_item(sub_order) for sub_order in sub_orders]
    refund_reason = refund_hold(_open_refunds(sub_orders, items))
    stage = held_stage(stage, refund_reason)
    if presale and stage is Stage.PAID:
        entered = first_known(times["modified"], times["pay_time"], default=created)
    else:
        own = _STAGE_TIME.get(stage) if stage else None
        entered = first_known(times[own] if own else None, times["modified"], default=created)
    waybills = _waybills(r, sub_orders)
    amount = r.yuan("payment")
    district = r.text("receiver_district", limits.REGION)
    phone, masked = r.phones("receiver_mobile", "receiver_phone")
    categories = categories_of(items)
    payments = _payments(r, amount, times)
    order = NormalizedOrder(
        channel=CHANNEL,
        channel_order_id=r.required(tid, "tid"),
        stage=r.required(stage, "status"),
        stage_entered_at=entered,
        amount_fen=r.required(amount, "payment"),
        order_type="presale" if presale else "normal",
        shop=r.text("seller_nick", limits.SHOP) or r.text("title", limits.SHOP),
        category=categories[0] if categories else None,
        province=r.text("receiver_state", limits.REGION),
        # 省直辖县级 units (河南济源) come in receiver_district with receiver_city empty.
        city=r.text("receiver_city", limits.REGION) or district,
        district=district,
        receiver_phone=phone,
        created_at=created,
        paid_at=times["pay_time"],
        raw=dict(record),
        raw_json=r.record_json,
        items=items,
        payments=payments,
        refunds=_refunds(sub_orders, payments, times["modified"]),
        waybills=waybills,
        ship_by_at=r.beijing_deadline("delivery_time") or r.beijing_deadline("send_time"),
        shipped_at=times["consign_time"] or first_shipped(waybills),
        hold_reason=_FORBIDDEN if stage is Stage.ON_HOLD and not refund_reason else refund_reason,
        buyer_message=r.shown_text("buyer_message", limits.MESSAGE),
        seller_memo=r.shown_text("seller_memo", limits.MESSAGE),
        receiver_phone_masked=masked,
        buyer_handles={name: value for name in _HANDLES if (value := r.handle(name))},
        categories=categories,
    )
    r.check()
    return order


def _item(sub_order: RecordReader) -> Item:
    refund = sub_order.ident("refund_status", limits.REFUND_STATUS)
    return Item(
        title=sub_order.shown_text("title", limits.TITLE),
        quantity=sub_order.count("num", default=1) or 0,
        sku=sub_order.ident("sku_id", limits.SKU) or sub_order.ident("outer_sku_id", limits.SKU),
        amount_fen=sub_order.yuan("payment"),
        category_id=sub_order.ident("cid", limits.ITEM_CATEGORY),
        refund_status=refund if refund in _OPEN_REFUNDS else None,
    )


def _open_refunds(sub_orders: list[RecordReader], items: list[Item]) -> list[str]:
    return [
        f"子订单 {sub_order.ident('oid', limits.ORDER_ID) or '?'}"
        f" ({item.refund_status} {_OPEN_REFUNDS[item.refund_status]})"
        for sub_order, item in zip(sub_orders, items, strict=True)
        if item.refund_status
    ]


def _payments(
    r: RecordReader, amount: int | None, times: Mapping[str, datetime | None]
) -> list[Payment]:
    """A presale's two Alipay trades (one per step, timed as the module says), else the
    trade's own once it is paid."""
    final_paid = r.value("step_trade_status") == "FRONT_PAID_FINAL_PAID"
    step_times = {"deposit": times["pay_time"], "final": times["modified"] if final_paid else None}
    steps = [
        Payment(
            serial=serial,
            phase=phase,
            amount_fen=step.yuan("step_actual_pay_fee"),
            paid_at=step_times.get(phase),
            method="alipay",
        )
        for step in r.objects("step_pay_details", wrapped="step_pay_detail")
        if (serial := step.ident("step_channel_no", limits.SERIAL))
        and (phase := _STEP_PHASES.get(step.count("step_no") or 0, "full"))
    ]
    if steps:
        return steps
    paid_at = times["pay_time"]
    serial = r.ident("alipay_no", limits.SERIAL)
    if serial is None or paid_at is None:
        return []
    return [Payment(serial, amount_fen=amount, paid_at=paid_at, method="alipay")]


def _refunds(
    sub_orders: list[RecordReader], payments: list[Payment], modified: datetime | None
) -> list[Refund]:
    """The sub-orders refunded, each a refund of the trade's (last) Alipay payment."""
    serial = payments[-1].serial if payments else None
    refunds = []
    for sub_order in sub_orders:
        refund_id = sub_order.ident("refund_id", limits.SERIAL)
        if sub_order.value("refund_status") != "SUCCESS" or refund_id is None:
            continue
        amount = sub_order.yuan("divide_order_fee")
        amount = sub_order.yuan("payment") if amount is None else amount
        at = sub_order.beijing_time("end_time") or modified
        if amount is not None and at is not None:
            refunds.append(Refund(refund_id, serial, amount, at, "alipay"))
    return refunds


def _waybills(r: RecordReader, sub_orders: list[RecordReader]) -> list[Waybill]:
    """Each sub-order's parcel (``invoice_no``), then the trade's ``sid`` if it is another."""
    parcels = [
        Waybill(
            tracking_no=tracking_no,
            carrier=sub_order.text("logistics_company", limits.CARRIER),
            shipped_at=sub_order.beijing_time("consign_time"),
        )
        for sub_order in sub_orders
        if (tracking_no := sub_order.ident("invoice_no", limits.TRACKING_NO))
    ]
    if sid := r.ident("sid", limits.TRACKING_NO):
        parcels.append(Waybill(sid))
    return distinct_waybills(parcels)


ADAPTER = Channel(CHANNEL, LABEL, normalize, CSV_HEADERS)
