"""One list of channels: the config, the API, the chat and the route reasons know exactly the
channels registered from their adapter modules, by the names those modules declare."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from aiohttp.test_utils import TestClient

from channels import douyin, jd, shop, taobao
from channels.registry import ADAPTERS, LABELS, NAMES, REGISTERED
from rules.stages import Stage
from sandbox.samples import sample_record
from services.config import ConfigError, parse_config
from services.policy import Policy
from tests.chat import say
from tests.support import T0, auth, config_data

UNREGISTERED = "pdd"


def test_each_adapter_module_declares_its_name_label_and_adapter() -> None:
    for module in (taobao, jd, douyin, shop):
        declared = module.ADAPTER
        assert (declared.name, declared.label) == (module.CHANNEL, module.LABEL)
        assert declared.normalize is module.normalize
    assert NAMES == tuple(c.name for c in REGISTERED) == tuple(ADAPTERS) == tuple(LABELS)
    assert len(set(LABELS.values())) == len(NAMES)  # no two channels read alike


def _with_channels(channels: list[str]) -> dict[str, object]:
    data = config_data("sqlite+aiosqlite:///x.db")
    data["sla"][0]["channels"] = channels
    data["categories"] = {channel: {"1": "家具"} for channel in channels}
    data["sources"]["erp"]["channels"] = channels
    return data


def test_the_config_accepts_exactly_the_registered_channels() -> None:
    config = parse_config(_with_channels(list(NAMES)))
    assert config.sla[0].channels == NAMES
    with pytest.raises(ConfigError) as refused:
        parse_config(_with_channels([*NAMES, UNREGISTERED]))
    problems = str(refused.value)
    for key in ("sla[0].channels", "categories.pdd", "sources.erp.channels"):
        assert f"{key}: 未知渠道 'pdd'" in problems
    assert not any(f"'{name}'" in problems for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_route_reason_names_the_channel_by_its_label(name: str) -> None:
    data = config_data("sqlite+aiosqlite:///x.db")
    data["routing"]["rules"] = [{"name": "按渠道", "group": "east", "channels": [name]}]
    policy = Policy.from_config(parse_config(data))
    order = SimpleNamespace(
        channel=name,
        order_type="normal",
        amount_fen=100,
        category=None,
        categories=(),
        province="上海市",
        city="上海市",
    )
    assert policy.route(order).reason == f"命中规则「按渠道」: 渠道={LABELS[name]}"


async def test_the_api_serves_and_lists_exactly_the_registered_channels(
    client: TestClient,
) -> None:
    for name in NAMES:
        response = await client.post(f"/api/v1/orders/{name}", json=[], headers=auth("all"))
        assert response.status == 200, await response.text()
    response = await client.post(f"/api/v1/orders/{UNREGISTERED}", json=[], headers=auth("all"))
    assert response.status == 404
    assert (await response.json())["channels"] == list(NAMES)


async def test_the_chat_qualifies_an_order_number_by_each_registered_channel(
    client: TestClient,
) -> None:
    number = "202603020077"
    for name in NAMES:
        record = sample_record(
            name, random.Random(7), T0, order_no=number, stage=Stage.PAID, stage_age=timedelta(0)
        )
        response = await client.post(f"/api/v1/orders/{name}", json=record, headers=auth("all"))
        assert response.status == 200, await response.text()

    ambiguous = await say(client, "zhang", f"状态 {number}")
    for name in NAMES:
        assert f"{LABELS[name]}写 {name}:{number}" in ambiguous
    for name in NAMES:
        reply = await say(client, "zhang", f"状态 {name}:{number}")
        assert reply.startswith(f"订单 {number} ({LABELS[name]})"), reply


def test_the_api_reference_documents_exactly_the_registered_channels() -> None:
    """docs/openapi.yaml is how integrators learn the channels: it must not fall behind."""
    spec = yaml.safe_load((Path(__file__).parent.parent / "docs" / "openapi.yaml").read_text())
    order_paths = [p.removeprefix("/api/v1/orders/") for p in spec["paths"] if "/orders/" in p]
    event = spec["components"]["schemas"]["StageEvent"]["properties"]["channel"]

    assert order_paths == list(NAMES)
    assert event["enum"] == list(NAMES)
