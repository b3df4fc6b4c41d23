"""Storage of the table sources (``kind = "table"``): who polls each, its cursor marks, and the
rows the ingest refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conflicts import dialect_insert, insert_ignoring_duplicates
from storage.db import rows_matched
from storage.models import TableSourceLease, TableSourceMark, TableSourceRejection


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """Where a table source's rows are read up to: the id, after the updated-at (kept as the
    ISO text of the value read) when the cursor has one."""

    time: str | None
    id: int


@dataclass(frozen=True, slots=True)
class RejectedRow:
    row_id: int
    reason: str
    rejected_at: datetime


async def take_lease(
    session: AsyncSession, source: str, owner: str, now: datetime, until: datetime
) -> str | None:
    """Hold the source until ``until`` unless another instance holds it; None when taken (or
    kept), else the instance holding it."""
    await session.execute(
        insert_ignoring_duplicates(session, TableSourceLease), [{"source": source}]
    )
    lease = TableSourceLease
    taken = await session.execute(
        update(lease)
        .where(
            lease.source == source,
            or_(lease.owner.is_(None), lease.owner == owner, lease.until < now),
        )
        .values(owner=owner, until=until)
    )
    if rows_matched(taken):
        return None
    holder: str | None = await session.scalar(select(lease.owner).where(lease.source == source))
    return holder or "?"


async def reading_start(session: AsyncSession, source: str, before: datetime) -> Cursor | None:
    """The newest mark made at or before ``before``; None: read from the table's start."""
    mark = TableSourceMark
    found = (
        await session.execute(
            select(mark.cursor_time, mark.cursor_id)
            .where(mark.source == source, mark.marked_at <= before)
            .order_by(mark.marked_at.desc(), mark.id.desc())
            .limit(1)
        )
    ).first()
    return None if found is None else Cursor(found[0], found[1])


async def latest_mark(session: AsyncSession, source: str) -> Cursor | None:
    mark = TableSourceMark
    found = (
        await session.execute(
            select(mark.cursor_time, mark.cursor_id)
            .where(mark.source == source)
            .order_by(mark.marked_at.desc(), mark.id.desc())
            .limit(1)
        )
    ).first()
    return None if found is None else Cursor(found[0], found[1])


async def add_mark(session: AsyncSession, source: str, cursor: Cursor, at: datetime) -> None:
    """Record that every row up to ``cursor`` was read at ``at``."""
    mark = TableSourceMark
    session.add(mark(source=source, marked_at=at, cursor_time=cursor.time, cursor_id=cursor.id))


async def forget_marks(session: AsyncSession, source: str, keep_from: datetime) -> None:
    """Forget the marks older than the newest one made at or before ``keep_from``: no poll
    starts from them any more."""
    mark = TableSourceMark
    oldest_needed = (
        select(mark.marked_at)
        .where(mark.source == source, mark.marked_at <= keep_from)
        .order_by(mark.marked_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    await session.execute(delete(mark).where(mark.source == source, mark.marked_at < oldest_needed))


async def refused_row_ids(session: AsyncSession, source: str) -> set[int]:
    table = TableSourceRejection
    return set(await session.scalars(select(table.row_id).where(table.source == source)))


async def record_rejections(
    session: AsyncSession,
    source: str,
    rejected: Sequence[tuple[int, str]],
    accepted: Sequence[int],
    now: datetime,
) -> None:
    """Note refused rows (row id, reason), the latest reason winning; ``accepted`` rows (that
    were refused before) are refused no more."""
    table = TableSourceRejection
    if accepted:
        await session.execute(
            delete(table).where(table.source == source, table.row_id.in_(accepted))
        )
    if rejected:
        statement = dialect_insert(session, TableSourceRejection)
        statement = statement.on_conflict_do_update(
            index_elements=["source", "row_id"],
            set_={"reason": statement.excluded.reason, "rejected_at": now},
        )
        await session.execute(
            statement,
            [
                {"source": source, "row_id": row_id, "reason": reason, "rejected_at": now}
                for row_id, reason in rejected
            ],
        )


async def rejected_rows(session: AsyncSession, source: str, limit: int) -> list[RejectedRow]:
    """The source's refused rows, the newest first."""
    table = TableSourceRejection
    rows = await session.execute(
        select(table.row_id, table.reason, table.rejected_at)
        .where(table.source == source)
        .order_by(table.rejected_at.desc(), table.row_id.desc())
        .limit(limit)
    )
    return [RejectedRow(*row) for row in rows]
