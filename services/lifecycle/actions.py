"""What people do to a ticket from the chat, and its deliveries: each writes the ticket row,
its timeline entry and the notices that go with it. The chat commands check who may act and
word the replies; a False result means the ticket closed meanwhile."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rules.render import local_time
from services.policy import Policy
from storage.models import Order, Ticket
from storage.outbox import OutboxRow, notice_row, queue_messages
from storage.tickets import (
    add_timeline,
    assign_ticket,
    claim_ticket,
    move_ticket,
    outbox_row,
    resolve_manually,
    snooze_ticket,
    timeline_row,
    wake_order,
)


def _notice(ticket: Ticket, kind: str, to: tuple[str, str], text: str, now: datetime) -> OutboxRow:
    """A notice about ``ticket`` for ``("group", key)`` or ``("user", userid)``."""
    key = f"ticket:{ticket.id}:{kind}:{to[1]}:{now.isoformat()}"
    return notice_row(key, kind, to, text, now, ticket_id=ticket.id)


def _order_words(ticket: Ticket, order: Order) -> str:
    return f"工单 #{ticket.id} (订单 {order.channel_order_id})"


async def claim(
    session: AsyncSession, ticket: Ticket, order: Order, user: str, now: datetime
) -> bool:
    """``user`` takes the unclaimed ticket; its group hears of it. False when it was claimed
    or closed meanwhile."""
    if not await claim_ticket(session, ticket.id, user, now):
        return False
    await add_timeline(session, [timeline_row(ticket.id, "claimed", now, actor=user)])
    text = f"👤 {user} 已认领{_order_words(ticket, order)}"
    await queue_messages(
        session, [_notice(ticket, "claimed", ("group", ticket.group_key), text, now)]
    )
    return True


async def assign(
    session: AsyncSession, ticket: Ticket, order: Order, assignee: str, actor: str, now: datetime
) -> bool:
    """``actor`` makes ``assignee`` the ticket's owner; the group and the assignee hear of it."""
    if not await assign_ticket(session, ticket.id, assignee, now):
        return False
    await add_timeline(
        session, [timeline_row(ticket.id, "assigned", now, f"→ {assignee}", actor=actor)]
    )
    words = _order_words(ticket, order)
    told = f"👤 {actor} 把{words}转交给 {assignee}"
    notices = [_notice(ticket, "assigned", ("group", ticket.group_key), told, now)]
    if assignee != actor:
        told = f"📌 {actor} 把{words}交给您处理, 发送「状态 {ticket.id}」查看详情"
        notices.append(_notice(ticket, "assigned", ("user", assignee), told, now))
    await queue_messages(session, notices)
    return True


async def move(
    session: AsyncSession, policy: Policy, ticket: Ticket, to: str, actor: str, now: datetime
) -> bool:
    """Re-route the ticket to group ``to``: unclaimed there, which gets the alert again; the
    old group hears where it went."""
    old, new = policy.group(ticket.group_key), policy.group(to)
    if not await move_ticket(session, ticket.id, to):
        return False
    await add_timeline(
        session, [timeline_row(ticket.id, "assigned", now, f"→ {new.name}", actor=actor)]
    )
    alert = outbox_row(
        ticket_id=ticket.id, kind="alert", level=1, target_kind="group", target=to, now=now
    )
    alert["dedup_key"] = f"ticket:{ticket.id}:moved:{to}:{now.isoformat()}"
    await queue_messages(session, [alert])
    told = f"↪️ {actor} 把工单 #{ticket.id} 从{old.name}转到{new.name}"
    await queue_messages(
        session, [_notice(ticket, "assigned", ("group", ticket.group_key), told, now)]
    )
    # It may have been claimed under a rule that stops escalating on a claim: the watch must
    # look at it again now that nobody owns it.
    await wake_order(session, ticket.order_id, now)
    return True


async def snooze(
    session: AsyncSession,
    policy: Policy,
    ticket: Ticket,
    until: datetime | None,
    actor: str,
    now: datetime,
) -> bool:
    """Hold the ticket's reminders until ``until`` (None: remind again as usual); the watch
    looks at the order now to schedule the next one."""
    if not await snooze_ticket(session, ticket.id, until):
        return False
    detail = f"提醒暂停至 {local_time(until, policy.timezone)}" if until else "恢复提醒"
    await add_timeline(session, [timeline_row(ticket.id, "snoozed", now, detail, actor=actor)])
    await wake_order(session, ticket.order_id, now)
    return True


async def note(session: AsyncSession, ticket: Ticket, text: str, actor: str, now: datetime) -> None:
    """Add a remark to the ticket's timeline, open or closed."""
    await add_timeline(session, [timeline_row(ticket.id, "noted", now, text, actor=actor)])


async def resolve_by_hand(
    session: AsyncSession, ticket: Ticket, remark: str | None, actor: str, now: datetime
) -> bool:
    """Close the ticket by hand (see storage.tickets.resolve_manually for the order's checks)."""
    if not await resolve_manually(session, ticket, now):
        return False
    await add_timeline(session, [timeline_row(ticket.id, "resolved", now, remark, actor=actor)])
    return True


async def record_alerted(
    session: AsyncSession, ticket_ids: list[int], where: str, at: datetime
) -> None:
    """The tickets' alerts or escalations reached ``where`` (a group's name or a person)."""
    await add_timeline(
        session,
        [timeline_row(ticket_id, "alerted", at, f"已送达 {where}") for ticket_id in ticket_ids],
    )
