"""How fresh each source's news is: the lag between when something happened (the record's own
time) and when orderbot heard of it, kept as counts in fixed log-scale buckets so that p50 and
p95 over a window come from a few rows per minute however many orders arrive. Pure.

A bucket covers a quarter of an octave (a factor of 2^¼ ≈ 1.19), and a percentile read from the
counts is its bucket's geometric middle, within 9% of the true one: the precision the judgement
and the screen have.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.durations import format_duration
from rules.stages import Stage, accepts_transition

# The seed's freshness table: the stages whose news is timed, by the words it uses for them.
LAG_STAGES: Mapping[Stage, str] = {
    Stage.PENDING_PAYMENT: "订单创建",
    Stage.PAID: "支付完成",
    Stage.PICKING: "仓库接单",
    Stage.SHIPPED: "已发货",
}
FILE_IMPORT = "import"  # the source name of `orderbot import` (a file is a source of its own)
SOURCE_NAME = 60  # characters: source_lag_counts.source, and "lag:<source>" as a health signal
_SOURCE_LABELS = {FILE_IMPORT: "文件导入"}

PER_OCTAVE = 4
TOP_BUCKET = 20 * PER_OCTAVE  # lags from 2^19.75 s (10 days) on share the last bucket

LagKey = tuple[str, str]  # (source, stage)
Buckets = Mapping[int, int]  # bucket -> records


def source_label(source: str) -> str:
    return _SOURCE_LABELS.get(source, source)


def bucket_of(lag: timedelta) -> int:
    """0 for less than a second (a record from a clock slightly ahead included); bucket k ≥ 1
    holds lags in [2^((k-1)/4), 2^(k/4)) seconds."""
    seconds = lag.total_seconds()
    if seconds < 1:
        return 0
    return min(math.floor(PER_OCTAVE * math.log2(seconds)) + 1, TOP_BUCKET)


def percentile(buckets: Buckets, q: float) -> timedelta | None:
    """The ``q`` quantile (0 < q ≤ 1) of the lags counted in ``buckets``: the geometric middle
    of the bucket that holds it, so at most a factor 2^⅛ (9%) from the true one; 0 in the first
    bucket (under a second), and the last bucket's lower end ("at least"). None when nothing
    was counted."""
    total = sum(buckets.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(buckets):
        seen += buckets[bucket]
        if seen >= rank:
            break
    if bucket == 0:
        return timedelta(0)
    low = 2 ** ((bucket - 1) / PER_OCTAVE)
    return timedelta(seconds=low if bucket == TOP_BUCKET else low * 2 ** (0.5 / PER_OCTAVE))


def is_news(current: tuple[Stage, datetime] | None, stage: Stage, at: datetime) -> bool:
    """Whether a report that the order is in ``stage`` since ``at`` is fresh news to time: it
    is one of the timed stages and brings the order into it (``current`` is the stage the order
    is in and since when; None for an order not seen before). A re-sent record moves nothing;
    nor is leaving a hold for a stage entered before the hold (the platform's old pay time)."""
    if stage not in LAG_STAGES:
        return False
    if current is None:
        return True
    before, since = current
    if before == Stage.ON_HOLD and at <= since:
        return False
    return accepts_transition(before, stage)


def tally(
    source: str, news: Iterable[tuple[Stage, datetime]], now: datetime
) -> Counter[tuple[str, str, int]]:
    """Records per (source, stage, lag bucket) of news heard ``now``: each (stage, its time)."""
    return Counter((source, stage.value, bucket_of(now - at)) for stage, at in news)


@dataclass(frozen=True, slots=True)
class StageLag:
    """One source's lag at one stage over the window."""

    stage: Stage
    samples: int
    p50: timedelta
    p95: timedelta

    @property
    def label(self) -> str:
        return LAG_STAGES[self.stage]


def summarize(counts: Mapping[LagKey, Buckets]) -> dict[str, list[StageLag]]:
    """Each source's lag per timed stage (in the table's order), from its bucket counts."""
    position = {stage.value: i for i, stage in enumerate(LAG_STAGES)}
    by_source: dict[str, list[StageLag]] = {}
    for (source, stage), buckets in sorted(counts.items(), key=lambda item: item[0][0]):
        p50, p95 = percentile(buckets, 0.5), percentile(buckets, 0.95)
        if p50 is not None and p95 is not None:
            lag = StageLag(Stage(stage), sum(buckets.values()), p50, p95)
            by_source.setdefault(source, []).append(lag)
    for lags in by_source.values():
        lags.sort(key=lambda lag: position[lag.stage.value])
    return by_source


@dataclass(frozen=True, slots=True)
class Judgement:
    """A source's standing: the stage that decides it (the worst against its limit among those
    with enough samples) and whether it is behind; ``failing`` None with too few samples."""

    worst: StageLag | None
    limit: timedelta | None
    failing: bool | None
    behind: int  # stages whose p95 is over their limit


def judge(
    lags: Iterable[StageLag], limit_of: Callable[[Stage], timedelta], min_samples: int
) -> Judgement:
    judged = [(lag, limit_of(lag.stage)) for lag in lags if lag.samples >= min_samples]
    if not judged:
        return Judgement(None, None, None, 0)
    worst, limit = max(judged, key=lambda pair: pair[0].p95 / pair[1])
    behind = sum(lag.p95 > limit for lag, limit in judged)
    return Judgement(worst, limit, behind > 0, behind)


def format_lag(lag: timedelta) -> str:
    """A lag in words to the second below an hour (``3分12秒``, ``45秒``), else as durations
    are (``1小时5分``)."""
    seconds = round(lag.total_seconds())
    if seconds >= 3600:
        return format_duration(timedelta(seconds=seconds))
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest}秒"
    return f"{minutes}分{rest}秒" if rest else f"{minutes}分"
