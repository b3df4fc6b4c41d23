"""The customer page's tables: one-time codes, sessions and the hits its rate limits count;
and the reads of a customer's orders' history in one statement each, whatever their number."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CustomerCode, CustomerHit, CustomerSession, OrderEvent, ParcelScan


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
) -> int:
    code = CustomerCode(
        phone_key=phone_key, code_hash=code_hash, created_at=now, expires_at=expires_at, attempts=0
    )
    session.add(code)
    await session.flush()
    return code.id


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


async def stages_of_orders(
    session: AsyncSession, order_ids: Sequence[int]
) -> list[tuple[int, str, datetime]]:
    """(order, stage, when) of each stage the orders entered (the first time), oldest first."""
    if not order_ids:
        return []
    query = (
        select(OrderEvent.order_id, OrderEvent.stage, func.min(OrderEvent.occurred_at))
        .where(OrderEvent.order_id.in_(order_ids), OrderEvent.applied)
        .group_by(OrderEvent.order_id, OrderEvent.stage)
    )
    rows = [(order_id, stage, at) for order_id, stage, at in await session.execute(query)]
    return sorted(rows, key=lambda row: row[2])


async def scans_of_orders(session: AsyncSession, order_ids: Sequence[int]) -> list[ParcelScan]:
    """The carrier scans of these orders' parcels, oldest first."""
    if not order_ids:
        return []
    query = (
        select(ParcelScan)
        .where(ParcelScan.order_id.in_(order_ids))
        .order_by(ParcelScan.at, ParcelScan.id)
    )
    return list((await session.scalars(query)).all())
