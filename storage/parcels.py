"""Parcels and their scans: following waybills, the subscription outbox, scans stored once.

Bulk statements on the hot path (a carrier push): the parcels of a waybill in one read, its
scans in one multi-row INSERT … ON CONFLICT DO NOTHING (storage.bulk), the parcels' new state
in one executemany.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypedDict, cast

from sqlalchemy import ColumnElement, Select, String, bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import Kind
from storage.bulk import insert_new, select_rows, update_by_id, update_columns
from storage.db import dialect_name
from storage.models import Order, Parcel, ParcelScan, Ticket
from storage.orders import OrderRow

PARCELS = Parcel.__table__
SCANS = ParcelScan.__table__
ORDERS = Order.__table__
TICKETS = Ticket.__table__


class NewParcel(TypedDict):
    """A waybill to follow, as it is first stored (its subscription pending)."""

    order_id: int
    tracking_no: str
    carrier: str | None
    carrier_text: str | None
    shipped_at: datetime | None
    origin_province: str | None
    destination_province: str | None
    stall_check_at: datetime
    subscription: str
    subscribe_attempts: int
    subscribe_next_at: datetime
    created_at: datetime
    updated_at: datetime


class ParcelState(TypedDict):
    """Where a parcel is: what scans change, read and written back whole."""

    id: int
    order_id: int
    tracking_no: str
    carrier: str | None
    state: str | None
    state_code: str | None
    state_at: datetime | None
    last_scan_at: datetime | None
    last_scan_place: str | None
    last_scan_text: str | None
    delivered_at: datetime | None
    origin_province: str | None
    stall_check_at: datetime | None
    subscription: str
    updated_at: datetime


_STATE_COLUMNS = tuple(name for name in ParcelState.__annotations__ if name != "id")
_PARCEL_KEYS = ("id", *_STATE_COLUMNS)


class ScanRow(TypedDict):
    parcel_id: int
    order_id: int
    at: datetime
    state: str | None
    code: str | None
    place: str | None
    text: str
    source: str
    digest: str
    received_at: datetime


class DueSubscription(NamedTuple):
    """A parcel waiting to be subscribed, with what the provider is told of its way."""

    id: int
    order_id: int
    tracking_no: str
    carrier: str | None
    origin_province: str | None
    destination_province: str | None
    subscribe_attempts: int
    receiver_phone: str | None
    city: str | None
    district: str | None
    order_no: str  # the channel's order number, for people


class SubscriptionChange(NamedTuple):
    parcel_id: int
    subscription: str
    attempts: int
    next_at: datetime | None
    error: str | None


async def insert_parcels(session: AsyncSession, rows: Sequence[NewParcel]) -> int:
    """Follow these waybills; one already followed for its order is left as it is. Returns how
    many are new. One statement, however many."""
    return len(await insert_new(session, Parcel, rows, returning=("id",)))


async def claim_due_subscriptions(
    session: AsyncSession, now: datetime, limit: int, lease_until: datetime
) -> list[DueSubscription]:
    """Pending subscriptions due by ``now``, oldest first, leased until ``lease_until`` so that
    another instance does not send them meanwhile (``SKIP LOCKED`` on PostgreSQL)."""
    columns = [PARCELS.c[name] for name in DueSubscription._fields[:7]]
    query = (
        select(
            *columns,
            ORDERS.c.receiver_phone,
            ORDERS.c.city,
            ORDERS.c.district,
            ORDERS.c.channel_order_id,
        )
        .join(ORDERS, ORDERS.c.id == PARCELS.c.order_id)
        .where(PARCELS.c.subscription == "pending", PARCELS.c.subscribe_next_at <= now)
        .order_by(PARCELS.c.subscribe_next_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=PARCELS)
    )
    due = [DueSubscription._make(row) for row in await session.execute(query)]
    await update_by_id(session, Parcel, "subscribe_next_at", [(p.id, lease_until) for p in due])
    return due


async def record_subscriptions(
    session: AsyncSession, changes: Sequence[SubscriptionChange], now: datetime
) -> None:
    """What the provider answered each subscription: its state, attempts, next try, reason."""
    if not changes:
        return
    statement = (
        update(PARCELS)
        .where(PARCELS.c.id == bindparam("parcel_id"), PARCELS.c.subscription == "pending")
        .values(
            subscription=bindparam("new_subscription"),
            subscribe_attempts=bindparam("new_attempts"),
            subscribe_next_at=bindparam("new_next_at"),
            subscribe_error=bindparam("new_error"),
            updated_at=now,
        )
    )
    await session.execute(statement, [_change_params(c) for c in changes])


class OrderGlance(NamedTuple):
    """What scans need of an order before deciding whether it moves: where it is, and whom
    to text."""

    stage: str
    receiver_phone: str | None


class Following(NamedTuple):
    """A parcel following a waybill, with what its scans need of its order: where the order
    is, whom to text, and whether it has an open stall ticket (that a new scan may close)."""

    parcel: ParcelState
    order: OrderGlance
    stall_open: bool


def _following(wanted: ColumnElement[bool]) -> Select[Any]:
    """The parcels ``wanted``, with their orders' glance and whether a stall ticket is open."""
    return (
        select(
            PARCELS.c.id,
            *(PARCELS.c[name] for name in _STATE_COLUMNS),
            ORDERS.c.stage,
            ORDERS.c.receiver_phone,
            exists()
            .where(
                TICKETS.c.order_id == PARCELS.c.order_id,
                TICKETS.c.status == "open",
                TICKETS.c.kind == Kind.STALL.value,
            )
            .label("stall_open"),
        )
        .join(ORDERS, ORDERS.c.id == PARCELS.c.order_id)
        .where(wanted)
        # PostgreSQL: two instances taking pushes of one waybill take turns
        .with_for_update(of=PARCELS)
    )


# Built once: the push path runs them for every batch (building a statement and its cache key
# each time was a visible part of a push's cost). On SQLite the waybills go as one JSON array
# (json_each; still a search of the tracking_no index), so that the statement's text is the same
# for any number of them and storage.bulk.select_rows runs it as it is.
_FOLLOWING = _following(PARCELS.c.tracking_no.in_(bindparam("numbers", expanding=True)))
_FOLLOWING_SQLITE = _following(
    PARCELS.c.tracking_no.in_(
        select(func.json_each(bindparam("numbers", type_=String)).table_valued("value").c.value)
    )
)


async def parcels_by_tracking_no(session: AsyncSession, numbers: Iterable[str]) -> list[Following]:
    """The parcels following these waybills (merged shipments: one waybill, several orders),
    with their orders' glance, in one read; the parcels locked until the transaction ends."""
    wanted = list(set(numbers))
    if not wanted:
        return []
    if dialect_name(session) == "sqlite":
        rows = await select_rows(session, _FOLLOWING_SQLITE, {"numbers": json.dumps(wanted)})
    else:
        rows = await select_rows(session, _FOLLOWING, {"numbers": wanted})
    found: list[Following] = []
    for row in rows:
        *state, stage, phone, stalled = row
        parcel = cast(ParcelState, dict(zip(_PARCEL_KEYS, state, strict=True)))
        found.append(Following(parcel, OrderGlance(stage, phone), bool(stalled)))
    return found


async def insert_scans(session: AsyncSession, rows: Sequence[ScanRow]) -> set[tuple[int, str]]:
    """Store scans; one stored before (same parcel and digest) is skipped. Returns the
    (parcel id, digest) of those that are new."""
    inserted = await insert_new(session, ParcelScan, rows, returning=("parcel_id", "digest"))
    return {(int(parcel_id), str(digest)) for parcel_id, digest in inserted}


async def update_parcels(session: AsyncSession, rows: Sequence[ParcelState]) -> None:
    """Write back where these parcels are, matched by id: one executemany."""
    await update_columns(session, Parcel, _STATE_COLUMNS, rows)


async def set_subscription(
    session: AsyncSession, numbers: Sequence[str], subscription: str, error: str | None
) -> None:
    """What the provider's pushes say of these waybills' subscriptions (active, ended), on
    every parcel following them; a statement that changes nothing when nothing changed."""
    if not numbers:
        return
    changed = PARCELS.c.subscription != subscription
    if error is not None:
        changed = or_(changed, PARCELS.c.subscribe_error.is_distinct_from(error))
    await session.execute(
        update(PARCELS)
        .where(PARCELS.c.tracking_no.in_(list(set(numbers))), changed)
        .values(subscription=subscription, subscribe_error=error)
    )


class Followed(NamedTuple):
    """A parcel whose provider stopped following it, with what deciding on it needs."""

    id: int
    tracking_no: str
    carrier: str | None
    subscription: str
    subscribe_attempts: int
    order_no: str  # the channel's order number, for people


async def followed_by_tracking_no(session: AsyncSession, numbers: Iterable[str]) -> list[Followed]:
    """The parcels following these waybills, with their orders' numbers."""
    wanted = list(set(numbers))
    if not wanted:
        return []
    query = (
        select(*(PARCELS.c[name] for name in Followed._fields[:5]), ORDERS.c.channel_order_id)
        .join(ORDERS, ORDERS.c.id == PARCELS.c.order_id)
        .where(PARCELS.c.tracking_no.in_(wanted))
    )
    return [Followed._make(row) for row in await session.execute(query)]


async def change_subscriptions(
    session: AsyncSession, changes: Sequence[SubscriptionChange], now: datetime
) -> None:
    """Set these parcels' subscriptions as given (an ended one pending again, or failed),
    matched by id: one executemany."""
    if not changes:
        return
    statement = (
        update(PARCELS)
        .where(PARCELS.c.id == bindparam("parcel_id"))
        .values(
            subscription=bindparam("new_subscription"),
            subscribe_attempts=bindparam("new_attempts"),
            subscribe_next_at=bindparam("new_next_at"),
            subscribe_error=bindparam("new_error"),
            updated_at=now,
        )
    )
    await session.execute(statement, [_change_params(c) for c in changes])


def _change_params(change: SubscriptionChange) -> dict[str, object]:
    return {
        "parcel_id": change.parcel_id,
        "new_subscription": change.subscription,
        "new_attempts": change.attempts,
        "new_next_at": change.next_at,
        "new_error": change.error,
    }


async def orders_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, OrderRow]:
    """Orders as column dicts (for the lifecycle's stage events), by id."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    query = select(ORDERS).where(ORDERS.c.id.in_(wanted))
    return {row.id: cast(OrderRow, dict(row._mapping)) for row in await session.execute(query)}


async def parcels_of_orders(session: AsyncSession, order_ids: Iterable[int]) -> list[Parcel]:
    """The parcels of these orders, oldest first."""
    query = select(Parcel).where(Parcel.order_id.in_(list(order_ids))).order_by(Parcel.id)
    return list((await session.scalars(query)).all())


async def scans_of_orders(session: AsyncSession, order_ids: Iterable[int]) -> list[ParcelScan]:
    """The scans of these orders' parcels, in the order they happened."""
    query = (
        select(ParcelScan)
        .where(ParcelScan.order_id.in_(list(order_ids)))
        .order_by(ParcelScan.at, ParcelScan.id)
    )
    return list((await session.scalars(query)).all())
