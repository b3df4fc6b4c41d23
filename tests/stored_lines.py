"""The statements stored and their lines read back, for tests: each statement's lines are kept
as one Parquet file (storage.statements), here a namespace a line with its ``statement_id``."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import select

from storage.db import make_engine, make_sessionmaker
from storage.models import PaymentStatement
from storage.statements import lines_of


async def stored_statements(url: str) -> tuple[list[PaymentStatement], list[SimpleNamespace]]:
    """Every statement (by id) and every line (by statement, in the file's order)."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            query = select(PaymentStatement).order_by(PaymentStatement.id)
            statements = list(await session.scalars(query))
            lines = [
                SimpleNamespace(statement_id=statement.id, **line)
                for statement in statements
                for line in (await lines_of(session, statement.id)).iter_rows(named=True)
            ]
            return statements, lines
    finally:
        await engine.dispose()
