"""The console's tickets page: open tickets per group counted by age, a group's open tickets
(the most overdue first), and one ticket with its order's whole view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.order_view import OrderView, view_of
from services.policy import Policy
from storage.db import begin_reading
from storage.lookups import by_ticket, open_tickets_of_groups
from storage.ticket_rows import TicketWithOrder, open_ticket_ages, tickets_with_orders

# How old an open ticket is, as the page's columns: under 1 h, 1–4 h, 4–24 h, 1–3 days, older.
AGE_EDGES = (timedelta(hours=1), timedelta(hours=4), timedelta(days=1), timedelta(days=3))
AGE_LABELS = ("1小时内", "1–4小时", "4–24小时", "1–3天", "3天以上")
LISTED = 200  # a group's tickets listed at most; the count says how many are open in all


@dataclass(frozen=True)
class GroupAges:
    key: str
    name: str
    by_age: tuple[int, ...]  # one count per AGE_LABELS

    @property
    def total(self) -> int:
        return sum(self.by_age)


@dataclass(frozen=True)
class GroupTickets:
    key: str
    name: str
    tickets: tuple[TicketWithOrder, ...]  # the most overdue first
    total: int


async def ages_by_group(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, now: datetime
) -> tuple[GroupAges, ...]:
    """Every configured group (and any group a ticket still names), its open tickets by age."""
    async with sessions() as session:
        await begin_reading(session)
        counts = await open_ticket_ages(session, [now - edge for edge in AGE_EDGES])
    groups = policy.config.groups
    keys = [*groups, *sorted(counts.keys() - groups.keys())]
    empty = (0,) * len(AGE_LABELS)
    return tuple(
        GroupAges(key, groups[key].name if key in groups else key, tuple(counts.get(key, empty)))
        for key in keys
    )


async def group_tickets(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, keys: Sequence[str]
) -> tuple[GroupTickets, ...]:
    """Each group's open tickets with their orders, the most overdue first."""
    listed = []
    async with sessions() as session:
        await begin_reading(session)
        for key in keys:
            ids, total = await open_tickets_of_groups(session, [key], LISTED)
            rows = await tickets_with_orders(session, ids)
            name = policy.group(key).name if key in policy.config.groups else key
            listed.append(GroupTickets(key, name, tuple(rows[i] for i in ids), total))
    return tuple(listed)


async def ticket_detail(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, ticket_id: int, now: datetime
) -> OrderView | None:
    """The ticket's order as 状态 shows it (phones masked), the ticket's own timeline in it;
    None when there is no such ticket."""
    async with sessions() as session:
        await begin_reading(session)
        rows = await by_ticket(session, ticket_id)
        if not rows:
            return None
        order, ticket = rows[0]
        return await view_of(session, policy, order, ticket, now)
