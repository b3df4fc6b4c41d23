"""The timer of a table source: one poll, reported by the rows it ingested (a poll that only
read the look-back again, or found the source leased to another instance, did no work)."""

from __future__ import annotations

from dataclasses import dataclass

from services.table_source import TablePoller


@dataclass(frozen=True, slots=True)
class Ingested:
    created: int
    updated: int
    unchanged: int
    rejected: int


async def run(poller: TablePoller) -> Ingested:
    result = await poller.poll()
    return Ingested(result.created, result.updated, result.unchanged, result.rejected)
