"""Rules as data: versions in the database, validated as a whole, published live to every
instance, previewed, rescheduling open orders, announced to ops, rolled back, time-bounded."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.keys import RULES, SESSIONS
from jobs import watch
from services import rulebook
from services.config import Config, parse_config
from services.importer import import_orders
from services.rule_document import document_of, from_toml, to_toml, with_document
from services.rules_live import RulesFollower
from storage.models import Order, OutboxMessage
from tests.support import T0, FakeClock, auth, config_data, shop_order

WITHIN = 5.0  # seconds a publish may take to be in force on another instance


def _limit(client: TestClient, order_type: str = "normal") -> timedelta:
    rule = client.app[RULES].current().sla_for(order_type=order_type, stage="paid", channel="shop")
    assert rule is not None
    return rule.limit


def _with_limit(document: dict[str, Any], name: str, limit: str) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    next(rule for rule in changed["sla"] if rule["name"] == name)["limit"] = limit
    return changed


async def _in_force(client: TestClient, config: Config) -> dict[str, Any]:
    return document_of(await rulebook.rules_in_force(client.app[SESSIONS], config))


async def _ingest(client: TestClient, orders: list[dict[str, Any]]) -> None:
    response = await client.post("/api/v1/orders/shop", json=orders, headers=auth("all"))
    assert response.status == 200, await response.text()


async def _deadlines(client: TestClient) -> dict[str, Any]:
    async with client.app[SESSIONS]() as session:
        rows = await session.execute(select(Order.channel_order_id, Order.deadline_at))
        return dict(rows.all())


async def _ops_messages(client: TestClient) -> list[str]:
    async with client.app[SESSIONS]() as session:
        query = select(OutboxMessage.detail).where(
            OutboxMessage.target_kind == "user", OutboxMessage.target == "ops-liu"
        )
        return [text or "" for text in await session.scalars(query.order_by(OutboxMessage.id))]


# --- the document ---------------------------------------------------------------------------


def test_the_rules_round_trip_through_toml(config: Config) -> None:
    document = document_of(config)
    again = from_toml(to_toml(document))
    assert again == document
    assert with_document(config, again) == config
    # Infrastructure stays out of the rules: the database, timers, sources, roles.
    assert "database" not in document and "sources" not in document and "roles" not in document
    assert set(document["watch"]) == {"escalation"}
    assert "check_interval" not in document["health"]


def test_an_invalid_document_gets_check_configs_errors(config: Config) -> None:
    document = _with_limit(document_of(config), "普通待拣货", "2")
    with pytest.raises(rulebook.RulesRefused) as refused:
        rulebook.checked(config, document)
    assert 'sla[0].limit: 时长须带单位, 例如 "2h"、"90m"、"30s" (而不是 \'2\')' in str(
        refused.value
    )

    document = copy.deepcopy(document_of(config))
    document["routing"]["rules"][0]["group"] = "viq"
    document["routing"]["default_grup"] = "general"
    with pytest.raises(rulebook.RulesRefused) as refused:
        rulebook.checked(config, document)
    assert "routing.default_grup: 未知配置项, 是否想写 default_group?" in str(refused.value)


# --- versions in the running app -------------------------------------------------------------


async def test_the_files_rules_become_the_first_version_and_a_restart_adds_none(
    aiohttp_client: Any, config: Config, clock: FakeClock
) -> None:
    first = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    views = await rulebook.history(first.app[SESSIONS], config)
    assert [(v.id, v.status, v.source) for v in views] == [(1, "published", "file")]
    assert await _ops_messages(first) == []  # nothing changed: nobody is told

    await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    assert len(await rulebook.history(first.app[SESSIONS], config)) == 1


async def test_a_restart_does_not_undo_a_version_published_since(
    aiohttp_client: Any, client: TestClient, config: Config, clock: FakeClock
) -> None:
    sessions = client.app[SESSIONS]
    draft = await rulebook.save_draft(
        sessions,
        config,
        _with_limit(await _in_force(client, config), "普通待拣货", "6h"),
        author="liu",
        note=None,
        now=clock.now(),
    )
    await rulebook.publish(sessions, config, draft.id, author="liu", now=clock.now())

    again = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    assert _limit(again) == timedelta(hours=6)  # the file still says 2h: imported once already

    more_types = {"order_types": {"known": ["normal", "presale", "custom", "gift"]}}
    edited = parse_config(config_data(config.database.url) | more_types)
    third = await aiohttp_client(create_app(edited, clock=clock, watch_timer=False))
    assert _limit(third) == timedelta(hours=2)  # the file changed: its rules are the newest
    assert "gift" in third.app[RULES].current().config.order_types.known


async def test_a_published_draft_is_in_force_on_another_instance_within_seconds(
    aiohttp_client: Any, config: Config
) -> None:
    """Two app instances on one database (PostgreSQL under ORDERBOT_TEST_DB=postgresql): a
    version published through one is what the other works by within 5 s."""
    fast = parse_config(config_data(config.database.url) | {"watch": {"rules_poll": "1s"}})
    one = await aiohttp_client(create_app(fast, clock=FakeClock(T0), watch_timer=False))
    other = await aiohttp_client(create_app(fast, clock=FakeClock(T0), watch_timer=False))
    assert _limit(other) == timedelta(hours=2)

    draft = await rulebook.save_draft(
        one.app[SESSIONS],
        fast,
        _with_limit(await _in_force(one, fast), "普通待拣货", "6h"),
        author="liu",
        note="双11 备货",
        now=T0,
    )
    await rulebook.publish(one.app[SESSIONS], fast, draft.id, author="liu", now=T0)
    waited = 0.0
    while _limit(other) != timedelta(hours=6) and waited < WITHIN:
        await asyncio.sleep(0.1)
        waited += 0.1
    assert _limit(other) == timedelta(hours=6)
    # What the other instance ingests now gets the new deadline.
    await _ingest(other, [shop_order("SH-NEW", paid_at=T0)])
    assert (await _deadlines(other))["SH-NEW"] == T0 + timedelta(hours=6)


async def test_an_invalid_draft_is_refused_and_the_version_in_force_stays(
    client: TestClient, config: Config, clock: FakeClock
) -> None:
    sessions = client.app[SESSIONS]
    bad = _with_limit(await _in_force(client, config), "普通待拣货", "6")
    draft = await rulebook.save_draft(sessions, config, bad, author="liu", note=None, now=T0)
    assert draft.problems is not None and "sla[0].limit: 时长须带单位" in draft.problems
    with pytest.raises(rulebook.RulesRefused, match=r"sla\[0\]\.limit: 时长须带单位"):
        await rulebook.publish(sessions, config, draft.id, author="liu", now=T0)
    with pytest.raises(rulebook.RulesRefused):
        await rulebook.preview_draft(sessions, config, draft.id, T0)
    assert [v.status for v in await rulebook.history(sessions, config)] == ["draft", "published"]
    follower = RulesFollower(sessions, config, client.app[RULES], clock)
    await follower.refresh()
    assert follower.version_id == 1 and _limit(client) == timedelta(hours=2)


async def test_preview_then_publish_reschedules_open_orders_and_tells_ops(
    client: TestClient, config: Config, clock: FakeClock
) -> None:
    sessions = client.app[SESSIONS]
    paid = T0 - timedelta(minutes=90)
    await _ingest(client, [shop_order(f"SH{i}", paid_at=paid) for i in range(3)])
    # A big order: routed to the VIP group; a ticket already open for it.
    await _ingest(client, [shop_order("BIG", paid_at=T0 - timedelta(hours=3), total_fen=900000)])
    await watch.run(sessions, client.app[RULES].current(), T0)
    assert (await _deadlines(client))["SH0"] == paid + timedelta(hours=2)

    document = _with_limit(await _in_force(client, config), "普通待拣货", "1h")
    document["routing"]["rules"] = [r for r in document["routing"]["rules"] if r["name"] != "大额"]
    draft = await rulebook.save_draft(sessions, config, document, author="liu", note="收紧", now=T0)
    assert draft.problems is None
    assert [c.text() for c in draft.changes] == [
        "sla[普通待拣货].limit: 2h → 1h",
        "routing.rules: [大额, 华东] → [华东]",
        "routing.rules[大额]: 删除 (原为 {group = vip, provinces = [], cities = [], "
        "categories = [], channels = [], order_types = [], min_yuan = 5000, kinds = [], "
        "logistics_states = [], carriers = []})",
    ]
    _, effects = await rulebook.preview_draft(sessions, config, draft.id, T0)
    assert (effects.open_orders, effects.new_deadlines, effects.overdue_at_once) == (4, 4, 3)
    assert effects.open_tickets == 1 and effects.rerouted_count == 1
    (moved,) = effects.rerouted
    assert (moved.order_no, moved.from_group, moved.to_group) == ("BIG", "vip", "east")
    assert await _deadlines(client) == {  # a preview writes nothing
        **{f"SH{i}": paid + timedelta(hours=2) for i in range(3)},
        "BIG": T0 - timedelta(hours=1),
    }

    published = await rulebook.publish(sessions, config, draft.id, author="liu", now=T0)
    assert published.rescheduled.new_deadlines == 4 and published.told == ("ops-liu",)
    assert (await _deadlines(client))["SH0"] == paid + timedelta(hours=1)
    (said,) = await _ops_messages(client)
    assert said.startswith("规则已更新: 第 2 版, liu 发布 (收紧)\n- sla[普通待拣货].limit: 2h → 1h")
    assert "3 个立即超时" in said
    # Once the instance follows the new version, the watch opens their tickets at its next tick.
    await RulesFollower(sessions, config, client.app[RULES], clock).refresh()
    result = await watch.run(sessions, client.app[RULES].current(), T0)
    assert result.opened == 3


async def test_rollback_publishes_a_new_version_equal_to_an_earlier_one(
    client: TestClient, config: Config, clock: FakeClock
) -> None:
    sessions = client.app[SESSIONS]
    original = await _in_force(client, config)
    draft = await rulebook.save_draft(
        sessions, config, _with_limit(original, "拣货超时", "5h"), author="a", note=None, now=T0
    )
    await rulebook.publish(sessions, config, draft.id, author="a", now=T0)
    back = await rulebook.rollback(sessions, config, 1, author="b", now=T0)
    assert back.version_id == 3
    assert [c.text() for c in back.changes] == ["sla[拣货超时].limit: 5h → 3h"]
    assert await _in_force(client, config) == original
    views = await rulebook.history(sessions, config)
    assert [(v.id, v.status, v.source) for v in views] == [
        (3, "published", "rollback"),
        (2, "superseded", "console"),
        (1, "superseded", "file"),
    ]
    assert views[0].note == "回滚到第 1 版"
    with pytest.raises(rulebook.UnknownVersion):
        await rulebook.rollback(sessions, config, 99, author="b", now=T0)


async def test_a_promotion_starts_and_ends_by_itself(database_url: str) -> None:
    """双11: normal orders may wait 6 h instead of 2 h while it runs, on the app's clock."""
    data = config_data(database_url)
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    data["promotions"] = [
        {
            "name": "双11",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "sla": [
                {"name": "双11待拣货", "stage": "paid", "order_types": ["normal"], "limit": "6h"}
            ],
        }
    ]
    config = parse_config(data)
    clock = FakeClock(T0)
    app = create_app(config, clock=clock, watch_timer=False)
    async with TestClient(TestServer(app)) as client:
        await _ingest(client, [shop_order("P1", paid_at=T0)])
        assert (await _deadlines(client))["P1"] == T0 + timedelta(hours=2)
        follower = RulesFollower(client.app[SESSIONS], config, client.app[RULES], clock)
        await follower.refresh()

        clock.current = start
        assert await follower.refresh()
        assert _limit(client) == timedelta(hours=6)
        assert (await _deadlines(client))["P1"] == T0 + timedelta(hours=6)
        assert (await _ops_messages(client))[-1].startswith("促销规则「双11」已开始。1 个未结订单")

        clock.current = end
        assert await follower.refresh()
        assert _limit(client) == timedelta(hours=2)
        assert (await _deadlines(client))["P1"] == T0 + timedelta(hours=2)
        assert len(await _ops_messages(client)) == 2


async def test_a_file_import_works_by_the_rules_in_force_not_the_files(
    client: TestClient, config: Config, tmp_path: Path
) -> None:
    """``orderbot import`` (services.importer) schedules by the published version."""
    sessions = client.app[SESSIONS]
    document = _with_limit(await _in_force(client, config), "普通待拣货", "6h")
    draft = await rulebook.save_draft(sessions, config, document, author="a", note=None, now=T0)
    await rulebook.publish(sessions, config, draft.id, author="a", now=T0)
    lines = tmp_path / "orders.jsonl"
    lines.write_text(json.dumps(shop_order("FILE1", paid_at=T0)) + "\n", encoding="utf-8")
    report = await import_orders(config, lines, "shop")
    assert report.created == 1
    assert (await _deadlines(client))["FILE1"] == T0 + timedelta(hours=6)
