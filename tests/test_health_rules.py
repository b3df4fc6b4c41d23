"""The health guard's judgement of each signal, from measurements, against the config's
thresholds: failing, ok, or too little data to say; and which incidents start and end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from channels.registry import LABELS
from rules.health import Measurements, Reading, changes, evaluate
from services.config import HealthConfig

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai
M = timedelta(minutes=1)
LIMITS = HealthConfig()


def judged(measurements: Measurements) -> dict[str, bool | None]:
    return {r.signal: r.failing for r in evaluate(measurements, LIMITS, NOW, channel_labels=LABELS)}


@pytest.mark.parametrize(
    ("measurements", "signal", "failing"),
    [
        (Measurements(address_parsed=19, address_failed=0), "address_parse", None),
        (Measurements(address_parsed=95, address_failed=5), "address_parse", False),
        (Measurements(address_parsed=94, address_failed=6), "address_parse", True),
        (Measurements(tickets_opened=20, tickets_default_routed=10), "default_route", False),
        (Measurements(tickets_opened=20, tickets_default_routed=11), "default_route", True),
        (Measurements(accepted={"jd": 95}, rejected={"jd": 5}), "rejected:jd", False),
        (Measurements(accepted={"jd": 94}, rejected={"jd": 6}), "rejected:jd", True),
        (Measurements(dead_letters=1), "dead_letters", True),
        (Measurements(failing_chats=1), "failing_chats", True),
        (Measurements(oldest_pending_at=NOW - 11 * M), "outbox_backlog", True),
        (Measurements(oldest_pending_at=NOW - 9 * M), "outbox_backlog", False),
        (Measurements(), "outbox_backlog", False),  # nothing waiting
        (Measurements(watch_succeeded_at=NOW - 6 * M), "watch", True),
        (Measurements(watch_succeeded_at=NOW - 4 * M), "watch", False),
        (Measurements(), "watch", None),  # never ran yet
    ],
)
def test_each_signal_against_its_threshold(
    measurements: Measurements, signal: str, failing: bool | None
) -> None:
    assert judged(measurements)[signal] is failing


def test_a_usual_channel_going_quiet_matters_only_in_business_hours() -> None:
    quiet = Measurements(
        usual_channels=frozenset({"taobao", "jd"}),
        last_order_at={"taobao": NOW - 61 * M, "jd": NOW - 5 * M},
        business_hours=True,
    )
    assert judged(quiet)["silent:taobao"] is True
    assert judged(quiet)["silent:jd"] is False
    night = Measurements(**{**quiet.__dict__, "business_hours": False})
    assert judged(night)["silent:taobao"] is False
    assert "silent:douyin" not in judged(quiet)  # not a channel that usually sends


def test_incidents_start_once_and_end_once() -> None:
    failing = Reading("dead_letters", "死信", "1", "≤ 0", True)
    recovered = Reading("dead_letters", "死信", "0", "≤ 0", False)
    unknown = Reading("address_parse", "地址", "样本不足", "≥ 95%", None)

    assert changes([], [failing, unknown]).started == [failing]
    assert changes(["dead_letters"], [failing]).started == []
    assert changes(["dead_letters"], [recovered]).ended == [recovered]
    # Too little data says nothing: a failing signal stays failing.
    assert changes(["address_parse"], [unknown]).ended == []
