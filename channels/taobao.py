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
from typing import Any

from channels.base import NormalizedOrder
from channels.timeparse import (
    beijing_time,
    first_known,
    ident,
    objects,
    required,
    stage_of,
    text,
    yuan_to_fen,
)
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


def normalize(record: Mapping[str, Any]) -> NormalizedOrder:
    tid = ident(record.get("tid_str"), "tid_str") or ident(record.get("tid"), "tid")
    times = {name: beijing_time(record.get(name), name) for name in _TIMES}
    created = required(times["created"], "created")
    presale = record.get("type") == "step"
    stage = stage_of(_STAGES, record.get("status"), "status")
    deposit_only = record.get("step_trade_status") == "FRONT_PAID_FINAL_NOPAID"
    if presale and deposit_only and stage is Stage.PENDING_PAYMENT:
        stage = Stage.DEPOSIT_PAID
    if presale and stage is Stage.PAID:
        entered = first_known(times["modified"], times["pay_time"], default=created)
    else:
        own = _STAGE_TIME.get(stage)
        entered = first_known(times[own] if own else None, times["modified"], default=created)
    orders = objects(record.get("orders"), "orders")
    district = text(record.get("receiver_district"), "receiver_district")
    return NormalizedOrder(
        channel=CHANNEL,
        channel_order_id=required(tid, "tid"),
        stage=stage,
        stage_entered_at=entered,
        amount_fen=required(yuan_to_fen(record.get("payment"), "payment"), "payment"),
        order_type="presale" if presale else "normal",
        shop=text(record.get("seller_nick"), "seller_nick"),
        category=ident(orders[0].get("cid"), "orders[0].cid") if orders else None,
        province=text(record.get("receiver_state"), "receiver_state"),
        # 省直辖县级 units (河南济源) come in receiver_district with receiver_city empty.
        city=text(record.get("receiver_city"), "receiver_city") or district,
        district=district,
        receiver_phone=text(record.get("receiver_mobile"), "receiver_mobile")
        or text(record.get("receiver_phone"), "receiver_phone"),
        created_at=created,
        paid_at=times["pay_time"],
        raw=dict(record),
    )
