"""Storage of the health guard: per-minute ingest counts, job heartbeats, signal standings, the
routing pause, and the measurements the guard judges."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TypedDict

from sqlalchemy import Integer, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from rules.freshness import Buckets, LagKey
from rules.health import Measurements
from rules.routing import DEFAULT_RULE
from rules.sla_clock import WorkCalendar
from storage.bulk import select_rows
from storage.conflicts import dialect_insert
from storage.db import dialect_name, rows_matched
from storage.models import (
    DeliveryTarget,
    HealthReading,
    HealthState,
    IngestCount,
    JobHeartbeat,
    OutboxMessage,
    RoutingChange,
    RoutingPause,
    SourceLagCount,
    Ticket,
)

FAILING_ATTEMPTS = 3  # a chat whose sends failed this many times in a row counts as failing
USUAL_DAYS, USUAL_MIN = 7, 4  # "usually sends": orders on 4 of the last 7 working days
KEEP_COUNTS = timedelta(days=30)
KEEP_LAGS = timedelta(days=1)  # only the window is read; a day leaves room to widen it
KEEP_READINGS = timedelta(days=1)  # the board shows the last few checks
KEEP_ROUTING_CHANGES = timedelta(days=30)
VALUE_CHARS = 64  # health_state.value, health_readings.value


async def serialize(session: AsyncSession, job: str) -> None:
    """Hold a lock on ``job`` until the transaction ends, so instances take turns. SQLite's
    transactions are serial already (BEGIN IMMEDIATE, see storage.db)."""
    if dialect_name(session) == "postgresql":
        key = int.from_bytes(hashlib.sha1(job.encode()).digest()[:8], "big", signed=True)
        await session.execute(select(func.pg_advisory_xact_lock(key)))


class IngestCounts(TypedDict):
    """What the health guard counts of one channel's batch."""

    channel: str
    accepted: int
    rejected: int
    address_parsed: int
    address_failed: int


async def count_ingest(
    session: AsyncSession, minute: datetime, rows: Sequence[IngestCounts]
) -> None:
    """Add one batch's counts (a row per channel) to its minute."""
    if not rows:
        return
    statement = dialect_insert(session, IngestCount)
    counts = ("accepted", "rejected", "address_parsed", "address_failed")
    statement = statement.on_conflict_do_update(
        index_elements=["minute", "channel"],
        set_={c: getattr(IngestCount, c) + statement.excluded[c] for c in counts},
    )
    await session.execute(statement, [{"minute": minute} | row for row in rows])


LagCounts = Mapping[tuple[str, str, int], int]  # (source, stage, bucket): records


async def count_lags(session: AsyncSession, minute: datetime, counts: LagCounts) -> None:
    """Add a batch's lags, records per (source, stage, lag bucket), to its minute."""
    if not counts:
        return
    statement = dialect_insert(session, SourceLagCount)
    statement = statement.on_conflict_do_update(
        index_elements=["minute", "source", "stage", "bucket"],
        set_={"records": SourceLagCount.records + statement.excluded.records},
    )
    rows = [
        {"minute": minute, "source": source, "stage": stage, "bucket": bucket, "records": n}
        for (source, stage, bucket), n in sorted(counts.items())  # one lock order for all
    ]
    await session.execute(statement, rows)


async def lags_since(session: AsyncSession, since: datetime) -> dict[LagKey, Buckets]:
    """Records per lag bucket by source and stage, from ``since`` on."""
    rows = await session.execute(
        select(
            SourceLagCount.source,
            SourceLagCount.stage,
            SourceLagCount.bucket,
            func.sum(SourceLagCount.records),
        )
        .where(SourceLagCount.minute >= since)
        .group_by(SourceLagCount.source, SourceLagCount.stage, SourceLagCount.bucket)
    )
    lags: dict[LagKey, dict[int, int]] = {}
    for source, stage, bucket, records in rows:
        lags.setdefault((source, stage), {})[bucket] = int(records)
    return dict(lags)


async def beat(session: AsyncSession, job: str, instance: str, now: datetime) -> None:
    """Record a successful run of ``job``."""
    statement = dialect_insert(session, JobHeartbeat)
    statement = statement.on_conflict_do_update(
        index_elements=["job"], set_={"instance": instance, "succeeded_at": now}
    )
    await session.execute(statement, [{"job": job, "instance": instance, "succeeded_at": now}])


async def last_success(session: AsyncSession, job: str) -> datetime | None:
    return await session.scalar(select(JobHeartbeat.succeeded_at).where(JobHeartbeat.job == job))


async def measure(
    session: AsyncSession, now: datetime, window: timedelta, calendar: WorkCalendar
) -> Measurements:
    since = now - window
    per_channel = (
        await session.execute(
            select(
                IngestCount.channel,
                func.sum(IngestCount.accepted),
                func.sum(IngestCount.rejected),
                func.sum(IngestCount.address_parsed),
                func.sum(IngestCount.address_failed),
            )
            .where(IngestCount.minute >= since)
            .group_by(IngestCount.channel)
        )
    ).all()
    last_orders = await session.execute(
        select(IngestCount.channel, func.max(IngestCount.minute))
        .where(IngestCount.accepted > 0)
        .group_by(IngestCount.channel)
    )
    opened, default_routed = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum((Ticket.route_rule == DEFAULT_RULE).cast(Integer)), 0),
            ).where(Ticket.opened_at >= since)
        )
    ).one()
    dead = await session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status == "dead", OutboxMessage.created_at >= since)
    )
    failing_chats = await session.scalar(
        select(func.count())
        .select_from(DeliveryTarget)
        .where(DeliveryTarget.attempts >= FAILING_ATTEMPTS)
    )
    oldest_pending = await session.scalar(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == "pending")
    )
    return Measurements(
        address_parsed=sum(int(row[3] or 0) for row in per_channel),
        address_failed=sum(int(row[4] or 0) for row in per_channel),
        tickets_opened=opened,
        tickets_default_routed=int(default_routed),
        accepted={row[0]: int(row[1] or 0) for row in per_channel},
        rejected={row[0]: int(row[2] or 0) for row in per_channel},
        last_order_at={channel: at for channel, at in last_orders},
        usual_channels=await _usual_channels(session, now, calendar),
        business_hours=calendar.in_business_hours(now),
        dead_letters=dead or 0,
        failing_chats=failing_chats or 0,
        oldest_pending_at=oldest_pending,
        watch_succeeded_at=await last_success(session, "watch"),
        lags=await lags_since(session, since),
    )


async def _usual_channels(
    session: AsyncSession, now: datetime, calendar: WorkCalendar
) -> frozenset[str]:
    """Channels that sent orders on most of the recent working days."""
    tz = calendar.hours.timezone
    today = now.astimezone(tz).date()
    seen: dict[str, int] = {}
    for day in calendar.recent_working_days(today, USUAL_DAYS):
        start = datetime.combine(day, datetime.min.time(), tz)
        channels = await session.scalars(
            select(IngestCount.channel)
            .distinct()
            .where(
                IngestCount.minute >= start,
                IngestCount.minute < start + timedelta(days=1),
                IngestCount.accepted > 0,
            )
        )
        for channel in channels:
            seen[channel] = seen.get(channel, 0) + 1
    return frozenset(channel for channel, days in seen.items() if days >= USUAL_MIN)


async def prune_counts(session: AsyncSession, now: datetime, window: timedelta) -> None:
    await session.execute(delete(IngestCount).where(IngestCount.minute < now - KEEP_COUNTS))
    keep_lags = max(KEEP_LAGS, window)
    await session.execute(delete(SourceLagCount).where(SourceLagCount.minute < now - keep_lags))
    await session.execute(delete(HealthReading).where(HealthReading.at < now - KEEP_READINGS))
    await session.execute(
        delete(RoutingChange).where(RoutingChange.at < now - KEEP_ROUTING_CHANGES)
    )


async def record_readings(
    session: AsyncSession, readings: Iterable[tuple[str, bool | None, str]], now: datetime
) -> None:
    """Keep one check's (signal, failing, value) readings."""
    rows = [
        {"at": now, "signal": signal, "failing": failing, "value": value[:VALUE_CHARS]}
        for signal, failing, value in readings
    ]
    if rows:
        await session.execute(insert(HealthReading), rows)


async def readings_since(session: AsyncSession, since: datetime) -> list[HealthReading]:
    """The readings kept from ``since`` on, oldest first."""
    query = select(HealthReading).where(HealthReading.at >= since)
    return list(await session.scalars(query.order_by(HealthReading.at, HealthReading.id)))


async def routing_changes(session: AsyncSession, limit: int) -> list[RoutingChange]:
    """The latest pauses and resumptions of auto-routing, newest first."""
    query = select(RoutingChange).order_by(RoutingChange.at.desc(), RoutingChange.id.desc())
    return list(await session.scalars(query.limit(limit)))


async def failing_signals(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(HealthState.signal).where(HealthState.failing)))


async def set_standings(
    session: AsyncSession, changes: Iterable[tuple[str, bool, str]], now: datetime
) -> None:
    """Record (signal, failing, value) standings that changed, since ``now``."""
    rows = [{"signal": s, "failing": f, "since": now, "value": v} for s, f, v in changes]
    if rows:
        statement = dialect_insert(session, HealthState)
        statement = statement.on_conflict_do_update(
            index_elements=["signal"],
            set_={c: statement.excluded[c] for c in ("failing", "since", "value")},
        )
        await session.execute(statement, rows)


async def routing_pause(session: AsyncSession) -> RoutingPause | None:
    return await session.get(RoutingPause, 1)


_PAUSE_REASON = select(RoutingPause.reason).where(RoutingPause.id == 1)


async def routing_paused_reason(session: AsyncSession) -> str | None:
    """Why routing is paused, None while it is not: one plain read, for each watch batch."""
    rows = await select_rows(session, _PAUSE_REASON, {})
    return rows[0][0] if rows else None


async def pause_routing(
    session: AsyncSession, mode: str, reason: str, actor: str | None, now: datetime
) -> None:
    statement = dialect_insert(session, RoutingPause)
    values = {"mode": mode, "reason": reason, "actor": actor, "since": now}
    statement = statement.on_conflict_do_update(index_elements=["id"], set_=values)
    await session.execute(statement, [{"id": 1} | values])
    await session.execute(insert(RoutingChange), [{"at": now, "change": "paused"} | values])


async def resume_routing(session: AsyncSession, now: datetime, actor: str | None = None) -> bool:
    """Lift the pause (``actor`` None: the guard, on recovery); False when routing was not
    paused."""
    lifted = rows_matched(await session.execute(delete(RoutingPause).where(RoutingPause.id == 1)))
    if lifted:
        change = {"at": now, "change": "resumed", "actor": actor, "reason": None}
        await session.execute(
            insert(RoutingChange), [change | {"mode": "auto" if actor is None else "manual"}]
        )
    return lifted == 1


async def standings(session: AsyncSession) -> dict[str, HealthState]:
    """Every signal's standing as the guard last changed it: failing or ok, since when."""
    return {row.signal: row for row in await session.scalars(select(HealthState))}
