"""How fresh each source is: the lag from a stage's own time in a record or event to its arrival,
timed per source and stage over the window; `健康` and /metrics show it, and a source falling
behind tells ops once through WeCom, and once when it recovers. Time moves by a FakeClock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.keys import CLOCK, RULES, SESSIONS, WECOM
from jobs import deliver, health
from storage.db import make_engine, make_sessionmaker
from storage.models import SourceLagCount
from tests.chat import say
from tests.support import T0, FakeClock, auth, config_data, shop_order, stage_event
from tests.test_cli import no_crash, orderbot_here, summary, write_config, write_jsonl
from tests.test_endpoints import scrape
from tests.wecom_side import sandbox_records

M = timedelta(minutes=1)
_WORDS = re.compile(r"^(?:(\d+)小时)?(?:(\d+)分)?(?:(\d+)秒)?$")
PRECISION = 2 ** (1 / 8) - 1 + 1e-6  # half a quarter-octave bucket (rules.freshness)


def seconds(words: str) -> float:
    """``3分12秒`` → 192.0: a lag as the screen says it."""
    match = _WORDS.match(words)
    assert match and words, f"not a lag in words: {words!r}"
    hours, minutes, secs = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + secs


def near(value: float | None, expected: timedelta) -> bool:
    return value is not None and abs(value / expected.total_seconds() - 1) <= PRECISION


async def post_paid(client: TestClient, prefix: str, paid_at: datetime, count: int = 20) -> None:
    orders = [shop_order(f"{prefix}{n:03}", paid_at=paid_at) for n in range(count)]
    response = await client.post("/api/v1/orders/shop", json=orders, headers=auth("all"))
    assert response.status == 200, await response.text()


async def post_picking(
    client: TestClient, prefix: str, at: datetime, count: int = 20, *, ids: str = "wms"
) -> dict[str, object]:
    events = [stage_event(f"{prefix}{n:03}", "picking", at) for n in range(count)]
    for event in events:
        event["event_id"] = f"{ids}-{event['order_id']}"
    response = await client.post("/api/v1/events", json=events, headers=auth("wms"))
    assert response.status == 200, await response.text()
    body: dict[str, object] = await response.json()
    return body


async def lag_lines(client: TestClient, now: datetime) -> dict[str, tuple[float, float, str]]:
    """`健康`'s lag lines: "source stage" → (p50 s, p95 s, the rest of the line)."""
    screen = await say(client, "ops-liu", "健康", chat="direct", now=now)
    found = {}
    for line in screen.splitlines():
        if match := re.match(r"^· (\S+ \S+): (\S+) / (\S+) \((.+)\)$", line):
            what, p50, p95, rest = match.groups()
            found[what] = (seconds(p50), seconds(p95), rest)
    return found


async def test_lags_are_timed_from_the_records_own_times_and_resent_ones_are_not_counted(
    client: TestClient, clock: FakeClock
) -> None:
    await post_paid(client, "SH", paid_at=T0 - 3 * M)  # the ERP heard of each payment 3 min late
    clock.advance(20 * M)
    await post_picking(client, "SH", at=clock.now() - 12 * M)  # the WMS 12 min late

    lines = await lag_lines(client, clock.now())

    assert lines.keys() == {"erp 支付完成", "wms 仓库接单"}
    p50, p95, rest = lines["erp 支付完成"]
    assert near(p50, 3 * M) and near(p95, 3 * M) and rest == "阈值 5分, 20 条"
    p50, p95, rest = lines["wms 仓库接单"]
    assert near(p50, 12 * M) and near(p95, 12 * M) and rest == "阈值 30分, 20 条"
    screen = await say(client, "ops-liu", "健康", chat="direct", now=clock.now())
    assert re.search(
        r"✅ 来源 wms 数据时效: 仓库接单 p95 1[12]分\d+秒 \(阈值 仓库接单 ≤ 30分\)", screen
    )
    assert "数据时效 (近30分, 中位数 / p95):" in screen

    metrics = await scrape(client)
    lag = "orderbot_source_lag_seconds"
    assert near(metrics.value(lag, source="erp", stage="paid", quantile="0.5"), 3 * M)
    assert near(metrics.value(lag, source="wms", stage="picking", quantile="0.95"), 12 * M)
    assert metrics.value("orderbot_health_failing", signal="lag:wms") == 0

    # Sent again: the same records, the same events, and the same stage under new event ids.
    clock.advance(M)
    await post_paid(client, "SH", paid_at=T0 - 3 * M)
    again = await post_picking(client, "SH", at=clock.now() - 13 * M)
    assert again["unchanged"] == 20
    renamed = await post_picking(client, "SH", at=clock.now() - 13 * M, ids="wms2")
    assert renamed["unchanged"] == 20

    lines = await lag_lines(client, clock.now())
    assert lines["erp 支付完成"][2] == "阈值 5分, 20 条"
    assert lines["wms 仓库接单"][2] == "阈值 30分, 20 条"


async def test_a_source_falling_behind_tells_ops_once_and_once_when_it_recovers(
    bot: TestClient, sandbox: TestServer
) -> None:
    clock = bot.app[CLOCK]
    assert isinstance(clock, FakeClock)
    start = clock.now()

    async def judge_and_send() -> health.HealthResult:
        result = await health.run(bot.app[SESSIONS], bot.app[RULES].current(), clock.now())
        clock.advance(timedelta(seconds=15))  # past the chat's group wait
        await deliver.run(bot.app[SESSIONS], bot.app[RULES].current(), bot.app[WECOM], clock, "t")
        return result

    async def told_ops() -> list[str]:
        records = await sandbox_records(sandbox)
        return [
            r["content"]
            for r in records
            if r["direction"] == "out" and "ops-liu" in r["users"] and "数据时效" in r["content"]
        ]

    await post_paid(bot, "SH", paid_at=start - M)
    clock.advance(50 * M)
    await post_picking(bot, "SH", at=start + 5 * M)  # picked 45 minutes ago; limit 30 min

    behind = await judge_and_send()

    assert behind.started == ["lag:wms"]
    assert behind.routing is None  # late data does not make routing wrong: it keeps routing
    [alert] = await told_ops()
    assert re.fullmatch(
        r"⚠️ 健康告警: 来源 wms 数据时效 仓库接单 p95 4\d分\d+秒 \(阈值 仓库接单 ≤ 30分\)", alert
    ), alert

    clock.advance(5 * M)
    still = await judge_and_send()
    assert still.started == [] and still.ended == []
    assert await told_ops() == [alert]

    clock.advance(30 * M)  # the late minutes leave the window; a timely WMS again
    await post_paid(bot, "NEW", paid_at=clock.now() - M)
    await post_picking(bot, "NEW", at=clock.now() - 2 * M)

    recovered = await judge_and_send()

    assert recovered.ended == ["lag:wms"]
    told = await told_ops()
    assert told[0] == alert and len(told) == 2
    assert re.fullmatch(r"✅ 已恢复: 来源 wms 数据时效 仓库接单 p95 [12]分\d+秒", told[1]), told[1]


async def _lag_records(url: str, source: str) -> int:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            total = await session.scalar(
                select(func.coalesce(func.sum(SourceLagCount.records), 0)).where(
                    SourceLagCount.source == source
                )
            )
            return int(total or 0)
    finally:
        await engine.dispose()


async def test_a_file_import_is_a_source_of_its_own_and_a_backfill_is_not_timed(
    tmp_path: Path, database_url: str
) -> None:

    config_file = write_config(tmp_path / "orderbot.toml", config_data(database_url))
    paid = datetime.now(UTC) - 2 * M
    fresh = write_jsonl(
        tmp_path / "today.jsonl", [shop_order(f"F{n}", paid_at=paid) for n in range(3)]
    )
    history = write_jsonl(
        tmp_path / "old.jsonl", [shop_order(f"H{n}", paid_at=paid) for n in range(4)]
    )

    imported = orderbot_here("import", fresh, "--channel", "shop", "-c", config_file, cwd=tmp_path)
    no_crash(imported)
    assert summary(imported)[:2] == (3, 0)
    assert await _lag_records(database_url, "import") == 3

    args = ("import", history, "--channel", "shop", "--backfill", "-c", config_file)
    backfilled = orderbot_here(*args, cwd=tmp_path)
    no_crash(backfilled)
    assert summary(backfilled)[:2] == (4, 0)
    assert await _lag_records(database_url, "import") == 3
