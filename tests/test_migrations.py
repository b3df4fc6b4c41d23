"""The Alembic migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from storage import migrate
from storage.db import make_engine
from storage.models import Base


def _differences(connection: Connection) -> list[Any]:
    # Types are left out: UtcDateTime is text on SQLite by design (see storage.models).
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


def test_every_migration_can_be_undone_and_redone(database_url: str) -> None:
    config = migrate.alembic_config(database_url)
    command.downgrade(config, "base")
    command.upgrade(config, "head")
