"""The platforms' whole API answers give up their order records; their errors are named."""

from __future__ import annotations

from typing import Any

import pytest

from channels.envelopes import EnvelopeError, unwrap

TRADE = {"tid": 1, "status": "WAIT_SELLER_SEND_GOODS"}
JD_ORDER = {"orderId": "2", "orderState": "WAIT_SELLER_STOCK_OUT"}
DOUYIN_ORDER = {"order_id": "3", "order_status": 105}


@pytest.mark.parametrize(
    ("channel", "body", "records"),
    [
        ("taobao", {"trade_fullinfo_get_response": {"trade": TRADE, "request_id": "x"}}, [TRADE]),
        (
            "taobao",
            {"trades_sold_get_response": {"total_results": 1, "trades": {"trade": [TRADE]}}},
            [TRADE],
        ),
        ("taobao", {"trades_sold_get_response": {"total_results": 0}}, []),
        (
            "jd",
            {
                "jingdong_pop_order_search_responce": {
                    "code": "0",
                    "searchorderinfo_result": {
                        "orderInfoList": [JD_ORDER],
                        "orderTotal": 1,
                        "apiResult": {"success": True, "chineseErrCode": "成功"},
                    },
                }
            },
            [JD_ORDER],
        ),
        ("jd", {"orderInfoList": [JD_ORDER]}, [JD_ORDER]),
        (
            "jd",
            {"jingdong_pop_order_get_responce": {"orderDetailInfo": {"orderInfo": JD_ORDER}}},
            [JD_ORDER],
        ),
        (
            "douyin",
            {"code": 10000, "msg": "success", "data": {"shop_order_list": [DOUYIN_ORDER]}},
            [DOUYIN_ORDER],
        ),
        ("douyin", {"code": 10000, "data": {"shop_order_detail": DOUYIN_ORDER}}, [DOUYIN_ORDER]),
        ("douyin", {"shop_order_list": [DOUYIN_ORDER]}, [DOUYIN_ORDER]),
    ],
)
def test_platform_answers_give_their_orders(
    channel: str, body: dict[str, Any], records: list[Any]
) -> None:
    assert unwrap(channel, body) == records


@pytest.mark.parametrize("channel", ["taobao", "jd", "douyin", "shop"])
def test_a_plain_record_is_not_an_answer(channel: str) -> None:
    assert unwrap(channel, {"tid": 1, "orderId": "2", "order_id": "3", "orders": []}) is None


@pytest.mark.parametrize(
    ("channel", "body", "named"),
    [
        (
            "taobao",
            {"error_response": {"code": 27, "msg": "Invalid session", "sub_msg": "会话已过期"}},
            "27 会话已过期",
        ),
        ("jd", {"error_response": {"code": "19", "zh_desc": "token已过期"}}, "19 token已过期"),
        (
            "jd",
            {
                "jingdong_pop_order_search_responce": {
                    "searchorderinfo_result": {
                        "apiResult": {"success": False, "chineseErrCode": "查询时间跨度过大"}
                    }
                }
            },
            "查询时间跨度过大",
        ),
        ("douyin", {"code": 30002, "msg": "权限不足", "data": {}}, "30002 权限不足"),
    ],
)
def test_a_platform_error_is_refused_with_its_words(
    channel: str, body: dict[str, Any], named: str
) -> None:
    with pytest.raises(EnvelopeError, match=named):
        unwrap(channel, body)


def test_an_order_list_of_the_wrong_shape_is_named() -> None:
    with pytest.raises(
        EnvelopeError, match=r"trades_sold_get_response\.trades\.trade: 应为订单数组"
    ):
        unwrap("taobao", {"trades_sold_get_response": {"trades": {"trade": "x"}}})
