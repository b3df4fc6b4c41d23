"""Polling a table source (``kind = "table"``): rows after the stored cursor, in cursor order,
mapped to the channel's records and ingested exactly as the HTTP API ingests them.

Where a poll starts: at the cursor as it stood ``look_back`` ago (the newest mark made before
then), not at the newest. A writer's transaction that took its id (or updated-at) before that
moment and commits late, within the look-back, is read by the next poll: a cursor value newer
than its own was first read after it was taken. The rows of the look-back are read again every
poll, but a row whose cursor this instance has already ingested is skipped before the ingest, so
a re-read costs a page of the other database and no write here.

The cursor is stored right after the ingest's own transaction, not in it: the ingest is
idempotent, so a crash between the two reads those rows again and changes nothing, while the
Ingestor stays the one path every source shares.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.table.reader import SourceRow, TableReader
from adapters.table.records import RecordMaker
from services.clock import Clock
from services.config import Config, SourceConfig
from services.ingest import Ingestor
from storage.migrate import migrated_sessions
from storage.table_sources import (
    Cursor,
    RejectedRow,
    add_mark,
    forget_marks,
    latest_mark,
    reading_start,
    record_rejections,
    refused_row_ids,
    rejected_rows,
    take_lease,
)

logger = logging.getLogger(__name__)

MIN_LEASE = timedelta(seconds=30)
Page = tuple[datetime, list[SourceRow]]  # when its read began, and its rows


def lease_length(source: SourceConfig) -> timedelta:
    """How long a poller holds its source between polls: three intervals, so that the one that
    polls keeps polling (and its memory of rows seen), and a stopped one is replaced soon."""
    return max(source.poll_interval * 3, MIN_LEASE)


@dataclass
class _Run:
    """What one poll keeps track of between pages."""

    top: Cursor | None  # the newest mark
    lease_until: datetime
    refused: set[int]  # the rows on record as refused


@dataclass
class PollResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    looked_back: int = 0  # rows read again within the look-back, already ingested: skipped
    held_by: str | None = None  # another instance polls the source now; this one did nothing
    failed: str | None = None  # the other database could not be read


class TablePoller:
    """One table source, polled by this instance while it holds the source's lease."""

    def __init__(
        self,
        name: str,
        source: SourceConfig,
        reader: TableReader,
        ingestor: Ingestor,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        owner: str,
    ) -> None:
        assert source.channel is not None
        self.name, self._source, self._channel = name, source, source.channel
        self._reader, self._ingestor, self._sessions = reader, ingestor, sessions
        self._clock, self._owner = clock, owner
        self._seen: set[Cursor] = set()  # rows ingested within the look-back, by cursor
        self._record_of = RecordMaker(source.columns, source.channel)

    @property
    def interval(self) -> timedelta:
        return self._source.poll_interval

    async def close(self) -> None:
        await self._reader.close()

    async def poll(self) -> PollResult:
        """Read and ingest every row after the look-back's mark, page by page."""
        result = PollResult()
        now = self._clock.now()
        lease = lease_length(self._source)
        async with self._sessions.begin() as session:
            result.held_by = await take_lease(session, self.name, self._owner, now, now + lease)
            if result.held_by is not None:
                return result
            start = await reading_start(session, self.name, now - self._source.look_back)
            await forget_marks(session, self.name, now - self._source.look_back)
            run = _Run(
                await latest_mark(session, self.name),
                now + lease,
                await refused_row_ids(session, self.name),
            )
        self._seen = {cursor for cursor in self._seen if start is None or cursor > start}
        reading: asyncio.Task[Page] | None = asyncio.create_task(self._page(start))
        try:
            while reading is not None:
                try:
                    read_at, rows = await reading
                except (SQLAlchemyError, OSError) as error:
                    result.failed = str(error).splitlines()[0]
                    logger.warning("表来源 %s 读取失败: %s", self.name, result.failed)
                    return result
                # The next page is read while this one is ingested.
                full = len(rows) == self._source.batch_size
                reading = asyncio.create_task(self._page(rows[-1].cursor)) if full else None
                await self._take(rows, read_at, run, result)
                if result.held_by is not None:
                    return result
        finally:
            if reading is not None:
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
        return result

    async def _page(self, after: Cursor | None) -> Page:
        """The next page after ``after``, with when its read began (what a mark records)."""
        read_at = self._clock.now()
        return read_at, await self._reader.page(after, self._source.batch_size)

    async def _take(
        self, rows: list[SourceRow], read_at: datetime, run: _Run, result: PollResult
    ) -> None:
        """Ingest a page's rows not taken before; then, when there is any, note the refused
        rows and those refused no more, the cursor if it moved, and renew the lease once half
        of it has gone by. A page of the look-back read again writes nothing."""
        fresh = [row for row in rows if row.cursor not in self._seen]
        result.looked_back += len(rows) - len(fresh)
        rejected, accepted = await self._ingest(fresh, result)
        mended = [row_id for row_id in accepted if row_id in run.refused]
        moved = bool(rows) and (run.top is None or rows[-1].cursor > run.top)
        lease = lease_length(self._source)
        renew = read_at + lease / 2 > run.lease_until
        if rejected or mended or moved or renew:
            async with self._sessions.begin() as session:
                if rejected or mended:
                    await record_rejections(session, self.name, rejected, mended, read_at)
                if moved:
                    run.top = rows[-1].cursor
                    await add_mark(session, self.name, run.top, read_at)
                if renew:
                    run.lease_until = read_at + lease
                    result.held_by = await take_lease(
                        session, self.name, self._owner, read_at, run.lease_until
                    )
        run.refused.difference_update(mended)
        run.refused.update(row_id for row_id, _ in rejected)
        self._seen.update(row.cursor for row in fresh)

    async def _ingest(
        self, rows: list[SourceRow], result: PollResult
    ) -> tuple[list[tuple[int, str]], list[int]]:
        """Ingest the rows; the refused ones (row id, reason) and the accepted ones' ids. Rows
        naming an order an earlier row of the page names (a table that gets a row per change)
        go in the next round, so that the newest version is the one that stays."""
        rejected: list[tuple[int, str]] = []
        accepted: list[int] = []
        pending = rows
        while pending:
            records = [self._record_of(row.values) for row in pending]
            now = self._clock.now()
            report = await self._ingestor.orders(self._channel, records, now, source=self.name)
            result.created += report.created
            result.updated += report.updated
            result.unchanged += report.unchanged
            later = {r.index for r in report.rejected if r.duplicate_of is not None}
            refused = {r.index: r.reason for r in report.rejected if r.duplicate_of is None}
            rejected += [(pending[i].cursor.id, reason) for i, reason in refused.items()]
            accepted += [
                row.cursor.id
                for i, row in enumerate(pending)
                if i not in later and i not in refused
            ]
            pending = [pending[i] for i in sorted(later)]
        result.rejected += len(rejected)
        return rejected, accepted


async def rejections(config: Config, source: str, limit: int) -> list[RejectedRow]:
    """The rows of a table source the ingest refused, the newest first (``orderbot
    table-rejected``)."""
    async with migrated_sessions(config.database.url) as sessions, sessions() as session:
        return await rejected_rows(session, source, limit)
