"""Bad input to the ingest API: each bad record is refused by index with its field named, the
good records of the same batch land, and the same input behaves the same on SQLite and
PostgreSQL (run this file with ORDERBOT_TEST_DB=postgresql too)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.app import create_app
from bot.keys import SESSIONS
from services.config import parse_config
from storage.models import IngestCount, Order
from tests.support import T0, FakeClock, all_rows, auth, config_data, shop_order, stage_event
from tests.test_endpoints import DatabaseProxy, postgres_url, proxy  # noqa: F401 (fixtures)

BEIJING_T0 = "2026-03-02 09:00:00"  # T0 in the platforms' Beijing time


def taobao_trade(tid: str, **changes: Any) -> dict[str, Any]:
    return {
        "tid": tid,
        "status": "WAIT_SELLER_SEND_GOODS",
        "created": BEIJING_T0,
        "pay_time": BEIJING_T0,
        "payment": "99.00",
        "seller_nick": "家居旗舰店",
        "receiver_state": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
    } | changes


def jd_order(order_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "orderId": order_id,
        "venderId": "10128374",
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "orderStartTime": BEIJING_T0,
        "paymentConfirmTime": BEIJING_T0,
        "orderPayment": "12.50",
        "consigneeInfo": {"province": "上海", "city": "上海市", "county": "浦东新区"},
    } | changes


def douyin_order(order_id: str, **changes: Any) -> dict[str, Any]:
    at = int(T0.timestamp())
    return {
        "order_id": order_id,
        "shop_name": "抖店小铺",
        "order_status": 2,
        "create_time": at,
        "pay_time": at,
        "pay_amount": 9900,
        "post_addr": {"province": {"name": "浙江省"}, "city": {"name": "杭州市"}},
    } | changes


RECORDS = {"taobao": taobao_trade, "jd": jd_order, "douyin": douyin_order, "shop": shop_order}


def receiver(**changes: Any) -> dict[str, Any]:
    return shop_order("X")["receiver"] | changes


async def stored(client: TestClient) -> dict[str, Order]:
    return {o.channel_order_id: o for o in await all_rows(client.app[SESSIONS], Order)}


async def post_around(
    client: TestClient, channel: str, bad: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """Post ``[good, bad, good]``; the good ones are proven kept: stored, and unchanged when
    sent again."""
    good = [RECORDS[channel]("G1"), RECORDS[channel]("G2")]
    response = await client.post(
        f"/api/v1/orders/{channel}", json=[good[0], bad, good[1]], headers=auth("all")
    )
    assert response.status in (207, 422), await response.text()
    body = await response.json()
    assert body["created"] == 2
    assert {"G1", "G2"} <= set(await stored(client))
    again = await client.post(f"/api/v1/orders/{channel}", json=good, headers=auth("all"))
    assert (again.status, (await again.json())["unchanged"]) == (200, 2)
    return response.status, body


# --- 13: unknown channel --------------------------------------------------------------------


async def test_an_unknown_channel_is_a_json_404_naming_the_valid_ones(client: TestClient) -> None:
    response = await client.post("/api/v1/orders/pdd", json=[shop_order("S1")], headers=auth("all"))
    assert response.status == 404
    assert response.content_type == "application/json"
    body = await response.json()
    assert "'pdd'" in body["error"]
    assert body["channels"] == ["taobao", "jd", "douyin", "shop"]
    assert all(channel in body["error"] for channel in body["channels"])
    unauthenticated = await client.post("/api/v1/orders/pdd", json=[])
    assert unauthenticated.status == 401


# --- 11: every problem of a record at once ---------------------------------------------------


async def test_a_rejected_record_lists_all_its_problems_at_once(client: TestClient) -> None:
    bad = shop_order("S 1", status="paid", total_fen=-5) | {
        "created_at": "2026-03-02 09:00:00",
        "receiver": receiver(province="浙" * 40),
    }
    _, body = await post_around(client, "shop", bad)
    [rejection] = body["rejected"]
    assert rejection["index"] == 1
    reason = rejection["reason"]
    for field in ("order_no", "status", "total_fen", "created_at", "receiver.province"):
        assert f"{field}: " in reason, (field, reason)
    # an unknown status names the nearest and lists the accepted ones
    assert "是否想写 PAID?" in reason
    assert "PENDING_PAYMENT, PARTIALLY_PAID, PAID, PICKING, SHIPPED" in reason


async def test_a_shop_field_at_the_wrong_level_or_misspelt_is_named_not_dropped(
    client: TestClient,
) -> None:
    # region and phone beside the receiver, not in it: stored, the order would lose both
    bad = shop_order("SH9") | {"province": "上海市", "mobile": "13812345678"}
    bad["receiver"] = receiver() | {"provnce": "上海市"}
    _, body = await post_around(client, "shop", bad)
    [rejection] = body["rejected"]
    reason = rejection["reason"]
    assert "province: 未知字段, 是否想写 receiver.province?" in reason
    assert "mobile: 未知字段, 是否想写 receiver.mobile?" in reason
    assert "receiver.provnce: 未知字段, 是否想写 receiver.province?" in reason
    assert "SH9" not in await stored(client)


@pytest.mark.parametrize(
    ("channel", "changes", "listed"),
    [
        ("taobao", {"status": "paid"}, "WAIT_SELLER_SEND_GOODS"),
        ("jd", {"orderState": "SHIPPED"}, "WAIT_SELLER_STOCK_OUT"),
        ("douyin", {"order_status": 99}, "1, 105, 2, 101, 3, 4, 5"),
    ],
)
async def test_an_unknown_status_lists_the_accepted_values(
    client: TestClient, channel: str, changes: dict[str, Any], listed: str
) -> None:
    _, body = await post_around(client, channel, RECORDS[channel]("B1", **changes))
    [rejection] = body["rejected"]
    assert "可选值: " in rejection["reason"] and listed in rejection["reason"]


# --- 19: values the database cannot store ----------------------------------------------------

UNSTORABLE = [
    pytest.param("shop", shop_order("B1") | {"shop_name": "店" * 300}, "shop_name", id="shop-name"),
    pytest.param("shop", shop_order("B1", category="类" * 300), "category", id="category"),
    pytest.param(
        "shop",
        shop_order("B1") | {"receiver": receiver(province="省" * 100)},
        "receiver.province",
        id="province",
    ),
    pytest.param(
        "shop",
        shop_order("B1") | {"receiver": receiver(mobile="1" * 50)},
        "receiver.mobile",
        id="mobile-50-digits",
    ),
    pytest.param("taobao", taobao_trade("9" * 100), "tid", id="taobao-tid-100-digits"),
    pytest.param(
        "taobao", taobao_trade("B1") | {"tid": int("9" * 100)}, "tid", id="tid-100-digit-number"
    ),
    pytest.param("taobao", taobao_trade("B1", seller_nick="铺" * 129), "seller_nick", id="nick"),
    pytest.param("jd", jd_order("B1", venderId="7" * 65 * 2), "venderId", id="jd-vender"),
    pytest.param(
        "jd",
        jd_order("B1", consigneeInfo={"province": "上海", "city": "市" * 33}),
        "consigneeInfo.city",
        id="jd-city",
    ),
    pytest.param(
        "douyin",
        douyin_order("B1", post_addr={"town": {"name": "区" * 33}}),
        "post_addr.town.name",
        id="douyin-district",
    ),
    pytest.param("shop", shop_order("B1") | {"shop_name": "a\x00b"}, "shop_name", id="nul-read"),
    pytest.param(
        "shop",
        shop_order("B1") | {"receiver": receiver(name="张\x00三")},
        "receiver.name",
        id="nul-kept-only-in-raw",
    ),
    pytest.param("shop", shop_order("B1") | {"memo\x00": 1}, "'memo\\x00'", id="nul-in-a-key"),
    pytest.param("shop", shop_order("B1", total_fen=2**63), "total_fen", id="total-2-63"),
    pytest.param("shop", shop_order("B1", total_fen=2**64 + 1), "total_fen", id="total-2-64"),
    pytest.param("taobao", taobao_trade("B1", payment="1" + "0" * 20), "payment", id="yuan-huge"),
]


@pytest.mark.parametrize(("channel", "bad", "field"), UNSTORABLE)
async def test_a_value_the_database_cannot_store_is_refused_naming_the_field(
    client: TestClient, channel: str, bad: dict[str, Any], field: str
) -> None:
    status, body = await post_around(client, channel, bad)
    assert status == 207
    [rejection] = body["rejected"]
    assert (rejection["index"], rejection["reason"].split(":")[0]) == (1, field)
    assert "B1" not in await stored(client)


# --- 20: times that overflow or make no sense ------------------------------------------------

ABSURD_TIMES = [
    pytest.param("shop", {"created_at": "9999-12-31T23:59:59-01:00"}, "created_at", id="9999"),
    pytest.param("shop", {"created_at": "0001-01-01T00:00:00+08:00"}, "created_at", id="year-1"),
    pytest.param("shop", {"paid_at": "9999-12-31T23:59:59+00:00"}, "paid_at", id="deadline"),
    pytest.param("shop", {"paid_at": "1999-12-31T23:59:59+08:00"}, "paid_at", id="before-2000"),
    pytest.param("shop", {"paid_at": "2026-03-04T09:00:00+08:00"}, "paid_at", id="2-days-ahead"),
    pytest.param("taobao", {"created": "0001-01-01 00:00:00"}, "created", id="taobao-year-1"),
    pytest.param("taobao", {"pay_time": "9999-12-31 23:59:59"}, "pay_time", id="taobao-9999"),
    pytest.param("jd", {"orderStartTime": "0001-01-01 07:59:59"}, "orderStartTime", id="jd-year-1"),
    pytest.param("douyin", {"create_time": 1000000000000}, "create_time", id="douyin-millis"),
    pytest.param("douyin", {"pay_time": 10**11}, "pay_time", id="douyin-year-5138"),
]


@pytest.mark.parametrize(("channel", "changes", "field"), ABSURD_TIMES)
async def test_an_absurd_time_is_refused_naming_the_field(
    client: TestClient, channel: str, changes: dict[str, Any], field: str
) -> None:
    bad = RECORDS[channel]("B1")
    bad |= changes
    status, body = await post_around(client, channel, bad)
    assert status == 207
    [rejection] = body["rejected"]
    assert (rejection["index"], rejection["reason"].split(":")[0]) == (1, field)


async def test_a_time_up_to_a_day_ahead_is_a_clock_difference_and_accepted(
    client: TestClient,
) -> None:
    ahead = (T0 + timedelta(hours=23)).isoformat()
    response = await client.post(
        "/api/v1/orders/shop", json=shop_order("S1") | {"updated_at": ahead}, headers=auth("all")
    )
    assert response.status == 200, await response.text()


async def test_an_event_in_year_1_is_refused_and_the_others_apply(client: TestClient) -> None:
    await client.post("/api/v1/orders/shop", json=[shop_order("S1")], headers=auth("all"))
    year_1 = stage_event("S1", "picking", T0) | {"occurred_at": "0001-01-01T00:00:00+08:00"}
    events = [year_1, stage_event("S1", "picking", T0 + timedelta(minutes=5))]
    events[1]["event_id"] = "good"
    response = await client.post("/api/v1/events", json=events, headers=auth("wms"))
    assert response.status == 207
    body = await response.json()
    assert [(r["index"], r["reason"].split(":")[0]) for r in body["rejected"]] == [
        (0, "occurred_at")
    ]
    assert body["updated"] == 1
    assert (await stored(client))["S1"].stage == "picking"


# --- 21: a lone surrogate ---------------------------------------------------------------------


def with_raw_text(records: list[dict[str, Any]], marker: str, raw: str) -> bytes:
    """The JSON text of ``records`` with ``marker`` replaced by ``raw`` as written (an escape
    such as ``\\ud800`` that the json module would not produce from a str)."""
    return json.dumps(records, ensure_ascii=False).replace(marker, raw).encode()


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"shop_name": "MARK"}, "shop_name"),
        ({"receiver": {"detail": "路MARK号"}}, "receiver.detail"),
        ({"MARK": 1}, "'\\ud800'"),
    ],
    ids=["read-field", "nested", "key"],
)
async def test_a_lone_surrogate_costs_its_record_only(
    client: TestClient, bad: dict[str, Any], field: str
) -> None:
    records = [shop_order("G1"), shop_order("B1") | bad, shop_order("G2")]
    body = with_raw_text(records, "MARK", "\\ud800")
    response = await client.post(
        "/api/v1/orders/shop",
        data=body,
        headers=auth("all") | {"Content-Type": "application/json"},
    )
    assert response.status == 207, await response.text()
    answer = await response.json()
    [rejection] = answer["rejected"]
    assert rejection["index"] == 1
    assert rejection["reason"].startswith(field), rejection["reason"]
    assert "U+D800" in rejection["reason"]
    assert set(await stored(client)) == {"G1", "G2"}


async def test_an_event_with_a_lone_surrogate_costs_that_event_only(client: TestClient) -> None:
    await client.post("/api/v1/orders/shop", json=[shop_order("S1")], headers=auth("all"))
    events = [stage_event("S1", "picking", T0), stage_event("S2", "picking", T0)]
    events[1]["order_id"] = "MARK"
    response = await client.post(
        "/api/v1/events",
        data=with_raw_text(events, "MARK", "\\udfff"),
        headers=auth("wms") | {"Content-Type": "application/json"},
    )
    body = await response.json()
    assert (response.status, body["updated"]) == (207, 1)
    assert [r["index"] for r in body["rejected"]] == [1]
    assert "order_id" in body["rejected"][0]["reason"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'[{"order_no": "S1",\n "status": }]', "第 2 行第 12 列"),
        (b'[{"total_fen": NaN}]', "NaN"),
        (b'[{"total_fen": 1e400}]', "1e400"),
        (b"[" * 5000 + b"]" * 5000, "嵌套过深"),
        ('[{"order_no": "订单"}]'.encode("gbk"), "UTF-8"),
    ],
    ids=["broken", "nan", "infinite", "deep", "gbk"],
)
async def test_a_body_that_is_not_json_says_where(
    client: TestClient, body: bytes, where: str
) -> None:
    response = await client.post(
        "/api/v1/orders/shop", data=body, headers=auth("all") | {"Content-Type": "application/json"}
    )
    assert response.status == 400
    error = (await response.json())["error"]
    assert error.startswith("请求体不是合法的 JSON") and where in error, error


# --- 22: an event that would move an order back ----------------------------------------------


async def test_an_event_moving_an_order_back_is_answered_not_applied(client: TestClient) -> None:
    await client.post(
        "/api/v1/orders/shop",
        json=[
            shop_order("S1", status="SHIPPED"),
            shop_order("S2"),
            shop_order("S3", status="COMPLETED"),
        ],
        headers=auth("all"),
    )
    events = [
        stage_event("S1", "paid", T0),  # S1 has shipped: not back to paid
        stage_event("S2", "picking", T0),
        stage_event("S2", "paid", T0) | {"event_id": "S2-paid"},  # just moved on to picking
        stage_event("S3", "on_hold", T0),  # S3 has ended
    ]
    response = await client.post("/api/v1/events", json=events, headers=auth("wms"))
    assert response.status == 200
    body = await response.json()
    assert (body["updated"], body["unchanged"], body["rejected"]) == (1, 0, [])
    not_applied = {n["index"]: n["reason"] for n in body["not_applied"]}
    assert sorted(not_applied) == [0, 2, 3]
    assert "shipped" in not_applied[0] and "paid" in not_applied[0]
    assert "picking" in not_applied[2]
    assert "已结束" in not_applied[3]
    orders = await stored(client)
    assert (orders["S1"].stage, orders["S2"].stage, orders["S3"].stage) == (
        "shipped",
        "picking",
        "completed",
    )
    same_stage = stage_event("S2", "picking", T0) | {"event_id": "S2-picking-again"}
    again = await (
        await client.post("/api/v1/events", json=[same_stage], headers=auth("wms"))
    ).json()
    assert (again["unchanged"], again["not_applied"]) == (1, [])


# --- 24: a blank free-text address ------------------------------------------------------------


async def test_a_shop_order_with_a_blank_address_counts_as_not_parsed(client: TestClient) -> None:
    blanks = ["", "   ", "\t", "\u3000", None]
    batch = [shop_order(f"B{i}", province=None, detail=d) for i, d in enumerate(blanks)]
    batch.append(shop_order("OK"))  # a structured address: not free text, not counted
    response = await client.post("/api/v1/orders/shop", json=batch, headers=auth("all"))
    assert response.status == 200
    body = await response.json()
    assert (body["created"], body["address_unparsed"]) == (6, 5)
    orders = await stored(client)
    assert {no: o.address_source for no, o in orders.items()} == {
        **{f"B{i}": "failed" for i in range(5)},
        "OK": "channel",
    }
    async with client.app[SESSIONS]() as session:
        failed = await session.scalar(select(func.sum(IngestCount.address_failed)))
    assert failed == 5  # what the health guard's address signal reads


# --- 23: the database away --------------------------------------------------------------------


async def test_an_order_posted_while_the_database_is_away_is_a_503(
    postgres_url: str,  # noqa: F811 (the fixture imported above)
    proxy: DatabaseProxy,  # noqa: F811
    aiohttp_client: Any,
    clock: FakeClock,
) -> None:
    port = await proxy.start()
    url = make_url(postgres_url).set(host="127.0.0.1", port=port)
    config = parse_config(config_data(url.render_as_string(hide_password=False)))
    client = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    response = await client.post("/api/v1/orders/shop", json=shop_order("S1"), headers=auth("all"))
    assert response.status == 200

    proxy.refuse()

    for path, body, token in [
        ("/api/v1/orders/shop", [shop_order("S2")], "all"),
        ("/api/v1/events", [stage_event("S1", "picking", T0)], "wms"),
    ]:
        response = await client.post(path, json=body, headers=auth(token))
        assert response.status == 503, await response.text()
        assert response.headers["Retry-After"] == "30"
        assert "数据库暂时不可用" in (await response.json())["error"]
