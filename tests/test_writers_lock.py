"""The SQLite engine's turn to write: chat commands before background writers, within bounds."""

from __future__ import annotations

import asyncio

import pytest

from storage import sqlite_driver
from storage.sqlite_driver import WritersLock


async def _order(lock: WritersLock, waiters: list[tuple[str, bool]]) -> list[str]:
    """Queue ``waiters`` (name, is a command) behind a holder, release; the order they got it."""
    got: list[str] = []

    async def wait(name: str, command: bool) -> None:
        await lock.acquire(command=command)
        got.append(name)
        lock.release()

    await lock.acquire()
    tasks = []
    for name, command in waiters:
        tasks.append(asyncio.create_task(wait(name, command)))
        await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    return got


async def test_a_command_goes_before_background_writers_that_came_first() -> None:
    waiters = [("watch", False), ("outbox", False), ("状态", True), ("认领", True)]
    assert await _order(WritersLock(), waiters) == ["状态", "认领", "watch", "outbox"]


async def test_a_background_writer_waits_for_commands_at_most_yield_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sqlite_driver, "YIELD_SECONDS", 0.0)
    waiters = [("watch", False), ("状态", True)]
    assert await _order(WritersLock(), waiters) == ["watch", "状态"]


@pytest.mark.parametrize("handed", [False, True], ids=["while waiting", "as it is handed it"])
async def test_a_writer_cancelled_leaves_the_turn_to_the_next(handed: bool) -> None:
    lock = WritersLock()
    await lock.acquire()
    cancelled = asyncio.create_task(lock.acquire(command=True))
    waiting = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    if handed:
        lock.release()  # to `cancelled`, which is cancelled before it runs
    cancelled.cancel()
    await asyncio.sleep(0)
    if not handed:
        lock.release()
    await asyncio.wait_for(waiting, 1)
    lock.release()
    await asyncio.wait_for(lock.acquire(), 1)  # free again
