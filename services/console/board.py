"""The health board (订单流程健康度监控看板): every signal the health guard judges, with its
threshold, its value now and since when it stands, grouped by what it tells; each source's lag
per stage; and auto-routing's pause. Read in one read-only transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.registry import LABELS
from rules.freshness import StageLag, source_label, summarize
from rules.health import Reading, evaluate
from services.policy import Policy
from storage.db import begin_reading
from storage.health import (
    measure,
    pause_routing,
    readings_since,
    resume_routing,
    routing_changes,
    routing_pause,
    standings,
)
from storage.models import RoutingChange

# What each signal tells, in the board's order: a signal key's prefix (before ":") → panel.
PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("数据完整性", ("address_parse", "rejected", "silent")),
    ("接口连通性", ("dead_letters", "failing_chats", "watch")),
    ("规则命中率", ("default_route",)),
    ("数据时效", ("lag",)),
    ("消息积压", ("outbox_backlog",)),
)


RECENT_CHECKS = 6  # the values of a signal's last checks on the board
ROUTING_CHANGES = 10  # the pause's latest changes on the board


@dataclass(frozen=True)
class Point:
    """What a signal read at one check of the health guard."""

    at: datetime
    value: str
    failing: bool | None


@dataclass(frozen=True)
class Signal:
    reading: Reading
    since: datetime | None  # when its standing (failing or ok) last changed; None: never judged
    recent: tuple[Point, ...]  # the last checks' readings, newest first


@dataclass(frozen=True)
class Panel:
    title: str
    signals: tuple[Signal, ...]


@dataclass(frozen=True)
class SourceLags:
    """One source's lag per stage over the window, beside each stage's limit."""

    source: str
    label: str
    stages: tuple[tuple[StageLag, timedelta], ...]


@dataclass(frozen=True)
class Pause:
    mode: str  # auto | manual
    reason: str
    actor: str | None
    since: datetime


@dataclass(frozen=True)
class RoutingLog:
    at: datetime
    words: str  # 手动暂停 (ops-liu): 地址库升级, 自动恢复, …


@dataclass(frozen=True)
class Board:
    at: datetime
    window: timedelta
    panels: tuple[Panel, ...]
    lags: tuple[SourceLags, ...]
    pause: Pause | None
    routing_log: tuple[RoutingLog, ...]  # newest first

    @property
    def failing(self) -> int:
        return sum(1 for p in self.panels for s in p.signals if s.reading.failing)


def _panel_of(signal: str) -> str:
    prefix = signal.partition(":")[0]
    return next(title for title, keys in PANELS if prefix in keys)


async def health_board(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, now: datetime
) -> Board:
    limits = policy.config.health
    async with sessions() as session:
        await begin_reading(session)
        measured = await measure(session, now, limits.window, policy.calendar)
        stood = await standings(session)
        paused = await routing_pause(session)
        kept = await readings_since(session, now - (RECENT_CHECKS + 1) * limits.check_interval)
        changes = await routing_changes(session, ROUTING_CHANGES)
    recent: dict[str, list[Point]] = {}
    for row in kept:
        recent.setdefault(row.signal, []).append(Point(row.at, row.value, row.failing))
    readings = evaluate(measured, limits, now, channel_labels=LABELS)
    by_panel: dict[str, list[Signal]] = {title: [] for title, _ in PANELS}
    for reading in readings:
        state = stood.get(reading.signal)
        points = tuple(reversed(recent.get(reading.signal, [])[-RECENT_CHECKS:]))
        by_panel[_panel_of(reading.signal)].append(
            Signal(reading, None if state is None else state.since, points)
        )
    lags = tuple(
        SourceLags(
            source,
            source_label(source),
            tuple((lag, limits.lag_limit(source, lag.stage)) for lag in stages),
        )
        for source, stages in summarize(measured.lags).items()
    )
    pause = (
        None if paused is None else Pause(paused.mode, paused.reason, paused.actor, paused.since)
    )
    panels = tuple(Panel(title, tuple(by_panel[title])) for title, _ in PANELS)
    log = tuple(RoutingLog(change.at, _change_words(change)) for change in changes)
    return Board(now, limits.window, panels, lags, pause, log)


def _change_words(change: RoutingChange) -> str:
    how = "自动" if change.mode == "auto" else f"{change.actor} 手动"
    verb = "暂停" if change.change == "paused" else "恢复"
    return f"{how}{verb}" + (f": {change.reason}" if change.reason else "")


async def pause(
    sessions: async_sessionmaker[AsyncSession], user: str, reason: str, now: datetime
) -> None:
    """Pause auto-routing by hand, as 暂停分单 does: the guard does not lift it by itself."""
    async with sessions.begin() as session:
        await pause_routing(session, "manual", reason, user, now)


async def resume(sessions: async_sessionmaker[AsyncSession], user: str, now: datetime) -> bool:
    """Lift any pause, as 恢复分单 does; False when routing was not paused."""
    async with sessions.begin() as session:
        return await resume_routing(session, now, user)
