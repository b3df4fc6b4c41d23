"""SQLAlchemy's aiosqlite adapter with the statements run in the calling thread, for an engine
that lives in one worker thread (storage.unit_threads) and is used by nothing else.

A chat command is a dozen statements; through aiosqlite each is a hand-off to the connection's
thread and back to the event loop, and on SQLite the command holds the write lock across all of
them, so every hand-off's wait for a busy loop is a wait of every other writer. Here the whole
unit of work runs in a worker thread with its own event loop, and its statements call sqlite3
directly: the unit is one hand-off, and the lock is held for the unit's own work only. No
sqlite3 call runs on the service's event loop.

Writers still take turns with the service's own (the watch, ingest): the turn is the main
engine's lock (storage.sqlite_driver), taken on the service's loop and handed to the worker
with the unit (``HandedTurn``), given back when its write transaction ends.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

from storage.sqlite_driver import OneHopConnection, OneHopDBAPI, WritersLock, take_turn


class HandedTurn:
    """The service's turn to write, taken on its event loop for a unit of work that runs in a
    worker thread. The worker gives it back when its write transaction ends (so that a command
    reading on after ``done_writing`` holds up no writer), or takes it again, waiting, for a
    second write transaction."""

    def __init__(self, loop: asyncio.AbstractEventLoop, lock: WritersLock, *, held: bool) -> None:
        self._loop = loop
        self._lock = lock
        self.held = held

    def take(self) -> HandedTurn:
        """In the worker thread: the turn, waiting for it if it was given back."""
        if not self.held:
            asyncio.run_coroutine_threadsafe(
                take_turn(self._lock, command=True), self._loop
            ).result()
            self.held = True
        return self

    def release(self) -> None:
        """In the worker thread: the write transaction ended."""
        if self.held:
            self.held = False
            self._loop.call_soon_threadsafe(self._lock.release)


class _Sqlite:
    """What SQLAlchemy's adapter and OneHopConnection use of an aiosqlite connection, done at
    once in the calling thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = connection

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    async def _execute(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()


class InlineConnection(OneHopConnection):
    """A OneHopConnection whose statements run in the calling thread, and whose write
    transactions take the turn handed to the unit of work."""

    __slots__ = ()
    dbapi: InlineDBAPI

    @property
    def isolation_level(self) -> str | None:
        return self._connection._conn.isolation_level  # type: ignore[no-any-return]

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._connection._conn.isolation_level = value

    async def _wait_turn(self) -> None:
        turn = self.dbapi.turn
        if turn is None:
            raise RuntimeError("a write outside a unit of work (storage.unit_threads)")
        self._turn = turn.take()


class InlineDBAPI(OneHopDBAPI):
    """The DBAPI module of a worker thread's engine; ``turn`` is its current unit's."""

    def __init__(self) -> None:
        super().__init__()
        self.turn: HandedTurn | None = None

    def connect(self, *arg: Any, **kw: Any) -> InlineConnection:
        kw.pop("iter_chunk_size", None)  # aiosqlite's own
        return InlineConnection(self, _Sqlite(sqlite3.connect(*arg, **kw)), self._writers)
