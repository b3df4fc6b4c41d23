"""``orderbot recon import``: one bill file, read whole and stored whole, or refused whole."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rules.statements import Statement, StatementRefused, parse_statement
from services.config import Config
from storage.migrate import migrated_sessions
from storage.models import PaymentStatement
from storage.statements import LINE_LENGTHS, add_statement, same_statement


@dataclass(frozen=True)
class Totals:
    """What a statement holds, counted from its lines."""

    lines: int
    payments: int
    payment_fen: int
    refunds: int
    refund_fen: int
    fee_milli: int

    @classmethod
    def of(cls, lines: pl.DataFrame) -> Totals:
        kind = pl.col("kind")
        row = lines.select(
            pl.len().alias("lines"),
            (kind == "payment").sum().alias("payments"),
            pl.col("amount_fen").filter(kind == "payment").sum().alias("payment_fen"),
            (kind == "refund").sum().alias("refunds"),
            pl.col("refund_fen").sum(),
            pl.col("fee_milli").sum(),
        ).row(0)
        return cls(*(int(value or 0) for value in row))


@dataclass(frozen=True)
class ImportOutcome:
    """The statement read, its number in the database, and whether this import stored it
    (False: the very same bill was there already, nothing changed)."""

    statement: Statement
    totals: Totals
    statement_id: int
    stored: bool


def read_statement(path: Path, gateway: str | None, kind: str | None) -> Statement:
    """The file read and checked whole (blocking: run it in a thread)."""
    return parse_statement(path.read_bytes(), path.name, gateway, kind)


async def import_statement(
    config: Config, path: Path, gateway: str | None, kind: str | None, now: datetime
) -> ImportOutcome:
    """Read the bill and store it with its lines in one transaction; raises StatementRefused
    with the reason when the file is refused (nothing stored)."""
    async with migrated_sessions(config.database.url) as sessions:
        statement = await asyncio.to_thread(read_statement, path, gateway, kind)
        return await store_statement(sessions, statement, path.name, now)


async def store_statement(
    sessions: async_sessionmaker[AsyncSession], statement: Statement, file_name: str, now: datetime
) -> ImportOutcome:
    """Store a statement read whole, unless this very bill is there already; refuses a
    different bill for a day already stored."""
    _refuse_overlong(statement)
    totals = Totals.of(statement.lines)
    async with sessions() as session, session.begin():
        same = await same_statement(
            session,
            statement.digest,
            statement.gateway,
            statement.kind,
            statement.merchant_id,
            statement.bill_date,
        )
        if same is not None:
            return ImportOutcome(statement, totals, _unchanged(same, statement), stored=False)
        row = _row(statement, totals, file_name, now)
        try:
            statement_id = await add_statement(session, row, statement.lines)
        except IntegrityError:  # another import of the same bill won the race
            raise StatementRefused(
                f"{statement.title} {statement.bill_date} 正在被另一个导入写入, 本次未导入"
            ) from None
    return ImportOutcome(statement, totals, statement_id, stored=True)


def _refuse_overlong(statement: Statement) -> None:
    """A value longer than a line's text may be (storage.statements.LINE_LENGTHS): refused
    naming the line."""
    for name, limit in LINE_LENGTHS.items():
        too_long = statement.lines.filter(pl.col(name).str.len_chars() > limit).head(1)
        if not too_long.is_empty():
            row = too_long.row(0, named=True)
            raise StatementRefused(
                f"{statement.title} 第 {row['line_no']} 行的 {name} 长 "
                f"{len(row[name])} 个字符, 超过 {limit}: 不像这种账单的值, 未导入任何内容"
            )


def _unchanged(same: PaymentStatement, statement: Statement) -> int:
    """The stored statement's id when it is this very bill; else the file is refused: a second,
    different bill for a day already imported would count its money twice."""
    if same.digest == statement.digest:
        return same.id
    raise StatementRefused(
        f"商户 {statement.merchant_id or '(未注明)'} {statement.bill_date} 的{statement.title}"
        f"已于 {same.imported_at:%Y-%m-%d %H:%M} UTC 从 {same.file_name} 导入 (第 {same.id} 号), "
        "而此文件内容与之不同; 同一天只保留一份账单, 未导入任何内容"
    )


def _row(statement: Statement, totals: Totals, file_name: str, now: datetime) -> PaymentStatement:
    return PaymentStatement(
        gateway=statement.gateway,
        kind=statement.kind,
        layout=statement.layout,
        bill_date=statement.bill_date,
        merchant_id=statement.merchant_id,
        file_name=file_name[:255],
        digest=statement.digest,
        line_count=totals.lines,
        payment_count=totals.payments,
        refund_count=totals.refunds,
        payment_fen=totals.payment_fen,
        refund_fen=totals.refund_fen,
        fee_milli=totals.fee_milli,
        imported_at=now,
    )
