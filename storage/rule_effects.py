"""What a change of rules touches: the orders in stages with a deadline, and the open tickets
with what routing reads of their order (services.rule_effects judges them)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.bulk import update_by_id
from storage.models import Order, Parcel, Ticket
from storage.orders import ORDERS, DueOrder

_SCHEDULED = (ORDERS.c.deadline_at, ORDERS.c.next_check_at)


class ScheduledOrder(NamedTuple):
    order: DueOrder
    deadline_at: datetime | None
    next_check_at: datetime | None


async def orders_in_stages(
    session: AsyncSession, stages: Collection[str], after_id: int, limit: int
) -> list[ScheduledOrder]:
    """Orders in ``stages`` with an id above ``after_id``, by id (a page of a walk over them)."""
    if not stages:
        return []
    query = (
        select(*(ORDERS.c[name] for name in DueOrder._fields), *_SCHEDULED)
        .where(ORDERS.c.stage.in_(stages), ORDERS.c.id > after_id)
        .order_by(ORDERS.c.id)
        .limit(limit)
    )
    width = len(DueOrder._fields)
    return [
        ScheduledOrder(DueOrder._make(row[:width]), row[width], row[width + 1])
        for row in await session.execute(query)
    ]


async def set_schedules(
    session: AsyncSession, changes: list[tuple[int, datetime | None, datetime | None]]
) -> None:
    """(order id, deadline, next check) of orders rescheduled under new rules."""
    await update_by_id(session, Order, "deadline_at", [(i, d) for i, d, _ in changes])
    await update_by_id(session, Order, "next_check_at", [(i, n) for i, _, n in changes])


class OpenTicket(NamedTuple):
    id: int
    kind: str
    group_key: str
    route_rule: str
    order: DueOrder
    parcel_state: str | None
    carrier: str | None


def _parcel_of(episode: str) -> int | None:
    """The parcel id of a ticket's episode (rules.kinds.parcel_episode), if it is about one."""
    if not episode.startswith("parcel:"):
        return None
    number = episode.removeprefix("parcel:").split("@", 1)[0]
    return int(number) if number.isdigit() else None


async def open_tickets(session: AsyncSession, after_id: int, limit: int) -> list[OpenTicket]:
    """Open tickets with an id above ``after_id``, by id, each with its order and (for a
    ticket about a parcel) where the parcel is and who carries it."""
    head = (Ticket.id, Ticket.kind, Ticket.group_key, Ticket.route_rule, Ticket.episode)
    query = (
        select(*head, *(ORDERS.c[name] for name in DueOrder._fields))
        .join(Order, Order.id == Ticket.order_id)
        .where(Ticket.status == "open", Ticket.id > after_id)
        .order_by(Ticket.id)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    parcels = {row.id: _parcel_of(row.episode) for row in rows}
    wanted = {p for p in parcels.values() if p is not None}
    known: dict[int, tuple[str | None, str | None]] = {}
    if wanted:
        found = select(Parcel.id, Parcel.state, Parcel.carrier).where(Parcel.id.in_(wanted))
        known = {i: (state, carrier) for i, state, carrier in await session.execute(found)}
    tickets = []
    for row in rows:
        parcel = parcels[row.id]
        state, carrier = known.get(parcel, (None, None)) if parcel is not None else (None, None)
        order = DueOrder._make(row[len(head) :])
        tickets.append(
            OpenTicket(row.id, row.kind, row.group_key, row.route_rule, order, state, carrier)
        )
    return tickets
