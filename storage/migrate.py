"""Alembic, driven from code: ``orderbot db upgrade`` and the start-up check of ``serve``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

_MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``; blocking, so use a thread from a loop."""
    command.upgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


class UnmigratedDatabase(RuntimeError):
    """The database schema is not at the version this code needs."""


async def ensure_migrated(engine: AsyncEngine) -> None:
    """Refuse to run against a database that ``orderbot db upgrade`` has not brought up to date."""
    url = engine.url.render_as_string(hide_password=False)
    current, head = await current_revision(engine), head_revision(url)
    if current != head:
        raise UnmigratedDatabase(
            f"数据库未迁移到最新版本 (当前 {current or '空库'}, 需要 {head}); "
            "请先运行: orderbot db upgrade -c <config>"
        )
