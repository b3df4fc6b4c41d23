"""Ticket writes: opening, levels, reminders, claims, hand-overs, snoozes, closing, and the
timeline rows and notices that go with them. Only services.lifecycle calls these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict, cast

import orjson
from sqlalchemy import ColumnElement, CursorResult, String, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import Kind
from storage.bulk import insert_new, select_rows, update_by_id
from storage.db import dialect_name
from storage.models import Order, Ticket, TicketEvent
from storage.outbox import OutboxRow, queue_messages

TICKETS = Ticket.__table__


class TicketRow(TypedDict):
    """A ticket's columns: what opening one writes, and what the open ones read back carry."""

    id: NotRequired[int]  # set once inserted
    kind: str
    subject: str
    episode: str
    order_id: int  # None only for a payment ticket without an order (see models.Ticket)
    stage: str | None
    stage_entered_at: datetime | None
    status: str
    group_key: str
    route_rule: str
    route_reason: str
    sla_rule: str
    deadline_at: datetime
    opened_at: datetime
    level: int
    summary: NotRequired[str | None]
    owner: NotRequired[str | None]
    claimed_at: NotRequired[datetime | None]
    resolved_at: NotRequired[datetime | None]
    resolution: NotRequired[str | None]
    reminded_at: NotRequired[datetime | None]
    snoozed_until: NotRequired[datetime | None]


class TimelineRow(TypedDict):
    """One entry of a ticket's timeline (see TicketEvent)."""

    ticket_id: int
    kind: str
    at: datetime
    detail: str | None
    actor: str | None


def _rowcount(result: Any) -> int:
    """How many rows an UPDATE matched (``session.execute`` is typed as returning a Result)."""
    return cast(CursorResult[Any], result).rowcount


async def open_tickets_for(
    session: AsyncSession, order_ids: Iterable[int], kinds: Sequence[str]
) -> list[TicketRow]:
    """The open tickets of these kinds about these orders."""
    ids = list(order_ids)
    if not ids:
        return []
    if dialect_name(session) == "sqlite":
        lists = {"ids": orjson.dumps(ids).decode(), "kinds": orjson.dumps(list(kinds)).decode()}
        found = await select_rows(session, _OPEN_FOR_SQLITE, lists)
    else:
        found = await select_rows(session, _OPEN_FOR, {"ids": ids, "kinds": list(kinds)})
    return [cast(TicketRow, dict(zip(_TICKET_KEYS, row, strict=True))) for row in found]


_TICKET_KEYS = tuple(TICKETS.c.keys())


def _in_list(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column IN`` the values of a JSON array bound as ``name`` (SQLite's json_each)."""
    values = func.json_each(bindparam(name, type_=String)).table_valued("value")
    return column.in_(select(values.c.value))


# Built once, the lists bound at execution: a statement holding the watch batch's thousand ids
# as literals costs a check of each and a cache key over all of them every time. On SQLite the
# ids go as one JSON array, so the statement's text does not grow with them either.
_OPEN_FOR = select(TICKETS).where(
    TICKETS.c.order_id.in_(bindparam("ids", expanding=True)),
    TICKETS.c.status == "open",
    TICKETS.c.kind.in_(bindparam("kinds", expanding=True)),
)
_OPEN_FOR_SQLITE = select(TICKETS).where(
    _in_list(TICKETS.c.order_id, "ids"),
    TICKETS.c.status == "open",
    _in_list(TICKETS.c.kind, "kinds"),
)


async def insert_tickets(session: AsyncSession, rows: list[TicketRow]) -> int:
    """Insert tickets, setting each inserted row's ``id``; a ticket that exists already with the
    same key (kind, subject, episode) is left as it is. Returns how many were inserted."""
    if not rows:
        return 0
    inserted = await insert_new(session, Ticket, rows, ("id", "kind", "subject", "episode"))
    ids = {(k, s, e): ticket_id for ticket_id, k, s, e in inserted}
    for row in rows:
        key = (row["kind"], row["subject"], row["episode"])
        if key in ids:
            row["id"] = ids[key]
    return len(ids)


async def set_levels(session: AsyncSession, changes: list[tuple[int, int]]) -> None:
    await update_by_id(session, Ticket, "level", changes)


async def set_reminded(session: AsyncSession, changes: list[tuple[int, datetime]]) -> None:
    await update_by_id(session, Ticket, "reminded_at", changes)


async def resolve(session: AsyncSession, closed: list[tuple[int, datetime]], how: str) -> None:
    """Close tickets, each at its own moment (for auto-resolution: when the order moved on)."""
    if closed:
        statement = (
            update(TICKETS)
            .where(TICKETS.c.id == bindparam("ticket_id"))
            .values(status="resolved", resolved_at=bindparam("at"), resolution=how)
        )
        await session.execute(statement, [{"ticket_id": t, "at": at} for t, at in closed])


async def reopen(session: AsyncSession, ticket_ids: Sequence[int]) -> None:
    """Open closed tickets again (a payment difference found again by a re-run)."""
    if ticket_ids:
        await session.execute(
            update(TICKETS)
            .where(TICKETS.c.id.in_(list(ticket_ids)))
            .values(status="open", resolved_at=None, resolution=None)
        )


async def close_by_themselves(
    session: AsyncSession, closures: Sequence[tuple[TicketRow, datetime, str]], now: datetime
) -> None:
    """Close tickets that what they were about settled: each (ticket, when, why) resolved at its
    moment, the why on its timeline, and a notice queued for its group."""
    await resolve(session, [(ticket["id"], at) for ticket, at, _ in closures], "auto")
    await add_timeline(
        session, [timeline_row(ticket["id"], "resolved", now, why) for ticket, _, why in closures]
    )
    notices = [
        outbox_row(
            ticket_id=ticket["id"],
            kind="resolution",
            level=None,
            target_kind="group",
            target=ticket["group_key"],
            now=now,
        )
        for ticket, _, _ in closures
    ]
    await queue_messages(session, notices)


def timeline_row(
    ticket_id: int, kind: str, at: datetime, detail: str | None = None, actor: str | None = None
) -> TimelineRow:
    return {"ticket_id": ticket_id, "kind": kind, "at": at, "detail": detail, "actor": actor}


async def add_timeline(session: AsyncSession, rows: Sequence[TimelineRow]) -> None:
    if rows:
        await session.execute(TicketEvent.__table__.insert(), list(rows))


def outbox_row(
    *,
    ticket_id: int,
    kind: str,
    level: int | None,
    target_kind: str,
    target: str,
    now: datetime,
) -> OutboxRow:
    """A notification about a ticket; its key makes re-queueing the same one a no-op."""
    return {
        "dedup_key": f"ticket:{ticket_id}:{kind if level is None else f'level:{level}'}",
        "ticket_id": ticket_id,
        "kind": kind,
        "level": level,
        "target_kind": target_kind,
        "target": target,
        "created_at": now,
        "status": "pending",
    }


async def claim_ticket(session: AsyncSession, ticket_id: int, user: str, now: datetime) -> bool:
    """Make ``user`` the owner of an open, unclaimed ticket; False when it is not (any more)."""
    statement = (
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == "open", Ticket.owner.is_(None))
        .values(owner=user, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(await session.execute(statement)) == 1


async def assign_ticket(session: AsyncSession, ticket_id: int, user: str, now: datetime) -> bool:
    """Make ``user`` the owner of an open ticket, claimed or not; False when it closed."""
    statement = (
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == "open")
        .values(owner=user, claimed_at=func.coalesce(Ticket.claimed_at, now))
        .execution_options(synchronize_session=False)
    )
    return _rowcount(await session.execute(statement)) == 1


async def move_ticket(session: AsyncSession, ticket_id: int, group_key: str) -> bool:
    """Hand an open ticket to another group, unclaimed; False when it closed."""
    statement = (
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == "open")
        .values(group_key=group_key, owner=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(await session.execute(statement)) == 1


async def snooze_ticket(session: AsyncSession, ticket_id: int, until: datetime | None) -> bool:
    """Hold the ticket's reminders until ``until`` (None: remind again as usual)."""
    statement = (
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == "open")
        .values(snoozed_until=until)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(await session.execute(statement)) == 1


async def wake_order(session: AsyncSession, order_id: int, at: datetime) -> None:
    """Have the watch look at the order by ``at`` (sooner if it was due sooner anyway)."""
    await session.execute(
        update(Order)
        .where(Order.id == order_id)
        .where(or_(Order.next_check_at.is_(None), Order.next_check_at > at))
        .values(next_check_at=at)
        .execution_options(synchronize_session=False)
    )


async def resolve_manually(session: AsyncSession, ticket: Ticket, now: datetime) -> bool:
    """Close an open ticket by hand; False when it was closed meanwhile.

    If it is an overdue ticket and the order is still in its stage entry, the order's pending
    checks are dropped too: that stage entry is settled, so the watch need not wake for it (it
    would only find the ticket closed). The order's next stage schedules checks afresh.
    """
    closed = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status == "open")
        .values(status="resolved", resolved_at=now, resolution="manual")
        .execution_options(synchronize_session=False)
    )
    if _rowcount(closed) != 1:
        return False
    if ticket.kind != Kind.OVERDUE:
        return True
    await session.execute(
        update(Order)
        .where(
            Order.id == ticket.order_id,
            Order.stage == ticket.stage,
            Order.stage_entered_at == ticket.stage_entered_at,
        )
        .values(next_check_at=None)
        .execution_options(synchronize_session=False)
    )
    return True
