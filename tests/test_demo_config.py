"""The demo's config names every category the sample generator sends, so its made-to-order
furniture is typed custom from every channel, as a seller's own config would do it."""

from __future__ import annotations

import pytest

from bot.demo import demo_config
from sandbox.samples import CATEGORIES
from services.policy import Policy

IDS = {
    "taobao": lambda c: c.taobao_cid,
    "jd": lambda c: c.jd_cid,
    "douyin": lambda c: c.douyin_first_cid,
}


@pytest.mark.parametrize("channel", sorted(IDS))
def test_every_sample_category_id_is_named_and_custom_furniture_is_typed_custom(
    channel: str,
) -> None:
    policy = Policy.from_config(demo_config("sqlite+aiosqlite:///demo.db", 8080, 8090))
    for category in CATEGORIES:
        category_id = str(IDS[channel](category))
        assert policy.config.categories[channel][category_id] == category.name
        expected = "custom" if category.name == "定制家具" else "normal"
        assert policy.order_type("normal", channel, [category_id]) == expected
