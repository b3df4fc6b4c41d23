"""The customer page's orders page under load: a phone with 20 orders in a pool of 1,000,000.

    .venv/bin/python -m bench.customer_page                    # 1,000,000 orders on SQLite
    .venv/bin/python -m bench.customer_page --orders 200000    # quicker
    .venv/bin/python -m bench.customer_page --database postgresql+asyncpg://postgres@127.0.0.1/bench

Fills a fresh database with ``--orders`` orders of other customers (raw bulk inserts), and 20
of one customer received within the last 90 days: half of them shipped, each with its parcel,
three scans, its stage events and two items. ``serve``'s app starts the page on its own
listener; a session of that customer is opened, and ``GET /orders`` is requested at ``--rate``
requests a second (open loop: each at its planned moment, whether or not the ones before have
been answered) for ``--seconds``. Printed: p50/p99/max latency one request at a time and under
that load, beside the same load on the
page's static stylesheet (the server and client's own cost) and, on SQLite, the raw ``sqlite3``
lookup of those 20 orders with their parcels, scans and items (the database's floor).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiohttp import web
from sqlalchemy import insert, text

from bot.app import create_app
from bot.customer.listener import CUSTOMER_PAGE_URL
from bot.keys import SESSIONS
from services.config import Config, parse_config
from services.customer.sessions import open_session
from storage import migrate
from storage.models import Order, OrderEvent, OrderItem, Parcel, ParcelScan, utc_text

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
CHUNK = 10_000
PHONE = "13912345678"
OWN_ORDERS = 20
PROVINCES = ("上海市", "广东省", "浙江省", "四川省")


class FixedClock:
    def now(self) -> datetime:
        return NOW


def bench_config(url: str) -> Config:
    return parse_config(
        {
            "database": {"url": url},
            "server": {"port": 0},
            "groups": {"general": {"name": "综合组", "supervisor": "boss"}},
            "routing": {"default_group": "general"},
            "sms": {
                "provider": "tencent",
                "endpoint": "127.0.0.1:9",  # never asked: no code is requested
                "secret_id": "bench-id",
                "secret_key": "bench-key",
                "sdk_app_id": "1400000000",
                "sign_name": "某某旗舰店",
                "templates": {"code": "1100005"},
                "link_base": "https://h5.example.com/o/",
                "link_secret": "bench-link-secret",
            },
            "customer_page": {"port": 0, "secret": "bench-page-secret"},
        }
    )


def order_row(n: int, rng: random.Random, phone: str, received: datetime) -> dict[str, Any]:
    return {
        "id": n + 1,
        "channel": "shop",
        "channel_order_id": f"P{n:09d}",
        "order_type": "normal",
        "stage": "paid",
        "stage_entered_at": received,
        "amount_fen": rng.randint(100, 500000),
        "category": "服饰",
        "province": rng.choice(PROVINCES),
        "city": "市辖区",
        "district": "某区",
        "address_text": "某路100号",
        "receiver_phone": phone,
        "paid_at": received,
        "received_at": received,
        "updated_at": received,
        "raw": {},
    }


async def fill(sessions: Any, count: int, rng: random.Random) -> None:
    """``count`` orders of other customers over 120 days, then the customer's 20."""
    for low in range(0, count, CHUNK):
        rows = [
            order_row(n, rng, f"138{n:08d}", NOW - timedelta(minutes=rng.randint(1, 172_800)))
            for n in range(low, min(count, low + CHUNK))
        ]
        async with sessions.begin() as session:
            await session.execute(insert(Order.__table__), rows)
    async with sessions.begin() as session:
        for i in range(OWN_ORDERS):
            n = count + i
            paid = NOW - timedelta(days=4 * i + 1)
            order = order_row(n, rng, PHONE, paid)
            events = [("paid", paid)]
            if i % 2:
                shipped = paid + timedelta(hours=6)
                order |= {"stage": "shipped", "stage_entered_at": shipped, "shipped_at": shipped}
                events += [("picking", paid + timedelta(hours=2)), ("shipped", shipped)]
            await session.execute(insert(Order.__table__), [order])
            await session.execute(
                insert(OrderEvent.__table__),
                [
                    {
                        "order_id": n + 1,
                        "source": "bench",
                        "event_id": f"{n}-{stage}",
                        "stage": stage,
                        "occurred_at": at,
                        "received_at": at,
                        "applied": True,
                    }
                    for stage, at in events
                ],
            )
            await session.execute(
                insert(OrderItem.__table__),
                [
                    {"order_id": n + 1, "position": p, "title": f"商品{p}", "quantity": 1}
                    for p in (1, 2)
                ],
            )
            if i % 2:
                await _parcel(session, n + 1, events[-1][1])


async def _parcel(session: Any, order_id: int, shipped: datetime) -> None:
    scans = [shipped + timedelta(hours=h) for h in (2, 8, 20)]
    parcel = await session.execute(
        insert(Parcel.__table__).returning(Parcel.id),
        [
            {
                "order_id": order_id,
                "tracking_no": f"YT{order_id:012d}",
                "carrier": "ZTO",
                "state": "in_transit",
                "last_scan_at": scans[-1],
                "last_scan_place": "杭州转运中心",
                "last_scan_text": "快件已到达",
                "shipped_at": shipped,
                "origin_province": "浙江省",
                "destination_province": "上海市",
                "subscription": "active",
                "created_at": shipped,
                "updated_at": scans[-1],
            }
        ],
    )
    parcel_id = parcel.scalar_one()
    await session.execute(
        insert(ParcelScan.__table__),
        [
            {
                "parcel_id": parcel_id,
                "order_id": order_id,
                "at": at,
                "state": "in_transit",
                "place": "杭州转运中心",
                "text": f"快件已到达【杭州转运中心】{k}",
                "source": "bench",
                "digest": f"{parcel_id}-{k}",
                "received_at": at,
            }
            for k, at in enumerate(scans)
        ],
    )


async def load(
    http: aiohttp.ClientSession, url: str, rate: float, seconds: float
) -> tuple[list[float], int]:
    """Latencies (s) of GET ``url`` at ``rate`` a second for ``seconds``, open loop; failures."""
    latencies: list[float] = []
    failures = 0

    async def one() -> None:
        nonlocal failures
        started = time.perf_counter()
        async with http.get(url) as response:
            body = await response.read()
            if response.status != 200 or not body:
                failures += 1
        latencies.append(time.perf_counter() - started)

    tasks = []
    begin = time.perf_counter()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies, failures


async def timed(http: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with http.get(url) as response:
        await response.read()
    return time.perf_counter() - started


def raw_lookup_s(path: str, rounds: int) -> list[float]:
    """stdlib ``sqlite3``: the customer's orders of 90 days, newest first, with their items,
    parcels, scans and stage events: the statements the page needs, as plain SQL."""
    connection = sqlite3.connect(path)
    since = utc_text(NOW - timedelta(days=90))
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        orders = connection.execute(
            "SELECT * FROM orders WHERE receiver_phone = ? AND received_at >= ?"
            " ORDER BY received_at DESC, id DESC LIMIT 50",
            (PHONE, since),
        ).fetchall()
        ids = [row[0] for row in orders]
        marks = ",".join("?" * len(ids))
        for table in ("order_items", "parcels", "parcel_scans", "order_events"):
            connection.execute(f"SELECT * FROM {table} WHERE order_id IN ({marks})", ids).fetchall()
        times.append(time.perf_counter() - started)
    connection.close()
    return times


def summary(name: str, latencies: list[float], failures: int = 0) -> str:
    ordered = sorted(latencies)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return (
        f"{name}: p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms,"
        f" max {ordered[-1] * 1000:.1f} ms ({len(ordered):,} requests, {failures} failed)"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        config = bench_config(url)
        assert config.customer_page is not None
        app = create_app(config, clock=FixedClock(), watch_timer=False)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()  # the database, the SMS sender, the page's own listener
        try:
            sessions = app[SESSIONS]
            started = time.perf_counter()
            await fill(sessions, args.orders, random.Random(1))
            async with sessions.begin() as session:  # the planner's statistics, as in service
                await session.execute(text("ANALYZE"))
            # What filling left behind is the bench's, not the service's: out of the collector's
            # sight, as serve puts its start-up objects (bot.app._warm_up).
            gc.collect()
            gc.freeze()
            print(
                f"filled {args.orders:,} orders + {OWN_ORDERS} of {PHONE[:3]}****{PHONE[-4:]}"
                f" in {time.perf_counter() - started:.0f} s"
            )
            page = app[CUSTOMER_PAGE_URL]
            token = await open_session(sessions, config.customer_page, PHONE, NOW)
            cookies = {"ob_session": token}
            async with aiohttp.ClientSession(
                cookies=cookies, connector=aiohttp.TCPConnector(limit=0)
            ) as http:
                async with http.get(page + "/orders") as response:
                    body = await response.text()
                    assert response.status == 200 and body.count('data-testid="order"') == 20
                await load(http, page + "/orders", args.rate, 2)  # warm-up
                alone = [await timed(http, page + "/orders") for _ in range(200)]
                orders, failed = await load(http, page + "/orders", args.rate, args.seconds)
                static, _ = await load(http, page + "/static/page.css", args.rate, args.seconds)
            print(summary("GET /orders one at a time", alone))
            print(f"load: {args.rate:g} requests/s for {args.seconds:g} s, open loop")
            print(summary("GET /orders (20 orders)", orders, failed))
            print(summary("reference: GET /static/page.css, same server", static))
            database = Path(url.split("///", 1)[1]) if url.startswith("sqlite") else None
            if database:
                raw = raw_lookup_s(str(database), 1000)
                print(summary("reference: raw sqlite3 lookup of the 20 orders (5 statements)", raw))
            else:
                print("raw reference: SQLite only, skipped on this database")
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--database", help="a SQLAlchemy URL (default: a fresh SQLite file)")
    uvloop.run(main(parser.parse_args()))  # the event loop `serve` runs on
