"""SQLAlchemy's aiosqlite adapter with one thread hand-off per statement, and writers queued
in the event loop instead of in SQLite's busy handler.

SQLAlchemy's own adapter sends each statement to aiosqlite's connection thread four times
(make a cursor, execute, fetch, close), and every hand-off is a queue put, a wake-up of that
thread and one of the event loop: ~0.5 ms of CPU a statement on the loop's core, which chat
commands spend more of than on their SQL. Here one function does all four in the connection's
thread and hands back the rows, the description and the counts together; ``commit`` and
``rollback`` outside a transaction (the pool's reset of every connection it takes back) cost
nothing. The sqlite3 calls still run in aiosqlite's thread, never on the loop.

Writers: ``BEGIN IMMEDIATE`` waits for SQLite's write lock. Left to SQLite, a waiting
connection sleeps and retries (1, 2, 5, … then 25-100 ms at a time), so under load the lock
lies idle between one writer's commit and the next one's wake-up, and a command waits behind
others' sleeps. Here the engine's writers take turns through an ``asyncio.Lock`` first (first
come, first served, handed on at the commit), so SQLite's busy wait is left for other processes
(an ``orderbot import`` beside ``serve``). Waiting longer than SQLite's ``busy_timeout`` fails
the same way SQLite would: "database is locked".

Chat commands (storage.unit_threads) go first: the turn passes to a waiting command before a
background writer (the watch, the outbox, an ingest batch), unless that one has waited
``YIELD_SECONDS``. First come, first served, the outbox's chats sending a burst (a write
transaction per message, ~100 in half a second) were always queued before each command, which
then waited ~30 ms for the turn while holding one of the two workers: ~60 commands/s, and at
200/s replies came up to ~300 ms late.
"""

from __future__ import annotations

import asyncio
import collections
import re
import sqlite3
import time
import weakref
from typing import Any, NamedTuple, Protocol

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# How long a writer waits for the engine's other writers; SQLite's busy_timeout (storage.db)
# is the same for writers of other processes.
WRITE_WAIT_SECONDS = 10.0


class _Outcome(NamedTuple):
    """What one statement left, read in the connection's thread."""

    description: Any
    rows: list[Any]
    rowcount: int
    lastrowid: int | None
    in_transaction: bool


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        # Fetched before rowcount: with RETURNING, sqlite3 counts the rows as they are read.
        rows = cursor.fetchall() if description else []
        return _Outcome(
            description, rows, cursor.rowcount, cursor.lastrowid, connection.in_transaction
        )
    finally:
        cursor.close()


def _end(connection: sqlite3.Connection, commit: bool) -> bool:
    if commit:
        connection.commit()
    else:
        connection.rollback()
    return connection.in_transaction


_WRITE_BEGIN = re.compile(r"\s*BEGIN\s+(IMMEDIATE|EXCLUSIVE)\b", re.I)


class Turn(Protocol):
    """A writer's turn while a connection holds it: given back when its transaction ends."""

    def release(self) -> None: ...


# How long a background writer lets chat commands that came after it go first.
YIELD_SECONDS = 0.1


class WritersLock:
    """The engine's turn to write, handed on at release: to the chat command waiting longest,
    unless a background writer has waited ``YIELD_SECONDS``; then first come, first served."""

    def __init__(self) -> None:
        self._locked = False
        self._commands: collections.deque[tuple[asyncio.Future[None], float]] = collections.deque()
        self._others: collections.deque[tuple[asyncio.Future[None], float]] = collections.deque()

    async def acquire(self, *, command: bool = False) -> None:
        if not self._locked:
            self._locked = True
            return
        loop = asyncio.get_running_loop()
        entry = (loop.create_future(), time.monotonic())
        queue = self._commands if command else self._others
        queue.append(entry)
        try:
            await entry[0]
        except asyncio.CancelledError:
            if entry[0].done() and not entry[0].cancelled():
                self.release()  # handed the turn as it was cancelled: hand it on
            else:
                queue.remove(entry)
            raise

    def release(self) -> None:
        others, commands = self._others, self._commands
        overdue = others and others[0][1] <= time.monotonic() - YIELD_SECONDS
        queue = others if overdue or not commands else commands
        if queue:
            queue.popleft()[0].set_result(None)  # the turn passes on, still taken
        else:
            self._locked = False


async def take_turn(lock: WritersLock, *, command: bool = False) -> None:
    """Wait for the writers' ``lock`` as SQLite would for its own: failing after as long."""
    try:
        async with asyncio.timeout(WRITE_WAIT_SECONDS):
            await lock.acquire(command=command)
    except TimeoutError:
        raise sqlite3.OperationalError("database is locked") from None


class _Writers:
    """The engine's turn to write, one lock per event loop (tests run several loops)."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WritersLock] = (
            weakref.WeakKeyDictionary()
        )

    def lock(self) -> WritersLock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = WritersLock()
        return lock


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one call into the connection's thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    _adapt_connection: OneHopConnection

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # No aiosqlite cursor: the statement makes and closes its own in the thread.
        assert isinstance(adapt_connection, OneHopConnection)
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        """Nothing is open in the thread once a statement has run."""

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._take(await_(self._adapt_connection.run(operation, parameters, many=False)))

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._take(await_(self._adapt_connection.run(operation, seq_of_parameters, many=True)))

    def setinputsizes(self, *inputsizes: Any) -> None:
        """sqlite3 ignores input sizes."""

    def nextset(self) -> None:
        raise NotImplementedError("sqlite3 has one result set a statement")

    def _take(self, outcome: _Outcome) -> None:
        self._description = outcome.description
        self._rows = collections.deque(outcome.rows)
        self._rowcount = outcome.rowcount
        self._lastrowid = outcome.lastrowid


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's connection adapted one hop per statement, commit and rollback; its writers
    take turns through the engine's lock."""

    __slots__ = ("_in_transaction", "_turn", "_writers")
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any, writers: _Writers) -> None:
        super().__init__(dbapi, connection)
        self._writers = writers
        self._in_transaction = False
        self._turn: Turn | None = None  # the writers' lock while this one holds it

    async def run(self, operation: str, parameters: Any, *, many: bool) -> _Outcome:
        """One statement in the connection's thread, after this engine's earlier writers when
        it begins a write transaction. (A BEGIN is not held back to go with the next statement:
        storage.bulk runs statements on the driver's connection itself, in the transaction the
        session began, so the BEGIN must have run by then.)"""
        try:
            if self._turn is None and _WRITE_BEGIN.match(operation):
                await self._wait_turn()
            try:
                outcome: _Outcome = await self._connection._execute(
                    _run, self._connection._conn, operation, parameters, many
                )
            except BaseException:
                self._after(await self._still_in_transaction())
                raise
            self._after(outcome.in_transaction)
            return outcome
        except Exception as error:
            self._handle_exception(error)

    async def _wait_turn(self) -> None:
        lock = self._writers.lock()
        await take_turn(lock)
        self._turn = lock

    async def _still_in_transaction(self) -> bool:
        try:
            return bool(
                await self._connection._execute(lambda: self._connection._conn.in_transaction)
            )
        except Exception:  # a closed connection holds nothing
            return False

    def _after(self, in_transaction: bool) -> None:
        self._in_transaction = in_transaction
        if self._turn is not None and not in_transaction:
            turn, self._turn = self._turn, None
            turn.release()

    def commit(self) -> None:
        self._end(commit=True)

    def rollback(self) -> None:
        self._end(commit=False)

    def _end(self, *, commit: bool) -> None:
        # Outside a transaction sqlite3 would do nothing: no need to wake the thread for it.
        if not self._in_transaction or not self._connection._connection:
            return
        try:
            self._after(await_(self._connection._execute(_end, self._connection._conn, commit)))
        except Exception as error:
            self._after(await_(self._still_in_transaction()))
            self._handle_exception(error)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._after(False)

    def terminate(self) -> None:
        try:
            super().terminate()
        finally:
            self._after(False)


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module of one engine (``create_async_engine(..., module=...)``)."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)
        self._writers = _Writers()

    def writers_lock(self) -> WritersLock:
        """The engine's turn to write on the running event loop."""
        return self._writers.lock()

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        connection = aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's adapter does
        return OneHopConnection(self, await_(connection), self._writers)
