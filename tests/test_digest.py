"""Digests: a storm stays readable and complete within the message budget."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rules.digest import build_digest, summary
from rules.render import AlertFacts, ResolutionFacts

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")


def alert(n: int, *, level: int = 1, stage: str = "paid", late: int = 10) -> AlertFacts:
    return AlertFacts(
        ticket_id=n,
        order_no=f"TB{n:08d}",
        channel="taobao",
        stage=stage,
        amount_fen=12900 + n,
        region="上海市浦东新区",
        group_name="华东组",
        route_reason="命中规则「华东」: 省份=上海市",
        deadline_at=NOW - timedelta(minutes=late),
        level=level,
        owner=None,
        next_escalation_at=None,
    )


def test_one_notification_is_sent_in_full() -> None:
    digest = build_digest([alert(1)], NOW, TZ, limit_bytes=4096, budget=20, mention="<@zhang>")
    assert digest is not None and digest.attachment is None
    [text] = digest.texts
    assert "工单 #1" in text and "认领 1" in text and text.endswith("<@zhang>")


def test_a_burst_becomes_a_summary_then_compact_lines() -> None:
    items = [alert(n, late=n) for n in range(1, 31)] + [alert(31, level=2, stage="picking")]
    digest = build_digest(items, NOW, TZ, limit_bytes=4096, budget=20)
    assert digest is not None and digest.attachment is None
    text = "\n".join(digest.texts)
    assert text.startswith("⏰ 超时工单 31 张 (其中升级 1 张)")
    assert "阶段: 已付款待拣货 30, 仓库拣货中 1" in text
    assert "最早: #30 TB00000030 已超时 30分" in text
    assert all(f"TB{n:08d}" in text for n in range(1, 32))
    assert len(digest.texts) == 1 and len(digest.texts[0].encode()) <= 4096


def test_a_storm_beyond_the_budget_becomes_a_summary_and_a_file() -> None:
    items = [alert(n) for n in range(1, 5001)] + [
        ResolutionFacts(9999, "TB09999999", "picking", NOW - timedelta(hours=1), NOW)
    ]
    digest = build_digest(items, NOW, TZ, limit_bytes=4096, budget=3)
    assert digest is not None and digest.attachment is not None
    assert len(digest.texts) == 1 and "5000 张" in digest.texts[0]
    rows = list(csv.reader(io.StringIO(digest.attachment.decode("utf-8-sig"))))
    assert rows[0][:2] == ["工单", "订单号"]
    assert {row[1] for row in rows[1:]} == {f"TB{n:08d}" for n in range(1, 5001)} | {"TB09999999"}


def test_no_budget_means_wait_not_truncate() -> None:
    assert build_digest([alert(n) for n in range(200)], NOW, TZ, limit_bytes=2048, budget=1) is None
    assert (
        build_digest(
            [alert(n) for n in range(200)], NOW, TZ, limit_bytes=2048, budget=5, allow_file=False
        )
        is None
    )


def test_summary_counts_resolutions_apart() -> None:
    text = summary([alert(1), ResolutionFacts(2, "TB2", "shipped", NOW, NOW)], NOW)
    assert text.startswith("⏰ 超时工单 1 张 (已自动关闭 1 张)")
