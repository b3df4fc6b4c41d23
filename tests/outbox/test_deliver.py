"""The outbox sender end to end: orders in through the API, the watch ticks, the sender
delivers through the WeCom sandbox (a real HTTP server), and we read what WeCom accepted. Also
when WeCom is slow or the sender dies: a slow chat beside quick ones, a sender cut off in the
middle of a digest, a send that outlasts the lease it started with, the timer job meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot.app import create_app
from bot.keys import RULES, SESSIONS
from jobs import deliver, health
from rules.report import Period
from rules.report_chart import render_chart
from services.reports import load_report
from storage.models import Delivery, DeliveryTarget, OutboxMessage, TicketEvent
from storage.outbox import notice_row, queue_messages
from tests.outbox_side import (
    ROBOTS,
    Bot,
    BotWith,
    accepted,
    bot_config,
    csv_rows,
    fault,
    orders_in,
    stats,
    text_of,
)
from tests.support import T0, FakeClock, all_rows, auth, shop_order

H = timedelta(hours=1)


async def test_an_alert_reaches_the_group_chat_after_group_wait(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH001", province="上海市"))
    await bot.tick(T0 + 2 * H)
    assert (await bot.deliver(T0 + 2 * H + timedelta(seconds=9))).messages_sent == 0
    result = await bot.deliver(T0 + 2 * H + timedelta(seconds=10))
    assert (result.messages_sent, result.notifications_delivered) == (1, 1)
    [message] = await accepted(sandbox, http)
    body = text_of(message)
    assert "SH001" in body and "认领 1" in body and "<@zhang>" in body
    [row] = await bot.outbox()
    assert row.status == "sent"
    events = await all_rows(bot.client.app[SESSIONS], TicketEvent)
    assert [(e.kind, e.detail) for e in events] == [("alerted", "已送达 华东组")]


async def test_an_escalation_reaches_the_supervisor_directly(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH002", province="上海市"))
    await bot.tick(T0 + 5 * H)
    await bot.deliver(T0 + 5 * H + timedelta(seconds=10))
    messages = await accepted(sandbox, http)
    assert len(messages) == 2
    assert any("boss-east" in text_of(m) and "超时第1次升级" in text_of(m) for m in messages)
    assert {row.status for row in await bot.outbox()} == {"sent"}


async def test_a_burst_in_one_group_becomes_one_digest(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(*(shop_order(f"SH{n:04d}", province="上海市") for n in range(30)))
    await bot.tick(T0 + 2 * H)
    result = await bot.deliver(T0 + 2 * H + timedelta(seconds=10))
    assert (result.messages_sent, result.notifications_delivered) == (1, 30)
    [message] = await accepted(sandbox, http)
    body = text_of(message)
    assert "超时工单 30 张" in body and all(f"SH{n:04d}" in body for n in range(30))


async def test_a_storm_is_complete_within_the_robot_limit(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    orders = 2000
    for start in range(0, orders, 1000):
        await bot.post(
            *(shop_order(f"SH{n:05d}", province="上海市") for n in range(start, start + 1000))
        )
    await bot.tick(T0 + 2 * H)
    result = await bot.deliver(T0 + 2 * H + timedelta(seconds=10))
    assert result.notifications_delivered == orders
    messages = await accepted(sandbox, http)
    assert len(messages) <= 20
    files = [m for m in messages if "file" in text_of(m)]
    assert len(files) == 1
    rows = await csv_rows(sandbox, http, files[0])
    assert {row[1] for row in rows[1:]} == {f"SH{n:05d}" for n in range(orders)}
    counts = await stats(sandbox, http)
    assert counts["refused"] == {}
    assert max(counts["robot_per_minute_max"].values()) <= 20


@pytest.mark.parametrize(
    "spec",
    [
        {"endpoint": "webhook/send", "kind": "errcode", "errcode": 45009, "count": 2},
        {"endpoint": "webhook/send", "kind": "http500", "count": 2},
    ],
    ids=["45009-burst", "http-500"],
)
async def test_retryable_failures_delay_but_deliver_once(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession, spec: dict[str, Any]
) -> None:
    await bot.post(shop_order("SH003", province="上海市"))
    await bot.tick(T0 + 2 * H)
    await fault(sandbox, http, **spec)
    at = T0 + 2 * H + timedelta(seconds=10)
    for _ in range(3):
        result = await bot.deliver(at)
        at += timedelta(minutes=6)  # past any backoff
    messages = await accepted(sandbox, http)
    assert len([m for m in messages if "SH003" in text_of(m)]) == 1
    assert result.notifications_delivered == 1
    [row] = await bot.outbox()
    assert row.status == "sent"


async def test_token_expiry_mid_run_is_invisible(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH004", province="上海市"), shop_order("SH005", province="上海市"))
    await bot.tick(T0 + 5 * H)
    await bot.deliver(T0 + 5 * H + timedelta(seconds=10))
    async with http.post(sandbox.make_url("/sandbox/api/expire-tokens")) as response:
        assert response.status == 200
    await bot.post(shop_order("SH006", province="上海市", paid_at=T0 + H))
    await bot.tick(T0 + 6 * H)
    await bot.deliver(T0 + 6 * H + timedelta(seconds=10))
    supervisor = [m for m in await accepted(sandbox, http) if "boss-east" in text_of(m)]
    assert len(supervisor) == 2 and "SH006" in text_of(supervisor[1])
    assert {row.status for row in await bot.outbox()} == {"sent"}


async def test_a_bad_webhook_key_dead_letters_with_its_reason_and_tells_ops_once(
    bot_with: BotWith, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    bot = await bot_with(robots=ROBOTS | {"east": "key-removed"})
    await bot.post(shop_order("SH007", province="上海市"), shop_order("SH008", province="上海市"))
    await bot.tick(T0 + 2 * H)
    result = await bot.deliver(T0 + 2 * H + timedelta(seconds=10))
    assert result.dead == 2
    rows = await bot.outbox()
    dead = [r for r in rows if r.status == "dead"]
    assert len(dead) == 2 and all("93000" in (r.dead_reason or "") for r in dead)
    ops = [r for r in rows if r.kind == "ops"]
    assert [(r.target_kind, r.target) for r in ops] == [("user", "ops-liu")]
    await bot.deliver(T0 + 2 * H + timedelta(seconds=30))
    [notice] = await accepted(sandbox, http)
    assert "ops-liu" in text_of(notice) and "93000" in text_of(notice)


async def test_a_sender_killed_mid_send_loses_nothing(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH009", province="上海市"))
    await bot.tick(T0 + 2 * H)
    await fault(sandbox, http, endpoint="webhook/send", kind="timeout", count=1)
    at = T0 + 2 * H + timedelta(seconds=10)
    killed = asyncio.create_task(bot.deliver(at, instance="doomed"))
    await eventually(held_by_the_sandbox(sandbox, http, "timeout"), "the send under way")
    killed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await killed
    assert (await bot.outbox())[0].status == "pending"
    # Another instance must wait out the dead one's lease: seconds, not minutes.
    assert (await bot.deliver(at + timedelta(seconds=5), instance="other")).messages_sent == 0
    result = await bot.deliver(at + timedelta(seconds=15), instance="other")
    assert result.notifications_delivered == 1
    assert [m for m in await accepted(sandbox, http) if "SH009" in text_of(m)]


async def test_a_ticket_that_closed_before_anyone_was_told_is_not_announced(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH010", province="上海市"), shop_order("SH011", province="上海市"))
    await bot.tick(T0 + 2 * H)
    picked = {
        "channel": "shop",
        "order_id": "SH010",
        "event_id": "pick-SH010",
        "stage": "picking",
        "occurred_at": (T0 + 2 * H).isoformat(),
    }
    response = await bot.client.post("/api/v1/events", json=picked, headers=auth("wms"))
    assert response.status == 200
    await bot.deliver(T0 + 2 * H + timedelta(seconds=10))
    [message] = await accepted(sandbox, http)
    assert "SH011" in text_of(message) and "SH010" not in text_of(message)
    statuses = sorted((r.kind, r.status) for r in await bot.outbox())
    assert statuses == [("alert", "moot"), ("alert", "sent"), ("resolution", "moot")]


async def test_a_person_gets_no_more_app_messages_an_hour_than_wecom_allows(
    bot_with: BotWith, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    bot = await bot_with(member_per_hour=2)
    for n in range(3):  # three escalations to boss-east, ten minutes apart
        paid = T0 + n * timedelta(minutes=10)
        await bot.post(shop_order(f"SH02{n}", province="上海市", paid_at=paid))
        await bot.tick(paid + 4 * H)
        result = await bot.deliver(paid + 4 * H + timedelta(seconds=10))
    assert result.deferred == 1  # the third waits for the hour to turn
    to_boss = [m for m in await accepted(sandbox, http) if "boss-east" in text_of(m)]
    assert len(to_boss) == 2
    late = await bot.deliver(T0 + 5 * H + timedelta(seconds=11))
    assert late.notifications_delivered >= 1
    assert len([m for m in await accepted(sandbox, http) if "boss-east" in text_of(m)]) == 3


async def test_a_chart_for_a_person_is_uploaded_then_sent_even_on_an_expired_token(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(shop_order("SH007", province="上海市"))
    await bot.tick(T0 + 5 * H)
    await bot.deliver(T0 + 5 * H + timedelta(seconds=10))  # the token is fetched and cached
    async with http.post(sandbox.make_url("/sandbox/api/expire-tokens")) as response:
        assert response.status == 200
    app = bot.client.app
    day = Period.ending(T0.date(), 1, ZoneInfo("Asia/Shanghai"))
    async with app[SESSIONS]() as session:
        chart = render_chart(await load_report(session, app[RULES].current(), day, T0))
    async with bot.client.app[SESSIONS].begin() as session:
        await queue_messages(
            session,
            [notice_row("report:1", "report", ("user", "boss-east"), "📊 报表", T0, image=chart)],
        )
    await bot.deliver(T0 + 6 * H)

    mine = [m for m in await accepted(sandbox, http) if "boss-east" in m["users"]]
    assert [m["msgtype"] for m in mine][-2:] == ["markdown", "image"]
    async with http.get(sandbox.make_url(mine[-1]["media"]["url"])) as png:
        assert await png.read() == chart
    assert {row.status for row in await bot.outbox()} == {"sent"}


def to(user: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if user in m["users"]]


async def escalate(bot: Bot, count: int) -> None:
    """``count`` orders of the east group, past their 4 h escalation to boss-east."""
    await bot.post(*(shop_order(f"SH{n:04d}", province="上海市") for n in range(count)))
    await bot.tick(T0 + 5 * H)


async def test_a_supervisors_storm_is_a_summary_and_a_csv_at_once(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await escalate(bot, 600)  # 35 app messages as lines: more than a member's 30 a minute
    await bot.deliver(T0 + 5 * H + timedelta(seconds=10))

    summary, attached = to("boss-east", await accepted(sandbox, http))
    assert (summary["msgtype"], attached["msgtype"]) == ("markdown", "file")
    assert summary["content"].startswith("⏰ 超时工单 600 张 (其中升级 600 张)")
    assert "明细见随后的文件" in summary["content"]
    assert attached["media"]["filename"].endswith(".csv")
    assert await orders_in(sandbox, http, attached) == {f"SH{n:04d}" for n in range(600)}
    escalations = [m for m in await bot.outbox() if m.kind == "escalation"]
    assert len(escalations) == 600 and {m.status for m in escalations} == {"sent"}


async def test_a_digest_in_several_messages_says_the_total_once(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await escalate(bot, 60)
    await bot.deliver(T0 + 5 * H + timedelta(seconds=10))

    mine = to("boss-east", await accepted(sandbox, http))
    assert len(mine) > 1 and {m["msgtype"] for m in mine} == {"markdown"}
    first, *rest = (m["content"] for m in mine)
    assert first.startswith("⏰ 超时工单 60 张") and f"共 60 张, 分 {len(mine)} 条发送" in first
    assert not any("超时工单" in text or "共 60 张" in text for text in rest)
    shown = [order for m in mine for order in sorted(await orders_in(sandbox, http, m))]
    assert sorted(shown) == [f"SH{n:04d}" for n in range(60)]  # each once


async def test_a_digest_fills_what_is_left_of_the_minute_instead_of_halving(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await escalate(bot, 60)  # four app messages as lines
    notices = [
        notice_row(f"note:{n}", "ops", ("user", "boss-east"), f"通知 {n}", T0 + 5 * H)
        for n in range(27)
    ]
    async with bot.client.app[SESSIONS].begin() as session:
        await queue_messages(session, notices)
    await bot.deliver(T0 + 5 * H + timedelta(seconds=10))

    mine = to("boss-east", await accepted(sandbox, http))
    assert len(mine) == 29  # 27 notices, then the summary and the file: 3 were left
    digest = [m for m in mine if "超时工单" in (m["content"] or "")]
    assert len(digest) == 1 and digest[0]["content"].startswith("⏰ 超时工单 60 张")
    assert await orders_in(sandbox, http, mine[-1]) == {f"SH{n:04d}" for n in range(60)}
    assert {m.status for m in await bot.outbox() if m.target == "boss-east"} == {"sent"}


async def test_an_alert_and_its_reminder_queued_together_show_once(
    bot_with: BotWith, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    bot = await bot_with(watch={"remind_every": "30m"})
    await bot.post(shop_order("SH030", province="上海市"), shop_order("SH031", province="上海市"))
    await bot.tick(T0 + 2 * H)  # the alerts
    await bot.tick(T0 + 2 * H + timedelta(minutes=30))  # their reminders, before any was sent
    await bot.deliver(T0 + 2 * H + timedelta(minutes=30, seconds=10))

    [message] = await accepted(sandbox, http)
    text = message["content"]
    assert text.startswith("⏰ 超时工单 2 张\n")
    lines = text.split("\n")
    assert [sum(order in line for line in lines[3:]) for order in ("SH030", "SH031")] == [1, 1]
    assert "[提醒]" not in text
    rows = await bot.outbox()
    assert sorted(r.kind for r in rows) == ["alert", "alert", "reminder", "reminder"]
    assert {r.status for r in rows} == {"sent"}


async def test_the_triage_digest_says_why_routing_is_paused(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await bot.post(
        *(shop_order(f"SH{n:03d}", province=None, detail="火星基地第3号舱") for n in range(25))
    )
    app = bot.client.app
    assert (await health.run(app[SESSIONS], app[RULES].current(), T0)).routing == "paused"
    await bot.tick(T0 + 2 * H)
    await bot.deliver(T0 + 2 * H + timedelta(seconds=10))

    [digest] = [m for m in await accepted(sandbox, http) if m["chat_name"] == "综合组"]
    summary = digest["content"].split("\n")
    assert summary[0] == "⏰ 超时工单 25 张"
    [why] = [line for line in summary if line.startswith("⚠️")]
    assert why.startswith("⚠️ 自动分单已暂停 (地址解析成功率 0% (0/25)")
    assert why.endswith("转入分拣组待人工分派: 25 张")


DUE = T0 + 2 * H + timedelta(seconds=10)  # past the deadline and the group wait


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 10) -> None:
    for _ in range(int(within / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} within {within} s")


def held_by_the_sandbox(
    sandbox: TestServer, http: aiohttp.ClientSession, kind: str
) -> Callable[[], Awaitable[bool]]:
    """Whether a robot message has reached the sandbox and is held there by a ``kind`` fault."""

    async def held() -> bool:
        return bool((await stats(sandbox, http))["faults"].get("webhook/send", {}).get(kind))

    return held


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


async def test_a_slow_send_keeps_its_chat_for_as_long_as_it_takes(
    bot: Bot, sandbox: TestServer, http: aiohttp.ClientSession
) -> None:
    await overdue(bot, shop_order("SH070", province="上海市"))
    await fault(sandbox, http, endpoint="webhook/send", kind="delay", seconds=5)
    slow = asyncio.create_task(bot.deliver(DUE, instance="slow"))
    await eventually(held_by_the_sandbox(sandbox, http, "delay"), "the send under way")
    later = DUE + timedelta(minutes=3)  # past the lease the slow instance started with
    bot.clock.current = later
    sessions = bot.client.app[SESSIONS]

    async def renewed() -> bool:  # by the slow instance's heartbeat, every 2.5 s
        async with sessions() as session:
            until = await session.scalar(
                select(DeliveryTarget.lease_until).where(DeliveryTarget.target == "east")
            )
        return until is not None and until > later

    await eventually(renewed, "the slow instance renewing its lease")

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

    async def queued() -> bool:  # by the watch, on its timer
        return bool(await all_rows(client.app[SESSIONS], OutboxMessage))

    await eventually(queued, "the watch queuing the alert")
    clock.advance(timedelta(seconds=2))  # past the group wait: the sender starts the chat

    async def arrived() -> bool:
        return bool(await accepted(sandbox, http))

    await eventually(arrived, "the alert arrived")
    metrics = await (await client.get("/metrics")).text()
    runs, quick = job_durations(metrics, "deliver")
    assert runs >= 10 and quick == runs  # ticks went on every 100 ms, none over 1 s
