"""INSERT … ON CONFLICT for both dialects: the backstop against duplicate rows, and upserts."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from storage.db import dialect_name
from storage.models import Base


def dialect_insert(session: AsyncSession, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for ``model`` in the session's dialect, which offers ON CONFLICT clauses."""
    if dialect_name(session) == "postgresql":
        return postgresql.insert(model.__table__)
    return sqlite.insert(model.__table__)


def insert_ignoring_duplicates(session: AsyncSession, model: type[Base]) -> Insert:
    """An INSERT for ``model`` that skips rows violating any unique constraint."""
    return dialect_insert(session, model).on_conflict_do_nothing()
