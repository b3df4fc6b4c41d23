"""How far off the ETA is, on a synthetic history whose lane times are known.

    .venv/bin/python -m bench.eta_error                        # 200,000 deliveries on SQLite
    .venv/bin/python -m bench.eta_error --history 50000        # quicker: more thin lanes
    .venv/bin/python -m bench.eta_error --database postgresql+asyncpg://postgres@127.0.0.1/bench

Each lane (carrier × origin × destination province) has a true median transit time and a
log-normal spread; lanes differ in volume, so some are too thin and fall back (carrier to the
destination, the carrier, the default). ``--history`` parcels delivered over the last 40 days
go through the ETA job ([eta] as configured: 30-day window, p80, 20 samples); then ``--test``
parcels shipped now draw their real transit from their lane, and each one's ETA (services
.tracking.eta) is compared with it. Printed, in hours of absolute error, median and p90:

- orderbot's ETA vs each parcel's actual delivery;
- the same rule with the true lane p80 (the oracle: what any p80 ETA must miss by, the
  lane's own spread), and the configured default alone (no history);
- the lane p80 orderbot learned vs the true one (how well the history was read).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

from sqlalchemy import insert

from jobs import eta
from rules.eta import percentile
from services.config import EtaConfig
from services.tracking.eta import etas_of
from storage import migrate
from storage.db import make_engine, make_sessionmaker
from storage.models import Order, Parcel

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
CHUNK = 10_000
CARRIERS = ("ZTO", "YTO", "SF", "JD")
ORIGINS = ("浙江省", "广东省", "江苏省")
DESTINATIONS = (
    "上海市",
    "北京市",
    "广东省",
    "四川省",
    "新疆维吾尔自治区",
    "浙江省",
    "湖北省",
    "黑龙江省",
)


@dataclass(frozen=True)
class Lane:
    carrier: str
    origin: str
    destination: str
    median_hours: float
    sigma: float  # of the log of the transit time
    weight: float  # share of the volume

    def draw(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median_hours), self.sigma)

    def quantile(self, percent: int) -> float:
        return self.median_hours * math.exp(self.sigma * NormalDist().inv_cdf(percent / 100))


def lanes(rng: random.Random) -> list[Lane]:
    """Every lane, its true times (faster carriers and nearer provinces quicker) and volume
    (a few big lanes, a long tail of thin ones)."""
    speed = {"SF": 0.6, "JD": 0.7, "ZTO": 1.0, "YTO": 1.1}
    found = []
    for carrier in CARRIERS:
        for o, origin in enumerate(ORIGINS):
            for d, destination in enumerate(DESTINATIONS):
                base = 24 + 10 * ((o + d) % 5) + (30 if d in (4, 7) else 0)
                found.append(
                    Lane(
                        carrier,
                        origin,
                        destination,
                        median_hours=base * speed[carrier] * rng.uniform(0.9, 1.1),
                        sigma=rng.uniform(0.15, 0.45),
                        weight=rng.paretovariate(1.2),
                    )
                )
    return found


def parcel_row(n: int, lane: Lane, shipped: datetime, transit: float | None) -> dict[str, Any]:
    delivered = shipped + timedelta(hours=transit) if transit is not None else None
    return {
        "order_id": n + 1,
        "tracking_no": f"YT{n:012d}",
        "carrier": lane.carrier,
        "state": "delivered" if delivered else "in_transit",
        "shipped_at": shipped,
        "delivered_at": delivered,
        "origin_province": lane.origin,
        "destination_province": lane.destination,
        "subscription": "ended" if delivered else "active",
        "created_at": shipped,
        "updated_at": delivered or shipped,
    }


def order_row(n: int, shipped: datetime) -> dict[str, Any]:
    return {
        "id": n + 1,
        "channel": "taobao",
        "channel_order_id": f"E{n:09d}",
        "order_type": "normal",
        "stage": "shipped",
        "stage_entered_at": shipped,
        "amount_fen": 100,
        "received_at": shipped,
        "updated_at": shipped,
        "raw": {},
    }


async def insert_rows(sessions: Any, orders: list[dict[str, Any]], parcels: list[Any]) -> None:
    for low in range(0, len(orders), CHUNK):
        async with sessions.begin() as session:
            await session.execute(insert(Order.__table__), orders[low : low + CHUNK])
            await session.execute(insert(Parcel.__table__), parcels[low : low + CHUNK])


def spread(errors: list[float]) -> str:
    return f"median {statistics.median(errors):5.1f} h, p90 {percentile(errors, 90):5.1f} h"


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    config = EtaConfig()
    all_lanes = lanes(rng)
    weights = [lane.weight for lane in all_lanes]
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        history = rng.choices(all_lanes, weights, k=args.history)
        orders, parcels = [], []
        for n, lane in enumerate(history):
            transit = lane.draw(rng)
            delivered = NOW - timedelta(days=rng.uniform(0, 40))
            shipped = delivered - timedelta(hours=transit)
            orders.append(order_row(n, shipped))
            parcels.append(parcel_row(n, lane, shipped, transit))
        tests = rng.choices(all_lanes, weights, k=args.test)
        for n, lane in enumerate(tests, start=args.history):
            orders.append(order_row(n, NOW))
            parcels.append(parcel_row(n, lane, NOW, None))
        await insert_rows(sessions, orders, parcels)

        started = time.perf_counter()
        result = await eta.run(sessions, config, NOW)
        took = time.perf_counter() - started
        async with sessions() as session:
            stored = [
                Parcel(id=args.history + i + 1, **parcels[args.history + i])
                for i in range(args.test)
            ]
            found = await etas_of(session, config, stored)
        await engine.dispose()

    actual = [lane.draw(rng) for lane in tests]
    ours = [
        abs((found[p.id] - NOW) / timedelta(hours=1) - real)  # type: ignore[operator]
        for p, real in zip(stored, actual, strict=True)
    ]
    truth = [lane.quantile(config.percentile) for lane in tests]
    learned = [(found[p.id] - NOW) / timedelta(hours=1) for p in stored]  # type: ignore[operator]
    oracle = [abs(t - real) for t, real in zip(truth, actual, strict=True)]
    default = config.default_transit / timedelta(hours=1)
    naive = [abs(default - real) for real in actual]
    read = [abs(g - t) for g, t in zip(learned, truth, strict=True)]
    volume = Counter(id(lane) for lane in history)
    thin = sum(1 for lane in all_lanes if volume[id(lane)] < config.min_samples)
    print(
        f"{len(all_lanes)} lanes ({thin} with fewer than {config.min_samples} deliveries in "
        f"the history), {args.history:,} deliveries over 40 days, {args.test:,} parcels shipped now"
    )
    print(
        f"ETA job: {result.deliveries:,} deliveries in the {config.window.days}-day window, "
        f"{took:.2f} s"
    )
    print(f"|ETA − actual delivery|, orderbot p{config.percentile}: {spread(ours)}")
    print(f"|ETA − actual delivery|, true lane p{config.percentile} (oracle): {spread(oracle)}")
    print(f"|ETA − actual delivery|, default {default:.0f} h only: {spread(naive)}")
    print(f"|learned − true lane p{config.percentile}|: {spread(read)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    asyncio.run(main(parser.parse_args()))
