"""Reading a table source's rows in cursor order, a page at a time, through SQLAlchemy's async
engine (asyncpg for PostgreSQL, aiomysql for MySQL/MariaDB): the loop is never blocked.

On PostgreSQL the page's statement, compiled by SQLAlchemy, goes to asyncpg's connection itself
and its records are the rows: SQLAlchemy's rows cost ~20 µs each against ~7 for the records,
which a source of a million rows reads every one of once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, column, or_, select, table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage.table_sources import Cursor


@dataclass(frozen=True, slots=True)
class SourceRow:
    cursor: Cursor
    values: Mapping[str, Any]  # column → value, as the driver gave it


def cursor_text(moment: datetime) -> str:
    """An updated-at as the cursor keeps it: fixed-width ISO text, so that text order is time
    order (a value with or without zone keeps it, as the column gives it)."""
    return moment.isoformat(timespec="microseconds")


class TableReader:
    """One table or view of another database, read after a cursor."""

    def __init__(
        self,
        url: str,
        name: str,
        columns: Sequence[str],
        id_column: str,
        updated_at_column: str | None,
    ) -> None:
        self._engine: AsyncEngine = create_async_engine(
            url, pool_size=2, max_overflow=0, pool_pre_ping=True
        )
        schema, _, bare = name.rpartition(".")
        wanted = dict.fromkeys([id_column, *([updated_at_column] if updated_at_column else [])])
        wanted |= dict.fromkeys(columns)
        self._table = table(bare, *(column(c) for c in wanted), schema=schema or None)
        self._names = list(wanted)
        self._id = self._table.c[id_column]
        self._updated = self._table.c[updated_at_column] if updated_at_column else None

    def _after(self, cursor: Cursor) -> ColumnElement[bool]:
        if self._updated is None:
            return self._id > cursor.id
        assert cursor.time is not None
        moment = datetime.fromisoformat(cursor.time)
        return and_(
            self._updated >= moment,
            or_(self._updated > moment, self._id > cursor.id),
        )

    async def page(self, after: Cursor | None, limit: int) -> list[SourceRow]:
        """Up to ``limit`` rows after ``after`` (from the start when None), in cursor order."""
        order = [self._id] if self._updated is None else [self._updated, self._id]
        query = select(self._table).order_by(*order).limit(limit)
        if after is not None:
            query = query.where(self._after(after))
        elif self._updated is not None:
            query = query.where(self._updated.is_not(None))  # no cursor value, no place in order
        async with self._engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                records = await _records(connection, query)
                return [SourceRow(self._cursor_of(r), cast(Mapping[str, Any], r)) for r in records]
            rows = (await connection.execute(query)).all()
        names = self._names
        return [SourceRow(self._cursor_of(row), dict(zip(names, row, strict=True))) for row in rows]

    def _cursor_of(self, row: Sequence[Any]) -> Cursor:
        """The id is the first column selected, the updated-at (if any) the second."""
        if self._updated is None:
            return Cursor(None, int(row[0]))
        return Cursor(cursor_text(row[1]), int(row[0]))

    async def close(self) -> None:
        await self._engine.dispose()


async def _records(connection: AsyncConnection, query: Select[Any]) -> list[Sequence[Any]]:
    """The query's rows as asyncpg's records (each reads by column name and by position).
    What asyncpg raises comes out as SQLAlchemy's errors, as through SQLAlchemy."""
    compiled = query.compile(dialect=connection.dialect)
    params = compiled.construct_params()
    args = [params[name] for name in compiled.positiontup or ()]
    driver: Any = (await connection.get_raw_connection()).driver_connection
    try:
        records: list[Sequence[Any]] = await driver.fetch(compiled.string, *args)
    except OSError:  # the connection lost: the caller takes it as it is
        raise
    except Exception as error:  # asyncpg's own: the server's refusal, a closed connection
        raise DBAPIError.instance(compiled.string, args, error, Exception) from error
    return records
