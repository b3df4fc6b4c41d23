"""Alembic, driven from code: ``orderbot db upgrade`` and the start-up check of ``serve``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import make_engine, make_sessionmaker

_MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@dataclass(frozen=True)
class Upgrade:
    """What ``upgrade`` found and left: Alembic revisions, None for an empty database."""

    before: str | None
    after: str | None

    def __str__(self) -> str:
        if self.before == self.after:
            return f"数据库已是最新版本 ({self.after}), 未做改动"
        if self.before is None:
            return f"已在空数据库中建好全部表, 升级到 {self.after}"
        return f"已从 {self.before} 升级到 {self.after}"


def upgrade(url: str, revision: str = "head") -> Upgrade:
    """Bring the database at ``url`` up to ``revision``; blocking, so use a thread from a loop."""
    before = asyncio.run(_revision_at(url))
    command.upgrade(alembic_config(url), revision)
    return Upgrade(before, asyncio.run(_revision_at(url)))


async def _revision_at(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


class UnmigratedDatabase(RuntimeError):
    """The database schema is not at the version this code needs."""


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL when it does not exist (connecting would create it empty)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("uri"):
        return None
    return None if Path(database).exists() else Path(database)


async def ensure_migrated(engine: AsyncEngine) -> None:
    """Refuse to run against a database that ``orderbot db upgrade`` has not brought up to date,
    without creating a SQLite file that is not there."""
    url = engine.url.render_as_string(hide_password=False)
    if (missing := missing_sqlite_file(url)) is not None:
        raise UnmigratedDatabase(
            f"数据库文件不存在: {missing}; 请先运行: orderbot db upgrade -c <config>"
        )
    current, head = await current_revision(engine), head_revision(url)
    if current != head:
        raise UnmigratedDatabase(
            f"数据库未迁移到最新版本 (当前 {current or '空库'}, 需要 {head}); "
            "请先运行: orderbot db upgrade -c <config>"
        )


@asynccontextmanager
async def migrated_sessions(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the database at ``url`` for one command-line run, once it is migrated
    (else UnmigratedDatabase); its engine disposed at the end."""
    engine = make_engine(url)
    try:
        await ensure_migrated(engine)
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
