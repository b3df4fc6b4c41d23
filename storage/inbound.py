"""Which callback messages were already acted on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from storage.conflicts import insert_ignoring_duplicates
from storage.db import dialect_name, rows_matched
from storage.models import InboundMessage

# Every chat command records its message: the statement is built once per dialect.
_RECORD: dict[str, Insert] = {}


async def first_time(session: AsyncSession, source: str, msg_id: str, now: datetime) -> bool:
    """Record the message; False if it was recorded before (a WeCom retry)."""
    dialect = dialect_name(session)
    record = _RECORD.get(dialect)
    if record is None:
        record = _RECORD[dialect] = insert_ignoring_duplicates(session, InboundMessage)
    result = await session.execute(
        record, [{"source": source, "msg_id": msg_id, "received_at": now}]
    )
    return rows_matched(result) == 1
