"""Parcels followed from the moment an order ships with a waybill, subscribed with 快递100 (the
sandbox) through the subscription outbox: accepted, retried through an outage, refused for
good with ops told once."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from storage.models import OutboxMessage, Parcel
from tests.support import T0, FakeClock
from tests.tracking_side import (
    KEY,
    SALT,
    BotFactory,
    carrier_fixture,  # noqa: F401
    carrier_state,
    make_tracked_fixture,  # noqa: F401
    parcel,
    rows,
    ship,
    shipped_order,
    tick_subscribe,
    tracked_fixture,  # noqa: F401
)


async def test_a_shipped_order_is_subscribed(tracked: TestClient, carrier: TestServer) -> None:
    await ship(tracked, shipped_order("SH1", "YT1234567890", province="上海市"))
    waiting = await parcel(tracked)
    assert (waiting.tracking_no, waiting.carrier, waiting.carrier_text) == (
        "YT1234567890",
        "YTO",
        "圆通速递",
    )
    assert (waiting.subscription, waiting.subscribe_next_at) == ("pending", T0)
    assert (waiting.origin_province, waiting.destination_province) == ("浙江省", "上海市")

    result = await tick_subscribe(tracked, T0)

    assert (result.sent, result.accepted) == (1, 1)
    followed = await parcel(tracked)
    assert (followed.subscription, followed.subscribe_attempts) == ("active", 1)
    [subscription] = (await carrier_state(carrier))["subscriptions"]
    assert subscription["company"] == "yuantong"
    assert subscription["callback_url"].endswith("/tracking/kuaidi100")
    assert (subscription["from"], subscription["to"]) == ("浙江省", "上海市浦东新区")
    assert subscription["phone"] == "138****5678"  # the full number went in the request only
    # the same record again follows nothing twice; nothing is due
    await ship(tracked, shipped_order("SH1", "YT1234567890", province="上海市"))
    assert len(await rows(tracked, Parcel)) == 1
    assert (await tick_subscribe(tracked, T0 + timedelta(minutes=1))).sent == 0


async def test_an_outage_is_retried_until_subscribed(
    tracked: TestClient, carrier: TestServer, clock: FakeClock
) -> None:
    async with aiohttp.ClientSession() as http:
        down = await http.post(carrier.make_url("/sandbox/tracking/down"), json={"seconds": 3600})
        assert down.status == 200
    await ship(tracked, shipped_order("SH1", "YT1234567890"))

    tries = 0
    while (await parcel(tracked)).subscription == "pending":
        waiting = await parcel(tracked)
        assert waiting.subscribe_next_at is not None
        clock.current = max(clock.current, waiting.subscribe_next_at)
        await tick_subscribe(tracked, clock.now())
        tries += 1
        assert tries < 20
    followed = await parcel(tracked)
    assert followed.subscription == "active"
    assert clock.now() - T0 >= timedelta(hours=1)  # accepted only once the provider was back
    assert followed.subscribe_attempts == tries >= 4  # backing off: not once a second
    assert (await carrier_state(carrier))["subscribe_calls"] == tries


async def test_a_refused_subscription_fails_and_ops_hear_once(
    tracked: TestClient, carrier: TestServer
) -> None:
    await ship(tracked, shipped_order("SH1", "YT9999999999"))

    result = await tick_subscribe(tracked, T0)

    assert (result.sent, result.failed) == (1, 1)
    failed = await parcel(tracked)
    assert failed.subscription == "failed"
    assert failed.subscribe_error is not None and "701" in failed.subscribe_error
    assert "拒绝" in failed.subscribe_error
    [notice] = await rows(tracked, OutboxMessage)
    assert (notice.kind, notice.target) == ("ops", "ops-liu")
    assert "订单 SH1 的圆通运单 YT9999999999" in (notice.detail or "")
    assert "701" in (notice.detail or "")
    assert (await tick_subscribe(tracked, T0 + timedelta(hours=1))).sent == 0
    assert len(await rows(tracked, OutboxMessage)) == 1


async def test_an_unknown_carrier_lets_the_provider_guess(
    tracked: TestClient, carrier: TestServer
) -> None:
    await ship(tracked, shipped_order("SH1", "SF1234567890", carrier="某某快运"))
    await ship(tracked, shipped_order("SH2", "ZZ1234567890", carrier="某某快运"))

    result = await tick_subscribe(tracked, T0)

    assert (result.accepted, result.failed) == (1, 1)  # SF… is 顺丰's; ZZ… nobody's
    followed = {p.tracking_no: p for p in await rows(tracked, Parcel)}
    assert followed["SF1234567890"].subscription == "active"
    assert followed["ZZ1234567890"].subscription == "failed"
    assert "702" in (followed["ZZ1234567890"].subscribe_error or "")


async def test_a_wrong_key_is_refused(make_tracked: BotFactory, carrier: TestServer) -> None:
    bot = await make_tracked(key="not-the-key")
    await ship(bot, shipped_order("SH1", "YT1234567890"))

    await tick_subscribe(bot, T0)

    refused = await parcel(bot)
    assert refused.subscription == "failed"
    assert "600" in (refused.subscribe_error or "")
    assert KEY != "not-the-key" and SALT
