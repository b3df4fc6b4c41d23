"""SQLite: units of work (a chat command's) in worker threads, one hand-off each.

Each worker is a thread with its own event loop and its own engine whose statements run in that
thread (storage.sqlite_inline). A unit takes the engine's turn to write on the service's loop,
as its other writers do, then runs whole in a free worker; PostgreSQL keeps asyncpg and has no
use for this.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import make_sessionmaker, sqlite_engine
from storage.sqlite_driver import OneHopDBAPI, take_turn
from storage.sqlite_inline import HandedTurn, InlineDBAPI

T = TypeVar("T")
Unit = Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
WORKERS = 2  # one runs while the other's result goes back; the turn lets one write at a time


class _Worker:
    """A thread with its own event loop, engine and sessions; one unit at a time."""

    def __init__(self, url: str, name: str) -> None:
        self._dbapi = InlineDBAPI()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()
        # Connections are made at the first statement, in the worker's thread.
        self._engine = sqlite_engine(url, self._dbapi)
        self._sessions = make_sessionmaker(self._engine)

    async def run(self, unit: Unit[T], turn: HandedTurn) -> T:
        async def in_thread() -> T:
            self._dbapi.turn = turn
            try:
                return await unit(self._sessions)
            finally:
                self._dbapi.turn = None

        done = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(in_thread(), self._loop))
        try:
            return await asyncio.shield(done)
        finally:
            if not done.done():  # the caller was cancelled: the unit ends first, then its turn
                await asyncio.wait([done])

    async def close(self) -> None:
        disposed = asyncio.run_coroutine_threadsafe(self._engine.dispose(), self._loop)
        await asyncio.wrap_future(disposed)
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()


class UnitThreads:
    """Worker threads for units of work on the SQLite database of ``engine``."""

    def __init__(self, url: str, engine: AsyncEngine, workers: int = WORKERS) -> None:
        dbapi = engine.sync_engine.dialect.loaded_dbapi
        assert isinstance(dbapi, OneHopDBAPI)
        self._main = dbapi
        self._workers = [_Worker(url, f"orderbot-unit-{n}") for n in range(workers)]
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        for worker in self._workers:
            self._idle.put_nowait(worker)

    async def run(self, unit: Unit[T]) -> T:
        """``unit(sessions)`` in a worker thread, its write transaction in the engine's turn."""
        worker = await self._idle.get()
        try:
            lock = self._main.writers_lock()
            await take_turn(lock, command=True)
            turn = HandedTurn(asyncio.get_running_loop(), lock, held=True)
            try:
                return await worker.run(unit, turn)
            finally:
                if turn.held:  # the unit wrote nothing, or failed before its transaction ended
                    turn.held = False
                    lock.release()
        finally:
            self._idle.put_nowait(worker)

    async def close(self) -> None:
        for worker in self._workers:
            await worker.close()


def unit_threads(url: str, engine: AsyncEngine) -> UnitThreads | None:
    """Worker threads for a SQLite database in a file; None for PostgreSQL (asyncpg does not
    hand statements to a thread) and for an in-memory database (a second engine would see
    another one)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return UnitThreads(url, engine)
