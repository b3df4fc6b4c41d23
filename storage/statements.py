"""Payment statements and their lines: found by content or day, stored in one transaction.

A statement's lines (rules.statements.LINE_SCHEMA) are stored as one Parquet file (zstd) in
the statement's row, not a row each: a large shop's day is a million lines, which SQLite took
~10 s of CPU to insert as rows and seconds to read back; as a file (5.7 MiB) they take 0.6 s
to write and 0.1 s to read back, the columns wanted only. Nothing asks SQL about single lines:
reconciliation reads a day's lines whole and looks numbers up in frames.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from datetime import date

import polars as pl
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import PaymentStatement

# The longest value a line's text may hold (what the line table held, and what the numbers
# a line is matched by may be elsewhere: order_payments.serial, recon_differences.serial).
LINE_LENGTHS = {
    "gateway": 16,
    "merchant_id": 64,
    "merchant_order_no": 64,
    "gateway_trade_no": 64,
    "kind": 16,
    "status": 32,
    "refund_no": 64,
    "gateway_refund_no": 64,
}


def pack(lines: pl.DataFrame) -> bytes:
    """The lines as one Parquet file, zstd-compressed."""
    out = io.BytesIO()
    lines.write_parquet(out, compression="zstd")
    return out.getvalue()


def unpack(blob: bytes, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """The lines of a stored statement (only ``columns``, when given: only they are decoded)."""
    return pl.read_parquet(io.BytesIO(blob), columns=list(columns) if columns else None)


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
    """Store the statement with its lines (LINE_SCHEMA); its id. Packing a large shop's day
    takes a third of a second of CPU: done in a thread, off the event loop."""
    statement.lines = await asyncio.to_thread(pack, lines)
    session.add(statement)
    await session.flush()
    return statement.id


async def lines_of(
    session: AsyncSession, statement_id: int, columns: Sequence[str] | None = None
) -> pl.DataFrame:
    """A stored statement's lines, in the order of its file (only ``columns``, when given)."""
    blob = await session.scalar(
        select(PaymentStatement.lines).where(PaymentStatement.id == statement_id)
    )
    assert blob is not None, statement_id
    return unpack(blob, columns)
