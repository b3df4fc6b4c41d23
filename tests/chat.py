"""Helpers for chat command tests: orders in through the HTTP API, tickets opened by the
watch, commands dispatched as a WeCom user would type them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from aiohttp.test_utils import TestClient

from bot.keys import RULES, SESSIONS
from handlers import ROUTERS
from handlers.registry import CommandRouter, Message, answer
from jobs import watch
from storage.models import OutboxMessage, Ticket, TicketEvent
from tests.support import T0, all_rows, auth, shop_order

H = timedelta(hours=1)
M = timedelta(minutes=1)
OPENED = T0 + 2 * H  # the normal paid-stage SLA is 2h


async def say(
    client: TestClient,
    user: str,
    text: str,
    *,
    now: datetime = OPENED + 5 * M,
    chat: Literal["group", "direct"] = "group",
    routers: Sequence[CommandRouter] = ROUTERS,
) -> str:
    """The reply to ``text`` typed by ``user``, run as a callback runs it (one transaction)."""
    app = client.app
    reply = await answer(
        routers, app[SESSIONS], app[RULES].current(), Message(user, chat, text, now)
    )
    assert reply is not None  # only a message seen before has no reply
    return reply


async def open_ticket(client: TestClient, *orders: dict[str, object]) -> None:
    response = await client.post(
        "/api/v1/orders/shop",
        json={"orders": list(orders) or [shop_order("SH001")]},
        headers=auth("all"),
    )
    assert response.status == 200, await response.text()
    await watch.run(client.app[SESSIONS], client.app[RULES].current(), OPENED)


async def the_ticket(client: TestClient) -> Ticket:
    [ticket] = await all_rows(client.app[SESSIONS], Ticket)
    return ticket


async def timeline(client: TestClient) -> list[tuple[str, str | None, str | None]]:
    events = await all_rows(client.app[SESSIONS], TicketEvent)
    return [(e.kind, e.actor, e.detail) for e in events]


async def tick(client: TestClient, at: datetime) -> watch.WatchResult:
    """One watch tick at ``at``."""
    return await watch.run(client.app[SESSIONS], client.app[RULES].current(), at)


async def notices(client: TestClient) -> list[tuple[str, str, str, str | None]]:
    """Every queued notification as (kind, target kind, target, own text)."""
    rows = await all_rows(client.app[SESSIONS], OutboxMessage)
    return [(m.kind, m.target_kind, m.target, m.detail) for m in rows]
