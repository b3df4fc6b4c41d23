"""JD POP orders as ``jingdong.pop.order.search`` / ``jingdong.pop.order.get`` return them.

Money is yuan strings, times Beijing ``yyyy-MM-dd HH:mm:ss`` with ``0001-01-01 00:00:00`` or
``1970-01-01 00:00:00`` for "not yet". Orders reach the API paid (or cash on delivery), so there
is no pending-payment stage. JD gives no shop name, so ``shop`` is the ``venderId``. SHIPPED counts
from ``outBoundDate`` (出库时间), else ``modified``.

JD returns only the fields asked for (``optional_fields``), so what orderbot can do without is
optional: without ``orderPayment`` the amount is ``orderSellerPrice`` (goods after the seller's
discount), else ``orderTotalPrice``; without ``orderStartTime`` the order counts as created when
it was paid (``paymentConfirmTime``), else at ``modified``.

JD's order API carries no payment serial (JD collects the money and settles with the seller) and
no ship-by deadline, so JD orders have neither. ``waybill`` holds several parcels: carriers apart
by ``|``, one carrier's parcels by ``,``; ``logisticsId`` names the carrier when there is one.
Presale (定金/尾款) on JD is not documented in any source we have, so every JD order is "normal".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from channels import limits
from channels.base import Channel, NormalizedOrder
from channels.reader import RecordReader
from channels.timeparse import first_known
from rules.details import Item, Waybill, categories_of
from rules.stages import Stage

CHANNEL = "jd"
LABEL = "京东"

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
_HOLD_REASONS = {
    "LOCKED": "京东已锁定订单 (LOCKED, 通常是买家申请了售后退款)",
    "PAUSE": "京东暂停了订单 (PAUSE)",
    "POP_ORDER_PAUSE": "京东暂停了订单 (POP_ORDER_PAUSE)",
}
# The order's own time for entering a stage; other stages count from ``modified``.
_STAGE_TIME = {
    Stage.PAID: "paymentConfirmTime",  # placeholder for cash on delivery → falls back
    Stage.SHIPPED: "outBoundDate",
    Stage.COMPLETED: "orderEndTime",
    Stage.CANCELLED: "orderEndTime",
}
_TIMES = ("orderStartTime", "paymentConfirmTime", "outBoundDate", "orderEndTime", "modified")
_CONSIGNEE = (
    "fullname",
    "mobile",
    "telephone",
    "fullAddress",
    "province",
    "city",
    "county",
    "town",
    "desen_mobile",
    "oaid",
)
_CONSIGNEE_HANDLES = ("desen_mobile", "oaid")


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
    "waybill",
    "logisticsId",
    "open_id_buyer",
    *(f"consigneeInfo.{name}" for name in _CONSIGNEE),
)


def normalize(record: Mapping[str, Any], now: datetime) -> NormalizedOrder:
    """The order as a normalised order; ``now`` bounds its times (channels.limits)."""
    r = RecordReader(record, now)
    times = {name: r.jd_time(name) for name in _TIMES}
    created = r.required(
        times["orderStartTime"] or times["paymentConfirmTime"] or times["modified"],
        "orderStartTime",
    )
    stage = r.stage(_STAGES, "orderState")
    own = _STAGE_TIME.get(stage) if stage else None
    consignee = r.obj("consigneeInfo")
    phone, masked = consignee.phones("mobile", "telephone")
    items = [_item(line) for line in r.objects("itemInfoList")]
    categories = categories_of(items)
    handles = {name: value for name in _CONSIGNEE_HANDLES if (value := consignee.handle(name))}
    if buyer := r.handle("open_id_buyer"):
        handles["open_id_buyer"] = buyer
    order = NormalizedOrder(
        channel=CHANNEL,
        channel_order_id=r.required(r.ident("orderId", limits.ORDER_ID), "orderId"),
        stage=r.required(stage, "orderState"),
        stage_entered_at=first_known(
            times[own] if own else None, times["modified"], default=created
        ),
        amount_fen=r.required(_amount(r), "orderPayment"),
        shop=r.ident("venderId", limits.SHOP),
        category=categories[0] if categories else None,
        province=consignee.text("province", limits.REGION),
        city=consignee.text("city", limits.REGION),
        district=consignee.text("county", limits.REGION),
        receiver_phone=phone,
        created_at=created,
        paid_at=times["paymentConfirmTime"],
        raw=dict(record),
        raw_json=r.record_json,
        items=items,
        waybills=_waybills(r, times["outBoundDate"]),
        shipped_at=times["outBoundDate"],
        hold_reason=_HOLD_REASONS.get(str(r.value("orderState"))) if stage else None,
        buyer_message=r.shown_text("orderRemark", limits.MESSAGE),
        seller_memo=r.shown_text("venderRemark", limits.MESSAGE),
        receiver_phone_masked=masked,
        buyer_handles=handles,
        categories=categories,
    )
    r.check()
    return order


def _amount(r: RecordReader) -> int | None:
    """What the buyer pays; without ``orderPayment`` (not asked for), the best JD gives."""
    for key in ("orderPayment", "orderSellerPrice", "orderTotalPrice"):
        if (amount := r.yuan(key)) is not None:
            return amount
    return None


def _item(line: RecordReader) -> Item:
    return Item(
        title=line.shown_text("skuName", limits.TITLE),
        quantity=line.count("itemTotal", default=1) or 0,
        sku=line.ident("skuId", limits.SKU) or line.ident("outerSkuId", limits.SKU),
        # JD gives the list price (jdPrice), not what the buyer paid for the line.
        category_id=line.json_object("itemExt").ident("cid", limits.ITEM_CATEGORY),
    )


def _waybills(r: RecordReader, shipped_at: datetime | None) -> list[Waybill]:
    """``"JDVA01,JDVA02|SF03"``: carriers apart by ``|``, one carrier's parcels by ``,``."""
    sent = r.text("waybill", limit=None)
    if sent is None:
        return []
    groups = [group for group in sent.split("|") if group.strip()]
    carrier = r.ident("logisticsId", limits.CARRIER) if len(groups) == 1 else None
    numbers = dict.fromkeys(n.strip() for group in groups for n in group.split(",") if n.strip())
    too_long = [n for n in numbers if len(n) > limits.TRACKING_NO]
    if too_long:
        r.note(f"waybill: 运单号最长 {limits.TRACKING_NO} 个字符, 收到 {len(too_long[0])} 个")
        return []
    return [Waybill(number, carrier, shipped_at) for number in numbers]


ADAPTER = Channel(CHANNEL, LABEL, normalize, CSV_HEADERS)
