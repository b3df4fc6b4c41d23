"""Read queries behind the chat commands: orders and tickets as people name them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    CompoundSelect,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    exists,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Order, OrderEvent, Parcel, ParcelScan, SmsMessage, Ticket, TicketEvent

LookupRow = Row[Order, Ticket | None]
_OTHER_TICKET = aliased(Ticket)  # built once: an alias proxies every column anew

# The chat's lookups are built once, with bound parameters: building a statement (its clauses,
# their coercion and its cache key) cost more of a command's CPU than executing it.


def _newest_ticket(query: Select[Order, Ticket], *, open_only: bool) -> Select[Order, Ticket]:
    """Join each order's newest ticket (or newest open one), None where it has none."""
    newest = select(func.max(_OTHER_TICKET.id)).where(_OTHER_TICKET.order_id == Order.id)
    if open_only:
        newest = newest.where(_OTHER_TICKET.status == "open")
    return query.outerjoin(Ticket, Ticket.id == newest.scalar_subquery())


def _by_order_number(*, in_channel: bool, open_only: bool) -> Select[Order, Ticket]:
    query = _newest_ticket(select(Order, Ticket).select_from(Order), open_only=open_only)
    query = query.where(Order.channel_order_id == bindparam("order_no"))
    if in_channel:
        query = query.where(Order.channel == bindparam("channel"))
    return query.order_by(Order.channel)


_BY_ORDER_NUMBER = {
    (in_channel, open_only): _by_order_number(in_channel=in_channel, open_only=open_only)
    for in_channel in (False, True)
    for open_only in (False, True)
}


async def by_order_number(
    session: AsyncSession,
    order_no: str,
    channel: str | None,
    *,
    open_only: bool,
) -> Sequence[LookupRow]:
    """Orders with this channel order id (in one channel, or in any: then maybe several),
    each with its newest (open) ticket: one statement, because on SQLite every statement
    costs a thread hand-off."""
    query = _BY_ORDER_NUMBER[channel is not None, open_only]
    return (await session.execute(query, {"order_no": order_no, "channel": channel})).all()


_BY_TICKET = (
    select(Order, Ticket)
    .select_from(Order)
    .join(Ticket, Ticket.order_id == Order.id)
    .where(Ticket.id == bindparam("ticket_id"))
)


async def by_ticket(session: AsyncSession, ticket_id: int) -> Sequence[LookupRow]:
    """The ticket with its order; empty when there is no such ticket."""
    return (await session.execute(_BY_TICKET, {"ticket_id": ticket_id})).all()


class HistoryRow(NamedTuple):
    """One entry of an order's history: a stage it entered (``kind`` "stage", ``detail`` the
    stage, ``actor`` the source that reported it) or an event of its ticket."""

    at: datetime
    kind: str
    actor: str | None
    detail: str | None


class History(NamedTuple):
    """An order's history rows, and whether it has parcels or texts at all (the view reads
    them only then)."""

    rows: list[HistoryRow]
    parcels: bool
    texts: bool


_MARKER = 2  # the rank of a row that only says the order has parcels or texts


def _has(kind: str, model: type[Parcel] | type[SmsMessage]) -> Select[*tuple[Any, ...]]:
    """One row of rank _MARKER when the order has any of ``model``'s rows, else none."""
    return select(
        null(),
        literal_column(str(_MARKER), Integer),
        literal_column("0", Integer),
        literal_column(f"'{kind}'", String),
        null(),
        null(),
    ).where(exists().where(model.order_id == bindparam("order_id")))


def _history() -> CompoundSelect[*tuple[Any, ...]]:
    stages = select(
        OrderEvent.occurred_at.label("at"),
        literal_column("0", Integer).label("rank"),
        OrderEvent.id,
        literal_column("'stage'", String).label("kind"),
        OrderEvent.source.label("actor"),
        OrderEvent.stage.label("detail"),
    ).where(OrderEvent.order_id == bindparam("order_id"), OrderEvent.applied)
    events = select(
        TicketEvent.at,
        literal_column("1", Integer),
        TicketEvent.id,
        TicketEvent.kind,
        TicketEvent.actor,
        TicketEvent.detail,
    ).where(TicketEvent.ticket_id == bindparam("ticket_id"))
    markers = (_has("parcels", Parcel), _has("texts", SmsMessage))
    return union_all(stages, events, *markers).order_by("at", "rank", "id")


_HISTORY = _history()


async def history(session: AsyncSession, order_id: int, ticket_id: int | None) -> History:
    """The stages the order entered (applied stage events) and its ticket's events, oldest
    first, a stage before a ticket event of the same moment, and whether the order has parcels
    and texts: one statement, since on SQLite the two reads saved where it has none are most of
    a 状态's cost beyond it. (Without a ticket, ``ticket_id = NULL`` matches no event.)"""
    rows = (await session.execute(_HISTORY, {"order_id": order_id, "ticket_id": ticket_id})).all()
    has = {r.kind for r in rows if r.rank == _MARKER}
    return History(
        [HistoryRow(r.at, r.kind, r.actor, r.detail) for r in rows if r.rank != _MARKER],
        parcels="parcels" in has,
        texts="texts" in has,
    )


_PARCELS = (
    select(Parcel)
    .where(Parcel.order_id.in_(bindparam("order_ids", expanding=True)))
    .order_by(Parcel.id)
)


async def parcels_of_orders(session: AsyncSession, order_ids: Sequence[int]) -> list[Parcel]:
    """The parcels followed for these orders, in the order they were first followed."""
    if not order_ids:
        return []
    return list((await session.scalars(_PARCELS, {"order_ids": list(order_ids)})).all())


_SCANS = (
    select(ParcelScan)
    .where(ParcelScan.order_id == bindparam("order_id"))
    .order_by(ParcelScan.at, ParcelScan.id)
)


async def scans_of_order(session: AsyncSession, order_id: int) -> list[ParcelScan]:
    """The carrier scans of the order's parcels, in the order they happened."""
    return list((await session.scalars(_SCANS, {"order_id": order_id})).all())


_TEXTS = (
    select(SmsMessage).where(SmsMessage.order_id == bindparam("order_id")).order_by(SmsMessage.id)
)


async def texts_of_order(session: AsyncSession, order_id: int) -> list[SmsMessage]:
    """The texts to the order's customer about it, in the order they were queued."""
    return list((await session.scalars(_TEXTS, {"order_id": order_id})).all())


async def orders_by_phone(
    session: AsyncSession, phone: str, since: datetime, limit: int
) -> Sequence[LookupRow]:
    """The customer's orders received since ``since``, newest first, each with its newest open
    ticket."""
    query = (
        _newest_ticket(select(Order, Ticket).select_from(Order), open_only=True)
        .where(Order.receiver_phone == phone, Order.received_at >= since)
        .order_by(Order.received_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return (await session.execute(query)).all()


async def phone_to_try(session: AsyncSession) -> str | None:
    """The full number of a customer whose order shipped (the demo offers it to try)."""
    query = (
        select(Order.receiver_phone)
        .where(Order.stage == "shipped", Order.receiver_phone.is_not(None))
        .order_by(Order.id)
        .limit(1)
    )
    phone: str | None = await session.scalar(query)
    return phone


async def open_tickets_of_owner(session: AsyncSession, user: str) -> Sequence[int]:
    """Ids of the user's open tickets, the most overdue first."""
    query = (
        select(Ticket.id)
        .where(Ticket.owner == user, Ticket.status == "open")
        .order_by(Ticket.deadline_at, Ticket.id)
    )
    return (await session.scalars(query)).all()


async def open_tickets_of_groups(
    session: AsyncSession, group_keys: Sequence[str], limit: int
) -> tuple[Sequence[int], int]:
    """Ids of the groups' open tickets, the most overdue first (at most ``limit``), and how
    many are open in all."""
    where = (Ticket.status == "open", Ticket.group_key.in_(group_keys))
    ids = await session.scalars(
        select(Ticket.id).where(*where).order_by(Ticket.deadline_at, Ticket.id).limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(Ticket).where(*where))
    return ids.all(), total or 0
