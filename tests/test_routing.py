"""Routing: first matching rule wins, the reason is recorded, the default catches the rest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.keys import RULES, SESSIONS
from jobs import watch
from rules.kinds import Kind
from rules.logistics import Logistics
from rules.routing import TicketFacts, route
from services.config import ConfigError, parse_config
from storage.models import Ticket
from tests.support import BEIJING, T0, FakeClock, all_rows, auth, config_data

H = timedelta(hours=1)


@dataclass
class FakeOrder:
    channel: str = "taobao"
    order_type: str = "normal"
    amount_fen: int = 10000
    category: str | None = "服饰"
    categories: tuple[str, ...] = ()
    province: str | None = "广东省"
    city: str | None = "深圳市"


CONFIG = parse_config(config_data("sqlite+aiosqlite:///x.db"))


@pytest.mark.parametrize(
    ("order", "group", "rule", "reason_part"),
    [
        (FakeOrder(province="浙江省"), "east", "华东", "省份=浙江省"),
        (FakeOrder(province="浙江省", amount_fen=500000), "vip", "大额", "金额¥5,000.00≥¥5,000.00"),
        (FakeOrder(amount_fen=499999), "general", "默认", "未命中任何分单规则"),
        (FakeOrder(province=None, city=None), "general", "默认", "地址未解析"),
    ],
    ids=["region", "amount-beats-region", "just-below-amount", "unparsed-address"],
)
def test_first_matching_rule_wins(
    order: FakeOrder, group: str, rule: str, reason_part: str
) -> None:
    decision = route(order, CONFIG.routing.rules, CONFIG.routing.default_group)
    assert (decision.group, decision.rule) == (group, rule)
    assert reason_part in decision.reason


def test_all_conditions_of_a_rule_must_hold() -> None:
    data = config_data("sqlite+aiosqlite:///x.db")
    data["routing"]["rules"] = [
        {
            "name": "抖店数码",
            "group": "east",
            "channels": ["douyin"],
            "categories": ["数码"],
            "max_yuan": "100",
        },
    ]
    config = parse_config(data)
    rules, default = config.routing.rules, config.routing.default_group
    match = FakeOrder(channel="douyin", category="数码", amount_fen=10000)
    assert route(match, rules, default).group == "east"
    assert (
        route(FakeOrder(channel="douyin", category="数码", amount_fen=10001), rules, default).group
        == "general"
    )
    assert route(FakeOrder(channel="jd", category="数码"), rules, default).group == "general"


def test_parcel_rules_match_the_ticket_kind_state_and_carrier_and_say_so() -> None:
    data = config_data("sqlite+aiosqlite:///x.db")
    data["routing"]["rules"] = [
        {
            "name": "顺丰拒签",
            "group": "vip",
            "kinds": ["return"],
            "logistics_states": ["rejected"],
            "carriers": ["SF"],
        },
        {"name": "物流", "group": "east", "kinds": ["stall", "return"]},
    ]
    config = parse_config(data)
    rules, default = config.routing.rules, config.routing.default_group
    sf_rejected = TicketFacts(Kind.RETURN, Logistics.REJECTED, "顺丰速运")
    decision = route(FakeOrder(), rules, default, facts=sf_rejected)
    assert (decision.group, decision.rule) == ("vip", "顺丰拒签")
    assert "工单类型=拒签退回、物流状态=拒签、快递=顺丰" in decision.reason
    zto_rejected = TicketFacts(Kind.RETURN, Logistics.REJECTED, "zhongtong")
    assert route(FakeOrder(), rules, default, facts=zto_rejected).rule == "物流"
    assert route(FakeOrder(), rules, default, facts=TicketFacts(Kind.STALL)).rule == "物流"
    # an overdue ticket (the default) matches neither: a kind condition is a condition
    assert route(FakeOrder(), rules, default).group == "general"


def test_an_unknown_carrier_in_a_rule_is_refused_with_the_known_ones() -> None:
    data = config_data("sqlite+aiosqlite:///x.db")
    data["routing"]["rules"] = [{"name": "x", "group": "east", "carriers": ["SFX"]}]
    with pytest.raises(ConfigError, match=r"routing\.rules\[0\]\.carriers.*未知快递公司.*SF, ZTO"):
        parse_config(data)


def _category_rules(*categories: str) -> tuple[Any, str]:
    data = config_data("sqlite+aiosqlite:///x.db")
    data["routing"]["rules"] = [{"name": "定制类目", "group": "vip", "categories": categories}]
    config = parse_config(data)
    return config.routing.rules, config.routing.default_group


def test_a_category_rule_matches_any_of_the_orders_categories_by_name_or_id() -> None:
    names = {"50008164": "定制家具"}
    second = FakeOrder(category="50010788", categories=("50010788", "50008164"))
    rules, default = _category_rules("定制家具")
    decision = route(second, rules, default, names)
    assert (decision.group, decision.reason) == ("vip", "命中规则「定制类目」: 类目=定制家具")
    assert route(second, rules, default).group == "general"  # no names: the ids stay ids
    rules, default = _category_rules("50008164")  # a rule may name the id itself
    assert route(second, rules, default, names).group == "vip"
    assert route(FakeOrder(category="50010788"), rules, default, names).group == "general"


# --- through the API: platform records, the watch's ticket ----------------------------------------


def taobao_trade(
    tid: str, *cids: str, state: str = "浙江省", city: str = "杭州市", paid_at: datetime = T0
) -> dict[str, Any]:
    """A paid Tmall trade as ``taobao.trade.fullinfo.get`` returns it, a sub-order per category
    id, times in Beijing time."""
    paid = f"{paid_at.astimezone(BEIJING):%Y-%m-%d %H:%M:%S}"
    return {
        "tid": tid,
        "type": "fixed",
        "status": "WAIT_SELLER_SEND_GOODS",
        "created": paid,
        "pay_time": paid,
        "modified": paid,
        "payment": "1299.00",
        "seller_nick": "家居旗舰店",
        "receiver_state": state,
        "receiver_city": city,
        "receiver_district": "西湖区",
        "receiver_address": "文三路 100 号",
        "receiver_mobile": "13812345678",
        "orders": {
            "order": [
                {"oid": f"{tid}{n}", "cid": cid, "title": f"商品{n}", "num": 1, "payment": "1.00"}
                for n, cid in enumerate(cids, start=1)
            ]
        },
    }


@pytest.fixture
async def category_client(aiohttp_client: Any, database_url: str, clock: FakeClock) -> TestClient:
    """Taobao's 50008164 is 定制家具, routed to the vip group and made to order (custom SLA:
    8 business hours)."""
    data = config_data(database_url)
    data["categories"] = {"taobao": {"50008164": "定制家具"}}
    data["routing"]["rules"].insert(
        0, {"name": "定制类目", "group": "vip", "categories": ["定制家具"]}
    )
    app = create_app(parse_config(data), clock=clock, watch_timer=False)
    client: TestClient = await aiohttp_client(app)
    return client


async def ticket_of(client: TestClient, record: dict[str, Any], at: datetime) -> Ticket:
    response = await client.post("/api/v1/orders/taobao", json=record, headers=auth("taobao"))
    assert response.status == 200, await response.text()
    await watch.run(client.app[SESSIONS], client.app[RULES].current(), at)
    [ticket] = await all_rows(client.app[SESSIONS], Ticket)
    return ticket


async def test_a_trade_routes_by_the_name_of_any_sub_orders_category(
    category_client: TestClient,
) -> None:
    # The custom-made table is the second sub-order: 8 business hours from 09:00 is 17:00.
    ticket = await ticket_of(
        category_client, taobao_trade("900001", "50010788", "50008164"), T0 + 8 * H
    )
    assert (ticket.group_key, ticket.sla_rule) == ("vip", "定制待拣货")
    assert ticket.route_reason == "命中规则「定制类目」: 类目=定制家具"


async def test_a_trade_of_other_categories_is_routed_as_before(
    category_client: TestClient,
) -> None:
    ticket = await ticket_of(category_client, taobao_trade("900002", "50010788"), T0 + 2 * H)
    assert (ticket.group_key, ticket.sla_rule) == ("east", "普通待拣货")


# Paid at T0 (09:00 Beijing time) in each platform's own spelling of the region.
PAID_AT = "2026-03-02 09:00:00"
RECORDS: dict[str, dict[str, Any]] = {
    # Tmall writes the municipality short, its city in full.
    "taobao": taobao_trade("900010", "50010788", state="上海", city="上海市")
    | {"payment": "99.00"},
    # JD writes provinces short.
    "jd": {
        "orderId": "300010",
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "orderStartTime": PAID_AT,
        "paymentConfirmTime": PAID_AT,
        "orderPayment": "99.00",
        "consigneeInfo": {"province": "广东", "city": "深圳市", "county": "南山区"},
    },
    # Douyin names a municipality's city level 市辖区.
    "douyin": {
        "order_id": "600010",
        "main_status": 2,
        "create_time": int(T0.timestamp()),
        "pay_time": int(T0.timestamp()),
        "pay_amount": 9900,
        "post_addr": {
            "province": {"name": "北京市"},
            "city": {"name": "市辖区"},
            "town": {"name": "朝阳区"},
        },
    },
}


@pytest.fixture
async def region_client(aiohttp_client: Any, database_url: str, clock: FakeClock) -> TestClient:
    """Rules written with the official names, as the example config writes them."""
    data = config_data(database_url)
    for key, name in (("south", "华南组"), ("north", "华北组")):
        data["groups"][key] = {"name": name, "members": ["wang"]}
    data["routing"]["rules"] = [
        {"name": "华东", "group": "east", "provinces": ["上海市"], "cities": ["上海市"]},
        {"name": "华南", "group": "south", "provinces": ["广东省"]},
        {"name": "北京", "group": "north", "cities": ["北京市"]},
    ]
    app = create_app(parse_config(data), clock=clock, watch_timer=False)
    client: TestClient = await aiohttp_client(app)
    return client


@pytest.mark.parametrize(
    ("channel", "group", "reason"),
    [
        ("taobao", "east", "省份=上海市、城市=上海市"),
        ("jd", "south", "省份=广东省"),
        ("douyin", "north", "城市=北京市"),
    ],
)
async def test_rules_in_official_names_route_the_platforms_spellings(
    region_client: TestClient, channel: str, group: str, reason: str
) -> None:
    response = await region_client.post(
        f"/api/v1/orders/{channel}", json=RECORDS[channel], headers=auth("all")
    )
    assert response.status == 200, await response.text()
    await watch.run(region_client.app[SESSIONS], region_client.app[RULES].current(), T0 + 2 * H)
    [ticket] = await all_rows(region_client.app[SESSIONS], Ticket)
    assert (ticket.group_key, ticket.route_reason.split(": ")[1]) == (group, reason)
