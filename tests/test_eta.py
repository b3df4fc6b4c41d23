"""The ETA: a lane's percentile of transit hours from the pool's deliveries over the window,
the fallbacks when a lane has too few, and the ETA in words (never a date already past)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.keys import RULES, SESSIONS
from jobs import eta
from rules.eta import LaneTime, eta_words, percentile, transit_time
from rules.logistics import Logistics
from rules.parcel_words import parcel_in_words
from services.tracking.eta import etas_of
from storage.models import EtaLane, Parcel
from tests.parcel_side import add_parcel, parcel_row, shipped_order
from tests.support import T0

H = timedelta(hours=1)
TZ = ZoneInfo("Asia/Shanghai")
DEFAULT = timedelta(hours=72)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([float(v) for v in range(10, 0, -1)], 80) == pytest.approx(8.2)
    assert percentile([5.0], 80) == 5.0
    assert percentile([1.0, 3.0], 50) == 2.0
    with pytest.raises(ValueError):
        percentile([], 80)


LANES = {
    ("SF", "浙江省", "上海市"): LaneTime(30, 20.0),
    ("SF", "", "上海市"): LaneTime(40, 26.0),
    ("SF", "", ""): LaneTime(90, 40.0),
    ("SF", "广东省", "北京市"): LaneTime(3, 10.0),  # too few: not trusted
    ("ZTO", "", ""): LaneTime(5, 30.0),
}


@pytest.mark.parametrize(
    ("carrier", "origin", "destination", "hours"),
    [
        ("SF", "浙江省", "上海市", 20),  # its own lane
        ("SF", "江苏省", "上海市", 26),  # no such lane: the carrier to Shanghai from anywhere
        ("SF", None, "上海市", 26),  # origin unknown
        ("SF", "广东省", "北京市", 40),  # lane and destination too thin: the carrier's own
        ("ZTO", "浙江省", "上海市", 72),  # the carrier too thin: the configured default
        ("JD", "浙江省", "上海市", 72),  # nothing known
        (None, "浙江省", "上海市", 72),  # an unknown carrier
    ],
)
def test_transit_time_falls_back_lane_carrier_default(
    carrier: str | None, origin: str | None, destination: str, hours: int
) -> None:
    found = transit_time(LANES, carrier, origin, destination, min_samples=20, default=DEFAULT)
    assert found == timedelta(hours=hours)


def test_eta_words_name_the_beijing_day_and_never_a_past_one() -> None:
    eta_at = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)  # 12-04 01:00 in Beijing
    assert eta_words(eta_at, eta_at - 30 * H, TZ) == "预计12月4日送达"
    assert eta_words(eta_at, eta_at + 20 * H, TZ) == "预计12月4日送达"  # the same day, late
    assert eta_words(eta_at, eta_at + 23 * H, TZ) == "比预计晚1天"  # 12-05 00:00
    assert eta_words(eta_at, eta_at + 71 * H, TZ) == "比预计晚3天"


def test_parcel_words_by_state() -> None:
    now = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    eta_at = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    words = {state: parcel_in_words(state, eta_at, now, TZ) for state in Logistics}
    assert words == {
        Logistics.PICKED_UP: "已揽收, 预计12月4日送达",
        Logistics.IN_TRANSIT: "运输中, 预计12月4日送达",
        Logistics.OUT_FOR_DELIVERY: "派送中",
        Logistics.DELIVERED: "已签收",
        Logistics.REJECTED: "拒签",
        Logistics.RETURNING: "退回中",
        Logistics.RETURNED: "已退回",
        Logistics.PROBLEM: "疑难件, 快递公司核实中",
    }
    assert parcel_in_words(None, eta_at, now, TZ) == "已发货, 待快递揽收, 预计12月4日送达"
    assert parcel_in_words(Logistics.IN_TRANSIT, None, now, TZ) == "运输中"
    late = parcel_in_words(Logistics.IN_TRANSIT, eta_at, eta_at + 30 * H, TZ)
    assert late == "运输中, 比预计晚1天"


async def deliveries(
    client: TestClient, order_id: int, lane: tuple[str, str, str], hours: list[float], at: datetime
) -> None:
    """Parcels of one lane signed for at ``at`` after ``hours`` each."""
    carrier, origin, destination = lane
    async with client.app[SESSIONS].begin() as session:
        for i, transit in enumerate(hours):
            session.add(
                parcel_row(
                    order_id,
                    f"{carrier}{origin}{destination}{at:%j}{i}",
                    at - timedelta(hours=transit),
                    carrier=carrier,
                    origin_province=origin or None,
                    destination_province=destination or None,
                    state=Logistics.DELIVERED,
                    delivered_at=at,
                    subscription="ended",
                )
            )


async def test_lanes_from_the_window_and_each_parcels_eta(client: TestClient) -> None:
    now = T0 + 40 * 24 * H
    history = await shipped_order(client, "HIST", T0)
    zj_sh = [float(h) for h in range(10, 35)]  # 25 deliveries, 10 … 34 h
    await deliveries(client, history, ("ZTO", "浙江省", "上海市"), zj_sh, now - 2 * H)
    await deliveries(client, history, ("ZTO", "广东省", "上海市"), [50.0] * 5, now - 2 * H)
    await deliveries(client, history, ("ZTO", "浙江省", "上海市"), [500.0] * 30, now - 31 * 24 * H)
    await deliveries(client, history, ("SF", "浙江省", "上海市"), [-3.0], now - H)  # bad data

    result = await eta.run(client.app[SESSIONS], client.app[RULES].current().config.eta, now)

    assert result.deliveries == 31  # in the window, of a carrier, with a departure
    lanes = {
        (r.carrier, r.origin, r.destination): (r.samples, r.hours)
        for r in await all_rows_of(client)
    }
    assert lanes[("ZTO", "浙江省", "上海市")] == (25, pytest.approx(29.2))  # p80 of 10 … 34
    assert lanes[("ZTO", "广东省", "上海市")] == (5, 50.0)
    assert lanes[("ZTO", "", "上海市")][0] == lanes[("ZTO", "", "")][0] == 30
    assert ("SF", "", "") not in lanes  # signed for before it left: in no lane

    mine = await shipped_order(client, "SH1", now)
    ids = [
        await add_parcel(client, mine, "ZJ", now),
        await add_parcel(client, mine, "GD", now, origin_province="广东省"),
        await add_parcel(client, mine, "SF1", now, carrier="SF"),
    ]
    async with client.app[SESSIONS]() as session:
        parcels = [await session.get(Parcel, i) for i in ids]
        found = await etas_of(session, client.app[RULES].current().config.eta, parcels)  # type: ignore[arg-type]
    thirty = sorted(zj_sh + [50.0] * 5)
    assert found == {
        ids[0]: now + timedelta(hours=29.2),
        ids[1]: now + timedelta(hours=percentile(thirty, 80)),  # its lane is thin: to 上海市
        ids[2]: now + DEFAULT,  # no SF deliveries: the default
    }


async def all_rows_of(client: TestClient) -> list[EtaLane]:
    async with client.app[SESSIONS]() as session:
        return list((await session.scalars(select(EtaLane))).all())
