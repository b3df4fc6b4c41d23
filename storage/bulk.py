"""Bulk writes of prepared rows, for the hot paths (the watch batch).

SQLAlchemy's executemany processes each row's parameters in Python (building a dict per row,
calling each column type's converter): for the watch tick's thousands of tickets, outbox rows
and order updates that cost several times what SQLite itself spends. On SQLite these helpers
hand the driver plain tuples instead, converted here with the same conversions the column
types make (storage.models.utc_text for times). On PostgreSQL, and for rows they do not
handle (differing columns, other column types), they issue the same Core statements as before.
Unique keys guard exactly as before: the statements keep their ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Table, Text, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conflicts import dialect_insert
from storage.db import dialect_name
from storage.models import Base, UtcDateTime, utc_text

# SQLite allows 32,766 parameters per statement; a multi-row INSERT stays well below.
_MAX_PARAMETERS = 30_000
_PLAIN = (BigInteger, Integer, String, Text)  # bound as they are on SQLite


def _binds_here(table: Table, name: str) -> bool:
    """Whether values of this column go to SQLite here: times, numbers and text (Core binds
    other types, as before)."""
    return isinstance(table.c[name].type, (UtcDateTime, *_PLAIN))


def _is_time(table: Table, name: str) -> bool:
    """A UtcDateTime column: SQLite receives its values as utc_text."""
    return isinstance(table.c[name].type, UtcDateTime)


def _texts(moments: list[Any]) -> list[Any]:
    """utc_text of each moment, None kept: each distinct one converted once (a batch's rows
    share their "now")."""
    texts = {moment: utc_text(moment) for moment in set(moments) if moment is not None}
    return [None if moment is None else texts[moment] for moment in moments]


def _tuples(
    table: Table, rows: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[tuple[Any, ...]]] | None:
    """The rows' column names and values as SQLite takes them; None unless every row has the
    same columns, all of types bound here (Core handles the rest, as before)."""
    names = rows[0].keys()
    if any(row.keys() != names for row in rows) or not all(
        _binds_here(table, name) for name in names
    ):
        return None
    columns = [[row[name] for row in rows] for name in names]
    for i, name in enumerate(names):
        if _is_time(table, name):
            columns[i] = _texts(columns[i])
    values = list(zip(*columns, strict=True))
    return list(names), values


def _names(session: AsyncSession, names: Sequence[str]) -> str:
    quote = session.get_bind().dialect.identifier_preparer.quote
    return ", ".join(quote(name) for name in names)


def _insert_sql(
    session: AsyncSession, table: Table, names: Sequence[str], count: int, returning: Sequence[str]
) -> str:
    one = "(" + ", ".join("?" * len(names)) + ")"
    sql = (
        f"INSERT INTO {_names(session, [table.name])} ({_names(session, names)}) VALUES "
        + ", ".join([one] * count)
        + " ON CONFLICT DO NOTHING"
    )
    return sql + (f" RETURNING {_names(session, returning)}" if returning else "")


async def insert_new(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert rows, skipping any that would violate a unique constraint; the ``returning``
    columns of the rows inserted (in no particular order)."""
    if not rows:
        return []
    table = model.__table__
    prepared = _tuples(table, rows) if dialect_name(session) == "sqlite" else None
    if prepared is None:
        statement = dialect_insert(session, model).on_conflict_do_nothing()
        if not returning:
            await session.execute(statement, list(rows))
            return []
        result = await session.execute(
            statement.returning(*(table.c[name] for name in returning)), list(rows)
        )
        return [tuple(row) for row in result]
    names, values = prepared
    connection = await session.connection()
    if not returning:
        await connection.exec_driver_sql(_insert_sql(session, table, names, 1, ()), values)
        return []
    inserted: list[tuple[Any, ...]] = []
    per_statement = max(1, _MAX_PARAMETERS // len(names))
    for low in range(0, len(values), per_statement):
        chunk = values[low : low + per_statement]
        sql = _insert_sql(session, table, names, len(chunk), returning)
        flat = tuple(chain.from_iterable(chunk))
        inserted += [tuple(row) for row in await connection.exec_driver_sql(sql, flat)]
    return inserted


async def update_by_id(
    session: AsyncSession, model: type[Base], column: str, changes: Sequence[tuple[int, Any]]
) -> None:
    """Set one column of many rows, each to its own value: ``changes`` are (id, value)."""
    if not changes:
        return
    table = model.__table__
    if dialect_name(session) != "sqlite" or not _binds_here(table, column):
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({column: bindparam("new_value")})
        )
        await session.execute(statement, [{"row_id": i, "new_value": v} for i, v in changes])
        return
    ids, new = zip(*changes, strict=True)
    values = list(zip(_texts(list(new)) if _is_time(table, column) else new, ids, strict=True))
    connection = await session.connection()
    await connection.exec_driver_sql(
        f"UPDATE {_names(session, [table.name])} SET {_names(session, [column])} = ? WHERE id = ?",
        values,
    )
