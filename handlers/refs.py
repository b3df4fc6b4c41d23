"""What the commands share: naming tickets and orders as people type them, and who may act
on which group's tickets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config, GroupConfig
from bot.policy import Policy
from handlers.registry import CommandError
from rules.render import CHANNEL_LABELS
from storage import commands as db
from storage.models import Order, Ticket

_TICKET_NO = re.compile(r"#?(\d{1,9})")
_CHANNEL_ORDER = re.compile(rf"({'|'.join(CHANNEL_LABELS)}):(.+)", re.IGNORECASE)


@dataclass(frozen=True)
class Found:
    ticket: Ticket | None
    order: Order


async def find_order(session: AsyncSession, ref: str) -> Order:
    """An order by its channel order number, ``channel:number`` when it is in several."""
    qualified = _CHANNEL_ORDER.fullmatch(ref)
    channel, number = (qualified[1].lower(), qualified[2]) if qualified else (None, ref)
    orders = await db.orders_by_number(session, number, channel)
    if not orders:
        raise CommandError(f"找不到订单 {ref}")
    if len(orders) > 1:
        channels = ", ".join(o.channel for o in orders)
        raise CommandError(
            f"订单号 {number} 在多个渠道都有 ({channels}), 请写成 渠道:订单号, 例: "
            f"{orders[0].channel}:{number}"
        )
    return orders[0]


async def find(session: AsyncSession, ref: str, *, open_only: bool) -> Found:
    """A ticket number (``42``/``#42``) or an order number (``SH001``, ``jd:123``) to the
    ticket and its order; for an order, its newest (open) ticket, which may be None."""
    ref = ref.strip(",.;:")
    number = _TICKET_NO.fullmatch(ref)
    if number is None:
        order = await find_order(session, ref)
        return Found(await db.latest_ticket(session, order.id, open_only=open_only), order)
    ticket = await db.get_ticket(session, int(number[1]))
    if ticket is None:
        raise CommandError(f"找不到工单 #{number[1]}")
    order = await db.get_order(session, ticket.order_id)
    if order is None:  # orders are never deleted; a foreign key guards it
        raise CommandError(f"工单 #{ticket.id} 的订单不存在")
    return Found(ticket, order)


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
