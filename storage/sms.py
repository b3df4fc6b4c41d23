"""Texts to customers in the database: the queue (``sms_messages``), what was sent to a number
(for our frequency limits) and the opt-out list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.bulk import insert_new
from storage.models import SmsMessage, SmsOptOut

SENT_STATUSES = ("sent", "delivered", "undelivered")  # the provider accepted these


class TextRow(TypedDict):
    """A text to queue (pending, from ``not_before``)."""

    dedup_key: str
    order_id: int | None
    phone: str
    purpose: str
    params: dict[str, str]
    not_before: datetime


async def queue_texts(session: AsyncSession, texts: Sequence[TextRow], now: datetime) -> set[str]:
    """Add pending texts; the dedup_keys of those added (a text whose dedup_key exists is kept
    as is): one statement however many."""
    rows = [text | {"status": "pending", "attempts": 0, "created_at": now} for text in texts]
    inserted = await insert_new(session, SmsMessage, rows, returning=("dedup_key",))
    return {key for (key,) in inserted}


async def opted_out(session: AsyncSession, phones: Iterable[str]) -> set[str]:
    """Which of these numbers opted out: one statement."""
    wanted = list(set(phones))
    if not wanted:
        return set()
    found = await session.scalars(select(SmsOptOut.phone).where(SmsOptOut.phone.in_(wanted)))
    return set(found)


async def is_opted_out(session: AsyncSession, phone: str) -> bool:
    found = await session.scalar(select(SmsOptOut.phone).where(SmsOptOut.phone == phone))
    return found is not None


async def opt_out(session: AsyncSession, phone: str, source: str, now: datetime) -> bool:
    """Add a number to the opt-out list (False: it was there) and stop its pending texts."""
    added = await insert_new(
        session, SmsOptOut, [{"phone": phone, "at": now, "source": source}], returning=("phone",)
    )
    await session.execute(
        update(SmsMessage)
        .where(SmsMessage.phone == phone, SmsMessage.status == "pending")
        .values(status="opted_out", error="号码已退订")
    )
    return bool(added)


async def opt_in(session: AsyncSession, phone: str) -> bool:
    """Take a number off the opt-out list (False: it was not on it). Texts stopped stay so."""
    result = await session.execute(delete(SmsOptOut).where(SmsOptOut.phone == phone))
    return bool(getattr(result, "rowcount", 0))


async def due_texts(session: AsyncSession, now: datetime, limit: int) -> Sequence[SmsMessage]:
    """Pending texts whose time has come, oldest first."""
    query = (
        select(SmsMessage)
        .where(SmsMessage.status == "pending", SmsMessage.not_before <= now)
        .order_by(SmsMessage.not_before, SmsMessage.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def sent_times(session: AsyncSession, phone: str, since: datetime) -> list[datetime]:
    """When the provider accepted texts to ``phone`` since ``since`` (our limits count them)."""
    query = select(SmsMessage.sent_at).where(
        SmsMessage.phone == phone,
        SmsMessage.status.in_(SENT_STATUSES),
        SmsMessage.sent_at >= since,
    )
    return [at for at in (await session.scalars(query)).all() if at is not None]


async def claim_text(session: AsyncSession, text_id: int, now: datetime, until: datetime) -> bool:
    """Take a due pending text for this transaction: not due again before ``until`` (should we
    die before recording the provider's answer, it goes again then). False when another
    sender took it or it is no longer due."""
    result = await session.execute(
        update(SmsMessage)
        .where(
            SmsMessage.id == text_id,
            SmsMessage.status == "pending",
            SmsMessage.not_before <= now,
        )
        .values(not_before=until)
    )
    return bool(getattr(result, "rowcount", 0))


async def start_attempt(session: AsyncSession, text_id: int, provider: str) -> None:
    """A claimed text goes to ``provider`` now: one more attempt."""
    await update_text(session, text_id, attempts=SmsMessage.attempts + 1, provider=provider)


async def update_text(session: AsyncSession, text_id: int, **values: Any) -> None:
    await session.execute(update(SmsMessage).where(SmsMessage.id == text_id).values(**values))


async def update_pending(session: AsyncSession, text_id: int, **values: Any) -> bool:
    """Record the provider's answer on a text still pending; False when a receipt got there
    first (the answer came late: the receipt says more)."""
    result = await session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == text_id, SmsMessage.status == "pending")
        .values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


async def text_by_serial(session: AsyncSession, provider: str, serial: str) -> SmsMessage | None:
    query = select(SmsMessage).where(SmsMessage.provider == provider, SmsMessage.serial == serial)
    return (await session.scalars(query.limit(1))).first()


async def text_by_id(session: AsyncSession, text_id: int) -> SmsMessage | None:
    return await session.get(SmsMessage, text_id)


async def text_id_by_key(session: AsyncSession, dedup_key: str) -> int | None:
    found: int | None = await session.scalar(
        select(SmsMessage.id).where(SmsMessage.dedup_key == dedup_key)
    )
    return found
