"""Storage behind SLA reports: met stage entries, and the tickets and counts of a period."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import Kind
from storage.conflicts import dialect_insert
from storage.models import Order, SlaMet, Ticket

MetKey = tuple[str, str, str, str, str]  # day, stage, channel, province, group

# A ticket as reports see it (rules.report.ReportTicket): id, group_key, stage, owner,
# opened_at, claimed_at, resolved_at, resolution, level, deadline_at, channel, province, order_no.
# Typed by the select, not copied into objects: a report reads a period's tickets.
_TicketColumns = tuple[
    int,
    str,
    str | None,
    str | None,
    datetime,
    datetime | None,
    datetime | None,
    str | None,
    int,
    datetime,
    str,
    str | None,
    str,
]
TicketRow = Row[*_TicketColumns]


async def count_met(session: AsyncSession, counts: Counter[MetKey]) -> None:
    """Add met stage entries, one upsert row per key."""
    if not counts:
        return
    statement = dialect_insert(session, SlaMet)
    statement = statement.on_conflict_do_update(
        index_elements=["day", "stage", "channel", "province", "group_key"],
        set_={"met": SlaMet.met + statement.excluded.met},
    )
    rows = [
        {"day": d, "stage": s, "channel": c, "province": p, "group_key": g, "met": n}
        for (d, s, c, p, g), n in counts.items()
    ]
    await session.execute(statement, rows)


async def met_between(
    session: AsyncSession, first: date, last: date, group_keys: Sequence[str] | None
) -> Sequence[SlaMet]:
    """Met entries whose deadline fell on local days ``first`` … ``last``."""
    query = select(SlaMet).where(SlaMet.day >= first.isoformat(), SlaMet.day <= last.isoformat())
    if group_keys is not None:
        query = query.where(SlaMet.group_key.in_(group_keys))
    return (await session.scalars(query)).all()


def _tickets_query() -> Select[*_TicketColumns]:
    """Overdue tickets: the stage entries that missed their deadline, what SLA reports are of
    (a stall or a payment difference is not a missed stage)."""
    return (
        select(
            Ticket.id,
            Ticket.group_key,
            Ticket.stage,
            Ticket.owner,
            Ticket.opened_at,
            Ticket.claimed_at,
            Ticket.resolved_at,
            Ticket.resolution,
            Ticket.level,
            Ticket.deadline_at,
            Order.channel,
            Order.province,
            Order.channel_order_id.label("order_no"),
        )
        .join(Order, Order.id == Ticket.order_id)
        .where(Ticket.kind == Kind.OVERDUE)
    )


async def tickets_between(
    session: AsyncSession, start: datetime, end: datetime, group_keys: Sequence[str] | None
) -> Sequence[TicketRow]:
    """Tickets opened in [start, end), with the order facts reports group them by."""
    query = _tickets_query().where(Ticket.opened_at >= start, Ticket.opened_at < end)
    if group_keys is not None:
        query = query.where(Ticket.group_key.in_(group_keys))
    return (await session.execute(query)).all()


async def oldest_open(
    session: AsyncSession, group_keys: Sequence[str] | None, limit: int | None
) -> Sequence[TicketRow]:
    """Open tickets, the most overdue first: ``limit`` of them, or all."""
    query = _tickets_query().where(Ticket.status == "open")
    if group_keys is not None:
        query = query.where(Ticket.group_key.in_(group_keys))
    query = query.order_by(Ticket.deadline_at, Ticket.id)
    return (await session.execute(query if limit is None else query.limit(limit))).all()


async def open_count(session: AsyncSession, group_keys: Sequence[str] | None) -> int:
    query = select(func.count()).select_from(Ticket)
    query = query.where(Ticket.status == "open", Ticket.kind == Kind.OVERDUE)
    if group_keys is not None:
        query = query.where(Ticket.group_key.in_(group_keys))
    return await session.scalar(query) or 0
