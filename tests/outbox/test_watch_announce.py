"""The watch announces each ticket once, however late it first sees the order: through the
watch and the WeCom sandbox, reading what the group chats got."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.keys import RULES, SESSIONS
from jobs import watch
from tests.outbox_side import Bot, BotWith, accepted
from tests.support import T0, shop_order

H = timedelta(hours=1)
M = timedelta(minutes=1)
GROUP_WAIT = timedelta(seconds=10)


@pytest.fixture
async def bot(bot_with: BotWith) -> Bot:
    """Reminders every 30 minutes; groups reached through their robots in the sandbox."""
    return await bot_with(watch={"remind_every": "30m"})


async def group_chat(sandbox: TestServer, http: aiohttp.ClientSession, key: str) -> list[str]:
    return [str(m["content"]) for m in await accepted(sandbox, http) if m["webhook_key"] == key]


async def tick(bot: Bot, at: timedelta) -> watch.WatchResult:
    """One watch tick ``at`` after T0 (the orders' payment)."""
    bot.clock.current = T0 + at
    app = bot.client.app
    return await watch.run(app[SESSIONS], app[RULES].current(), T0 + at)


async def test_orders_first_seen_past_the_reminder_interval_are_announced_once(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    # A backlog import: paid at T0, due at T0 + 2h, first seen 45 minutes later (> 30m).
    await bot.post(shop_order("SH001"), shop_order("SH002"))
    first_seen = 2 * H + 45 * M
    result = await tick(bot, first_seen)
    assert (result.opened, result.reminded) == (2, 0)
    assert [(m.kind, m.target) for m in await bot.outbox()] == [("alert", "east")] * 2

    await bot.deliver(T0 + first_seen + GROUP_WAIT)
    [digest] = await group_chat(sandbox, http, "key-east")
    assert digest.startswith("⏰ 超时工单 2 张")
    listed = [line.split()[0] for line in digest.splitlines() if line.startswith(("#", "["))]
    assert listed == ["#1", "#2"]  # each ticket once, none again as a [提醒] reminder

    # The first reminder comes remind_every after the alert, not after the deadline.
    assert (await tick(bot, first_seen + 29 * M)).reminded == 0
    assert (await tick(bot, first_seen + 30 * M)).reminded == 2


async def test_a_group_without_a_supervisor_hears_of_a_late_ticket_once(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    # 广东 goes to the general group, which has no supervisor: its escalation goes to the
    # group too. First seen past the 4h escalation: one message, at the level reached.
    await bot.post(shop_order("GD001", province="广东省"))
    result = await tick(bot, 5 * H)
    assert (result.opened, result.escalated, result.reminded) == (1, 1, 0)
    assert [(m.kind, m.target) for m in await bot.outbox()] == [("escalation", "general")]

    await bot.deliver(T0 + 5 * H + GROUP_WAIT)
    [message] = await group_chat(sandbox, http, "key-general")
    assert message.startswith("🚨 超时第1次升级 工单 #1") and message.count("GD001") == 1
