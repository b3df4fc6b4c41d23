"""Queries of the outbox sender: which chats are due, leases, rate windows, outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conflicts import insert_ignoring_duplicates
from storage.db import rows_matched
from storage.models import Delivery, DeliveryTarget, OutboxMessage

Target = tuple[str, str]  # (target_kind, target)


class DeliveryRow(TypedDict):
    """One message WeCom accepted (storage.models.Delivery)."""

    rate_key: str
    target_kind: str
    target: str
    msgtype: str
    size: int
    sent_at: datetime


async def due_targets(
    session: AsyncSession, now: datetime, oldest_before: datetime, sent_before: datetime
) -> list[Target]:
    """Chats with a pending notification older than the group wait, not leased, not backing
    off after a failure, and not sent to within the group interval."""
    state = DeliveryTarget
    pending = (
        select(OutboxMessage.target_kind, OutboxMessage.target)
        .where(OutboxMessage.status == "pending")
        .group_by(OutboxMessage.target_kind, OutboxMessage.target)
        .having(func.min(OutboxMessage.created_at) <= oldest_before)
        .subquery()
    )
    query = (
        select(pending.c.target_kind, pending.c.target)
        .outerjoin(
            state,
            and_(state.target_kind == pending.c.target_kind, state.target == pending.c.target),
        )
        .where(
            or_(state.lease_until.is_(None), state.lease_until < now),
            or_(state.next_attempt_at.is_(None), state.next_attempt_at <= now),
            or_(state.last_sent_at.is_(None), state.last_sent_at <= sent_before),
        )
    )
    return [(kind, target) for kind, target in await session.execute(query)]


async def take_lease(
    session: AsyncSession,
    target: Target,
    owner: str,
    now: datetime,
    until: datetime,
    sent_before: datetime,
) -> bool:
    """Claim the chat for this instance unless another holds a live lease, or the chat is no
    longer due (backing off, or sent to since ``sent_before``, e.g. by another instance)."""
    kind, name = target
    await session.execute(
        insert_ignoring_duplicates(session, DeliveryTarget),
        [{"target_kind": kind, "target": name, "attempts": 0}],
    )
    state = DeliveryTarget
    result = await session.execute(
        update(state)
        .where(
            state.target_kind == kind,
            state.target == name,
            or_(state.lease_until.is_(None), state.lease_until < now),
            or_(state.next_attempt_at.is_(None), state.next_attempt_at <= now),
            or_(state.last_sent_at.is_(None), state.last_sent_at <= sent_before),
        )
        .values(lease_owner=owner, lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result) == 1


async def renew_lease(session: AsyncSession, target: Target, owner: str, until: datetime) -> bool:
    """Extend this instance's lease; False when the lease is no longer ours: it lapsed and
    another instance took the chat."""
    kind, name = target
    result = await session.execute(
        update(DeliveryTarget)
        .where(
            DeliveryTarget.target_kind == kind,
            DeliveryTarget.target == name,
            DeliveryTarget.lease_owner == owner,
        )
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result) == 1


async def pending_messages(
    session: AsyncSession, target: Target, limit: int
) -> list[OutboxMessage]:
    kind, name = target
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.target_kind == kind,
            OutboxMessage.target == name,
            OutboxMessage.status == "pending",
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def sent_since(session: AsyncSession, rate_key: str, since: datetime) -> list[datetime]:
    """When each message of this rate key was accepted since ``since``, oldest first."""
    query = (
        select(Delivery.sent_at)
        .where(Delivery.rate_key == rate_key, Delivery.sent_at > since)
        .order_by(Delivery.sent_at)
    )
    return list(await session.scalars(query))


async def record_delivery(session: AsyncSession, row: DeliveryRow) -> None:
    await session.execute(Delivery.__table__.insert(), [row])


async def mark_sent(session: AsyncSession, ids: Sequence[int], now: datetime) -> None:
    """These notifications reached their chat (those still pending: one another instance
    dead-lettered stays so)."""
    if ids:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending")
            .values(status="sent", sent_at=now)
            .execution_options(synchronize_session=False)
        )


async def finish(
    session: AsyncSession,
    target: Target,
    owner: str,
    *,
    moot: Sequence[int] = (),
    dead: Sequence[int] = (),
    reason: str | None = None,
    now: datetime,
    retry_at: datetime | None = None,
    sent: bool = False,
) -> None:
    """Record the outcome of one attempt at a chat and release this instance's lease (a lease
    another instance has taken meanwhile is left alone). With ``sent``, the chat's digest went
    out and the next waits ``group_interval``; a digest cut off by a crash does not."""
    for ids, ending in (
        (moot, {"status": "moot"}),
        (dead, {"status": "dead", "dead_reason": reason}),
    ):
        if ids:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending")
                .values(ending)
                .execution_options(synchronize_session=False)
            )
    kind, name = target
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
    if retry_at is not None:
        values |= {
            "attempts": DeliveryTarget.attempts + 1,
            "next_attempt_at": retry_at,
            "last_error": reason,
        }
    else:
        values |= {"attempts": 0, "next_attempt_at": None, "last_error": reason}
    if sent:
        values["last_sent_at"] = now
    await session.execute(
        update(DeliveryTarget)
        .where(
            DeliveryTarget.target_kind == kind,
            DeliveryTarget.target == name,
            DeliveryTarget.lease_owner == owner,
        )
        .values(values)
        .execution_options(synchronize_session=False)
    )


async def attempts_of(session: AsyncSession, target: Target) -> int:
    kind, name = target
    query = select(DeliveryTarget.attempts).where(
        DeliveryTarget.target_kind == kind, DeliveryTarget.target == name
    )
    return int(await session.scalar(query) or 0)
