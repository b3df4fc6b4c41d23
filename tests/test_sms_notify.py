"""Queueing texts (services.sms.notify) and the signed order links (services.sms.links) on a
real database: one text per episode, quiet hours, opted-out and unusable numbers, no [sms]."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.keys import RULES, SESSIONS
from services.config import ConfigError, parse_config
from services.sms.links import order_link, verify_order_link
from services.sms.notify import notify_customer
from storage.sms import opt_out
from tests.sms_side import LINK_BASE, add_order, sms_config_data, texts, utc
from tests.support import FakeClock, config_data

STALL = {"place": "杭州转运中心", "silence": "24小时", "link": LINK_BASE + "x"}


@pytest.fixture
async def app(aiohttp_client: Any, database_url: str, clock: FakeClock) -> TestClient:
    config = parse_config(sms_config_data(database_url))
    client: TestClient = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    return client


async def notify(client: TestClient, **kwargs: Any) -> bool:
    args: dict[str, Any] = {
        "phone": "13812345678",
        "purpose": "stall",
        "params": STALL,
        "dedup_key": "sms:stall:parcel:1@x",
        "now": utc(2026, 3, 2, 2),  # 10:00 in Beijing
    } | kwargs
    async with client.app[SESSIONS].begin() as session:
        return await notify_customer(session, client.app[RULES].current(), **args)


async def test_one_text_per_episode_due_at_once_by_day(app: TestClient) -> None:
    order = await add_order(app, "SH1")
    assert await notify(app, order_id=order, phone="+86 138-1234-5678") is True
    assert await notify(app, order_id=order) is False  # the same episode again
    [text] = await texts(app)
    assert (text.order_id, text.phone, text.purpose, text.status) == (
        order,
        "13812345678",
        "stall",
        "pending",
    )
    assert text.params == STALL
    assert text.not_before == text.created_at == utc(2026, 3, 2, 2)
    assert await notify(app, order_id=order, dedup_key="sms:stall:parcel:1@y") is True
    assert len(await texts(app)) == 2


@pytest.mark.parametrize(
    ("now", "released"),
    [
        (utc(2026, 3, 2, 14), utc(2026, 3, 3, 0)),  # 22:00 → 08:00 the next morning
        (utc(2026, 3, 2, 13), utc(2026, 3, 3, 0)),  # 21:00 sharp is quiet
        (utc(2026, 3, 2, 18, 30), utc(2026, 3, 3, 0)),  # 02:30 → 08:00 the same morning
        (utc(2026, 3, 2, 12, 59), utc(2026, 3, 2, 12, 59)),  # 20:59 goes at once
        (utc(2026, 3, 3, 0), utc(2026, 3, 3, 0)),  # 08:00 sharp goes
    ],
)
async def test_quiet_hours_hold_a_text_until_morning(
    app: TestClient, now: Any, released: Any
) -> None:
    order = await add_order(app, "SH1")
    assert await notify(app, order_id=order, now=now)
    [text] = await texts(app)
    assert text.not_before == released


async def test_nothing_queued_without_a_usable_number_template_or_params(app: TestClient) -> None:
    order = await add_order(app, "SH1")
    assert not await notify(app, order_id=order, phone=None)
    assert not await notify(app, order_id=order, phone="")
    assert not await notify(app, order_id=order, phone="138****5678")  # masked by the platform
    assert not await notify(app, order_id=order, purpose="marketing")
    assert not await notify(app, order_id=order, params={"place": "杭州", "silence": "24小时"})
    assert await texts(app) == []


async def test_an_opted_out_number_gets_nothing(app: TestClient) -> None:
    order = await add_order(app, "SH1")
    async with app.app[SESSIONS].begin() as session:
        assert await opt_out(session, "13812345678", "客户来电", utc(2026, 3, 1))
    assert not await notify(app, order_id=order)
    assert await texts(app) == []


async def test_without_sms_nothing_is_queued_and_no_link(
    aiohttp_client: Any, database_url: str
) -> None:
    config = parse_config(config_data(database_url))
    client = await aiohttp_client(create_app(config, clock=FakeClock(), watch_timer=False))
    order = await add_order(client, "SH1")
    assert not await notify(client, order_id=order)
    assert await texts(client) == []
    assert order_link(client.app[RULES].current(), order, utc(2026, 3, 2)) is None


def test_templates_need_a_link_base(database_url: str) -> None:
    data = sms_config_data(database_url)
    del data["sms"]["link_base"]
    with pytest.raises(ConfigError, match="link_base"):
        parse_config(data)


async def test_order_link_opens_its_order_until_it_expires(app: TestClient) -> None:
    policy = app.app[RULES].current()
    now = utc(2026, 3, 2, 2)
    link = order_link(policy, 42, now)
    assert link is not None and link.startswith(LINK_BASE)
    token = link.removeprefix(LINK_BASE)
    assert len(token) < 32
    assert verify_order_link(policy, link, now) == 42
    assert verify_order_link(policy, token, now + timedelta(days=6)) == 42
    assert verify_order_link(policy, token, now + timedelta(days=7)) is None  # link_ttl
    order, expiry, signature = token.split(".")
    assert verify_order_link(policy, f"43.{expiry}.{signature}", now) is None
    assert verify_order_link(policy, f"{order}.{expiry}z.{signature}", now) is None
    for garbage in ("", "42", "a.b.c", "42..", "４２.1.x", "42.!!.x" + signature, LINK_BASE):
        assert verify_order_link(policy, garbage, now) is None
