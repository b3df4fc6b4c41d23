"""Texts through the sandbox playing Tencent Cloud SMS and Alibaba Cloud SMS (their real SDKs,
signed requests, the providers' codes): queued → sent → delivery receipt; quiet hours; our
per-number limits kept before the provider refuses; refusals; an outage; one text per episode."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from bot.app import create_app
from bot.keys import CONFIG, RULES
from sandbox.sms_config import SmsSandboxConfig
from services.sms.links import verify_order_link
from tests.sms_side import (
    ACCEPTED,
    LINK_BASE,
    SmsWorld,
    add_order,
    notify,
    sms_world,
    texts,
    utc,
)
from tests.support import FakeClock

PROVIDERS = ["tencent", "aliyun"]
PHONE = "13812345678"
MORNING = utc(2026, 3, 2, 2)  # Monday 10:00 in Beijing


@pytest.fixture(params=PROVIDERS)
async def world(
    request: pytest.FixtureRequest,
    aiohttp_client: Any,
    aiohttp_server: Any,
    unused_tcp_port: int,
    database_url: str,
) -> SmsWorld:
    return await sms_world(
        aiohttp_client,
        aiohttp_server,
        unused_tcp_port,
        database_url,
        request.param,
        FakeClock(MORNING),
        SmsSandboxConfig(vacant=("13900000000",), blacklist=("13700000000",)),
    )


async def test_a_text_is_sent_received_and_its_receipt_recorded(
    world: SmsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the service logs at INFO (bot.cli)
    order = await add_order(world.bot, "SH1", PHONE)
    assert await world.notify(order, "sms:stall:parcel:1@a")
    assert not await world.notify(order, "sms:stall:parcel:1@a")  # the same episode

    result = await world.tick()
    assert (result.sent, result.held, result.refused) == (1, 0, 0)
    [text] = await texts(world.bot)
    assert text.status in ACCEPTED
    assert (text.provider, text.sent_at, text.error) == (
        world.provider,
        MORNING,
        None,
    )
    assert text.serial

    [phone] = await world.phones()
    assert phone["phone"] == "138****5678"
    [received] = phone["texts"]
    content = received["content"]
    assert content.startswith("【某某旗舰店】您的包裹在杭州转运中心已超过24小时没有更新, ")
    link = content[content.index(LINK_BASE) :]
    assert verify_order_link(world.bot.app[RULES].current(), link, MORNING) == order
    assert received["serial"] == text.serial

    [text] = await world.receipts_in(1)
    assert (text.status, text.error) == ("delivered", None)
    assert text.receipt_at is not None
    assert MORNING <= text.receipt_at < MORNING + timedelta(seconds=2)

    assert (await world.tick()).sent == 0  # never twice
    assert len((await world.phones())[0]["texts"]) == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "138****5678" in logged
    assert PHONE not in logged and "+86" + PHONE not in logged


async def test_a_text_due_at_22_waits_until_8(world: SmsWorld) -> None:
    order = await add_order(world.bot, "SH1", PHONE)
    world.clock.current = utc(2026, 3, 2, 14)  # 22:00 in Beijing
    assert await world.notify(order, "sms:stall:parcel:1@a")
    assert (await world.tick()).sent == 0
    world.clock.current = utc(2026, 3, 2, 23, 59)  # 07:59
    assert (await world.tick()).sent == 0
    assert await world.phones() == []
    world.clock.current = utc(2026, 3, 3, 0)  # 08:00
    assert (await world.tick()).sent == 1
    [text] = await texts(world.bot)
    assert text.status in ACCEPTED and text.sent_at == utc(2026, 3, 3, 0)


async def test_a_text_held_by_an_outage_into_the_night_waits_for_morning(world: SmsWorld) -> None:
    order = await add_order(world.bot, "SH1", PHONE)
    world.clock.current = utc(2026, 3, 2, 12, 59)  # 20:59: queued to go at once
    assert await world.notify(order, "sms:stall:parcel:1@a")
    world.clock.current = utc(2026, 3, 2, 13, 30)  # 21:30 when the sender gets to it
    result = await world.tick()
    assert (result.sent, result.held) == (0, 1)
    [text] = await texts(world.bot)
    assert text.not_before == utc(2026, 3, 3, 0)
    assert text.error is not None and "免打扰" in text.error


async def test_our_per_number_limits_hold_texts_before_the_provider_refuses(
    world: SmsWorld,
) -> None:
    orders = [await add_order(world.bot, f"SH{i}", PHONE) for i in range(5)]
    for i, order in enumerate(orders):
        assert await world.notify(order, f"sms:stall:parcel:{i}@a")
    result = await world.tick()
    assert (result.sent, result.held) == (1, 4)  # one a minute
    for _ in range(2):
        world.clock.advance(timedelta(seconds=60))
        assert (await world.tick()).sent == 1
    world.clock.advance(timedelta(seconds=60))
    assert (await world.tick()).sent == 0  # three an hour
    held = [t for t in await texts(world.bot) if t.status == "pending"]
    assert len(held) == 2
    assert all("频率" in (t.error or "") for t in held)
    assert {t.not_before for t in held} == {MORNING + timedelta(hours=1)}
    world.clock.current = MORNING + timedelta(hours=1)
    assert (await world.tick()).sent == 1
    [phone] = await world.phones()
    assert len(phone["texts"]) == 4
    assert phone["refused"] == []  # the provider never had to refuse


async def test_refusals_are_recorded_and_a_blacklisted_number_opts_out(
    world: SmsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    vacant = await add_order(world.bot, "SH1", "13900000000")
    blacklisted = await add_order(world.bot, "SH2", "13700000000")
    later = await add_order(world.bot, "SH3", "13700000000")
    assert await world.notify(vacant, "a", phone="13900000000")
    assert await world.notify(blacklisted, "b", phone="13700000000")
    assert await world.notify(later, "c", phone="13700000000")
    result = await world.tick()
    assert (result.sent, result.refused) == (0, 2)
    by_order = {t.order_id: t for t in await texts(world.bot)}
    assert by_order[vacant].status == "refused"
    assert "手机号码无效" in (by_order[vacant].error or "")
    assert by_order[blacklisted].status == "refused"
    assert "退订" in (by_order[blacklisted].error or "")
    assert by_order[later].status == "opted_out"  # the number opted out before its turn
    assert not await world.notify(later, "d", phone="13700000000")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "137****0000" in logged and "139****0000" in logged
    assert "13700000000" not in logged and "13900000000" not in logged


async def test_the_services_own_timer_sends_due_texts(
    aiohttp_client: Any, aiohttp_server: Any, unused_tcp_port: int, database_url: str
) -> None:
    world = await sms_world(
        aiohttp_client, aiohttp_server, unused_tcp_port, database_url, "tencent", FakeClock(MORNING)
    )
    app = create_app(world.bot.app[CONFIG], clock=world.clock)  # with its timers
    served = await aiohttp_client(app)
    order = await add_order(served, "SH1", PHONE)
    assert await notify(served, order, "sms:1", MORNING)
    for _ in range(60):  # [sms].send_interval is 1 s here
        if [t.status in ACCEPTED for t in await texts(served)] == [True]:
            break
        await asyncio.sleep(0.1)
    assert [t.status in ACCEPTED for t in await texts(served)] == [True]


async def test_an_unapproved_template_is_refused(
    aiohttp_client: Any, aiohttp_server: Any, unused_tcp_port_factory: Any, database_url: str
) -> None:
    for provider, template in (("tencent", "1109999"), ("aliyun", "SMS_999999")):
        world = await sms_world(
            aiohttp_client,
            aiohttp_server,
            unused_tcp_port_factory(),
            database_url,
            provider,
            FakeClock(MORNING),
            templates={"stall": template},
        )
        order = await add_order(world.bot, f"SH-{provider}", PHONE)
        assert await world.notify(order, f"sms:{provider}")
        assert (await world.tick()).refused == 1
        text = next(t for t in await texts(world.bot) if t.dedup_key == f"sms:{provider}")
        assert text.status == "refused"
        assert "模板" in (text.error or "")
        await world.bot.close()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_wrong_key_is_refused_by_the_provider_and_the_text_waits(
    aiohttp_client: Any,
    aiohttp_server: Any,
    unused_tcp_port: int,
    database_url: str,
    provider: str,
) -> None:
    world = await sms_world(
        aiohttp_client,
        aiohttp_server,
        unused_tcp_port,
        database_url,
        provider,
        FakeClock(MORNING),
        SmsSandboxConfig(secret_key="another-key"),
    )
    order = await add_order(world.bot, "SH1", PHONE)
    assert await world.notify(order, "sms:stall:parcel:1@a")
    result = await world.tick()
    assert result.sent == 0
    assert result.paused_until == MORNING + timedelta(minutes=30)
    [text] = await texts(world.bot)
    assert text.status == "pending"
    assert "鉴权失败" in (text.error or "")
    assert await world.phones() == []


async def test_an_outage_is_retried_and_nothing_is_lost_or_sent_twice(world: SmsWorld) -> None:
    order = await add_order(world.bot, "SH1", PHONE)
    assert await world.notify(order, "sms:stall:parcel:1@a")
    await world.down(3600)
    result = await world.tick()
    assert result.sent == 0 and result.paused_until == MORNING + timedelta(minutes=1)
    [text] = await texts(world.bot)
    assert text.status == "pending" and "待重试" in (text.error or "")
    tries = 1
    while world.clock.now() < MORNING + timedelta(hours=1):
        world.clock.current = max(world.clock.now(), text.not_before)
        result = await world.tick()
        tries += 1
        [text] = await texts(world.bot)
        if result.sent:
            break
    assert text.status in ACCEPTED
    assert MORNING + timedelta(hours=1) <= text.sent_at <= MORNING + timedelta(hours=1, minutes=30)
    assert tries < 10  # backed off: 1, 2, 4, … 30 minutes
    assert text.attempts == tries
    [phone] = await world.phones()
    assert len(phone["texts"]) == 1
    world.clock.advance(timedelta(hours=1))
    assert (await world.tick()).sent == 0


async def test_a_text_not_sent_within_48_hours_is_given_up(world: SmsWorld) -> None:
    order = await add_order(world.bot, "SH1", PHONE)
    assert await world.notify(order, "sms:stall:parcel:1@a")
    await world.down(49 * 3600)
    world.clock.advance(timedelta(hours=48, seconds=1))
    result = await world.tick()
    assert (result.sent, result.ended) == (0, 1)
    [text] = await texts(world.bot)
    assert text.status == "dead"
    assert "过时" in (text.error or "")
    assert await world.phones() == []
