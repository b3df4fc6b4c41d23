"""Records in the shapes the platforms' APIs really return them, written from their published
field documentation and captured answers (TOP's ``taobao.trade.fullinfo.get``, JD's
``jingdong.pop.order.search``, Douyin's ``order.orderDetail``): nested ``orders.order``, numbers
where the documentation says strings, masked and encrypted receivers, fields the caller did not
ask for, presale payments, refunds in progress. Each adapter must take them and fill every field
of the normalised order."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from channels import douyin, jd, shop, taobao
from channels.base import RecordError
from rules.details import Item, Payment, Waybill
from rules.stages import Stage

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 Beijing


def beijing(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}+08:00").astimezone(UTC)


def unix(text: str) -> int:
    return int(beijing(text).timestamp())


# --- Taobao / Tmall ----------------------------------------------------------------------------


def tmall_trade() -> dict[str, Any]:
    """A Tmall trade as trade_fullinfo_get_response.trade has it since OAID: money as JSON
    numbers, nulls for what is not set, the receiver's mobile masked, sub-orders under
    ``orders.order``, and no ``seller_nick`` (not asked for) but the shop as ``title``."""
    return {
        "tid": 2017073121001001,
        "title": "天猫超市闪店",
        "type": "fixed",
        "status": "WAIT_SELLER_SEND_GOODS",
        "step_trade_status": None,
        "payment": 29.50,
        "total_fee": 44.00,
        "post_fee": 0.00,
        "created": "2026-03-01 14:07:29",
        "pay_time": "2026-03-01 14:07:34",
        "modified": "2026-03-01 14:17:31",
        "end_time": None,
        "consign_time": None,
        "alipay_no": "2026030122001001330227018741",
        "buyer_message": "请放快递柜",
        "seller_memo": "老客户, 送小样",
        "buyer_open_uid": "AAGl4mbCAFQ1Nn2xR3ZH2mu0",
        "oaid": "1sNiaDS0ZDpMrR5tGVuf6ftkDK4lEAnnN2ic5vQ",
        "receiver_name": "潘**",
        "receiver_state": "上海",
        "receiver_city": "上海市",
        "receiver_district": "杨浦区",
        "receiver_town": "平凉路街道",
        "receiver_address": "江浦路**号",
        "receiver_mobile": "151********",
        "receiver_phone": None,
        "delivery_time": "2026-03-03 14:07:34",
        "orders": {
            "order": [
                {
                    "oid": 41171611600046272,
                    "cid": 50050732,
                    "title": "山东栖霞精品红富士2个果径80-85mm",
                    "num": 5,
                    "price": 8.80,
                    "sku_id": None,
                    "outer_sku_id": "1286608-5",
                    "payment": 29.50,
                    "refund_status": "NO_REFUND",
                    "status": "WAIT_SELLER_SEND_GOODS",
                },
                {
                    "oid": 41171611600046273,
                    "cid": 50008164,
                    "title": "北欧实木餐桌",
                    "num": 1,
                    "sku_id": "5021223344",
                    "payment": 0.00,
                    "refund_status": "SUCCESS",
                    "status": "TRADE_CLOSED",
                },
            ]
        },
    }


def test_a_tmall_trade_with_nested_sub_orders_and_masked_receiver() -> None:
    order = taobao.normalize(tmall_trade(), NOW)
    assert (order.channel_order_id, order.stage, order.amount_fen) == (
        "2017073121001001",
        Stage.PAID,
        2950,
    )
    assert order.shop == "天猫超市闪店"  # seller_nick not asked for: the trade's title
    assert order.items == [
        Item("山东栖霞精品红富士2个果径80-85mm", 5, "1286608-5", 2950, "50050732"),
        Item("北欧实木餐桌", 1, "5021223344", 0, "50008164"),  # refunded: not open
    ]
    assert (order.category, order.categories) == ("50050732", ("50050732", "50008164"))
    assert (order.receiver_phone, order.receiver_phone_masked) == (None, "151********")
    assert order.buyer_handles == {
        "oaid": "1sNiaDS0ZDpMrR5tGVuf6ftkDK4lEAnnN2ic5vQ",
        "buyer_open_uid": "AAGl4mbCAFQ1Nn2xR3ZH2mu0",
    }
    assert order.payments == [
        Payment(
            "2026030122001001330227018741", "full", 2950, beijing("2026-03-01 14:07:34"), "alipay"
        )
    ]
    assert order.ship_by_at == beijing("2026-03-03 14:07:34")
    assert (order.buyer_message, order.seller_memo) == ("请放快递柜", "老客户, 送小样")
    assert (order.waybills, order.shipped_at, order.hold_reason) == ([], None, None)
    # The adapter keeps Tmall's spelling; ingest maps it to 上海市 (tests/test_api_platforms.py).
    assert (order.province, order.city, order.district) == ("上海", "上海市", "杨浦区")


def test_a_refund_requested_before_shipping_holds_the_trade() -> None:
    trade = tmall_trade()
    trade["orders"]["order"][0]["refund_status"] = "WAIT_SELLER_AGREE"
    order = taobao.normalize(trade, NOW)
    assert order.stage is Stage.ON_HOLD
    assert order.stage_entered_at == beijing("2026-03-01 14:17:31")  # modified
    assert order.hold_reason == (
        "买家申请退款, 退款处理完之前不要发货: "
        "子订单 41171611600046272 (WAIT_SELLER_AGREE 等待卖家同意)"
    )
    assert [item.refund_status for item in order.items] == ["WAIT_SELLER_AGREE", None]


@pytest.mark.parametrize("refund", ["SELLER_REFUSE_BUYER", "CLOSED", "SUCCESS", "NO_REFUND"])
def test_a_refund_refused_closed_or_done_does_not_hold_it(refund: str) -> None:
    trade = tmall_trade()
    trade["orders"]["order"][0]["refund_status"] = refund
    order = taobao.normalize(trade, NOW)
    assert (order.stage, order.hold_reason) == (Stage.PAID, None)


def test_a_shipped_trade_has_its_sub_orders_parcels() -> None:
    trade = tmall_trade() | {
        "status": "SELLER_CONSIGNED_PART",
        "consign_time": "2026-03-01 16:00:00",
        "sid": "SF1400000000001",
    }
    first, second = trade["orders"]["order"]
    first |= {"invoice_no": "104232941", "logistics_company": "点我达"}
    first["consign_time"] = "2026-03-01 16:00:00"
    second |= {"invoice_no": "104232941", "logistics_company": "点我达"}  # the same parcel
    order = taobao.normalize(trade, NOW)
    assert order.waybills == [
        Waybill("104232941", "点我达", beijing("2026-03-01 16:00:00")),
        Waybill("SF1400000000001"),
    ]
    assert order.shipped_at == beijing("2026-03-01 16:00:00")


def test_a_presale_trade_has_a_payment_per_step() -> None:
    trade = tmall_trade() | {
        "type": "step",
        "status": "WAIT_BUYER_PAY",
        "step_trade_status": "FRONT_PAID_FINAL_NOPAID",
        "step_paid_fee": "5.00",
        "alipay_no": "2026022022001001330200000001",
        "send_time": "2026-03-20",
        "step_pay_details": {
            "step_pay_detail": [
                {
                    "id": 1,
                    "step_no": 1,
                    "step_channel_no": "2026022022001001330200000001",
                    "step_actual_pay_fee": "5.00",
                    "pay_status": 2,
                },
                {"id": 2, "step_no": 2, "step_actual_pay_fee": "24.50", "pay_status": 1},
            ]
        },
    }
    del trade["delivery_time"]
    order = taobao.normalize(trade, NOW)
    assert (order.stage, order.order_type) == (Stage.DEPOSIT_PAID, "presale")
    # The steps carry no time: the 定金 is placed at pay_time, the 尾款 (unpaid yet) nowhere.
    assert order.payments == [
        Payment(
            "2026022022001001330200000001",
            "deposit",
            500,
            paid_at=beijing(trade["pay_time"]),
            method="alipay",
        )
    ]
    # A date alone is due by the end of that day, Beijing time; weeks ahead is fine.
    assert order.ship_by_at == beijing("2026-03-20 23:59:59")

    trade["step_trade_status"] = "FRONT_PAID_FINAL_PAID"
    trade["status"] = "WAIT_SELLER_SEND_GOODS"
    steps = trade["step_pay_details"]["step_pay_detail"]
    steps[1] |= {"step_channel_no": "2026030122001001330200000002", "pay_status": 2}
    order = taobao.normalize(trade, NOW)
    # Paid: the 尾款 at the time the trade is seen paid (modified).
    assert [(p.serial, p.phase, p.amount_fen, p.paid_at) for p in order.payments] == [
        ("2026022022001001330200000001", "deposit", 500, beijing(trade["pay_time"])),
        ("2026030122001001330200000002", "final", 2450, beijing(trade["modified"])),
    ]


def test_trades_sold_get_gives_sub_orders_as_a_plain_list_too() -> None:
    trade = tmall_trade()
    trade["orders"] = trade["orders"]["order"]
    assert taobao.normalize(trade, NOW).items == taobao.normalize(tmall_trade(), NOW).items


def test_a_sub_order_object_without_its_list_is_named() -> None:
    trade = tmall_trade() | {"orders": {"suborder": []}}
    with pytest.raises(RecordError, match=r"^orders: 应为列表或 \{\"order\": \[\.\.\.\]\}"):
        taobao.normalize(trade, NOW)
    trade["orders"] = {"order": [{"oid": 1, "num": "two"}]}
    with pytest.raises(RecordError, match=r"^orders\.order\[0\]\.num: 数量应为非负整数"):
        taobao.normalize(trade, NOW)


def test_only_what_was_asked_for_is_needed() -> None:
    """fields=tid,status,created,payment: the least a trade can be; nothing else is required."""
    bare = {"tid": 1, "status": "TRADE_FINISHED", "created": "2026-03-01 14:07:29", "payment": 9}
    order = taobao.normalize(bare, NOW)
    assert (order.items, order.payments, order.shop, order.ship_by_at) == ([], [], None, None)


def test_a_long_buyer_message_is_cut_not_refused() -> None:
    order = taobao.normalize(tmall_trade() | {"buyer_message": "快" * 1500}, NOW)
    assert order.buyer_message == "快" * 999 + "…"


# --- JD ----------------------------------------------------------------------------------------


def jd_order() -> dict[str, Any]:
    """An order as jingdong.pop.order.search returns it since JD's privacy rules: the consignee's
    name and address encrypted, mobile and telephone masked with a desensitised handle, the
    province short, payType with its words, the category inside the JSON text ``itemExt``."""
    return {
        "orderId": "249786309732",
        "venderId": "10622317",
        "orderType": "22",
        "payType": "4-在线支付",
        "orderTotalPrice": "1.00",
        "orderSellerPrice": "1.00",
        "orderPayment": "1.00",
        "freightPrice": "0.00",
        "sellerDiscount": "0.00",
        "balanceUsed": "0.00",
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "orderStateRemark": "等待出库",
        "orderRemark": "",
        "venderRemark": "",
        "orderStartTime": "2026-03-01 16:37:38",
        "paymentConfirmTime": "2026-03-01 16:38:32",
        "modified": "2026-03-01 16:38:32",
        "outBoundDate": "0001-01-01 00:00:00",
        "pin": "jd_ituyy715jh7pssw",
        "open_id_buyer": "kQ7x0w1yZ3ZDc2hQ0tqRW1oRQ",
        "consigneeInfo": {
            "fullname": "AAS/ZFJFpmfveSmeZ0P9i+iPiAVtOMmowMRtStdbSOA32r6wKNWTMeyV2CU1umLIhl0=",
            "fullAddress": "AAS/ZFJFpmfveSmeZ0P9i+iPFTw2VsdIkCtv0YhpKHQZAdj5ssES7b4bjL2KwIPn",
            "mobile": "136*******5",
            "telephone": "136*******5",
            "desen_mobile": "656233eb3c9d6035653f5a6d7f5965ac0c53815f3e9b785c17d35366fbbb72f1b5",
            "province": "广东",
            "provinceId": "19",
            "city": "广州市",
            "cityId": "1601",
            "county": "海珠区",
            "countyId": "3634",
            "town": "赤岗街道",
        },
        "itemInfoList": [
            {
                "skuId": "10054887745652",
                "outerSkuId": "testjd4206151136003",
                "skuName": "宝宝沐浴搓澡手套 白色",
                "jdPrice": "1.00",
                "itemTotal": "1",
                "wareId": "10020665903516",
                "itemExt": '{"skuUuid":"1012_FKq1n1105171626116390912","isVMI":0,"cid":"13288"}',
            }
        ],
    }


def test_a_jd_order_with_an_encrypted_consignee() -> None:
    order = jd.normalize(jd_order(), NOW)
    assert (order.stage, order.amount_fen, order.shop) == (Stage.PAID, 100, "10622317")
    assert (order.receiver_phone, order.receiver_phone_masked) == (None, "136*******5")
    assert order.buyer_handles == {
        "desen_mobile": "656233eb3c9d6035653f5a6d7f5965ac0c53815f3e9b785c17d35366fbbb72f1b5",
        "open_id_buyer": "kQ7x0w1yZ3ZDc2hQ0tqRW1oRQ",
    }
    assert order.items == [Item("宝宝沐浴搓澡手套 白色", 1, "10054887745652", None, "13288")]
    assert order.categories == ("13288",)
    assert (order.payments, order.waybills, order.shipped_at, order.ship_by_at) == (
        [],
        [],
        None,
        None,
    )
    assert (order.buyer_message, order.seller_memo) == (None, None)  # blank is none


def test_jd_fields_not_asked_for_are_not_a_refusal() -> None:
    without = jd_order()
    del without["orderPayment"], without["orderStartTime"]
    order = jd.normalize(without, NOW)
    assert order.amount_fen == 100  # orderSellerPrice
    assert order.created_at == beijing("2026-03-01 16:38:32")  # paymentConfirmTime
    del without["orderSellerPrice"], without["paymentConfirmTime"]
    without["orderTotalPrice"] = "1.50"
    order = jd.normalize(without, NOW)
    assert (order.amount_fen, order.created_at) == (150, beijing("2026-03-01 16:38:32"))
    del without["orderTotalPrice"]
    with pytest.raises(RecordError, match=r"^orderPayment: 缺少字段$"):
        jd.normalize(without, NOW)


def test_a_shipped_jd_order_has_every_parcel_of_its_waybill() -> None:
    shipped = jd_order() | {
        "orderState": "WAIT_GOODS_RECEIVE_CONFIRM",
        "outBoundDate": "2026-03-01 18:00:00",
        "modified": "2026-03-01 18:00:05",
        "waybill": "JDVA00001,JDVA00002",
        "logisticsId": "467",
    }
    order = jd.normalize(shipped, NOW)
    at = beijing("2026-03-01 18:00:00")
    assert (order.stage_entered_at, order.shipped_at) == (at, at)
    assert order.waybills == [Waybill("JDVA00001", "467", at), Waybill("JDVA00002", "467", at)]
    # Carriers apart by "|": which one is which is not said.
    order = jd.normalize(shipped | {"waybill": "JDVA00001|SF1400000000001"}, NOW)
    assert order.waybills == [Waybill("JDVA00001", None, at), Waybill("SF1400000000001", None, at)]


def test_a_locked_jd_order_says_why() -> None:
    order = jd.normalize(jd_order() | {"orderState": "LOCKED"}, NOW)
    assert order.stage is Stage.ON_HOLD
    assert order.hold_reason == "京东已锁定订单 (LOCKED, 通常是买家申请了售后退款)"


def test_an_unreadable_item_ext_costs_only_the_category() -> None:
    broken = jd_order()
    broken["itemInfoList"][0]["itemExt"] = "{cid:13288"
    assert jd.normalize(broken, NOW).categories == ()


# --- Douyin ------------------------------------------------------------------------------------


def douyin_order() -> dict[str, Any]:
    """order.orderDetail's shop_order_detail since Douyin's encryption: post_tel masked, the
    ciphertexts beside it, a municipality's city as 市辖区, the ship-by days ahead."""
    return {
        "order_id": "6920283764917131016",
        "order_level": 2,
        "shop_id": 4463798,
        "shop_name": "暖阳服饰抖音小店",
        "order_status": 2,
        "main_status": 2,
        "main_status_desc": "备货中",
        "pay_type": 2,
        "channel_payment_no": "2026030122001468401400012345",
        "order_amount": 10900,
        "pay_amount": 9900,
        "post_amount": 1000,
        "create_time": unix("2026-03-01 20:00:00"),
        "pay_time": unix("2026-03-01 20:01:00"),
        "update_time": unix("2026-03-01 20:01:01"),
        "exp_ship_time": unix("2026-03-04 23:59:59"),
        "ship_time": 0,
        "finish_time": 0,
        "buyer_words": "",
        "seller_words": "已核实地址",
        "post_receiver": "王**",
        "post_tel": "*******8650",
        "mask_post_tel": "*******8650",
        "encrypt_post_tel": "#1a2b3c4d#xYz0Pq==*CgwIARCtHBiqICABKAESPgo8#1##",
        "encrypt_post_receiver": "#9f8e#AbCdEf==*CgwIARCtHBiqICABKAESPgo8#1##",
        "doudian_open_id": "1@#qgy8Cd2LQ9CcCz9j0N3vnw==",
        "post_addr": {
            "province": {"id": "11", "name": "北京市"},
            "city": {"id": "1101", "name": "市辖区"},
            "town": {"id": "110105", "name": "朝阳区"},
            "street": {"id": "110105001", "name": "建外街道"},
            "detail": "建国路**号",
            "encrypt_detail": "##Zm9vYmFy==*CgwIARCtHBiqICABKAESPgo8#1##",
        },
        "sku_order_list": [
            {
                "order_id": "6920283764917131016",
                "parent_order_id": "6920283764917131016",
                "trade_type": 0,
                "product_name": "纯棉短袖T恤 白色 L",
                "sku_id": 1731234567890123,
                "out_sku_id": "TS-W-L",
                "item_num": 2,
                "pay_amount": 9900,
                "first_cid": 20005,
                "second_cid": 20048,
                "after_sale_info": {
                    "after_sale_status": 0,
                    "after_sale_type": 0,
                    "refund_status": 0,
                },
            }
        ],
    }


def test_a_douyin_order_with_its_ciphertexts() -> None:
    order = douyin.normalize(douyin_order(), NOW)
    assert (order.stage, order.amount_fen) == (Stage.PAID, 9900)
    assert (order.receiver_phone, order.receiver_phone_masked) == (None, "*******8650")
    assert order.buyer_handles == {
        "encrypt_post_tel": "#1a2b3c4d#xYz0Pq==*CgwIARCtHBiqICABKAESPgo8#1##",
        "encrypt_post_receiver": "#9f8e#AbCdEf==*CgwIARCtHBiqICABKAESPgo8#1##",
        "doudian_open_id": "1@#qgy8Cd2LQ9CcCz9j0N3vnw==",
        "post_addr.encrypt_detail": "##Zm9vYmFy==*CgwIARCtHBiqICABKAESPgo8#1##",
    }
    assert order.items == [Item("纯棉短袖T恤 白色 L", 2, "1731234567890123", 9900, "20005")]
    assert order.payments == [
        Payment(
            "2026030122001468401400012345", "full", 9900, beijing("2026-03-01 20:01:00"), "alipay"
        )
    ]
    assert order.ship_by_at == beijing("2026-03-04 23:59:59")  # days ahead of now: fine
    assert (order.buyer_message, order.seller_memo) == (None, "已核实地址")


def test_a_ship_by_ahead_is_fine_a_past_event_ahead_is_not() -> None:
    ahead = int((NOW + timedelta(days=300)).timestamp())
    assert douyin.normalize(douyin_order() | {"exp_ship_time": ahead}, NOW).ship_by_at
    too_far = int((NOW + timedelta(days=400)).timestamp())
    with pytest.raises(RecordError, match=r"^exp_ship_time: .*不晚于当前时间 366 天"):
        douyin.normalize(douyin_order() | {"exp_ship_time": too_far}, NOW)
    with pytest.raises(RecordError, match=r"^update_time: .*不晚于当前时间 1 天"):
        douyin.normalize(douyin_order() | {"update_time": ahead}, NOW)


def test_an_open_after_sale_holds_a_paid_douyin_order() -> None:
    record = douyin_order()
    record["update_time"] = unix("2026-03-01 21:30:00")
    record["sku_order_list"][0]["after_sale_info"] = {
        "after_sale_status": 6,
        "after_sale_type": 2,
        "refund_status": 1,
    }
    order = douyin.normalize(record, NOW)
    assert (order.stage, order.stage_entered_at) == (Stage.ON_HOLD, beijing("2026-03-01 21:30:00"))
    assert order.hold_reason == (
        "买家申请退款, 退款处理完之前不要发货: 子订单 6920283764917131016 (售后申请, 未发货仅退款)"
    )
    assert order.items[0].refund_status == "售后申请"
    # Refused (27) or failed (28) after-sales leave it to be picked.
    for closed in (27, 28):
        record["sku_order_list"][0]["after_sale_info"]["after_sale_status"] = closed
        assert douyin.normalize(record, NOW).stage is Stage.PAID


def test_a_douyin_presale_has_a_payment_per_phase() -> None:
    record = douyin_order() | {
        "order_status": 1,
        "main_status": 103,
        "pay_time": unix("2026-02-20 20:00:00"),
        "order_phase_list": [
            {
                "phase_order_id": "69202837649171310161",
                "total_phase": 2,
                "current_phase": 1,
                "phase_payable_price": 2000,
                "phase_pay_amount": 2000,
                "phase_pay_time": unix("2026-02-20 20:00:00"),
                "phase_pay_type": 1,
                "pay_success": True,
                "channel_payment_no": "4200002026022012345678901234",
            },
            {
                "phase_order_id": "69202837649171310162",
                "total_phase": 2,
                "current_phase": 2,
                "phase_payable_price": 7900,
                "phase_pay_amount": 0,
                "phase_pay_time": 0,
                "pay_success": False,
                "channel_payment_no": "",
            },
        ],
    }
    del record["channel_payment_no"]
    record["sku_order_list"][0]["trade_type"] = 2
    order = douyin.normalize(record, NOW)
    assert (order.stage, order.order_type) == (Stage.DEPOSIT_PAID, "presale")
    assert order.payments == [
        Payment(
            "4200002026022012345678901234",
            "deposit",
            2000,
            beijing("2026-02-20 20:00:00"),
            "wechat",
        )
    ]


def test_a_shipped_douyin_order_has_its_parcels() -> None:
    record = douyin_order() | {
        "order_status": 3,
        "main_status": 3,
        "ship_time": unix("2026-03-01 22:00:00"),
        "logistics_info": [
            {
                "tracking_no": "78912345678901",
                "company": "zhongtong",
                "company_name": "中通快递",
                "ship_time": unix("2026-03-01 22:00:00"),
                "delivery_id": "7123",
            }
        ],
    }
    order = douyin.normalize(record, NOW)
    at = beijing("2026-03-01 22:00:00")
    assert order.waybills == [Waybill("78912345678901", "中通快递", at)]
    assert order.shipped_at == at


# --- shop --------------------------------------------------------------------------------------


def test_a_shop_order_with_items_parcels_and_a_refund_in_progress() -> None:
    record = {
        "order_no": "WS20260301000901",
        "status": "REFUNDING",
        "created_at": "2026-03-01T10:00:00+08:00",
        "paid_at": "2026-03-01T10:02:30+08:00",
        "updated_at": "2026-03-01T12:00:00+08:00",
        "total_fen": 45900,
        "pay_channel": "ALIPAY_WAP",
        "ship_by_at": "2026-03-03T10:02:30+08:00",
        "buyer_message": "尺寸要改",
        "items": [
            {
                "title": "全屋定制衣柜",
                "quantity": 1,
                "sku": "WARD-2M",
                "amount_fen": 45900,
                "category": "定制家具",
            }
        ],
        "receiver": {
            "name": "陈**",
            "mobile": "150****5678",
            "province": "四川省",
            "city": "成都市",
        },
        "payments": [
            {
                "out_trade_no": "WS20260301000901",
                "stage": "FULL",
                "amount_fen": 45900,
                "paid_at": "2026-03-01T10:02:30+08:00",
            }
        ],
    }
    order = shop.normalize(record, NOW)
    assert (order.stage, order.hold_reason) == (
        Stage.ON_HOLD,
        "买家申请退款, 退款处理完之前不要发货: REFUNDING 退款中",
    )
    assert order.items == [Item("全屋定制衣柜", 1, "WARD-2M", 45900, "定制家具")]
    assert order.payments == [
        Payment("WS20260301000901", "full", 45900, beijing("2026-03-01 10:02:30"), "alipay")
    ]
    assert (order.receiver_phone, order.receiver_phone_masked) == (None, "150****5678")
    assert order.ship_by_at == beijing("2026-03-03 10:02:30")
    assert order.buyer_message == "尺寸要改"
    waybill = {"tracking_no": "SF1400000000009", "carrier": "顺丰速运"}
    shipped = shop.normalize(record | {"status": "SHIPPED", "waybills": [waybill]}, NOW)
    assert shipped.waybills == [Waybill("SF1400000000009", "顺丰速运")]
    with pytest.raises(RecordError, match=re.escape("waybills[0].tracking_no: 缺少字段")):
        shop.normalize(record | {"waybills": [{"carrier": "顺丰速运"}]}, NOW)
