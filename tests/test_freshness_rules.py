"""The freshness rules: lags counted in log-scale buckets give percentiles within 9%, which
reports are news to time, and a source's standing against its limits per stage."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from channels.registry import LABELS
from rules.freshness import bucket_of, is_news, percentile
from rules.health import Measurements, evaluate
from rules.stages import Stage
from services.config import ConfigError, HealthConfig, parse_config
from tests.support import config_data

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
PRECISION = 2 ** (1 / 8) - 1 + 1e-6  # half a bucket on the log scale, and a microsecond
S, M, H = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)


def buckets(*lags: tuple[timedelta, int]) -> dict[int, int]:
    counted: Counter[int] = Counter()
    for lag, records in lags:
        counted[bucket_of(lag)] += records
    return dict(counted)


@pytest.mark.parametrize(
    "lag", [1 * S, 7 * S, 59 * S, 3 * M + 12 * S, 29 * M, 61 * M, 5 * H, 3 * 24 * H]
)
def test_a_percentile_from_the_buckets_is_within_nine_percent(lag: timedelta) -> None:
    counted = buckets((lag, 100))
    for q in (0.01, 0.5, 0.95, 1.0):
        estimate = percentile(counted, q)
        assert estimate is not None
        assert abs(estimate / lag - 1) <= PRECISION, (q, estimate)


def test_percentiles_follow_the_distribution_not_its_mean() -> None:
    counted = buckets((10 * S, 90), (H, 10))
    p50, p95 = percentile(counted, 0.5), percentile(counted, 0.95)
    assert p50 is not None and abs(p50 / (10 * S) - 1) <= PRECISION
    assert p95 is not None and abs(p95 / H - 1) <= PRECISION
    assert percentile({}, 0.5) is None
    assert bucket_of(-5 * S) == 0  # a sender's clock a little ahead: no lag, not an error
    assert percentile(buckets((400 * 24 * H, 1)), 0.5) == timedelta(seconds=2**19.75)  # at least


T = NOW - H
NEW_STAGE_NEWS = [
    (None, Stage.PAID, True),  # a new order, paid
    (None, Stage.PENDING_PAYMENT, True),  # a new order, created
    (None, Stage.DELIVERED, False),  # not a timed stage
    ((Stage.PAID, T), Stage.PAID, False),  # sent again
    ((Stage.PICKING, T), Stage.PAID, False),  # old news: the order is past it
    ((Stage.PAID, T), Stage.PICKING, True),
    ((Stage.ON_HOLD, T), Stage.PAID, False),  # hold lifted; the platform's old pay time
    ((Stage.ON_HOLD, T - H), Stage.PICKING, True),  # picked after the hold
]


@pytest.mark.parametrize(("current", "stage", "news"), NEW_STAGE_NEWS)
def test_only_a_report_that_brings_an_order_into_a_timed_stage_is_news(
    current: tuple[Stage, datetime] | None, stage: Stage, news: bool
) -> None:
    assert is_news(current, stage, T - 10 * M if stage == Stage.PAID else T) is news


def lag_reading(lags: dict[tuple[str, str], dict[int, int]], limits: HealthConfig) -> object:
    readings = evaluate(Measurements(lags=lags), limits, NOW, channel_labels=LABELS)
    return {r.signal: (r.failing, r.value, r.threshold) for r in readings}["lag:wms"]


def test_a_source_is_behind_when_a_stage_p95_is_over_its_limit() -> None:
    limits = HealthConfig()
    on_time = {("wms", "picking"): buckets((10 * M, 20)), ("wms", "shipped"): buckets((M, 20))}
    read = "仓库接单 p95 9分18秒"  # 10 minutes, as its bucket's middle says
    assert lag_reading(on_time, limits) == (False, read, "仓库接单 ≤ 30分")

    late = on_time | {("wms", "shipped"): buckets((M, 18), (2 * H, 2))}  # 10% very late
    failing, value, threshold = lag_reading(late, limits)  # type: ignore[misc]
    assert failing is True and value.startswith("已发货 p95 ") and threshold == "已发货 ≤ 1小时"

    relaxed = HealthConfig.model_validate({"lag_max_by_source": {"wms": {"shipped": "3h"}}})
    assert lag_reading(late, relaxed)[0] is False  # type: ignore[index]

    few = {("wms", "picking"): buckets((H, 19))}
    assert lag_reading(few, limits) == (None, "样本不足 (19)", "p95 ≤ 各阶段阈值 (至少 20 个样本)")


@pytest.mark.parametrize(
    ("by_source", "expected"),
    [
        (
            {"wsm": {"picking": "45m"}},
            "health.lag_max_by_source.wsm: 未定义的来源 'wsm', 是否想写 wms?",
        ),
        ({"import": {"picking": "45m"}}, None),
        ({"wms": {"picked": "45m"}}, "health.lag_max_by_source.wms.picked"),
        ({"wms": {"picking": 45}}, "时长须带单位"),
    ],
    ids=["unknown-source", "file-import", "unknown-stage", "bare-number"],
)
def test_per_source_limits_name_a_known_source_and_stage(
    by_source: dict[str, object], expected: str | None
) -> None:
    data = config_data("sqlite+aiosqlite:///x.db") | {"health": {"lag_max_by_source": by_source}}
    if expected is None:
        assert parse_config(data).health.lag_limit("import", Stage.PICKING) == 45 * M
        return
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert expected in str(error.value)


def test_a_source_name_fits_the_signal_it_names() -> None:
    data = config_data("sqlite+aiosqlite:///x.db")
    data["sources"]["x" * 61] = {"token": "tok-long", "channels": ["shop"]}
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert f"sources.{'x' * 61}: 来源名最长 60 个字符" in str(error.value)
