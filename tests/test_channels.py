from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from channels import douyin, jd, shop, taobao
from channels.base import NormalizedOrder, RecordError
from channels.registry import ADAPTERS
from channels.timeparse import beijing_time, iso_time, jd_time, unix_time, yuan_to_fen
from rules.details import Item, Payment
from rules.stages import Stage
from sandbox.samples import CHANNEL_STAGES, sample_record

DROP = object()  # marks a field to remove from a record


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def taobao_trade() -> dict[str, Any]:
    return {
        "tid": 3912345678901234567,
        "tid_str": "3912345678901234567",
        "type": "fixed",
        "status": "WAIT_SELLER_SEND_GOODS",
        "created": "2024-11-11 00:03:12",
        "pay_time": "2024-11-11 00:05:40",
        "modified": "2024-11-11 00:05:41",
        "payment": "200.07",
        "total_fee": "199.00",
        "post_fee": "10.00",
        "discount_fee": "8.93",
        "seller_nick": "木森家居旗舰店",
        "receiver_name": "张**",
        "receiver_mobile": "13812345678",
        "receiver_state": "广东省",
        "receiver_city": "深圳市",
        "receiver_district": "南山区",
        "receiver_town": "粤海街道",
        "receiver_address": "科技园路1号",
        "orders": [
            {
                "oid": 3912345678901234568,
                "cid": 50008164,
                "title": "北欧实木餐桌",
                "num": 1,
                "price": "199.00",
                "payment": "200.07",
            }
        ],
    }


def jd_order() -> dict[str, Any]:
    return {
        "orderId": "290012345678",
        "venderId": "10128374",
        "orderType": 22,
        "payType": 4,
        "orderTotalPrice": "1299.00",
        "orderSellerPrice": "1199.00",
        "orderPayment": "1211.50",
        "freightPrice": "12.50",
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "orderStateRemark": "等待出库",
        "orderStartTime": "2024-06-18 23:58:02",
        "paymentConfirmTime": "2024-06-19 00:01:15",
        "orderEndTime": "0001-01-01 00:00:00",
        "modified": "2024-06-19 00:01:16",
        "consigneeInfo": {
            "fullname": "李**",
            "mobile": "13912345678",
            "telephone": "",
            "fullAddress": "上海市浦东新区张江镇张江路100号",
            "province": "上海市",
            "city": "上海市",
            "county": "浦东新区",
            "town": "张江镇",
        },
        "itemInfoList": [{"skuId": "100012345678", "skuName": "三模机械键盘", "itemTotal": "1"}],
    }


def douyin_order() -> dict[str, Any]:
    return {
        "order_id": "6919234567890123456",
        "order_level": 2,
        "shop_id": 12345678,
        "shop_name": "暖阳服饰抖音小店",
        "order_status": 2,
        "order_status_desc": "备货中",
        "main_status": 2,
        "main_status_desc": "备货中",
        "order_amount": 10900,
        "pay_amount": 9900,
        "post_amount": 1000,
        "create_time": 1718726400,  # 2024-06-19 00:00:00 Beijing
        "pay_time": 1718726460,
        "update_time": 1718726461,
        "ship_time": 0,
        "finish_time": 0,
        "post_receiver": "王**",
        "post_tel": "18612345678",
        "post_addr": {
            "province": {"id": "330000", "name": "浙江省"},
            "city": {"id": "330100", "name": "杭州市"},
            "town": {"id": "330106", "name": "西湖区"},
            "street": {"id": "330106004", "name": "北山街道"},
            "detail": "北山路1号",
        },
        "sku_order_list": [
            {
                "order_id": "6919234567890123457",
                "parent_order_id": "6919234567890123456",
                "trade_type": 0,
                "first_cid": 20005,
                "pay_amount": 9900,
            }
        ],
    }


def shop_order() -> dict[str, Any]:
    return {
        "order_no": "WS20241111000123",
        "status": "SHIPPED",
        "created_at": "2024-11-11T10:00:00+08:00",
        "paid_at": "2024-11-11T10:02:30+08:00",
        "shipped_at": "2024-11-12T15:30:00+08:00",
        "updated_at": "2024-11-12T15:30:05+08:00",
        "total_fen": 45900,
        "freight_fen": 0,
        "discount_fen": 2000,
        "paid_fen": 45900,
        "pay_channel": "WECHAT_JSAPI",
        "shop_name": "木森家居官网商城",
        "category": "定制家具",
        "receiver": {
            "name": "陈**",
            "mobile": "15012345678",
            "province": "四川省",
            "city": "成都市",
            "district": "武侯区",
            "street": "浆洗街街道",
            "detail": "武侯祠大街1号",
        },
        "payments": [
            {
                "out_trade_no": "WS20241111000123",
                "stage": "FULL",
                "amount_fen": 45900,
                "paid_at": "2024-11-11T10:02:30+08:00",
            }
        ],
    }


RECORDS: dict[str, Callable[[], dict[str, Any]]] = {
    "taobao": taobao_trade,
    "jd": jd_order,
    "douyin": douyin_order,
    "shop": shop_order,
}


def record(channel: str, **changes: Any) -> dict[str, Any]:
    """The channel's sample record with top-level fields changed (``DROP`` removes one)."""
    result = RECORDS[channel]()
    for key, value in changes.items():
        if value is DROP:
            result.pop(key, None)
        else:
            result[key] = value
    return result


# When the sample records above are read: their times lie before it.
READ_AT = datetime(2025, 1, 1, tzinfo=UTC)


def normalize(channel: str, **changes: Any) -> NormalizedOrder:
    return ADAPTERS[channel](record(channel, **changes), READ_AT)


# --- shared parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fen"),
    [
        pytest.param("200.07", 20007, id="two-decimals"),
        pytest.param("0.1", 10, id="one-decimal"),
        pytest.param("100", 10000, id="whole"),
        pytest.param("0.00", 0, id="zero"),
        pytest.param(12, 1200, id="int"),
        pytest.param(19.9, 1990, id="float-via-repr"),
        pytest.param(Decimal("3.50"), 350, id="decimal"),
        pytest.param("", None, id="blank-is-absent"),
    ],
)
def test_yuan_to_fen_is_exact(value: object, fen: int | None) -> None:
    assert yuan_to_fen(value, "payment") == fen


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("12.345", id="three-decimals"),
        pytest.param("-1.00", id="negative"),
        pytest.param("12元", id="garbage"),
        pytest.param("1e3", id="exponent"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(True, id="bool"),
        pytest.param(["1.00"], id="list"),
    ],
)
def test_yuan_to_fen_refuses(value: object) -> None:
    with pytest.raises(RecordError, match=r"^payment: "):
        yuan_to_fen(value, "payment")


def test_times_become_utc() -> None:
    assert beijing_time("2024-11-11 00:05:40", "pay_time") == utc(2024, 11, 10, 16, 5, 40)
    assert unix_time(1718726400, "create_time") == utc(2024, 6, 18, 16, 0, 0)
    assert iso_time("2024-11-11T10:00:00+08:00", "created_at") == utc(2024, 11, 11, 2, 0, 0)
    assert iso_time("2024-11-11T02:00:00Z", "created_at") == utc(2024, 11, 11, 2, 0, 0)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("0001-01-01 00:00:00", id="year-1"),
        pytest.param("1970-01-01 00:00:00", id="epoch"),
        pytest.param("", id="blank"),
        pytest.param(None, id="none"),
    ],
)
def test_jd_not_yet_is_none(value: object) -> None:
    assert jd_time(value, "paymentConfirmTime") is None


def test_douyin_zero_time_is_none() -> None:
    assert unix_time(0, "ship_time") is None


@pytest.mark.parametrize(
    ("parse", "value"),
    [
        pytest.param(beijing_time, "2024/11/11 00:05:40", id="beijing-slashes"),
        pytest.param(beijing_time, "2024-11-11T00:05:40+08:00", id="beijing-iso"),
        pytest.param(beijing_time, 1731254740, id="beijing-int"),
        pytest.param(unix_time, 1718726400.5, id="unix-float"),
        pytest.param(unix_time, "2024-06-19 00:00:00", id="unix-text"),
        pytest.param(unix_time, -5, id="unix-negative"),
        pytest.param(iso_time, "2024-11-11 10:00:00", id="iso-naive"),
        pytest.param(iso_time, "tomorrow", id="iso-garbage"),
    ],
)
def test_bad_times_are_refused(parse: Callable[[object, str], datetime], value: object) -> None:
    with pytest.raises(RecordError, match=r"^t: "):
        parse(value, "t")


# --- one realistic record per channel --------------------------------------------------------


def test_taobao_trade() -> None:
    order = normalize("taobao")
    assert order == NormalizedOrder(
        channel="taobao",
        channel_order_id="3912345678901234567",
        stage=Stage.PAID,
        stage_entered_at=utc(2024, 11, 10, 16, 5, 40),
        amount_fen=20007,
        order_type="normal",
        shop="木森家居旗舰店",
        category="50008164",
        province="广东省",
        city="深圳市",
        district="南山区",
        receiver_phone="13812345678",
        created_at=utc(2024, 11, 10, 16, 3, 12),
        paid_at=utc(2024, 11, 10, 16, 5, 40),
        raw=taobao_trade(),
        items=[Item("北欧实木餐桌", 1, amount_fen=20007, category_id="50008164")],
        categories=("50008164",),
    )


def test_taobao_uses_district_as_city_for_direct_county() -> None:
    order = normalize(
        "taobao", receiver_state="河南省", receiver_city="", receiver_district="济源市"
    )
    assert (order.province, order.city, order.district) == ("河南省", "济源市", "济源市")


def test_taobao_id_from_tid_alone() -> None:
    assert normalize("taobao", tid_str=DROP).channel_order_id == "3912345678901234567"


def test_jd_order() -> None:
    order = normalize("jd")
    assert order == NormalizedOrder(
        channel="jd",
        channel_order_id="290012345678",
        stage=Stage.PAID,
        stage_entered_at=utc(2024, 6, 18, 16, 1, 15),
        amount_fen=121150,
        shop="10128374",
        province="上海市",
        city="上海市",
        district="浦东新区",
        receiver_phone="13912345678",
        created_at=utc(2024, 6, 18, 15, 58, 2),
        paid_at=utc(2024, 6, 18, 16, 1, 15),
        raw=jd_order(),
        items=[Item("三模机械键盘", 1, sku="100012345678")],
    )


def test_jd_cash_on_delivery_counts_paid_from_modified() -> None:
    order = normalize("jd", payType=1, paymentConfirmTime="1970-01-01 00:00:00")
    assert order.stage_entered_at == utc(2024, 6, 18, 16, 1, 16)
    assert order.paid_at is None


def test_douyin_order() -> None:
    order = normalize("douyin")
    assert order == NormalizedOrder(
        channel="douyin",
        channel_order_id="6919234567890123456",
        stage=Stage.PAID,
        stage_entered_at=utc(2024, 6, 18, 16, 1, 0),
        amount_fen=9900,
        shop="暖阳服饰抖音小店",
        category="20005",
        province="浙江省",
        city="杭州市",
        district="西湖区",
        receiver_phone="18612345678",
        created_at=utc(2024, 6, 18, 16, 0, 0),
        paid_at=utc(2024, 6, 18, 16, 1, 0),
        raw=douyin_order(),
        items=[Item(None, 1, amount_fen=9900, category_id="20005")],
        categories=("20005",),
    )


def test_shop_order() -> None:
    order = normalize("shop")
    assert order == NormalizedOrder(
        channel="shop",
        channel_order_id="WS20241111000123",
        stage=Stage.SHIPPED,
        stage_entered_at=utc(2024, 11, 12, 7, 30, 0),
        amount_fen=45900,
        shop="木森家居官网商城",
        category="定制家具",
        province="四川省",
        city="成都市",
        district="武侯区",
        receiver_phone="15012345678",
        created_at=utc(2024, 11, 11, 2, 0, 0),
        paid_at=utc(2024, 11, 11, 2, 2, 30),
        raw=shop_order(),
        payments=[
            Payment("WS20241111000123", "full", 45900, utc(2024, 11, 11, 2, 2, 30), "wechat")
        ],
        shipped_at=utc(2024, 11, 12, 7, 30, 0),
        categories=("定制家具",),
    )


def test_shop_free_text_address_is_left_for_the_parser() -> None:
    receiver = {"name": "赵**", "mobile": "13612345678", "detail": "上海浦东新区张江路100号"}
    order = normalize("shop", receiver=receiver)
    assert order.address_text == "上海浦东新区张江路100号"
    assert (order.province, order.city, order.district) == (None, None, None)


def test_shop_amount_falls_back_to_paid_fen() -> None:
    assert normalize("shop", total_fen=DROP, paid_fen=43900).amount_fen == 43900


def test_raw_is_a_copy() -> None:
    trade = taobao_trade()
    order = taobao.normalize(trade, READ_AT)
    trade["status"] = "TRADE_FINISHED"
    assert order.raw["status"] == "WAIT_SELLER_SEND_GOODS"


@pytest.mark.parametrize("adapter", [taobao, jd, douyin, shop], ids=lambda m: m.CHANNEL)
def test_registry_maps_each_channel_to_its_adapter(adapter: ModuleType) -> None:
    assert ADAPTERS[adapter.CHANNEL] is adapter.normalize


def test_registry_has_exactly_the_four_channels() -> None:
    assert sorted(ADAPTERS) == ["douyin", "jd", "shop", "taobao"]


# --- every status value ----------------------------------------------------------------------


def _status_cases(channel: str, field: str, table: dict[Any, Stage]) -> list[Any]:
    return [
        pytest.param(channel, field, value, stage, id=f"{channel}-{value}")
        for value, stage in table.items()
    ]


STATUS_CASES = [
    *_status_cases(
        "taobao",
        "status",
        {
            "TRADE_NO_CREATE_PAY": Stage.PENDING_PAYMENT,
            "WAIT_BUYER_PAY": Stage.PENDING_PAYMENT,
            "PAY_PENDING": Stage.PENDING_PAYMENT,
            "WAIT_PRE_AUTH_CONFIRM": Stage.PENDING_PAYMENT,
            "WAIT_SELLER_SEND_GOODS": Stage.PAID,
            "PAID_FORBID_CONSIGN": Stage.ON_HOLD,
            "SELLER_CONSIGNED_PART": Stage.SHIPPED,
            "WAIT_BUYER_CONFIRM_GOODS": Stage.SHIPPED,
            "TRADE_BUYER_SIGNED": Stage.DELIVERED,
            "TRADE_FINISHED": Stage.COMPLETED,
            "TRADE_CLOSED": Stage.REFUNDED,
            "TRADE_CLOSED_BY_TAOBAO": Stage.CANCELLED,
        },
    ),
    *_status_cases(
        "jd",
        "orderState",
        {
            "WAIT_SELLER_STOCK_OUT": Stage.PAID,
            "WAIT_SELLER_DELIVERY": Stage.PAID,
            "WAIT_SEND_CODE": Stage.PAID,
            "LOCKED": Stage.ON_HOLD,
            "PAUSE": Stage.ON_HOLD,
            "POP_ORDER_PAUSE": Stage.ON_HOLD,
            "SEND_TO_DISTRIBUTION_CENER": Stage.SHIPPED,
            "DISTRIBUTION_CENTER_RECEIVED": Stage.SHIPPED,
            "WAIT_GOODS_RECEIVE_CONFIRM": Stage.SHIPPED,
            "RECEIPTS_CONFIRM": Stage.DELIVERED,
            "FINISHED_L": Stage.COMPLETED,
            "TRADE_CANCELED": Stage.CANCELLED,
        },
    ),
    *_status_cases(
        "douyin",
        "order_status",
        {
            1: Stage.PENDING_PAYMENT,
            105: Stage.PAID,
            2: Stage.PAID,
            101: Stage.SHIPPED,
            3: Stage.SHIPPED,
            4: Stage.CANCELLED,
            5: Stage.COMPLETED,
        },
    ),
    *_status_cases(
        "douyin",
        "main_status",
        {
            103: Stage.DEPOSIT_PAID,
            21: Stage.REFUNDED,
            22: Stage.REFUNDED,
            39: Stage.REFUNDED,
            4: Stage.CANCELLED,
        },
    ),
    *_status_cases(
        "shop",
        "status",
        {
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
        },
    ),
]


@pytest.mark.parametrize(("channel", "field", "value", "stage"), STATUS_CASES)
def test_status_maps_to_stage(channel: str, field: str, value: object, stage: Stage) -> None:
    changes: dict[str, Any] = {field: value}
    if field == "order_status":
        changes["main_status"] = DROP  # main_status wins when present
    assert normalize(channel, **changes).stage is stage


@pytest.mark.parametrize(
    ("channel", "changes", "expected"),
    [
        pytest.param(
            "taobao",
            {"status": "TRADE_FINISHED", "end_time": "2024-11-20 09:00:00"},
            utc(2024, 11, 20, 1, 0, 0),
            id="taobao-completed-end_time",
        ),
        pytest.param(
            "taobao",
            {"status": "WAIT_BUYER_CONFIRM_GOODS", "consign_time": "2024-11-12 18:00:00"},
            utc(2024, 11, 12, 10, 0, 0),
            id="taobao-shipped-consign_time",
        ),
        pytest.param(
            "taobao",
            {"status": "WAIT_BUYER_PAY", "pay_time": DROP},
            utc(2024, 11, 10, 16, 3, 12),
            id="taobao-pending-created",
        ),
        pytest.param(
            "taobao",
            {"status": "PAID_FORBID_CONSIGN"},
            utc(2024, 11, 10, 16, 5, 41),
            id="taobao-on-hold-modified",
        ),
        pytest.param(
            "jd",
            {"orderState": "FINISHED_L", "orderEndTime": "2024-06-25 10:00:00"},
            utc(2024, 6, 25, 2, 0, 0),
            id="jd-completed-orderEndTime",
        ),
        pytest.param(
            "douyin",
            {"order_status": 3, "main_status": 3, "ship_time": 1718812800},
            utc(2024, 6, 19, 16, 0, 0),
            id="douyin-shipped-ship_time",
        ),
        pytest.param(
            "douyin",
            {"order_status": 4, "main_status": 4},
            utc(2024, 6, 18, 16, 1, 1),
            id="douyin-cancelled-update_time",
        ),
        pytest.param(
            "shop",
            {"status": "PICKING"},
            utc(2024, 11, 12, 7, 30, 5),
            id="shop-picking-updated_at",
        ),
        pytest.param(
            "shop",
            {"status": "PAID", "updated_at": DROP},
            utc(2024, 11, 11, 2, 2, 30),
            id="shop-paid-paid_at",
        ),
    ],
)
def test_stage_entered_at_uses_the_channels_own_time(
    channel: str, changes: dict[str, Any], expected: datetime
) -> None:
    assert normalize(channel, **changes).stage_entered_at == expected


# --- presale (定金 + 尾款) -------------------------------------------------------------------

TAOBAO_DEPOSIT_PAID = {
    "type": "step",
    "status": "WAIT_BUYER_PAY",
    "step_trade_status": "FRONT_PAID_FINAL_NOPAID",
    "step_paid_fee": "40.00",
    "pay_time": "2024-10-21 20:05:00",
    "modified": "2024-10-21 20:05:01",
    "step_pay_details": [
        {"step_no": 1, "step_actual_pay_fee": "40.00", "pay_status": 2},
        {"step_no": 2, "step_actual_pay_fee": "160.07", "pay_status": 1},
    ],
}
TAOBAO_FULLY_PAID = {
    **TAOBAO_DEPOSIT_PAID,
    "status": "WAIT_SELLER_SEND_GOODS",
    "step_trade_status": "FRONT_PAID_FINAL_PAID",
    "step_paid_fee": "200.07",
    "modified": "2024-11-11 00:00:30",
}
DOUYIN_PHASES = [
    {"current_phase": 1, "phase_payable_price": 2000, "phase_pay_time": 1716206400},
    {"current_phase": 2, "phase_payable_price": 7900, "phase_pay_time": 1718640600},
]
SHOP_PAYMENTS = [
    {"stage": "DEPOSIT", "amount_fen": 9000, "paid_at": "2024-10-21T20:05:00+08:00"},
    {"stage": "FINAL", "amount_fen": 0, "paid_at": None},  # a failed balance attempt
    {"stage": "FINAL", "amount_fen": 36900, "paid_at": "2024-11-11T00:00:30+08:00"},
]


@pytest.mark.parametrize(
    ("channel", "changes", "stage", "entered"),
    [
        pytest.param(
            "taobao",
            TAOBAO_DEPOSIT_PAID,
            Stage.DEPOSIT_PAID,
            utc(2024, 10, 21, 12, 5, 0),
            id="taobao-deposit-paid-at-pay_time",
        ),
        pytest.param(
            "taobao",
            {**TAOBAO_DEPOSIT_PAID, "step_trade_status": "FRONT_NOPAID_FINAL_NOPAID"},
            Stage.PENDING_PAYMENT,
            utc(2024, 11, 10, 16, 3, 12),
            id="taobao-nothing-paid",
        ),
        pytest.param(
            "taobao",
            TAOBAO_FULLY_PAID,
            Stage.PAID,
            utc(2024, 11, 10, 16, 0, 30),
            id="taobao-balance-paid-at-modified",
        ),
        pytest.param(
            "douyin",
            {"order_status": 1, "main_status": 103, "order_phase_list": DOUYIN_PHASES[:1]},
            Stage.DEPOSIT_PAID,
            utc(2024, 5, 20, 12, 0, 0),
            id="douyin-main-status-103",
        ),
        pytest.param(
            "douyin",
            {
                "sku_order_list": [{"trade_type": 2, "first_cid": 20005}],
                "pay_time": 1716206400,
                "order_phase_list": DOUYIN_PHASES,
            },
            Stage.PAID,
            utc(2024, 6, 17, 16, 10, 0),
            id="douyin-balance-paid-at-phase-2",
        ),
        pytest.param(
            "shop",
            {"status": "PARTIALLY_PAID", "paid_at": DROP, "payments": SHOP_PAYMENTS[:1]},
            Stage.DEPOSIT_PAID,
            utc(2024, 10, 21, 12, 5, 0),
            id="shop-partially-paid",
        ),
        pytest.param(
            "shop",
            {"status": "PAID", "paid_at": "2024-10-21T20:05:00+08:00", "payments": SHOP_PAYMENTS},
            Stage.PAID,
            utc(2024, 11, 10, 16, 0, 30),
            id="shop-balance-paid-at-final-payment",
        ),
    ],
)
def test_presale(channel: str, changes: dict[str, Any], stage: Stage, entered: datetime) -> None:
    order = normalize(channel, **changes)
    assert (order.order_type, order.stage, order.stage_entered_at) == ("presale", stage, entered)


def test_jd_orders_are_never_presale() -> None:
    assert normalize("jd").order_type == "normal"


# --- refusals name the field -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "changes", "field"),
    [
        pytest.param("taobao", {"tid": DROP, "tid_str": DROP}, "tid", id="taobao-missing-id"),
        pytest.param("taobao", {"payment": "12.345"}, "payment", id="taobao-bad-money"),
        pytest.param("taobao", {"payment": "-1.00"}, "payment", id="taobao-negative-money"),
        pytest.param("taobao", {"payment": DROP}, "payment", id="taobao-missing-money"),
        pytest.param("taobao", {"created": "2024/11/11 00:03"}, "created", id="taobao-bad-time"),
        pytest.param("taobao", {"created": DROP}, "created", id="taobao-missing-created"),
        pytest.param("taobao", {"status": "WAIT_FOR_GODOT"}, "status", id="taobao-unknown-status"),
        pytest.param("taobao", {"status": DROP}, "status", id="taobao-missing-status"),
        pytest.param("taobao", {"orders": "50008164"}, "orders", id="taobao-orders-not-list"),
        pytest.param(
            "taobao", {"receiver_mobile": 13812345678}, "receiver_mobile", id="taobao-phone-int"
        ),
        pytest.param("jd", {"orderId": DROP}, "orderId", id="jd-missing-id"),
        pytest.param("jd", {"orderPayment": "12.345"}, "orderPayment", id="jd-bad-money"),
        pytest.param(
            "jd",
            {"orderStartTime": DROP, "paymentConfirmTime": DROP, "modified": DROP},
            "orderStartTime",
            id="jd-no-time-at-all",
        ),
        pytest.param("jd", {"paymentConfirmTime": "昨天"}, "paymentConfirmTime", id="jd-bad-time"),
        pytest.param("jd", {"modified": ["2024-06-19"]}, "modified", id="jd-time-list"),
        pytest.param("jd", {"orderState": "NOT_A_STATE"}, "orderState", id="jd-unknown-status"),
        pytest.param("jd", {"consigneeInfo": "上海"}, "consigneeInfo", id="jd-consignee-not-obj"),
        pytest.param("douyin", {"order_id": DROP}, "order_id", id="douyin-missing-id"),
        pytest.param("douyin", {"order_id": True}, "order_id", id="douyin-id-bool"),
        pytest.param("douyin", {"pay_amount": 99.0}, "pay_amount", id="douyin-money-float"),
        pytest.param("douyin", {"pay_amount": -1}, "pay_amount", id="douyin-negative-money"),
        pytest.param(
            "douyin", {"create_time": "2024-06-19 00:00:00"}, "create_time", id="douyin-bad-time"
        ),
        pytest.param(
            "douyin",
            {"order_status": 99, "main_status": DROP},
            "order_status",
            id="douyin-unknown-order-status",
        ),
        pytest.param("douyin", {"main_status": 999}, "main_status", id="douyin-unknown-main"),
        pytest.param(
            "douyin",
            {"post_addr": {"province": "浙江省"}},
            "post_addr.province",
            id="douyin-province-not-obj",
        ),
        pytest.param("shop", {"order_no": DROP}, "order_no", id="shop-missing-id"),
        pytest.param("shop", {"order_no": "订单/1"}, "order_no", id="shop-bad-id"),
        pytest.param("shop", {"total_fen": "459.00"}, "total_fen", id="shop-money-yuan"),
        pytest.param(
            "shop", {"total_fen": DROP, "paid_fen": DROP}, "total_fen", id="shop-missing-money"
        ),
        pytest.param(
            "shop", {"created_at": "2024-11-11 10:00:00"}, "created_at", id="shop-time-no-zone"
        ),
        pytest.param("shop", {"shipped_at": "soon"}, "shipped_at", id="shop-bad-time"),
        pytest.param("shop", {"status": "LOST"}, "status", id="shop-unknown-status"),
        pytest.param(
            "shop",
            {"payments": [{"stage": "FULL", "paid_at": "yesterday"}]},
            "payments[0].paid_at",
            id="shop-bad-payment-time",
        ),
    ],
)
def test_bad_record_is_refused_naming_the_field(
    channel: str, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(RecordError, match=rf"^{re.escape(field)}: "):
        normalize(channel, **changes)


# --- samples ---------------------------------------------------------------------------------

NOW = datetime(2024, 11, 11, 3, 4, 5, 678_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("channel", "stage"),
    [
        pytest.param(channel, stage, id=f"{channel}-{stage}")
        for channel, stages in CHANNEL_STAGES.items()
        for stage in stages
    ],
)
def test_sample_round_trips(channel: str, stage: Stage) -> None:
    for seed in range(25):
        rng = random.Random(seed)
        age = timedelta(minutes=rng.randint(0, 20_000), seconds=rng.uniform(0, 60))
        order_no = f"{seed + 1:019d}"
        native = sample_record(channel, rng, NOW, order_no=order_no, stage=stage, stage_age=age)
        order = ADAPTERS[channel](native, NOW)
        assert order.stage is stage
        assert order.stage_entered_at == (NOW - age).replace(microsecond=0)
        assert order.channel_order_id == order_no
        assert order.amount_fen > 0
        assert order.created_at is not None and order.created_at <= order.stage_entered_at
        assert order.raw == native


def test_samples_are_deterministic() -> None:
    def make(seed: int) -> dict[str, Any]:
        rng = random.Random(seed)
        age = timedelta(hours=3)
        return sample_record("douyin", rng, NOW, order_no="1", stage=Stage.PAID, stage_age=age)

    assert make(7) == make(7)
    assert make(7) != make(8)


def test_samples_mix_presale_and_free_text_addresses() -> None:
    def orders(channel: str) -> list[NormalizedOrder]:
        rng = random.Random(42)
        return [
            ADAPTERS[channel](
                sample_record(
                    channel, rng, NOW, order_no=f"{i}", stage=Stage.PAID, stage_age=timedelta(0)
                ),
                NOW,
            )
            for i in range(1, 401)
        ]

    for channel in ("taobao", "douyin"):
        presale = sum(o.order_type == "presale" for o in orders(channel))
        assert 10 < presale < 80, channel
    shop_orders = orders("shop")
    free_text = [o for o in shop_orders if o.address_text]
    assert 40 < len(free_text) < 200
    assert all(o.province is None for o in free_text)
    assert all(o.province for o in shop_orders if not o.address_text)
    assert all(re.fullmatch(r"1\d{10}", o.receiver_phone or "") for o in shop_orders)


@pytest.mark.parametrize(
    ("channel", "stage", "now"),
    [
        pytest.param("jd", Stage.PENDING_PAYMENT, NOW, id="jd-has-no-pending"),
        pytest.param("douyin", Stage.PICKING, NOW, id="douyin-has-no-picking"),
        pytest.param("ebay", Stage.PAID, NOW, id="unknown-channel"),
        pytest.param("shop", Stage.PAID, NOW.replace(tzinfo=None), id="naive-now"),
    ],
)
def test_sample_refuses_what_it_cannot_render(channel: str, stage: Stage, now: datetime) -> None:
    with pytest.raises(ValueError):
        sample_record(
            channel, random.Random(1), now, order_no="1", stage=stage, stage_age=timedelta(0)
        )
