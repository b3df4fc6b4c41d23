"""Shared fixtures: a fresh migrated database per test (SQLite, or PostgreSQL when
ORDERBOT_TEST_DB=postgresql), a config, a controllable clock, and an app client."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from sandbox import create_sandbox_app
from services.config import Config, parse_config
from storage import migrate
from tests.support import FakeClock, config_data
from tests.wecom_side import SANDBOX, bot_config

PG_ADMIN_DSN = os.environ.get("ORDERBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def selected_backend() -> str:
    backend = os.environ.get("ORDERBOT_TEST_DB", "sqlite")
    if backend not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"ORDERBOT_TEST_DB must be sqlite or postgresql, not {backend!r}")
    return backend


async def _pg_admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database brought up with the real migrations per test run: each test's database is
    a copy of it (upgrading took ~0.3 s a test, half of the suite's time on SQLite)."""
    if selected_backend() == "sqlite":
        path = tmp_path_factory.mktemp("template") / "orderbot.db"
        migrate.upgrade(f"sqlite+aiosqlite:///{path}")
        with sqlite3.connect(path) as connection:  # everything in the file, none in its WAL
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        yield str(path)
        return
    name = f"orderbot_template_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        migrate.upgrade(_pg_url(name))
        yield name
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


class PgCopies:
    """Copies of the template made ahead of the tests that take them, in background threads:
    CREATE … TEMPLATE took ~0.25 s of every test, 0.5-2 s on a busy machine. A test's copy is
    dropped when the next test takes one (the rest when the run ends): by then everything the
    test started is closed. Dropped in the test's own teardown, it went while the test's app
    was still running (pytest-aiohttp's clients are torn down after the fixtures the app was
    built from), cutting the app's connections; dropped behind the tests, in the background,
    it once left a test hanging in its teardown."""

    AHEAD = 3  # copies kept ready
    THREADS = 3

    def __init__(self, template: str) -> None:
        self.template = template
        self.pool = ThreadPoolExecutor(self.THREADS, thread_name_prefix="pg-copies")
        self.ready: deque[Future[str]] = deque()
        self.used: list[str] = []
        self._fill()

    def _create(self) -> str:
        name = f"orderbot_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    def _fill(self) -> None:
        while len(self.ready) < self.AHEAD:
            self.ready.append(self.pool.submit(self._create))

    def take(self) -> str:
        """A copy no test has used; the copies taken before are dropped."""
        while self.used:
            self.drop(self.used.pop())
        name = self.ready.popleft().result()
        self.used.append(name)
        self._fill()
        return name

    @staticmethod
    def drop(name: str) -> None:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        """Drop every copy, used or not; then raise the first error in making one."""
        self.pool.shutdown()
        for name in self.used:
            self.drop(name)
        for made in self.ready:
            if made.exception() is None:
                self.drop(made.result())
        errors = [made.exception() for made in self.ready]
        if error := next((e for e in errors if e is not None), None):
            raise error


@pytest.fixture(scope="session")
def pg_copies(migrated_template: str) -> Iterator[PgCopies]:
    copies = PgCopies(migrated_template)
    try:
        yield copies
    finally:
        copies.close()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new database at the migrations' head (a copy of the run's template); never a
    leftover."""
    if selected_backend() == "sqlite":
        template = request.getfixturevalue("migrated_template")
        path = tmp_path / "orderbot.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    copies: PgCopies = request.getfixturevalue("pg_copies")
    yield _pg_url(copies.take())


@pytest.fixture
def config(database_url: str) -> Config:
    return parse_config(config_data(database_url))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(aiohttp_client: Any, config: Config, clock: FakeClock) -> TestClient:
    """The real app on a test server; the watch is ticked by the test, not by a timer."""
    return await aiohttp_client(create_app(config, clock=clock, watch_timer=False))


@pytest.fixture
async def sandbox(aiohttp_server: Any) -> TestServer:
    """A WeCom sandbox that knows the test config's people and the east group's robot."""
    server: TestServer = await aiohttp_server(create_sandbox_app(SANDBOX))
    return server


@pytest.fixture
async def bot(aiohttp_client: Any, database_url: str, sandbox: TestServer) -> TestClient:
    """The app wired to the sandbox; its clock starts at the real now, since callbacks are
    signed with real timestamps and checked against it."""
    config = bot_config(database_url, str(sandbox.make_url("/cgi-bin/")))
    clock = FakeClock(datetime.now(UTC))
    client: TestClient = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    return client
