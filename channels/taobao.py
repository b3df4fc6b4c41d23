"""Taobao/Tmall trades as ``taobao.trade.fullinfo.get`` / ``taobao.trades.sold.get`` return them.

Money is yuan strings, times Beijing ``yyyy-MM-dd HH:mm:ss``. ``shop`` is ``seller_nick``.

Presale (``type == "step"``, 定金+尾款): after the deposit ``status`` stays WAIT_BUYER_PAY with
``step_trade_status == FRONT_PAID_FINAL_NOPAID``; we report DEPOSIT_PAID. Once the balance is paid
the trade becomes WAIT_SELLER_SEND_GOODS and PAID should count from the balance payment. The
trade carries no balance-payment time (``step_pay_details`` rows have no time field) and
``pay_time`` may be the deposit's, so a presale PAID is entered at ``modified``: the balance
payment is what last moved the trade, and later edits only make the clock more lenient.
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

CHANNEL = "taobao"

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
    if presale and stage is Stage.PAID:
        entered = first_known(times["modified"], times["pay_time"], default=created)
    else:
        own = _STAGE_TIME.get(stage) if stage else None
        entered = first_known(times[own] if own else None, times["modified"], default=created)
    orders = r.objects("orders")
    district = r.text("receiver_district", limits.REGION)
    order = NormalizedOrder(
        channel=CHANNEL,
        channel_order_id=r.required(tid, "tid"),
        stage=stage,
        stage_entered_at=entered,
        amount_fen=r.required(r.yuan("payment"), "payment"),
        order_type="presale" if presale else "normal",
        shop=r.text("seller_nick", limits.SHOP),
        category=orders[0].ident("cid", limits.CATEGORY) if orders else None,
        province=r.text("receiver_state", limits.REGION),
        # 省直辖县级 units (河南济源) come in receiver_district with receiver_city empty.
        city=r.text("receiver_city", limits.REGION) or district,
        district=district,
        receiver_phone=r.phone("receiver_mobile") or r.phone("receiver_phone"),
        created_at=created,
        paid_at=times["pay_time"],
        raw=dict(record),
    )
    r.check()
    return order
