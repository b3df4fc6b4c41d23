"""What the commands share: naming tickets and orders as people type them, and who may act
on which group's tickets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from channels.registry import NAMES, channel_label
from handlers.registry import CommandError
from services.config import Config, GroupConfig
from services.policy import Policy
from storage import lookups as db
from storage.models import Order, Ticket

_TICKET_NO = re.compile(r"#?(\d{1,9})")
_CHANNEL_ORDER = re.compile(rf"({'|'.join(NAMES)}):(.+)", re.IGNORECASE)


@dataclass(frozen=True)
class Found:
    ticket: Ticket | None
    order: Order


def _one_order(ref: str, rows: Sequence[db.LookupRow]) -> Found:
    orders = {row[0].id: row[0] for row in rows}
    if not orders:
        raise CommandError(f"找不到订单 {ref}")
    if len(orders) > 1:
        each = "、".join(
            f"{channel_label(o.channel)}写 {o.channel}:{o.channel_order_id}"
            for o in orders.values()
        )
        first = next(iter(orders.values()))
        raise CommandError(f"订单号 {first.channel_order_id} 在多个渠道都有, 请写明渠道: {each}")
    order, ticket = rows[0]
    return Found(ticket, order)


async def find_order(session: AsyncSession, ref: str, *, open_only: bool) -> Found:
    """An order by its channel order number, ``channel:number`` when it is in several, with
    its newest (open) ticket, which may be None."""
    qualified = _CHANNEL_ORDER.fullmatch(ref)
    channel, order_no = (qualified[1].lower(), qualified[2]) if qualified else (None, ref)
    rows = await db.by_order_number(session, order_no, channel, open_only=open_only)
    return _one_order(ref, rows)


async def find(session: AsyncSession, ref: str, *, open_only: bool) -> Found:
    """A ticket number (``42``/``#42``) or an order number (``SH001``, ``jd:123``) to the
    ticket and its order; for an order, its newest (open) ticket, which may be None."""
    ref = ref.strip(",.;:")
    number = _TICKET_NO.fullmatch(ref)
    if number is None:
        return await find_order(session, ref, open_only=open_only)
    rows = await db.by_ticket(session, int(number[1]))
    if not rows:
        raise CommandError(f"找不到工单 #{number[1]}")
    return _one_order(ref, rows)


async def find_ticket(session: AsyncSession, ref: str, *, open_only: bool) -> tuple[Ticket, Order]:
    found = await find(session, ref, open_only=open_only)
    if found.ticket is None:
        which = "未关闭的工单" if open_only else "工单"
        raise CommandError(f"订单 {found.order.channel_order_id} 没有{which}")
    return found.ticket, found.order


async def find_open_ticket(session: AsyncSession, ref: str) -> tuple[Ticket, Order]:
    ticket, order = await find_ticket(session, ref, open_only=True)
    if ticket.status != "open":
        raise CommandError(f"工单 #{ticket.id} 已关闭。发送「状态 {ticket.id}」查看经过")
    return ticket, order


def in_group(group: GroupConfig, user: str) -> bool:
    """A member or the supervisor of the group: who may act on its tickets."""
    return user in group.members or user == group.supervisor


def require_group(policy: Policy, ticket: Ticket, user: str, action: str) -> GroupConfig:
    group = policy.group(ticket.group_key)
    if not in_group(group, user):
        raise CommandError(f"工单 #{ticket.id} 属于{group.name}, 只有该组成员或主管可以{action}")
    return group


def groups_of(config: Config, user: str) -> list[str]:
    """The groups the user belongs to or supervises, in config order."""
    return [key for key, group in config.groups.items() if in_group(group, user)]


def group_by_name(config: Config, word: str) -> str | None:
    """A group named by its key (``east``) or its display name (``华东处理组``)."""
    for key, group in config.groups.items():
        if word.lower() == key.lower() or word == group.name:
            return key
    return None
