"""INSERT … ON CONFLICT DO NOTHING for both dialects: the backstop against duplicate rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from storage.models import Base


def insert_ignoring_duplicates(session: AsyncSession, model: type[Base]) -> Insert:
    """An INSERT for ``model`` that skips rows violating any unique constraint."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement: Any = dialect.insert(model.__table__)
    return statement.on_conflict_do_nothing()
