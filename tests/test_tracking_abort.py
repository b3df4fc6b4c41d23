"""快递100 stops following a waybill (an ``abort`` push, through the sandbox): "3天查询无记录"
subscribes it again 30 minutes later, at most 4 subscriptions in all, then fails with the
reason and ops hear once; "60天无变化" ends it for good; the same abort again changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from storage.models import OutboxMessage
from tests.support import FakeClock
from tests.tracking_side import (
    carrier_fixture,  # noqa: F401
    carrier_state,
    make_tracked_fixture,  # noqa: F401
    parcel,
    push_status,
    rows,
    ship,
    shipped_order,
    tick_subscribe,
    tracked_fixture,  # noqa: F401
)

NUMBER = "YT1234567890"
HALF_HOUR = timedelta(minutes=30)


@pytest.fixture
async def followed(tracked: TestClient, clock: FakeClock) -> TestClient:
    await ship(tracked, shipped_order("SH1", NUMBER, province="上海市"))
    assert (await tick_subscribe(tracked, clock.now())).accepted == 1
    return tracked


async def subscriptions(carrier: TestServer) -> int:
    followed = (await carrier_state(carrier))["subscriptions"]
    count: int = next(f["subscriptions"] for f in followed if f["number"] == NUMBER)
    return count


async def test_no_record_yet_subscribes_again_after_30_minutes(
    followed: TestClient, carrier: TestServer, clock: FakeClock
) -> None:
    clock.advance(timedelta(days=3))
    aborted_at = clock.now()
    assert await push_status(carrier, NUMBER, "abort", "3天查询无记录")

    waiting = await parcel(followed)
    assert (waiting.subscription, waiting.subscribe_next_at) == ("pending", aborted_at + HALF_HOUR)
    assert "3天查询无记录" in (waiting.subscribe_error or "")
    clock.advance(timedelta(minutes=10))  # the same abort again: the 30 minutes do not restart
    assert await push_status(carrier, NUMBER, "abort", "3天查询无记录")
    assert (await parcel(followed)).subscribe_next_at == aborted_at + HALF_HOUR

    assert (await tick_subscribe(followed, aborted_at + HALF_HOUR - timedelta(seconds=1))).sent == 0
    assert (await tick_subscribe(followed, aborted_at + HALF_HOUR)).accepted == 1

    again = await parcel(followed)
    assert (again.subscription, again.subscribe_attempts) == ("active", 2)
    assert await subscriptions(carrier) == 2


async def test_given_up_after_four_subscriptions_and_ops_told_once(
    followed: TestClient, carrier: TestServer, clock: FakeClock
) -> None:
    for attempt in (2, 3, 4):
        clock.advance(timedelta(days=3))
        assert await push_status(carrier, NUMBER, "abort", "3天查询无记录")
        clock.advance(HALF_HOUR)
        assert (await tick_subscribe(followed, clock.now())).accepted == 1
        assert (await parcel(followed)).subscribe_attempts == attempt
    clock.advance(timedelta(days=3))
    assert await push_status(carrier, NUMBER, "abort", "3天查询无记录")
    assert await push_status(carrier, NUMBER, "abort", "3天查询无记录")  # replayed

    failed = await parcel(followed)
    assert failed.subscription == "failed"
    assert "3天查询无记录" in (failed.subscribe_error or "")
    assert "已订阅4次" in (failed.subscribe_error or "")
    clock.advance(HALF_HOUR)
    assert (await tick_subscribe(followed, clock.now())).sent == 0
    assert await subscriptions(carrier) == 4  # within 快递100's 4 a month
    notices = [m for m in await rows(followed, OutboxMessage) if m.kind == "ops"]
    assert [
        (m.target, "SH1" in (m.detail or ""), "3天查询无记录" in (m.detail or "")) for m in notices
    ] == [("ops-liu", True, True)]


async def test_no_change_for_60_days_ends_it_for_good(
    followed: TestClient, carrier: TestServer, clock: FakeClock
) -> None:
    clock.advance(timedelta(days=60))
    assert await push_status(carrier, NUMBER, "abort", "60天无变化")

    ended = await parcel(followed)
    assert ended.subscription == "ended"
    assert "60天无变化" in (ended.subscribe_error or "")
    clock.advance(HALF_HOUR)
    assert (await tick_subscribe(followed, clock.now())).sent == 0
    assert await subscriptions(carrier) == 1
    assert [m for m in await rows(followed, OutboxMessage) if m.kind == "ops"] == []
