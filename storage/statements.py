"""Payment statements and their lines: found by content or day, stored in one transaction.

A day of a large shop is a million lines, so lines go in straight from the polars frame: on
SQLite one driver-level executemany of plain tuples per chunk, on PostgreSQL asyncpg's COPY.
Both run in the caller's transaction: a failure leaves no line and no statement behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from itertools import chain
from typing import Any

import polars as pl
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.bulk import insert_many
from storage.db import dialect_name
from storage.models import PaymentStatement, StatementLine

_CHUNK = 50_000  # rows turned into Python tuples at a time: bounds the memory a file takes
_LINE_COLUMNS = [c.name for c in StatementLine.__table__.columns if c.name != "id"]


async def same_statement(
    session: AsyncSession, digest: str, gateway: str, kind: str, merchant_id: str, bill_date: date
) -> PaymentStatement | None:
    """A statement already stored with this content, or for the same merchant's day."""
    found: PaymentStatement | None = await session.scalar(
        select(PaymentStatement)
        .where(
            or_(
                PaymentStatement.digest == digest,
                (PaymentStatement.gateway == gateway)
                & (PaymentStatement.kind == kind)
                & (PaymentStatement.merchant_id == merchant_id)
                & (PaymentStatement.bill_date == bill_date),
            )
        )
        .order_by(PaymentStatement.id)
        .limit(1)
    )
    return found


async def add_statement(
    session: AsyncSession, statement: PaymentStatement, lines: pl.DataFrame
) -> int:
    """Store the statement and its lines (columns named as in statement_lines); its id."""
    session.add(statement)
    await session.flush()
    frame = lines.with_columns(statement_id=pl.lit(statement.id, pl.Int64)).select(_LINE_COLUMNS)
    if dialect_name(session) == "postgresql":
        await _copy(session, frame)
    else:
        await _executemany(session, frame)
    return statement.id


def _chunks(frame: pl.DataFrame) -> Iterator[Iterator[tuple[Any, ...]]]:
    """The rows as tuples, a chunk at a time, built column by column (each column's values
    at once, which costs polars half what building row tuples does)."""
    for start in range(0, frame.height, _CHUNK):
        columns = [column.to_list() for column in frame.slice(start, _CHUNK).iter_columns()]
        yield zip(*columns, strict=True)


async def _executemany(session: AsyncSession, frame: pl.DataFrame) -> None:
    """SQLite: times and days as the columns hold them (storage.models.utc_text), each chunk
    one executemany on the driver (storage.bulk.insert_many)."""
    frame = frame.with_columns(
        pl.col("trade_at").dt.strftime("%Y-%m-%d %H:%M:%S%.6f"),
        pl.col("bill_date").dt.strftime("%Y-%m-%d"),
    )
    for rows in _chunks(frame):
        await insert_many(session, StatementLine, _LINE_COLUMNS, rows)


async def _copy(session: AsyncSession, frame: pl.DataFrame) -> None:
    """PostgreSQL: COPY on the session's own connection (so in its transaction)."""
    frame = frame.with_columns(pl.col("trade_at").dt.replace_time_zone(None))  # naive UTC
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        StatementLine.__tablename__,
        records=chain.from_iterable(_chunks(frame)),
        columns=_LINE_COLUMNS,
    )
