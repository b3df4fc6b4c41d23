"""Chat commands end to end without WeCom: orders in through the HTTP API, tickets opened by the
watch, then the reply to each message and what it wrote to the database."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from bot.keys import RULES, SESSIONS
from handlers import ROUTERS
from handlers.registry import (
    CommandContext,
    CommandRouter,
    command_table,
    normalize,
    render_help,
)
from jobs import watch
from rules.stages import Stage
from sandbox.samples import sample_record
from storage.models import OutboxMessage
from tests.chat import OPENED, H, M, open_ticket, say, the_ticket, timeline
from tests.support import T0, all_rows, auth, shop_order


async def test_a_member_claims_and_the_group_is_told(client: TestClient) -> None:
    await open_ticket(client)
    ticket = await the_ticket(client)
    assert (ticket.id, ticket.group_key, ticket.owner) == (1, "east", None)

    assert await say(client, "zhang", "认领 1") == "已认领工单 #1 (订单 SH001)"

    ticket = await the_ticket(client)
    assert (ticket.owner, ticket.claimed_at) == ("zhang", OPENED + 5 * M)
    assert await timeline(client) == [("claimed", "zhang", None)]
    notices = await all_rows(client.app[SESSIONS], OutboxMessage)
    assert [(m.kind, m.level, m.target_kind, m.target, m.dedup_key) for m in notices] == [
        ("alert", 1, "group", "east", "ticket:1:level:1"),
        (
            "claimed",
            None,
            "group",
            "east",
            f"ticket:1:claimed:east:{OPENED + 5 * M:%Y-%m-%dT%H:%M:%S+00:00}",
        ),
    ]
    assert "您已认领过" in await say(client, "zhang", "认领 1")
    assert "已由 zhang 认领" in await say(client, "boss-east", "认领 1")
    assert len(await all_rows(client.app[SESSIONS], OutboxMessage)) == 2


@pytest.mark.parametrize(
    "text",
    [
        "认领 1",
        "认领 #1",
        "认领 SH001",
        "认领 shop:SH001",
        "claim 1",
        "CLAIM #1",
        "认领　１",
        "＠订单助手　认领　＃１",
        "@订单助手 认领 1",
        "@订单助手\u2005认领 1",
        "认领1",
        "认领 1，",
    ],
    ids=[
        "number",
        "hash",
        "order-no",
        "channel-qualified",
        "alias",
        "alias-upper",
        "full-width",
        "full-width-mention",
        "mention",
        "wecom-mention-space",
        "no-space",
        "trailing-comma",
    ],
)
async def test_claim_accepts_every_way_of_writing_it(client: TestClient, text: str) -> None:
    await open_ticket(client)
    assert await say(client, "zhang", text) == "已认领工单 #1 (订单 SH001)"
    assert (await the_ticket(client)).owner == "zhang"


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("li", "只有该组成员或主管可以认领"),  # a member of another group
        ("boss-vip", "只有该组成员或主管可以认领"),  # another group's supervisor
        ("stranger", "您还没有角色"),
    ],
    ids=["other-group-member", "other-supervisor", "unknown-user"],
)
async def test_claim_by_someone_outside_the_group_is_refused(
    client: TestClient, user: str, expected: str
) -> None:
    await open_ticket(client)
    assert expected in await say(client, user, "认领 1")
    assert (await the_ticket(client)).owner is None
    assert await timeline(client) == []
    assert [m.kind for m in await all_rows(client.app[SESSIONS], OutboxMessage)] == ["alert"]


async def test_the_supervisor_may_claim(client: TestClient) -> None:
    await open_ticket(client)
    assert "已认领工单 #1" in await say(client, "boss-east", "claim 1")
    assert (await the_ticket(client)).owner == "boss-east"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("认领 9", "找不到工单 #9"),
        ("认领 NOPE", "找不到订单 NOPE"),
        ("状态 jd:SH001", "找不到订单 jd:SH001"),
    ],
    ids=["no-ticket", "no-order", "wrong-channel"],
)
async def test_unknown_references_are_named(client: TestClient, text: str, expected: str) -> None:
    await open_ticket(client)
    assert await say(client, "zhang", text) == expected


async def test_an_order_number_in_two_channels_must_be_qualified(client: TestClient) -> None:
    number = "202603020001"  # long digit strings are order numbers, short ones ticket numbers
    await open_ticket(client, shop_order(number))
    record = sample_record(
        "jd", random.Random(1), T0, order_no=number, stage=Stage.PAID, stage_age=timedelta(0)
    )
    response = await client.post("/api/v1/orders/jd", json=record, headers=auth("all"))
    assert response.status == 200, await response.text()

    assert await say(client, "zhang", f"认领 {number}") == (
        f"订单号 {number} 在多个渠道都有, 请写明渠道: 京东写 jd:{number}、自营商城写 shop:{number}"
    )
    assert "已认领工单 #1" in await say(client, "zhang", f"认领 shop:{number}")
    assert "没有未关闭的工单" in await say(client, "zhang", f"认领 JD:{number}")


async def test_done_needs_a_note_while_the_order_has_not_moved(client: TestClient) -> None:
    await open_ticket(client)
    await say(client, "zhang", "认领 1")

    assert await say(client, "zhang", "完成 1") == (
        "订单尚未流转, 请附备注说明, 例: 完成 1 已与客户确认"
    )
    assert (await the_ticket(client)).status == "open"

    assert await say(client, "zhang", "done #1 客户要求 延后发货") == "已完成工单 #1 (订单 SH001)"
    ticket = await the_ticket(client)
    assert (ticket.status, ticket.resolution) == ("resolved", "manual")
    assert ticket.resolved_at == OPENED + 5 * M
    assert (await timeline(client))[-1] == ("resolved", "zhang", "客户要求 延后发货")
    assert "已关闭" in await say(client, "zhang", "完成 1 again")

    # The watch must neither spin on the order nor escalate a ticket closed by hand.
    async with asyncio.timeout(10):
        result = await watch.run(client.app[SESSIONS], client.app[RULES].current(), T0 + 9 * H)
    assert (result.opened, result.escalated) == (0, 0)
    assert [m.kind for m in await all_rows(client.app[SESSIONS], OutboxMessage)] == [
        "alert",
        "claimed",
    ]


@pytest.mark.parametrize("user", ["wang", "zhang"], ids=["outside-member", "member-but-not-owner"])
async def test_done_only_by_the_owner_or_supervisor(client: TestClient, user: str) -> None:
    await open_ticket(client)
    assert "只有处理人或主管可以完成工单 #1" in await say(client, user, "完成 1 好了")
    assert "已完成工单 #1" in await say(client, "boss-east", "完成 1 主管关闭")
    assert (await the_ticket(client)).resolution == "manual"


async def test_a_note_lands_in_the_timeline(client: TestClient) -> None:
    await open_ticket(client)
    assert await say(client, "zhang", "备注 SH001 已联系仓库 加急") == "已为工单 #1 添加备注"
    assert await say(client, "zhang", "note #1 “仓库说 明早发”") == "已为工单 #1 添加备注"
    assert await timeline(client) == [
        ("noted", "zhang", "已联系仓库 加急"),
        ("noted", "zhang", "仓库说 明早发"),
    ]


async def test_status_shows_stage_deadline_masked_phone_and_timeline(client: TestClient) -> None:
    await open_ticket(client)
    await say(client, "zhang", "认领 1")
    await say(client, "zhang", "备注 1 已催仓库")

    reply = await say(client, "boss-east", "状态 SH001")

    assert reply.startswith("订单 SH001 (自营商城)")
    # 01:00 UTC + 2h in Asia/Shanghai, asked at 11:05
    assert "环节: 已付款待拣货(已超出承诺时间5分), 截止 03-02 11:00" in reply
    assert "收货电话: 138****5678" in reply and "13812345678" not in reply
    assert "工单 #1 跟进中 (华东组" in reply and "处理人: zhang" in reply
    assert "03-02 11:05 认领 zhang" in reply and "03-02 11:05 备注 zhang 已催仓库" in reply
    assert await say(client, "boss-east", "status #1") == reply


async def test_status_of_an_order_without_a_ticket(client: TestClient) -> None:
    await open_ticket(client, shop_order("SH002", paid_at=T0 + H))  # due only at T0 + 3h
    reply = await say(client, "wang", "状态 SH002")
    assert "暂无工单" in reply and "截止 03-02 12:00" in reply


async def test_an_unknown_command_answers_with_help(client: TestClient) -> None:
    reply = await say(client, "zhang", "撤销 1")
    assert reply.startswith("未知命令「撤销」。\n可用命令:")
    assert "认领 <工单号|订单号> (claim)" in reply


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("认领", "用法: 认领 <工单号|订单号> (也可写 claim)"),
        ("claim 1 2", "用法: 认领 <工单号|订单号> (也可写 claim)"),
        ("备注 1", "用法: 备注 <工单号|订单号> <文字...> (也可写 note)"),
        ("完成", "用法: 完成 <工单号> [备注...] (也可写 done)"),
        ("status", "用法: 状态 <订单号|工单号> (也可写 status)"),
    ],
    ids=["claim-none", "claim-two", "note-no-text", "done-none", "status-none"],
)
async def test_wrong_arguments_answer_with_usage(client: TestClient, text: str, usage: str) -> None:
    assert await say(client, "zhang", text) == usage


async def test_help_lists_the_declared_commands_with_summaries(client: TestClient) -> None:
    reply = await say(client, "zhang", "帮助")
    assert reply == render_help(ROUTERS, client.app[RULES].current().config, "zhang")
    assert reply.splitlines() == [
        "可用命令:",
        "• 认领 <工单号|订单号> (claim): 认领工单, 由您负责处理, 并通知所在处理组",
        "• 完成 <工单号> [备注...] (done): 关闭您处理完的工单",
        "• 备注 <工单号|订单号> <文字...> (note): 给工单添加备注, 记入工单经过",
        "• 稍后 <工单号> <时长> (snooze): 暂停工单的重复提醒一段时间 (升级照常)",
        "• 状态 <订单号|工单号> (status): "
        "查看订单当前环节、预计时间、处理人和工单经过 (含内部备注)",
        "• 我的 (mine): 列出您认领的未完成工单, 最早超时的在前",
        "• 待办 [处理组] (list): 列出处理组未关闭的工单, 最早超时的在前",
        "• 报表 [今天|昨天|近7天|近30天] [处理组] (report): "
        "SLA 报表: 达标率、新开/认领/关闭/升级工单及用时、最久未关闭的工单",
        "• 帮助 [命令] (help): 列出您可用的命令; 「帮助 命令」查看某个命令的说明",
    ]
    detail = await say(client, "zhang", "help 完成")
    assert "订单仍停在超时的环节时必须附备注" in detail and detail.endswith("(也可写 done)")


async def test_help_lists_only_permitted_commands(client: TestClient) -> None:
    router = CommandRouter()

    @router.command("审计", "audit", usage="审计", roles={"ops"})
    async def audit(ctx: CommandContext, args: list[str]) -> str:
        """查看审计日志"""
        return "ok"

    routers = (*ROUTERS, router)
    config = client.app[RULES].current().config
    assert "审计" not in render_help(routers, config, "zhang")
    assert "认领" in render_help(routers, config, "zhang")
    assert "仅限运维使用" in await say(client, "zhang", "audit", routers=routers)
    assert "您还没有角色" in render_help(routers, config, "stranger")


async def test_a_failing_handler_answers_with_an_error_id_and_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    router = CommandRouter()

    @router.command("爆炸", "boom", usage="爆炸", roles={"member"})
    async def boom(ctx: CommandContext, args: list[str]) -> str:
        """总是出错"""
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR, logger="handlers.registry"):
        reply = await say(client, "zhang", "boom", routers=(router,))
    assert reply.startswith("处理「爆炸」时出错了") and "错误编号" in reply
    assert "secret" not in reply and "Traceback" not in reply
    error_id = reply.rsplit("错误编号 ", 1)[1].rstrip("。)")
    [record] = caplog.records
    assert error_id in record.getMessage() and record.exc_info is not None


def test_no_command_word_is_declared_twice_and_every_command_has_a_summary() -> None:
    specs = [spec for router in ROUTERS for spec in router.commands]
    words = [w.lower() for spec in specs for w in (spec.name, *spec.aliases)]
    assert len(words) == len(set(words)) == len(command_table(ROUTERS))
    for spec in specs:
        assert spec.summary and spec.aliases and spec.usage.startswith(spec.name)
        assert not spec.name.isascii() and all(a.isascii() for a in spec.aliases)

    router = CommandRouter()

    @router.command("甲", "a", usage="甲", roles={"member"})
    async def first(ctx: CommandContext, args: list[str]) -> str:
        """一"""
        return ""

    with pytest.raises(ValueError, match="重复声明"):
        router.command("乙", "A", usage="乙", roles={"member"})(first)
    with pytest.raises(ValueError, match="重复声明"):
        command_table((*ROUTERS, *ROUTERS))


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("  认领   1  ", ["认领", "1"]),
        ("@订单助手 @张三 状态 SH001", ["状态", "SH001"]),
        ("备注 1 “两个 词”", ["备注", "1", "两个 词"]),
        ("备注 1 「引号」", ["备注", "1", "引号"]),
        ("note 1 don't", ["note", "1", "don't"]),
        ("状态　ｊｄ：１２３", ["状态", "jd:123"]),
        ("备注 1 邮件 a@b.cn", ["备注", "1", "邮件", "a@b.cn"]),
        ("", []),
    ],
    ids=[
        "spaces",
        "mentions",
        "smart-quotes",
        "corner-quotes",
        "apostrophe",
        "full-width",
        "email-kept",
        "empty",
    ],
)
def test_normalize(text: str, tokens: list[str]) -> None:
    assert normalize(text) == tokens
