"""Bulk writes of prepared rows and plain reads, for the hot paths (the watch batch, ingest,
carrier pushes).

SQLAlchemy's executemany processes each row's parameters in Python (building a dict per row,
calling each column type's converter): for the watch tick's thousands of tickets, outbox rows
and order updates that cost several times what SQLite itself spends. On SQLite these helpers
hand the driver plain tuples instead, converted here with the same conversions the column
types make (storage.models.utc_text for times, the engine's JSON serializer). On PostgreSQL,
and for rows they do not handle (differing columns, other column types), they issue the same
Core statements as before. Unique keys guard exactly as before: the statements keep their
``ON CONFLICT DO NOTHING``.

On SQLite each statement goes to aiosqlite's connection in one call, i.e. one hand-off to its
thread: through SQLAlchemy's adapter a statement took four (cursor, execute, fetch, close), each
a wake-up of the other thread and a turn of the GIL. It is the same connection, in the
transaction the session began; its errors reach the caller as SQLAlchemy's (DBAPIError
subclasses), as through the session.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Integer,
    Select,
    String,
    Table,
    Text,
    bindparam,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from storage.conflicts import dialect_insert
from storage.db import dialect_name, json_text
from storage.models import Base, UtcDateTime, utc_text

# SQLite allows 32,766 parameters per statement; a multi-row INSERT stays well below.
_MAX_PARAMETERS = 30_000
_PLAIN = (BigInteger, Integer, String, Text)  # bound and read as they are on SQLite
_AS_THEY_ARE = (*_PLAIN, Boolean)  # bound as they are (a bool is the integer SQLite keeps)


def _binds_here(table: Table, name: str) -> bool:
    """Whether values of this column go to SQLite here: times, days, numbers, text and JSON
    (Core binds other types, as before)."""
    return isinstance(table.c[name].type, (UtcDateTime, Date, JSON, *_AS_THEY_ARE))


def _is_json(table: Table, name: str) -> bool:
    return isinstance(table.c[name].type, JSON)


def _json_writer(session: AsyncSession, table: Table, name: str) -> Callable[[Any], Any]:
    """The JSON column's own bind conversion on this engine: its serializer, and None as its
    type takes it (SQLAlchemy's JSON writes the JSON ``null`` unless ``none_as_null``)."""
    dialect = session.get_bind().dialect
    kind: TypeEngine[Any] = table.c[name].type
    writer = kind.dialect_impl(dialect).bind_processor(dialect)
    assert writer is not None
    return writer


def _json_texts(
    session: AsyncSession, table: Table, name: str, values: Sequence[Any]
) -> tuple[Any, ...]:
    """The JSON column's bind conversion of each value. On orderbot's engines that is
    storage.db.json_text, here straight through orjson without the two Python frames a value of
    the column's writer (~0.5 µs; an ingested order has three JSON columns). What orjson refuses
    (SQLAlchemy's null markers, an integer past 64 bits) goes through the writer, as before."""
    writer = _json_writer(session, table, name)
    if getattr(session.get_bind().dialect, "_json_serializer", None) is json_text:
        try:
            return tuple([orjson.dumps(value).decode() for value in values])
        except TypeError:
            pass
    return tuple(map(writer, values))


def _is_time(table: Table, name: str) -> bool:
    """A UtcDateTime column: SQLite receives its values as utc_text."""
    return isinstance(table.c[name].type, UtcDateTime)


def _is_day(table: Table, name: str) -> bool:
    """A Date column: SQLite receives its values as ISO text, as SQLAlchemy stores them."""
    return isinstance(table.c[name].type, Date)


def _days(days: Sequence[date | None]) -> tuple[str | None, ...]:
    return tuple([None if day is None else day.isoformat() for day in days])


def _texts(moments: list[Any]) -> list[Any]:
    """utc_text of each moment, None kept: each distinct one converted once (a batch's rows
    share their "now"). A moment already in UTC, as nearly all are, is formatted here as
    utc_text does, without its call and checks (a fifth of its cost)."""
    texts = {
        moment: moment.isoformat(" ", "microseconds")[:26]
        if moment.tzinfo is UTC
        else utc_text(moment)
        for moment in set(moments)
        if moment is not None
    }
    return [None if moment is None else texts[moment] for moment in moments]


def _tuples(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[tuple[Any, ...]]] | None:
    """The rows' column names and values as SQLite takes them; None unless every row has the
    same columns, all of types bound here (Core handles the rest, as before)."""
    names = list(rows[0])
    # Same columns: as many in each row, and each row has all of the first's.
    if set(map(len, rows)) != {len(names)} or not all(_binds_here(table, n) for n in names):
        return None
    pick = itemgetter(*names)
    try:
        values = list(map(pick, rows)) if len(names) > 1 else [(pick(row),) for row in rows]
    except KeyError:
        return None
    converted = [
        n
        for n, name in enumerate(names)
        if _is_time(table, name) or _is_day(table, name) or _is_json(table, name)
    ]
    if converted:
        columns = list(zip(*values, strict=True))
        for i in converted:
            name = names[i]
            if _is_time(table, name):
                columns[i] = tuple(_texts(list(columns[i])))
            elif _is_day(table, name):
                columns[i] = _days(columns[i])
            else:
                columns[i] = _json_texts(session, table, name, columns[i])
        values = list(zip(*columns, strict=True))
    return names, values


async def _driver(session: AsyncSession) -> Any:
    """The session's aiosqlite connection, in the transaction the session began."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


async def _fetch(
    session: AsyncSession, sql: str, params: Sequence[Any] | Mapping[str, Any]
) -> list[Any]:
    """One statement's rows, in one hand-off to the driver's thread."""
    driver = await _driver(session)
    try:
        return list(await driver.execute_fetchall(sql, params))
    except sqlite3.Error as error:
        raise DBAPIError.instance(sql, params, error, sqlite3.Error) from error


async def _execute_many(session: AsyncSession, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """One statement for many rows, in one hand-off to the driver's thread."""
    driver = await _driver(session)
    try:
        await driver.executemany(sql, rows)
    except sqlite3.Error as error:
        given = rows if isinstance(rows, Sequence) else None  # an iterator is spent by now
        raise DBAPIError.instance(sql, given, error, sqlite3.Error) from error


async def fetch_text(
    session: AsyncSession, sql: str, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """SQLite: a plain query's rows as SQLite holds them (times and days as their text), in
    one hand-off to the driver's thread and without a Row object each: what a large read
    (a bill day's million payments) turns into a frame. ``:name`` parameters; aware times and days
    bound as their columns hold them."""
    values = {
        name: utc_text(v)
        if isinstance(v, datetime)
        else v.isoformat()
        if isinstance(v, date)
        else v
        for name, v in params.items()
    }
    return await _fetch(session, sql, values)


def _names(session: AsyncSession, names: Sequence[str]) -> str:
    quote = session.get_bind().dialect.identifier_preparer.quote
    return ", ".join(quote(name) for name in names)


def _insert_sql(
    session: AsyncSession,
    table: Table,
    names: Sequence[str],
    count: int,
    returning: Sequence[str],
    skip_existing: bool,
) -> str:
    one = "(" + ", ".join("?" * len(names)) + ")"
    sql = (
        f"INSERT INTO {_names(session, [table.name])} ({_names(session, names)}) VALUES "
        + ", ".join([one] * count)
        + (" ON CONFLICT DO NOTHING" if skip_existing else "")
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
    return await _insert(session, model, rows, returning, skip_existing=True)


async def insert_rows(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert rows (one violating a unique constraint fails the statement, as a plain INSERT
    does); the ``returning`` columns of the rows inserted (in no particular order)."""
    return await _insert(session, model, rows, returning, skip_existing=False)


async def _insert(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str],
    skip_existing: bool,
) -> list[tuple[Any, ...]]:
    if not rows:
        return []
    table = model.__table__
    prepared = _tuples(session, table, rows) if dialect_name(session) == "sqlite" else None
    if prepared is None:
        statement = dialect_insert(session, model)
        if skip_existing:
            statement = statement.on_conflict_do_nothing()
        if not returning:
            await session.execute(statement, list(rows))
            return []
        result = await session.execute(
            statement.returning(*(table.c[name] for name in returning)), list(rows)
        )
        return [tuple(row) for row in result]
    names, values = prepared
    if not returning:
        sql = _insert_sql(session, table, names, 1, (), skip_existing)
        await _execute_many(session, sql, values)
        return []
    inserted: list[tuple[Any, ...]] = []
    per_statement = max(1, _MAX_PARAMETERS // len(names))
    for low in range(0, len(values), per_statement):
        chunk = values[low : low + per_statement]
        sql = _insert_sql(session, table, names, len(chunk), returning, skip_existing)
        inserted += await _fetch(session, sql, tuple(chain.from_iterable(chunk)))
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
    if _is_time(table, column):
        new = tuple(_texts(list(new)))
    elif _is_day(table, column):
        new = _days(new)
    values = list(zip(new, ids, strict=True))
    await _execute_many(
        session,
        f"UPDATE {_names(session, [table.name])} SET {_names(session, [column])} = ? WHERE id = ?",
        values,
    )


async def update_columns(
    session: AsyncSession,
    model: type[Base],
    names: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """Set several columns of many rows, each row to its own values: ``rows`` hold its ``id``
    and a value for each of ``names``. One executemany."""
    if not rows:
        return
    table = model.__table__
    if dialect_name(session) != "sqlite" or not all(_binds_here(table, n) for n in names):
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({name: bindparam(f"new_{name}") for name in names})
        )
        params = [{"row_id": row["id"]} | {f"new_{n}": row[n] for n in names} for row in rows]
        await session.execute(statement, params)
        return
    prepared = _tuples(session, table, [{n: row[n] for n in (*names, "id")} for row in rows])
    assert prepared is not None
    assignments = ", ".join(f"{_names(session, [name])} = ?" for name in names)
    sql = f"UPDATE {_names(session, [table.name])} SET {assignments} WHERE id = ?"
    await _execute_many(session, sql, prepared[1])


Reader = Callable[[Any], Any] | None


def _utc_from_text(value: str | None) -> datetime | None:
    """UtcDateTime's conversion of what SQLite holds (naive UTC text), inlined: read with its
    offset, which costs a fifth of setting the zone afterwards."""
    return None if value is None else datetime.fromisoformat(value + "+00:00")


def _moments(texts: list[str | None]) -> list[datetime | None]:
    """_utc_from_text of each, each distinct text read once: a watch batch's orders entered
    their stages in a few distinct seconds (platforms' times are whole seconds)."""
    moments = {text: _utc_from_text(text) for text in set(texts)}
    return [moments[text] for text in texts]


def _compiled(
    session: AsyncSession, statement: Select[Any]
) -> tuple[str, list[tuple[str, Reader, Any]], list[Reader]]:
    """The statement's SQLite text, its parameters in order (with their conversion and the
    value the statement holds, if any), and each column's conversion (None: as SQLite gives
    it). Compiled once per statement."""
    dialect = session.get_bind().dialect
    key = (id(statement), id(dialect))
    if key not in _COMPILED:
        compiled = statement.compile(dialect=dialect)
        binds: list[tuple[str, Reader, Any]] = [
            (
                name,
                utc_text if _time(compiled.binds[name].type) else None,
                compiled.binds[name].effective_value,  # a literal the statement holds
            )
            for name in compiled.positiontup or ()
        ]
        readers: list[Reader] = []
        for column in statement.selected_columns:
            kind = column.type
            if isinstance(kind, UtcDateTime):
                readers.append(_utc_from_text)
            elif isinstance(kind, _PLAIN):
                readers.append(None)
            else:
                readers.append(kind.dialect_impl(dialect).result_processor(dialect, None))
        _COMPILED[key] = (statement, compiled.string, binds, readers)
    _, sql, binds, readers = _COMPILED[key]
    return sql, binds, readers


def _time(kind: Any) -> bool:
    return isinstance(kind, UtcDateTime)


# (statement, dialect) → the statement (kept, so that its id stays its own), text, binds, readers
_Compiled = tuple[Select[Any], str, list[tuple[str, Reader, Any]], list[Reader]]
_COMPILED: dict[tuple[int, int], _Compiled] = {}


async def select_rows(
    session: AsyncSession, statement: Select[Any], params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """The rows of a statement built once (a module constant, without expanding parameters),
    as tuples of the values the session would give. On SQLite: one hand-off to the driver's
    thread, and the columns converted here (times, JSON) rather than row by row by Core."""
    if dialect_name(session) != "sqlite":
        return [tuple(row) for row in await session.execute(statement, params)]
    sql, binds, readers = _compiled(session, statement)
    given = [params.get(name, value) for name, _, value in binds]
    values = [v if bind is None else bind(v) for v, (_, bind, _) in zip(given, binds, strict=True)]
    rows = await _fetch(session, sql, values)
    if not rows or not any(readers):
        return rows
    columns = [list(column) for column in zip(*rows, strict=True)]
    for i, reader in enumerate(readers):
        if reader is _utc_from_text:
            columns[i] = _moments(columns[i])
        elif reader is not None:
            columns[i] = list(map(reader, columns[i]))
    return list(zip(*columns, strict=True))
