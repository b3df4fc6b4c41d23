"""The table sources' pollers (``kind = "table"`` in ``[sources]``), built for ``serve``."""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.table.reader import TableReader
from jobs import table_source
from jobs.scheduler import JobSpec, every
from services.clock import Clock
from services.config import Config
from services.ingest import Ingestor
from services.table_source import TablePoller


def pollers(
    config: Config,
    ingestor: Ingestor,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    instance: str,
) -> list[TablePoller]:
    found = []
    for name, source in config.sources.items():
        if source.kind != "table":
            continue
        assert source.table is not None
        reader = TableReader(
            source.database_url,
            source.table,
            list(source.columns.values()),
            source.id_column,
            source.updated_at_column,
        )
        found.append(TablePoller(name, source, reader, ingestor, sessions, clock, instance))
    return found


def jobs(pollers: list[TablePoller]) -> list[JobSpec]:
    return [
        JobSpec(f"table:{p.name}", partial(table_source.run, p), every(p.interval)) for p in pollers
    ]
