"""What an integrator has in hand, posted as it is: the platforms' whole API answers, records
in their real shapes (tests/test_platform_records.py), through POST /api/v1/orders/{channel}
and `orderbot import`; what lands is the normalised order, with the regions under their official
names and what the platform sent kept in ``raw``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.keys import SESSIONS
from storage.models import Order, OrderPayment, OrderWaybill
from tests.support import all_rows, auth, config_data
from tests.test_cli import no_crash, orderbot_here, orders_in, rejections, summary, write_config
from tests.test_platform_records import douyin_order, jd_order, tmall_trade


async def post(client: TestClient, channel: str, body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post(f"/api/v1/orders/{channel}", json=body, headers=auth("all"))
    return response.status, await response.json()


async def stored(client: TestClient) -> dict[str, Order]:
    return {o.channel_order_id: o for o in await all_rows(client.app[SESSIONS], Order)}


async def raw_of(client: TestClient, order_id: str) -> dict[str, Any]:
    async with client.app[SESSIONS]() as session:
        query = select(Order.raw).where(Order.channel_order_id == order_id)
        raw: dict[str, Any] = (await session.execute(query)).scalar_one()
        return raw


def trade(tid: int, **changes: Any) -> dict[str, Any]:
    return tmall_trade() | {"tid": tid} | changes


TOP_ANSWERS = [
    pytest.param(
        {"trade_fullinfo_get_response": {"trade": trade(1), "request_id": "16ab7x1"}},
        ["1"],
        id="trade_fullinfo_get",
    ),
    pytest.param(
        {
            "trades_sold_get_response": {
                "total_results": 2,
                "has_next": False,
                "trades": {"trade": [trade(1), trade(2)]},
                "request_id": "16ab7x2",
            }
        },
        ["1", "2"],
        id="trades_sold_get",
    ),
    pytest.param({"trade": trade(1)}, ["1"], id="the-trade-object"),
]


@pytest.mark.parametrize(("answer", "tids"), TOP_ANSWERS)
async def test_a_top_answer_is_taken_as_it_is(
    client: TestClient, answer: dict[str, Any], tids: list[str]
) -> None:
    status, body = await post(client, "taobao", answer)
    assert status == 200, body
    assert (body["created"], body["rejected"]) == (len(tids), [])
    assert sorted(await stored(client)) == tids


async def test_a_tmall_trade_lands_with_every_detail_and_official_names(
    client: TestClient,
) -> None:
    status, body = await post(
        client, "taobao", {"trade_fullinfo_get_response": {"trade": trade(7)}}
    )
    assert status == 200, body
    order = (await stored(client))["7"]
    assert (order.province, order.city, order.district) == ("上海市", "上海市", "杨浦区")
    assert (order.receiver_phone, order.receiver_phone_masked) == (None, "151********")
    assert (order.shop, order.category, order.categories) == (
        "天猫超市闪店",
        "50050732",
        ["50050732", "50008164"],
    )
    assert order.buyer_handles["oaid"] == "1sNiaDS0ZDpMrR5tGVuf6ftkDK4lEAnnN2ic5vQ"
    assert (order.buyer_message, order.seller_memo) == ("请放快递柜", "老客户, 送小样")
    raw = await raw_of(client, "7")
    assert (raw["receiver_state"], raw["orders"]["order"][0]["oid"]) == ("上海", 41171611600046272)


async def test_a_refund_in_progress_lands_on_hold_with_its_reason(client: TestClient) -> None:
    refunding = trade(8)
    refunding["orders"]["order"][0]["refund_status"] = "WAIT_BUYER_RETURN_GOODS"
    status, body = await post(client, "taobao", refunding)
    assert status == 200, body
    order = (await stored(client))["8"]
    assert (order.stage, order.deadline_at) == ("on_hold", None)
    assert order.hold_reason == (
        "买家申请退款, 退款处理完之前不要发货: "
        "子订单 41171611600046272 (WAIT_BUYER_RETURN_GOODS 卖家已同意, 等待买家退货)"
    )


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(
            {
                "jingdong_pop_order_search_responce": {
                    "code": "0",
                    "searchorderinfo_result": {
                        "apiResult": {"success": True, "code": "0", "chineseErrCode": "成功"},
                        "orderTotal": 1,
                        "orderInfoList": [jd_order()],
                    },
                }
            },
            id="search",
        ),
        pytest.param(
            {"jingdong_pop_order_get_responce": {"orderDetailInfo": {"orderInfo": jd_order()}}},
            id="get",
        ),
        pytest.param({"orderInfoList": [jd_order()]}, id="orderInfoList"),
    ],
)
async def test_a_jd_answer_lands_with_official_names(
    client: TestClient, answer: dict[str, Any]
) -> None:
    status, body = await post(client, "jd", answer)
    assert status == 200, body
    order = (await stored(client))["249786309732"]
    assert (order.province, order.city, order.district) == ("广东省", "广州市", "海珠区")
    assert (order.receiver_phone, order.receiver_phone_masked) == (None, "136*******5")
    assert order.categories == ["13288"]


async def test_a_jd_order_without_the_fields_not_asked_for_lands(client: TestClient) -> None:
    without = jd_order()
    del without["orderPayment"], without["orderStartTime"]
    status, body = await post(client, "jd", without)
    assert status == 200, body
    assert (await stored(client))["249786309732"].amount_fen == 100


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(
            {"code": 10000, "msg": "success", "data": {"shop_order_detail": douyin_order()}},
            id="orderDetail",
        ),
        pytest.param(
            {"code": 10000, "data": {"shop_order_list": [douyin_order()], "total": 1}},
            id="searchList",
        ),
    ],
)
async def test_a_douyin_answer_lands_with_the_municipality_as_its_city(
    client: TestClient, answer: dict[str, Any]
) -> None:
    status, body = await post(client, "douyin", answer)
    assert status == 200, body
    order = (await stored(client))["6920283764917131016"]
    assert (order.province, order.city, order.district) == ("北京市", "北京市", "朝阳区")
    assert (order.receiver_phone, order.receiver_phone_masked) == (None, "*******8650")
    raw = await raw_of(client, "6920283764917131016")
    assert raw["post_addr"]["city"]["name"] == "市辖区"


@pytest.mark.parametrize(
    ("channel", "answer", "said"),
    [
        pytest.param(
            "taobao",
            {"error_response": {"code": 27, "msg": "Invalid session", "sub_msg": "会话已过期"}},
            "这是平台返回的错误, 不含订单: 27 会话已过期",
            id="top-error",
        ),
        pytest.param(
            "douyin",
            {"code": 30002, "msg": "权限不足", "data": {}},
            "这是抖店返回的错误, 不含订单: 30002 权限不足",
            id="douyin-error",
        ),
        pytest.param(
            "jd",
            {"trade_fullinfo_get_response": {"trade": trade(1)}},
            "这是淘宝/天猫接口的应答, 不是 jd 渠道的订单; 请发到 /api/v1/orders/taobao",
            id="wrong-channel",
        ),
        pytest.param(
            "taobao",
            {"error_response": {"code": 7, "sub_msg": "\ud800" + "x" * 500}},
            "这是平台返回的错误, 不含订单: 7 \\ud800" + "x" * 193 + "…",
            id="unstorable-words-escaped-and-cut",
        ),
    ],
)
async def test_an_answer_holding_no_orders_is_refused_with_what_it_says(
    client: TestClient, channel: str, answer: dict[str, Any], said: str
) -> None:
    response = await client.post(
        f"/api/v1/orders/{channel}", data=json.dumps(answer), headers=auth("all")
    )
    assert response.status == 400
    assert await response.json() == {"error": said}
    assert await stored(client) == {}


async def test_the_batch_limit_counts_the_answers_orders(client: TestClient) -> None:
    answer = {"trades_sold_get_response": {"trades": {"trade": [{"tid": n} for n in range(1001)]}}}
    status, body = await post(client, "taobao", answer)
    assert (status, body) == (413, {"error": "一批最多 1000 条, 收到 1001 条; 请拆分后重发"})


# --- orderbot import ---------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path, database_url: str) -> Path:
    return write_config(tmp_path / "orderbot.toml", config_data(database_url))


def run_import(tmp_path: Path, config_file: Path, name: str, text: str, channel: str) -> Any:
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    result = orderbot_here("import", source, "--channel", channel, "-c", config_file, cwd=tmp_path)
    no_crash(result)
    return result


def test_import_takes_an_answer_per_json_line(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    pages = [
        {"trades_sold_get_response": {"trades": {"trade": [trade(1), trade(2, created="昨天")]}}},
        {"trades_sold_get_response": {"total_results": 0}},  # an empty last page
        {"error_response": {"code": 27, "sub_msg": "会话已过期"}},
        {"trade_fullinfo_get_response": {"trade": trade(3)}},
    ]
    text = "\n".join(json.dumps(page, ensure_ascii=False) for page in pages)
    result = run_import(tmp_path, config_file, "trades.jsonl", text, "taobao")
    assert summary(result) == (2, 0, 0, 2, 0)
    assert rejections(result) == {
        1: "第 2 条订单: created: 时间格式不对 '昨天' (应为 yyyy-MM-dd HH:mm:ss)",
        3: "这是平台返回的错误, 不含订单: 27 会话已过期",
    }
    assert sorted(orders_in(database_url)) == ["1", "3"]


def test_import_takes_a_whole_answer_saved_as_json(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    answer = {"code": 10000, "data": {"shop_order_list": [douyin_order()]}}
    text = json.dumps(answer, ensure_ascii=False, indent=2)
    result = run_import(tmp_path, config_file, "orders.json", text, "douyin")
    assert result.returncode == 0, result.stderr
    assert summary(result) == (1, 0, 0, 0, 0)
    order = orders_in(database_url)["6920283764917131016"]
    assert (order.city, order.receiver_phone_masked) == ("北京市", "*******8650")


def test_a_json_line_that_is_no_object_is_refused_as_such(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    """A line holding a bare string is a record like any other, not a reason to quote back."""
    text = '"WAIT_SELLER_SEND_GOODS"\n42\n' + json.dumps(trade(5), ensure_ascii=False)
    result = run_import(tmp_path, config_file, "trades.jsonl", text, "taobao")
    assert summary(result) == (1, 0, 0, 2, 0)
    assert rejections(result) == {1: "订单必须是 JSON 对象", 2: "订单必须是 JSON 对象"}
    assert sorted(orders_in(database_url)) == ["5"]


async def test_a_presale_lands_with_a_payment_per_step_and_its_parcel_later(
    client: TestClient,
) -> None:
    """Deposit, balance, shipping: each record as TOP returns it then; what reconciliation and
    tracking need is stored as rows, matched by serial and tracking number."""
    steps = [
        {
            "step_no": 1,
            "step_channel_no": "2026022022001001330200000001",
            "step_actual_pay_fee": "5.00",
        },
        {"step_no": 2, "step_actual_pay_fee": "24.50"},
    ]
    presale = trade(
        9,
        type="step",
        status="WAIT_BUYER_PAY",
        step_trade_status="FRONT_PAID_FINAL_NOPAID",
        step_pay_details={"step_pay_detail": steps},
    )
    assert (await post(client, "taobao", presale))[0] == 200
    steps[1] |= {"step_channel_no": "2026030122001001330200000002"}
    presale |= {"status": "WAIT_SELLER_SEND_GOODS", "step_trade_status": "FRONT_PAID_FINAL_PAID"}
    assert (await post(client, "taobao", presale))[0] == 200
    payments = await all_rows(client.app[SESSIONS], OrderPayment)
    assert [(p.serial, p.phase, p.amount_fen, p.method) for p in payments] == [
        ("2026022022001001330200000001", "deposit", 500, "alipay"),
        ("2026030122001001330200000002", "final", 2450, "alipay"),
    ]

    shipped = presale | {
        "status": "WAIT_BUYER_CONFIRM_GOODS",
        "consign_time": "2026-03-01 18:00:00",
    }
    shipped["orders"]["order"][0] |= {
        "invoice_no": "ZTO7800012345",
        "logistics_company": "中通快递",
    }
    assert (await post(client, "taobao", shipped))[0] == 200
    [waybill] = await all_rows(client.app[SESSIONS], OrderWaybill)
    assert (waybill.tracking_no, waybill.carrier) == ("ZTO7800012345", "中通快递")
    order = (await stored(client))["9"]
    assert (order.stage, order.shipped_at) == ("shipped", datetime(2026, 3, 1, 10, tzinfo=UTC))
