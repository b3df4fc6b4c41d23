"""Reminders, snoozes and hand-overs: 稍后/snooze holds reminders but never escalation,
转交/assign gives a ticket to a person or another group, and the watch follows both."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.keys import SESSIONS
from services.config import Config, parse_config
from storage.models import Order
from tests.chat import OPENED, H, M, open_ticket, say, the_ticket, tick, timeline
from tests.chat import notices as queued
from tests.support import all_rows, config_data


@pytest.fixture
def config(database_url: str, request: pytest.FixtureRequest) -> Config:
    """The test config with reminders every 30 minutes, plus what a test asks for."""
    data = config_data(database_url)
    data["watch"]["remind_every"] = "30m"
    overrides: dict[str, Any] = getattr(request, "param", {})
    data["watch"] |= overrides.get("watch", {})
    data["sla"][0] |= overrides.get("sla", {})
    return parse_config(data)


def kinds(rows: list[tuple[str, str, str, str | None]]) -> list[tuple[str, str, str]]:
    return [(kind, target_kind, target) for kind, target_kind, target, _ in rows]


async def test_reminders_repeat_to_the_group_then_to_the_owner(client: TestClient) -> None:
    await open_ticket(client)  # alert at OPENED
    assert (await tick(client, OPENED + 29 * M)).reminded == 0
    assert (await tick(client, OPENED + 30 * M)).reminded == 1
    await say(client, "zhang", "认领 1", now=OPENED + 35 * M)
    assert (await tick(client, OPENED + 45 * M)).reminded == 0
    assert (await tick(client, OPENED + 60 * M)).reminded == 1
    assert (await tick(client, OPENED + 61 * M)).reminded == 0  # once per interval

    assert kinds(await queued(client)) == [
        ("alert", "group", "east"),
        ("reminder", "group", "east"),
        ("claimed", "group", "east"),
        ("reminder", "user", "zhang"),
    ]


async def test_a_snooze_holds_reminders_but_not_escalation(client: TestClient) -> None:
    await open_ticket(client)
    reply = await say(client, "zhang", "稍后 1 2小时", now=OPENED + 5 * M)
    assert reply == "工单 #1 提醒暂停至 03-02 13:05, 到时仍未完成会再提醒; 升级照常"
    for minutes in (30, 60, 90):
        assert (await tick(client, OPENED + minutes * M)).reminded == 0
    escalation = await tick(client, OPENED + 2 * H)  # T0 + 4h: the supervisor, snooze or not
    assert (escalation.escalated, escalation.reminded) == (1, 0)
    assert (await tick(client, OPENED + 2 * H + 5 * M)).reminded == 1

    assert kinds(await queued(client)) == [
        ("alert", "group", "east"),
        ("escalation", "user", "boss-east"),
        ("reminder", "group", "east"),
    ]
    assert ("snoozed", "zhang", "提醒暂停至 03-02 13:05") in await timeline(client)


async def test_snooze_zero_resumes_reminders_at_once(client: TestClient) -> None:
    await open_ticket(client)
    await say(client, "zhang", "snooze 1 3h", now=OPENED + 5 * M)
    assert await say(client, "zhang", "稍后 1 0", now=OPENED + 40 * M) == "工单 #1 已恢复提醒"
    assert (await tick(client, OPENED + 41 * M)).reminded == 1  # it was due at +30m


@pytest.mark.parametrize(
    ("user", "text", "expected"),
    [
        ("zhang", "稍后 1 两周", "不是合法的时长"),
        ("zhang", "稍后 1 2d", "最长只能暂停 1天"),
        ("li", "稍后 1 1h", "只有该组成员或主管可以暂停提醒"),
        ("kefu", "稍后 1 1h", "仅限处理组成员、主管使用"),
    ],
    ids=["bad-duration", "too-long", "other-group", "no-role-for-it"],
)
async def test_snooze_refusals(client: TestClient, user: str, text: str, expected: str) -> None:
    await open_ticket(client)
    assert expected in await say(client, user, text)
    assert (await the_ticket(client)).snoozed_until is None


async def test_a_supervisor_assigns_a_ticket_to_a_member(client: TestClient) -> None:
    await open_ticket(client)
    assert await say(client, "boss-east", "转交 1 zhang") == "已把工单 #1 转交给 zhang"

    ticket = await the_ticket(client)
    assert (ticket.owner, ticket.claimed_at) == ("zhang", OPENED + 5 * M)
    assert await timeline(client) == [("assigned", "boss-east", "→ zhang")]
    assert (await queued(client))[1:] == [
        ("assigned", "group", "east", "👤 boss-east 把工单 #1 (订单 SH001)转交给 zhang"),
        (
            "assigned",
            "user",
            "zhang",
            "📌 boss-east 把工单 #1 (订单 SH001)交给您处理, 发送「状态 1」查看详情",
        ),
    ]
    # Reminders now go to the new owner.
    await tick(client, OPENED + 30 * M)
    assert (await queued(client))[-1][:3] == ("reminder", "user", "zhang")


@pytest.mark.parametrize(
    ("user", "text", "expected"),
    [
        ("zhang", "转交 1 zhang", "仅限主管使用"),
        ("boss-vip", "转交 1 zhang", "只有该组主管可以转交"),
        ("boss-east", "转交 1 li", "li 不在华东组 (成员: zhang); 要转到别的组请写组名"),
        ("boss-east", "assign 1", "用法: 转交 <工单号> <处理人|处理组>"),
    ],
    ids=["member", "other-supervisor", "outsider", "no-assignee"],
)
async def test_assign_refusals(client: TestClient, user: str, text: str, expected: str) -> None:
    await open_ticket(client)
    assert expected in await say(client, user, text)
    assert (await the_ticket(client)).owner is None
    assert await timeline(client) == []


@pytest.mark.parametrize(
    "config", [{"watch": {"remind_every": None}, "sla": {"stop_escalation_on_claim": True}}],
    indirect=True,
)  # fmt: skip
async def test_moving_a_claimed_ticket_to_another_group_watches_it_again(
    client: TestClient,
) -> None:
    await open_ticket(client)
    await say(client, "zhang", "认领 1", now=OPENED + 5 * M)
    # T0 + 4h: claimed under a stop-on-claim rule, so no escalation and nothing pending.
    assert (await tick(client, OPENED + 2 * H)).escalated == 0
    [order] = await all_rows(client.app[SESSIONS], Order)
    assert order.next_check_at is None

    moved_at = OPENED + 3 * H
    reply = await say(client, "boss-east", "转交 1 大额组", now=moved_at)
    assert reply == "已把工单 #1 转到大额组, 等待该组认领"
    ticket = await the_ticket(client)
    assert (ticket.group_key, ticket.owner) == ("vip", None)
    assert (await queued(client))[-2:] == [
        ("alert", "group", "vip", None),
        ("assigned", "group", "east", "↪️ boss-east 把工单 #1 从华东组转到大额组"),
    ]
    # Unclaimed again: the escalation it skipped while claimed is due at once.
    assert (await tick(client, moved_at)).escalated == 1
    assert (await queued(client))[-1][:3] == ("escalation", "user", "boss-vip")
