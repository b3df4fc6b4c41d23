"""Engine creation for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from sqlalchemy import Connection, CursorResult, Result, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.sqlite_driver import OneHopDBAPI


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers outside a transaction proceed while one writer works; busy_timeout makes
    # a writer wait for the lock instead of failing with "database is locked".
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _begin_immediate
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 64 MiB of page cache instead of the 2 MiB default: a pool of a million orders has index
    # pages the watch and ingest touch all the time.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


READ_ONLY = "orderbot_read_only"  # execution option of a transaction that only reads


def _begin(connection: Connection) -> None:
    # The driver would start a transaction lazily at the first write, after our reads, so two
    # writers could both act on what they read (two watch ticks opening the same tickets).
    # BEGIN IMMEDIATE takes the write lock up front: on SQLite, writers take turns whole.
    # A transaction that only reads begins deferred: in WAL mode it reads the last commit and
    # neither waits for a writer nor holds one up.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


async def begin_reading(session: AsyncSession) -> None:
    """Begin the session's next transaction as one that only reads (on SQLite it then takes
    no write lock). Call it between transactions, before the first statement of the next."""
    await session.connection(execution_options={READ_ONLY: True})


def dialect_name(session: AsyncSession) -> str:
    """The session's database, "postgresql" or "sqlite", for statements that differ by one."""
    return session.get_bind().dialect.name


def rows_matched(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an INSERT, UPDATE or DELETE wrote or matched: ``session.execute`` is typed
    to return a plain Result, but for these statements it is a CursorResult, which counts them."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"no row count in a {type(result).__name__}")
    return result.rowcount


def json_text(value: Any) -> str:
    """A JSON column's text, by orjson: the order's raw record, which every ingested order
    writes, costs the standard library ~5x as much. What orjson refuses (an integer past 64 bits
    in a record, nesting past 255 levels) the standard library writes, as before."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


# 19 digits in a row may be an integer past 64 bits, which orjson would read as a float.
_LONG_NUMBER = re.compile(r"\d{19}")


def _json_value(text: str) -> Any:
    """A JSON column's value, by orjson: the watch reads every due order's categories, which
    the standard library decodes at several times the cost. Text with a long run of digits, and
    what orjson refuses (NaN, a lone surrogate), the standard library reads, as before."""
    if _LONG_NUMBER.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def make_engine(url: str) -> AsyncEngine:
    """An async engine with the per-dialect settings orderbot relies on."""
    if url.startswith("sqlite"):
        # One thread hand-off a statement: see storage.sqlite_driver.
        return sqlite_engine(url, OneHopDBAPI())
    return create_async_engine(
        url,
        json_serializer=json_text,
        json_deserializer=_json_value,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
    )


def sqlite_engine(url: str, module: OneHopDBAPI) -> AsyncEngine:
    """A SQLite engine through ``module`` (storage.sqlite_driver, storage.sqlite_inline)."""
    engine = create_async_engine(
        url, module=module, json_serializer=json_text, json_deserializer=_json_value
    )
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    event.listen(engine.sync_engine, "begin", _begin)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
