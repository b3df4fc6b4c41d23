"""SQLite units of work in worker threads: they run off the event loop, and their writers take
turns with the engine's own."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import begin_reading, make_engine, make_sessionmaker
from storage.inbound import first_time
from storage.models import InboundMessage
from storage.unit_threads import UnitThreads, unit_threads
from tests.conftest import selected_backend

pytestmark = pytest.mark.skipif(
    selected_backend() != "sqlite", reason="PostgreSQL keeps asyncpg: no worker threads"
)
NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)


async def _messages(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(InboundMessage)) or 0)


async def test_a_unit_runs_in_a_worker_thread_and_commits(database_url: str) -> None:
    engine = make_engine(database_url)
    units = unit_threads(database_url, engine)
    assert isinstance(units, UnitThreads)
    try:

        async def unit(sessions: async_sessionmaker[AsyncSession]) -> int:
            async with sessions() as session:
                assert await first_time(session, "aibot", "m1", NOW)
                assert not await first_time(session, "aibot", "m1", NOW)
                await session.commit()
            return threading.get_ident()

        assert await units.run(unit) != threading.get_ident()
        assert await _messages(make_sessionmaker(engine)) == 1
    finally:
        await units.close()
        await engine.dispose()


async def test_a_unit_waits_for_the_engines_writer_and_the_engine_for_its(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    units = unit_threads(database_url, engine)
    assert units is not None
    order: list[str] = []
    try:

        async def unit(worker: async_sessionmaker[AsyncSession]) -> None:
            async with worker.begin() as session:
                await first_time(session, "aibot", "unit", NOW)
                order.append("unit")

        async with sessions.begin() as session:  # the engine's writer holds the turn
            await first_time(session, "aibot", "engine", NOW)
            waiting = asyncio.create_task(units.run(unit))
            await asyncio.sleep(0.2)
            order.append("engine")
        await waiting
        assert order == ["engine", "unit"]
        assert await _messages(sessions) == 2
    finally:
        await units.close()
        await engine.dispose()


async def test_a_unit_reading_on_after_its_commit_holds_up_no_writer(database_url: str) -> None:
    """As a command after ``done_writing``: the turn goes back at the commit, and a second
    write transaction takes it again."""
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    units = unit_threads(database_url, engine)
    assert units is not None
    loop = asyncio.get_running_loop()
    committed, go_on = asyncio.Event(), threading.Event()
    try:

        async def unit(worker: async_sessionmaker[AsyncSession]) -> int:
            async with worker() as session:
                await first_time(session, "aibot", "before", NOW)
                await session.commit()
                await begin_reading(session)
                loop.call_soon_threadsafe(committed.set)
                assert go_on.wait(10)  # reading on, slowly
                seen = await session.scalar(select(func.count()).select_from(InboundMessage))
                await session.commit()
                await first_time(session, "aibot", "after", NOW)
                await session.commit()
            return int(seen or 0)

        running = asyncio.create_task(units.run(unit))
        await committed.wait()
        async with sessions.begin() as session:  # does not wait for the unit
            await first_time(session, "aibot", "engine", NOW)
        go_on.set()
        assert await running == 2  # it read after the engine's write (a deferred BEGIN)
        assert await _messages(sessions) == 3
    finally:
        go_on.set()
        await units.close()
        await engine.dispose()
