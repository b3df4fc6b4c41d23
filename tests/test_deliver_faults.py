"""The outbox sender when WeCom is slow or the sender dies: a slow chat beside quick ones, a
sender cut off in the middle of a digest, a send that outlasts the lease it started with, and
the timer job while a chat takes seconds. Through the WeCom sandbox with its limits and faults."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.app import create_app
from bot.keys import SESSIONS
from bot.sandbox import create_sandbox_app
from jobs import deliver
from storage.models import Delivery
from tests.outbox_side import (
    SANDBOX,
    Bot,
    accepted,
    bot_config,
    fault,
    make_bot,
    orders_in,
)
from tests.support import T0, FakeClock, all_rows, auth, shop_order

H = timedelta(hours=1)
DUE = T0 + 2 * H + timedelta(seconds=10)  # past the deadline and the group wait


@pytest.fixture
async def sandbox(aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(create_sandbox_app(SANDBOX))
    return server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def bot(
    aiohttp_client: Any,
    database_url: str,
    sandbox: TestServer,
    clock: FakeClock,
    http: aiohttp.ClientSession,
) -> Bot:
    return await make_bot(aiohttp_client, bot_config(database_url, sandbox), clock, http)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 10) -> None:
    for _ in range(int(within / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} within {within} s")


async def overdue(bot: Bot, *orders: dict[str, Any]) -> None:
    await bot.post(*orders)
    await bot.tick(T0 + 2 * H)


async def test_a_slow_chat_holds_back_no_other(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    east, general = shop_order("SH050", province="上海市"), shop_order("SH051", province="四川省")
    await overdue(bot, east, general)
    # Whichever robot is called first answers 3 s late; the other must not wait for it.
    await fault(sandbox, http, endpoint="webhook/send", kind="delay", seconds=3)
    started = time.time()
    result = await bot.deliver(DUE)

    assert result.notifications_delivered == 2
    times = sorted(m["time"] - started for m in await accepted(sandbox, http))
    assert len(times) == 2
    assert times[0] < 1.5 <= 2.9 <= times[1]


async def test_a_sender_cut_off_mid_digest_repeats_at_most_the_message_in_flight(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    orders = {f"SH{n:04d}" for n in range(120)}  # four robot messages of lines
    await overdue(bot, *(shop_order(order, province="上海市") for order in sorted(orders)))
    await fault(sandbox, http, endpoint="webhook/send", kind="delay", seconds=0.5, count=10)
    doomed = asyncio.create_task(bot.deliver(DUE, instance="doomed"))
    sessions = bot.client.app[SESSIONS]

    async def two_recorded() -> bool:
        return len(await all_rows(sessions, Delivery)) >= 2

    await eventually(two_recorded, "two messages accepted and recorded")
    doomed.cancel()  # the third is in flight
    with pytest.raises(asyncio.CancelledError):
        await doomed
    before = await accepted(sandbox, http)

    result = await bot.deliver(DUE + deliver.LEASE + timedelta(seconds=1), instance="other")

    assert result.notifications_delivered < len(orders)  # only what had not been recorded
    messages = await accepted(sandbox, http)
    shown = [await orders_in(sandbox, http, m) for m in messages]
    assert set().union(*shown) == orders
    times = Counter(order for seen in shown for order in seen)
    repeated = {order for order, n in times.items() if n > 1}
    assert any(repeated <= seen for seen in shown)  # at most one message's worth
    assert not repeated & set().union(*shown[:2])  # the recorded ones never
    assert len(before) >= 2
    assert {row.status for row in await bot.outbox()} == {"sent"}


async def test_after_a_crash_another_instance_takes_over_within_seconds(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await overdue(bot, shop_order("SH060", province="上海市"))
    await fault(sandbox, http, endpoint="webhook/send", kind="timeout", count=1)
    doomed = asyncio.create_task(bot.deliver(DUE, instance="doomed"))
    await asyncio.sleep(0.5)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed

    assert (await bot.deliver(DUE + timedelta(seconds=15), instance="other")).messages_sent == 1
    assert [m for m in await accepted(sandbox, http) if "SH060" in (m["content"] or "")]


async def test_a_slow_send_keeps_its_chat_for_as_long_as_it_takes(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await overdue(bot, shop_order("SH070", province="上海市"))
    await fault(sandbox, http, endpoint="webhook/send", kind="delay", seconds=4)
    slow = asyncio.create_task(bot.deliver(DUE, instance="slow"))
    await asyncio.sleep(0.3)
    later = DUE + timedelta(minutes=3)  # past the lease the slow instance started with
    bot.clock.current = later
    await asyncio.sleep(3)  # the slow instance renews its lease meanwhile

    assert (await bot.deliver(later, instance="other")).messages_sent == 0
    assert (await slow).notifications_delivered == 1
    assert len([m for m in await accepted(sandbox, http) if "SH070" in m["content"]]) == 1


def job_durations(exposition: str, job: str) -> tuple[float, float]:
    """(runs of the job, runs that took at most 1 s) from /metrics."""
    samples = {
        (sample.name, sample.labels.get("le")): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.labels.get("job") == job
    }
    count = samples.get(("orderbot_job_duration_seconds_count", None), 0.0)
    return count, samples.get(("orderbot_job_duration_seconds_bucket", "1.0"), 0.0)


async def test_the_timer_job_never_waits_for_a_slow_chat(
    aiohttp_client: Any,
    database_url: str,
    sandbox: TestServer,
    clock: FakeClock,
    http: aiohttp.ClientSession,
) -> None:
    fast = timedelta(milliseconds=100)
    config = bot_config(
        database_url, sandbox, watch={"scan_interval": fast}, send_interval=fast, group_wait="1s"
    )
    client = await aiohttp_client(create_app(config, clock=clock))
    order = shop_order("SH080", province="上海市", paid_at=T0 - 3 * H)
    response = await client.post("/api/v1/orders/shop", json=order, headers=auth("all"))
    assert response.status == 200
    await fault(sandbox, http, endpoint="webhook/send", kind="delay", seconds=3)
    await asyncio.sleep(0.5)  # the watch queues the alert
    clock.advance(timedelta(seconds=2))  # past the group wait: the sender starts the chat

    async def arrived() -> bool:
        return bool(await accepted(sandbox, http))

    await eventually(arrived, "the alert arrived")
    metrics = await (await client.get("/metrics")).text()
    runs, quick = job_durations(metrics, "deliver")
    assert runs >= 10 and quick == runs  # ticks went on every 100 ms, none over 1 s
