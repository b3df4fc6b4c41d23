"""The health guard's judgement: raw measurements in, one reading per signal out, and which
incidents start or end. Pure; storage supplies the measurements, a job acts on the result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from rules.durations import format_duration
from rules.freshness import (
    Buckets,
    LagKey,
    StageLag,
    format_lag,
    judge,
    source_label,
    summarize,
)
from rules.stages import Stage

ADDRESS_PARSE = "address_parse"


class HealthLimits(Protocol):
    @property
    def window(self) -> timedelta: ...
    @property
    def address_parse_min(self) -> float: ...
    @property
    def address_min_samples(self) -> int: ...
    @property
    def default_route_max(self) -> float: ...
    @property
    def default_route_min_samples(self) -> int: ...
    @property
    def rejected_max(self) -> float: ...
    @property
    def rejected_min_samples(self) -> int: ...
    @property
    def channel_silence(self) -> timedelta: ...
    @property
    def dead_letters_max(self) -> int: ...
    @property
    def outbox_backlog_max(self) -> timedelta: ...
    @property
    def watch_stale_after(self) -> timedelta: ...
    @property
    def lag_min_samples(self) -> int: ...
    def lag_limit(self, source: str, stage: Stage) -> timedelta: ...


@dataclass(frozen=True)
class Measurements:
    """Counts over the window (and a few instants) as storage reports them."""

    address_parsed: int = 0
    address_failed: int = 0
    tickets_opened: int = 0
    tickets_default_routed: int = 0
    accepted: Mapping[str, int] = field(default_factory=dict)  # by channel
    rejected: Mapping[str, int] = field(default_factory=dict)
    last_order_at: Mapping[str, datetime] = field(default_factory=dict)
    usual_channels: frozenset[str] = frozenset()  # sent orders on most recent working days
    business_hours: bool = False
    dead_letters: int = 0
    failing_chats: int = 0  # chats whose sends keep failing (in retry backoff)
    oldest_pending_at: datetime | None = None
    watch_succeeded_at: datetime | None = None
    lags: Mapping[LagKey, Buckets] = field(default_factory=dict)  # (source, stage): counts


@dataclass(frozen=True)
class Reading:
    signal: str  # stable key, e.g. "address_parse", "rejected:jd"
    label: str
    value: str
    threshold: str
    failing: bool | None  # None: too little data to judge


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.0%} ({part}/{whole})"


def _share(
    signal: str, label: str, part: int, whole: int, *, limit: float, minimum: int, below: bool
) -> Reading:
    """A share judged once there are ``minimum`` samples: failing below (or above) ``limit``."""
    threshold = f"{'≥' if below else '≤'} {limit:.0%} (至少 {minimum} 个样本)"
    if whole < minimum:
        return Reading(signal, label, f"样本不足 ({whole})", threshold, None)
    share = part / whole
    failing = share < limit if below else share > limit
    return Reading(signal, label, _percent(part, whole), threshold, failing)


def _age(
    signal: str,
    label: str,
    since: datetime | None,
    limit: timedelta,
    now: datetime,
    *,
    if_never: bool | None,
) -> Reading:
    """How long ago ``since`` was, failing past ``limit``; ``if_never`` judges no moment."""
    threshold = f"≤ {format_duration(limit)}"
    if since is None:
        return Reading(signal, label, "无", threshold, if_never)
    age = max(now - since, timedelta(0))
    return Reading(signal, label, format_duration(age), threshold, age > limit)


def evaluate(
    m: Measurements, limits: HealthLimits, now: datetime, *, channel_labels: Mapping[str, str]
) -> list[Reading]:
    """Every signal's reading, in the order the health screen lists them; a channel's signals
    are named by what people call it (``channel_labels``, 抖店 rather than douyin)."""
    readings = [
        _share(
            ADDRESS_PARSE,
            "地址解析成功率",
            m.address_parsed,
            m.address_parsed + m.address_failed,
            limit=limits.address_parse_min,
            minimum=limits.address_min_samples,
            below=True,
        ),
        _share(
            "default_route",
            "仅靠默认规则分单的工单占比",
            m.tickets_default_routed,
            m.tickets_opened,
            limit=limits.default_route_max,
            minimum=limits.default_route_min_samples,
            below=False,
        ),
    ]
    for channel in sorted(m.accepted.keys() | m.rejected.keys()):
        rejected = m.rejected.get(channel, 0)
        readings.append(
            _share(
                f"rejected:{channel}",
                f"{channel_labels.get(channel, channel)} 被拒订单占比",
                rejected,
                rejected + m.accepted.get(channel, 0),
                limit=limits.rejected_max,
                minimum=limits.rejected_min_samples,
                below=False,
            )
        )
    silence = f"工作时间内 ≤ {format_duration(limits.channel_silence)}"
    for channel in sorted(m.usual_channels):
        last = m.last_order_at.get(channel)
        quiet = now - last if last else None
        value = format_duration(quiet) if quiet is not None else "近期无订单"
        failing = m.business_hours and (quiet is None or quiet > limits.channel_silence)
        readings.append(
            Reading(
                f"silent:{channel}",
                f"{channel_labels.get(channel, channel)} 未来单时长",
                value,
                silence,
                failing,
            )
        )
    readings += [_freshness(source, lags, limits) for source, lags in summarize(m.lags).items()]
    readings += [
        Reading(
            "dead_letters",
            "无法送达的消息 (死信)",
            str(m.dead_letters),
            f"≤ {limits.dead_letters_max}",
            m.dead_letters > limits.dead_letters_max,
        ),
        Reading(
            "failing_chats", "投递持续失败的会话", str(m.failing_chats), "0", m.failing_chats > 0
        ),
        _age(
            "outbox_backlog",
            "待发消息最长等待",
            m.oldest_pending_at,
            limits.outbox_backlog_max,
            now,
            if_never=False,  # nothing waiting
        ),
        _age(
            "watch",
            "距上次超时巡检",
            m.watch_succeeded_at,
            limits.watch_stale_after,
            now,
            if_never=None,  # not run yet since the database was created
        ),
    ]
    return readings


def _freshness(source: str, lags: list[StageLag], limits: HealthLimits) -> Reading:
    """A source's lag, named by the stage that decides it: the worst against its limit (p95
    over the window), failing when any stage is over."""
    label = f"来源 {source_label(source)} 数据时效"
    standing = judge(lags, lambda stage: limits.lag_limit(source, stage), limits.lag_min_samples)
    if standing.worst is None or standing.limit is None:
        most = max(lag.samples for lag in lags)
        threshold = f"p95 ≤ 各阶段阈值 (至少 {limits.lag_min_samples} 个样本)"
        return Reading(f"lag:{source}", label, f"样本不足 ({most})", threshold, None)
    worst = standing.worst
    value = f"{worst.label} p95 {format_lag(worst.p95)}"
    if standing.behind > 1:
        value += f" 等 {standing.behind} 个阶段"
    threshold = f"{worst.label} ≤ {format_lag(standing.limit)}"
    return Reading(f"lag:{source}", label, value, threshold, standing.failing)


@dataclass(frozen=True)
class Changes:
    started: list[Reading]
    ended: list[Reading]


def changes(previously_failing: Iterable[str], readings: Iterable[Reading]) -> Changes:
    """Incidents that start now (failing, not before) and end now (failing before, judged ok
    now); a signal without enough data keeps its standing."""
    before = set(previously_failing)
    started, ended = [], []
    for reading in readings:
        if reading.failing and reading.signal not in before:
            started.append(reading)
        elif reading.failing is False and reading.signal in before:
            ended.append(reading)
    return Changes(started, ended)
