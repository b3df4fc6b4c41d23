"""Outbox rows: queueing the notifications waiting to be delivered (storage.delivery delivers
them), and reading them back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NotRequired, TypedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.bulk import insert_new
from storage.models import OutboxMessage


class OutboxRow(TypedDict):
    """A notification to queue: about a ticket (rendered at delivery) or with its own text."""

    dedup_key: str
    ticket_id: int | None
    kind: str
    level: int | None
    target_kind: str
    target: str
    created_at: datetime
    status: str
    detail: NotRequired[str | None]
    image: NotRequired[bytes | None]
    attachment_name: NotRequired[str | None]
    attachment: NotRequired[bytes | None]


async def queue_messages(session: AsyncSession, messages: Sequence[OutboxRow]) -> None:
    """Add outbox rows; a dedup_key already present means the message exists and is kept as is."""
    await insert_new(session, OutboxMessage, messages)


def notice_row(
    dedup_key: str,
    kind: str,
    target: tuple[str, str],
    text: str,
    now: datetime,
    *,
    ticket_id: int | None = None,
    image: bytes | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> OutboxRow:
    """A notification with its own text (claims, hand-overs, ops notices, reports), for
    ``("group", key)`` or ``("user", userid)``; the key makes re-queueing it a no-op."""
    return {
        "dedup_key": dedup_key,
        "ticket_id": ticket_id,
        "kind": kind,
        "level": None,
        "target_kind": target[0],
        "target": target[1],
        "created_at": now,
        "status": "pending",
        "detail": text,
        "image": image,
        "attachment_name": attachment[0] if attachment else None,
        "attachment": attachment[1] if attachment else None,
    }


async def messages_after(
    session: AsyncSession, last_id: int, limit: int = 500
) -> list[OutboxMessage]:
    """Outbox rows newer than ``last_id``, oldest first."""
    query = select(OutboxMessage).where(OutboxMessage.id > last_id).order_by(OutboxMessage.id)
    return list((await session.scalars(query.limit(limit))).all())
