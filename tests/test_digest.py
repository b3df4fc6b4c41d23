"""Digests: a storm stays readable and complete within the message budget."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rules.digest import build_digest, summary, ticket_line, to_csv
from rules.kinds import Kind
from rules.render import AlertFacts, ResolutionFacts, render_resolution

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")


def alert(n: int, *, level: int = 1, stage: str = "paid", late: int = 10) -> AlertFacts:
    return AlertFacts(
        ticket_id=n,
        order_no=f"TB{n:08d}",
        channel_label="淘宝/天猫",
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


def test_a_digest_of_closures_alone_does_not_speak_of_overdue_tickets() -> None:
    closures = [ResolutionFacts(n, f"TB{n}", "picking", NOW, NOW) for n in (1, 2)]
    assert summary(closures, NOW) == "✅ 已自动关闭工单 2 张"


def test_a_ticket_shows_once_and_counts_are_of_distinct_tickets() -> None:
    reminder = replace(alert(1), reminder=True)
    items = [alert(1), reminder, alert(2, level=2), alert(2, level=3), alert(3)]
    digest = build_digest(items, NOW, TZ, limit_bytes=4096, budget=20)
    assert digest is not None
    [part] = digest.parts
    text = part.text or ""
    assert text.startswith("⏰ 超时工单 3 张 (其中升级 1 张)")
    lines = [line for line in text.split("\n") if not line.startswith("最早")]
    assert [sum(f"TB{n:08d}" in line for line in lines) for n in (1, 2, 3)] == [1, 1, 1]
    assert "[提醒]" not in text  # the alert speaks for the ticket, not its reminder
    assert sorted(part.covers) == [0, 1, 2, 3, 4]  # every notification is delivered with it


def test_one_ticket_with_two_notifications_is_one_full_alert() -> None:
    digest = build_digest(
        [alert(7), replace(alert(7), reminder=True)], NOW, TZ, limit_bytes=4096, budget=20
    )
    assert digest is not None
    [part] = digest.parts
    assert "工单 #7" in (part.text or "") and sorted(part.covers) == [0, 1]


def test_a_digest_in_several_messages_says_the_total_once() -> None:
    items = [alert(n) for n in range(1, 101)]
    digest = build_digest(items, NOW, TZ, limit_bytes=2048, budget=30)
    assert digest is not None and digest.attachment is None
    texts = digest.texts
    assert len(texts) > 1 and all(len(t.encode()) <= 2048 for t in texts)
    assert texts[0].startswith("⏰ 超时工单 100 张")
    assert f"共 100 张, 分 {len(texts)} 条发送" in texts[0]
    assert not any("超时工单" in t or "共 100 张" in t for t in texts[1:])
    # Each message delivers the tickets on its lines, each ticket exactly once.
    covered = [i for part in digest.parts for i in part.covers]
    assert sorted(covered) == list(range(100))
    for part in digest.parts:
        assert all(f"TB{n + 1:08d}" in (part.text or "") for n in part.covers)


def test_a_file_delivers_every_ticket_and_its_summary_none() -> None:
    digest = build_digest([alert(n) for n in range(1, 1001)], NOW, TZ, limit_bytes=2048, budget=3)
    assert digest is not None and digest.attachment is not None
    *notes, attached = digest.parts
    assert all(note.covers == () for note in notes)
    assert attached.text is None and sorted(attached.covers) == list(range(1000))


def test_while_routing_is_paused_the_summary_says_why() -> None:
    reason = "自动分单已暂停 (地址解析成功率 26% 低于 95%), 转入分拣组待人工分派"
    paused = [replace(alert(n), route_reason=reason, routing_paused=True) for n in (1, 2)]
    text = summary([*paused, alert(3)], NOW)
    assert f"⚠️ {reason}: 2 张" in text.split("\n")
    assert "暂停" not in summary([alert(3)], NOW)


def test_escalations_and_fresh_alerts_read_as_people_count_them_in_summary_and_file() -> None:
    items = [alert(n) for n in range(1, 100)] + [alert(100, level=2), alert(101, late=0)]
    digest = build_digest(items, NOW, TZ, limit_bytes=2048, budget=2)
    assert digest is not None and digest.attachment is not None
    rows = list(csv.reader(io.StringIO(digest.attachment.decode("utf-8-sig"))))
    state = rows[0].index("状态")
    by_ticket = {row[0]: row[state] for row in rows[1:]}
    assert by_ticket["1"] == "告警" and by_ticket["100"] == "第1次升级"
    assert "级" not in "".join(by_ticket.values()).replace("升级", "")
    assert "最早: #101 TB00000101 刚刚超时" in summary([alert(101, late=0)], NOW)


def test_tickets_of_other_kinds_are_counted_by_kind_and_never_called_overdue() -> None:
    payment = replace(alert(7), kind="payment", summary="实付比对账单多 10 元", deadline_at=NOW)
    stall = replace(alert(8, stage="shipped"), kind="stall", summary="运单 3 天没有轨迹")
    items = [alert(1, late=30), payment, stall]

    text = summary(items, NOW)

    assert text.splitlines() == [
        "⚠️ 工单 3 张: 超时 1, 付款差异 1, 物流停滞 1",
        "阶段: 已付款待拣货 1",
        "最早: #1 TB00000001 已超时 30分",
    ]
    assert summary([payment], NOW) == "⚠️ 工单 1 张: 付款差异 1"
    digest = build_digest(items, NOW, TZ, limit_bytes=4096, budget=20)
    assert digest is not None
    assert "#7 TB00000007 淘宝/天猫 付款差异: 实付比对账单多 10 元" in "\n".join(digest.texts)
    rows = list(csv.reader(io.StringIO(to_csv(items, NOW, TZ).decode("utf-8-sig"))))
    late, state = rows[0].index("超时"), rows[0].index("状态")
    assert [(row[late], row[state]) for row in rows[1:]] == [
        ("30分", "告警"),
        ("", "告警 (付款差异)"),
        ("", "告警 (物流停滞)"),
    ]


def test_a_stall_closed_by_a_new_scan_says_the_parcel_moved_not_the_stage() -> None:
    scanned = ResolutionFacts(3, "SH3", "shipped", NOW, NOW, kind=Kind.STALL)
    delivered = ResolutionFacts(4, "SH4", "delivered", NOW, NOW, kind=Kind.STALL)
    overdue = ResolutionFacts(5, "SH5", "picking", NOW, NOW)

    assert ticket_line(scanned, NOW) == "✅ #3 SH3 的包裹有了新的物流扫描, 自动关闭"
    assert render_resolution(scanned) == "✅ 工单 #3 已自动关闭: 订单 SH3 的包裹有了新的物流扫描"
    assert ticket_line(delivered, NOW) == "✅ #4 SH4 已进入「已签收」, 自动关闭"
    assert ticket_line(overdue, NOW) == "✅ #5 SH5 已进入「仓库拣货中」, 自动关闭"
