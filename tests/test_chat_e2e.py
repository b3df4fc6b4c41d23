"""Every chat command typed in WeCom, in the east group's chat (@订单助手, the intelligent
robot's callback) and 1:1 to the app, through the sandbox: answers, refusals, bad arguments,
and what each command left in the database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.keys import CLOCK, RULES, SESSIONS, WECOM
from jobs import deliver
from sandbox import send_aibot_callback, send_app_callback
from sandbox.config import robot_chat_id
from storage.models import OutboxMessage, Ticket, TicketEvent
from tests.support import all_rows
from tests.wecom_side import Chat, overdue_ticket, replies_to, type_in_wecom, wecom_side

# (who types, what, what the answer must contain) in order; {group}/{direct} pick by chat kind.
CONVERSATION: list[tuple[str, str, str | dict[str, str]]] = [
    ("zhang", "帮助", "• 认领 <工单号|订单号> (claim)"),
    ("outsider", "认领 1", "您还没有角色"),
    ("li", "认领 1", "工单 #1 属于华东组, 只有该组成员或主管可以认领"),
    ("zhang", "认领", "用法: 认领 <工单号|订单号> (也可写 claim)"),
    ("zhang", "撤销 1", "未知命令「撤销」"),
    ("zhang", "认领 1", "已认领工单 #1 (订单 SH100)"),
    ("zhang", "claim 1", "您已认领过工单 #1"),
    ("zhang", "备注 SH100 已催仓库加急", "已为工单 #1 添加备注"),
    ("zhang", "稍后 1 一会儿", "不是合法的时长"),
    ("zhang", "稍后 1 30分钟", "工单 #1 提醒暂停至"),
    ("zhang", "状态 SH100", "工单 #1 跟进中 (华东组"),
    ("zhang", "我的", "您的未完成工单 1 张:"),
    ("zhang", "待办", "华东组 未关闭工单 2 张:"),
    ("zhang", "转交 2 zhang", "抱歉, 「转交」仅限主管使用"),
    ("boss-east", "转交 2 zhang", "已把工单 #2 转交给 zhang"),
    ("boss-east", "报表", "新开工单 2 (↑2)"),
    (
        "kefu",
        "查询 13812345678",
        {"group": "「查询」只能私聊订单助手使用", "direct": "客户 138****5678 近 90 天的订单"},
    ),
    ("kefu", "完成 1", "抱歉, 「完成」仅限处理组成员、主管使用"),
    ("ops-liu", "健康", "🩺 健康状况"),
    ("zhang", "暂停分单 试试", "抱歉, 「暂停分单」仅限运维使用"),
    (
        "ops-liu",
        "暂停分单 地址库升级",
        {"group": "「暂停分单」只能私聊订单助手使用", "direct": "已暂停自动分单"},
    ),
    (
        "ops-liu",
        "恢复分单",
        {"group": "「恢复分单」只能私聊订单助手使用", "direct": "已恢复自动分单"},
    ),
    ("zhang", "完成 1", "订单尚未流转, 请附备注说明"),
    ("zhang", "完成 1 客户要求改地址后再发", "已完成工单 #1 (订单 SH100)"),
]


@pytest.mark.parametrize("chat", ["group", "direct"])
async def test_every_command_through_wecom(
    bot: TestClient, sandbox: TestServer, chat: Chat
) -> None:
    await overdue_ticket(bot, "SH100")
    await overdue_ticket(bot, "SH200")

    for user, text, expected in CONVERSATION:
        want = expected[chat] if isinstance(expected, dict) else expected
        answer = await type_in_wecom(bot, sandbox, chat, user, text)
        assert want in answer, f"{user}: {text!r} → {answer!r}"
        assert "13812345678" not in answer  # phones are masked in every chat

    sessions = bot.app[SESSIONS]
    events = [(e.ticket_id, e.kind, e.actor) for e in await all_rows(sessions, TicketEvent)]
    assert events == [
        (1, "claimed", "zhang"),
        (1, "noted", "zhang"),
        (1, "snoozed", "zhang"),
        (2, "assigned", "boss-east"),
        (1, "resolved", "zhang"),
    ]
    tickets = await all_rows(sessions, Ticket)
    assert [(t.status, t.owner, t.resolution) for t in tickets] == [
        ("resolved", "zhang", "manual"),
        ("open", "zhang", None),
    ]
    told = [(m.kind, m.target) for m in await all_rows(sessions, OutboxMessage)]
    assert ("claimed", "east") in told and ("assigned", "zhang") in told


@pytest.mark.parametrize(
    ("chat", "endpoint"), [("group", "aibot/response"), ("direct", "message/send")]
)
async def test_a_reply_wecom_refuses_reaches_the_person_once_it_is_back(
    bot: TestClient, sandbox: TestServer, chat: Chat, endpoint: str
) -> None:
    await overdue_ticket(bot, "SH100")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            sandbox.make_url("/sandbox/api/faults"),
            json={"endpoint": endpoint, "kind": "http500", "count": 1},
        ) as response:
            assert response.status == 200
        if chat == "group":
            side, room = wecom_side(bot), robot_chat_id("key-east")
            url = str(sandbox.make_url("/"))
            sent = await send_aibot_callback(
                side, http, room, "group", "zhang", "@订单助手 认领 1", sandbox_url=url
            )
        else:
            sent = await send_app_callback(wecom_side(bot), http, "zhang", "认领 1")
        assert sent.status == 200

    sessions = bot.app[SESSIONS]
    for _ in range(200):  # the command runs in the background; its reply fails, then queues
        queued = [m for m in await all_rows(sessions, OutboxMessage) if m.kind == "reply"]
        if queued:
            break
        await asyncio.sleep(0.025)
    [reply] = queued
    assert (reply.target_kind, reply.target, reply.status) == ("user", "zhang", "pending")
    [ticket] = await all_rows(sessions, Ticket)
    assert ticket.owner == "zhang"  # the command itself was done

    clock = bot.app[CLOCK]
    clock.current += timedelta(seconds=15)  # past group_wait: WeCom is back, the outbox sends
    await deliver.run(sessions, bot.app[RULES].current(), bot.app[WECOM], clock, "test")
    [answer] = await replies_to(sandbox, "zhang")
    assert "已认领工单 #1" in answer
    assert ("未能在群内答复" in answer) == (chat == "group")
