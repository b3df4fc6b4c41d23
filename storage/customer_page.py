"""The customer page's tables: one-time codes, sessions and the hits its rate limits count;
and the reads of a customer's orders' history in one statement each, whatever their number."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import CompoundSelect, and_, delete, func, null, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    CustomerCode,
    CustomerHit,
    CustomerSession,
    Order,
    OrderEvent,
    ParcelScan,
)


async def hit_times(session: AsyncSession, scope: str, key: str, since: datetime) -> list[datetime]:
    """When ``key`` was counted in ``scope`` since ``since``."""
    query = select(CustomerHit.at).where(
        CustomerHit.scope == scope, CustomerHit.key == key, CustomerHit.at > since
    )
    return list((await session.scalars(query)).all())


async def add_hit(
    session: AsyncSession, scope: str, key: str, now: datetime, forget_before: datetime
) -> None:
    """Count one for ``key`` in ``scope``, forgetting its hits from before ``forget_before``."""
    await session.execute(
        delete(CustomerHit).where(
            CustomerHit.scope == scope, CustomerHit.key == key, CustomerHit.at <= forget_before
        )
    )
    session.add(CustomerHit(scope=scope, key=key, at=now))


async def add_code(
    session: AsyncSession, phone_key: str, code_hash: str, now: datetime, expires_at: datetime
) -> None:
    """A new code for the number; its codes that have expired are forgotten."""
    await session.execute(
        delete(CustomerCode).where(
            CustomerCode.phone_key == phone_key, CustomerCode.expires_at <= now
        )
    )
    code = CustomerCode(
        phone_key=phone_key, code_hash=code_hash, created_at=now, expires_at=expires_at, attempts=0
    )
    session.add(code)


async def latest_code(session: AsyncSession, phone_key: str) -> CustomerCode | None:
    """The number's newest code (a new one replaces the ones before)."""
    query = (
        select(CustomerCode)
        .where(CustomerCode.phone_key == phone_key)
        .order_by(CustomerCode.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def take_attempt(session: AsyncSession, code_id: int, most: int, now: datetime) -> bool:
    """Count one attempt at a live code; False when it is used, expired or has had ``most``
    (one statement: two instances cannot both take the last attempt)."""
    result = await session.execute(
        update(CustomerCode)
        .where(
            CustomerCode.id == code_id,
            CustomerCode.used_at.is_(None),
            CustomerCode.expires_at > now,
            CustomerCode.attempts < most,
        )
        .values(attempts=CustomerCode.attempts + 1)
    )
    return bool(getattr(result, "rowcount", 0))


async def use_code(session: AsyncSession, code_id: int, now: datetime) -> bool:
    """Spend a code; False when it was spent already."""
    result = await session.execute(
        update(CustomerCode)
        .where(CustomerCode.id == code_id, CustomerCode.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def add_session(
    session: AsyncSession, token_hash: str, phone: str, now: datetime, expires_at: datetime
) -> None:
    await session.execute(delete(CustomerSession).where(CustomerSession.expires_at <= now))
    session.add(
        CustomerSession(token_hash=token_hash, phone=phone, created_at=now, expires_at=expires_at)
    )


async def session_phone(session: AsyncSession, token_hash: str, now: datetime) -> str | None:
    """The confirmed number of a live session."""
    query = select(CustomerSession.phone).where(
        CustomerSession.token_hash == token_hash, CustomerSession.expires_at > now
    )
    phone: str | None = await session.scalar(query)
    return phone


async def end_session(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(CustomerSession).where(CustomerSession.token_hash == token_hash))


async def session_orders(
    session: AsyncSession, token_hash: str, now: datetime, since: datetime, limit: int
) -> tuple[str, list[Order]] | None:
    """The number a live session confirmed and its orders received since ``since``, newest
    first, at most ``limit``; None for no live session. One statement: the session outer-joined
    to its number's orders."""
    query = (
        select(CustomerSession.phone, Order)
        .select_from(CustomerSession)
        .outerjoin(
            Order, and_(Order.receiver_phone == CustomerSession.phone, Order.received_at >= since)
        )
        .where(CustomerSession.token_hash == token_hash, CustomerSession.expires_at > now)
        .order_by(Order.received_at.desc(), Order.id.desc())
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return None
    return rows[0][0], [order for _, order in rows if order is not None]


class Moment(NamedTuple):
    """A stage the order entered (``stage`` set; the first time) or a carrier scan (``text``
    and ``place``)."""

    order_id: int
    at: datetime
    stage: str | None
    text: str | None
    place: str | None


async def moments_of_orders(session: AsyncSession, order_ids: Sequence[int]) -> list[Moment]:
    """The stages these orders entered and their parcels' scans, oldest first: one
    statement (on SQLite each costs thread hand-offs)."""
    if not order_ids:
        return []
    stages = (
        select(
            OrderEvent.order_id,
            func.min(OrderEvent.occurred_at).label("at"),
            OrderEvent.stage,
            null().label("text"),
            null().label("place"),
        )
        .where(OrderEvent.order_id.in_(order_ids), OrderEvent.applied)
        .group_by(OrderEvent.order_id, OrderEvent.stage)
    )
    scans = select(
        ParcelScan.order_id,
        ParcelScan.at,
        null(),
        ParcelScan.text,
        ParcelScan.place,
    ).where(ParcelScan.order_id.in_(order_ids))
    both: CompoundSelect[*tuple[Any, ...]] = union_all(stages, scans).order_by("at")
    return [Moment(*row) for row in await session.execute(both)]
