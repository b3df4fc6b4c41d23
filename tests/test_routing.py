"""Routing: first matching rule wins, the reason is recorded, the default catches the rest."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.config import parse_config
from rules.routing import route
from tests.support import config_data


@dataclass
class FakeOrder:
    channel: str = "taobao"
    order_type: str = "normal"
    amount_fen: int = 10000
    category: str | None = "服饰"
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
