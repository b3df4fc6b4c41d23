"""The order pool at scale: watch tick cost and ingest throughput.

    .venv/bin/python -m bench.watch_and_ingest                 # 1,000,000 orders on SQLite
    .venv/bin/python -m bench.watch_and_ingest --pool 200000   # quicker
    .venv/bin/python -m bench.watch_and_ingest --database postgresql+asyncpg://postgres@127.0.0.1/bench

Fills a fresh database with ``--pool`` orders of which ``--open`` are still open (their next
check lies in the future) and prints:
- the idle tick (nothing due) at several pool sizes, to show it does not grow with the pool;
- one tick with ``--due`` orders newly past their deadline (tickets + outbox rows written),
  beside raw ``sqlite3`` doing the same writes on the same due orders in one committed
  transaction on a copy of the database (SQLite only; see raw_tick_s);
- ingest throughput through the HTTP batch API against a raw bulk insert of the same orders
  (with their items and payments) into the same database: ``--rounds`` rounds of ``--ingest``
  new orders, the two taking turns, the best round of each (a shared machine's noise only
  ever slows a run down); and each side's CPU an order in this process (the app's, without
  its feed's), which a busy machine disturbs less.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import json
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager, closing
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from aiohttp import web
from sqlalchemy import insert, select, update

from bot.app import create_app
from channels.registry import ADAPTERS
from jobs import watch
from rules.stages import Stage
from sandbox.samples import sample_record
from services.config import Config, parse_config
from services.ingest import order_columns
from services.policy import Policy
from storage import migrate
from storage.db import make_engine, make_sessionmaker
from storage.models import Order, OrderItem, OrderPayment, OrderWaybill

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
TOKEN = "bench-token"
CHUNK = 20_000
Records = list[tuple[str, dict[str, Any]]]


def bench_config(url: str) -> Config:
    return parse_config(
        {
            "database": {"url": url},
            "watch": {"batch_size": 1000},
            "groups": {
                "east": {"name": "华东组", "supervisor": "boss"},
                "general": {"name": "综合组", "supervisor": "boss2"},
            },
            "routing": {
                "default_group": "general",
                "rules": [{"name": "华东", "group": "east", "provinces": ["上海市", "浙江省"]}],
            },
            "sla": [
                {"name": "待拣货", "stage": "paid", "limit": "2h"},
                {"name": "拣货", "stage": "picking", "limit": "4h"},
            ],
            "sources": {"bench": {"token": TOKEN, "channels": ["taobao", "jd", "douyin", "shop"]}},
        }
    )


def pool_row(n: int, rng: random.Random, is_open: bool) -> dict[str, Any]:
    entered = NOW - timedelta(minutes=rng.randint(1, 110))
    return {
        "channel": "taobao",
        "channel_order_id": f"P{n:09d}",
        "shop": "旗舰店",
        "order_type": "normal",
        "stage": "paid" if is_open else "completed",
        "stage_entered_at": entered,
        "amount_fen": rng.randint(100, 500000),
        "category": "服饰",
        "province": rng.choice(["上海市", "广东省", "浙江省", "四川省"]),
        "city": None,
        "district": None,
        "address_text": None,
        "address_source": "channel",
        "receiver_phone": f"138{n % 100000000:08d}",
        "created_at": entered,
        "paid_at": entered,
        "received_at": entered,
        "updated_at": entered,
        "raw": {},
        "deadline_at": entered + timedelta(hours=2) if is_open else None,
        "next_check_at": entered + timedelta(hours=2) if is_open else None,
    }


async def fill(sessions: Any, start: int, stop: int, open_every: int, rng: random.Random) -> None:
    for low in range(start, stop, CHUNK):
        rows = [pool_row(n, rng, n % open_every == 0) for n in range(low, min(stop, low + CHUNK))]
        async with sessions.begin() as session:
            await session.execute(insert(Order.__table__), rows)


async def timed_tick(
    sessions: Any, policy: Policy, at: datetime
) -> tuple[float, watch.WatchResult]:
    started = time.perf_counter()
    result = await watch.run(sessions, policy, at)
    return (time.perf_counter() - started) * 1000, result


async def cpu_timed_tick(
    sessions: Any, policy: Policy, at: datetime
) -> tuple[Timing, watch.WatchResult]:
    """A tick's seconds, wall and CPU (of the process: the loop and the driver's thread)."""
    cpu = time.process_time()
    elapsed, result = await timed_tick(sessions, policy, at)
    return Timing(elapsed / 1000, time.process_time() - cpu), result


async def idle_tick_ms(sessions: Any, policy: Policy) -> float:
    samples = [(await timed_tick(sessions, policy, NOW))[0] for _ in range(7)]
    return statistics.median(samples)


def _text(moment: datetime) -> str:
    """A UTC moment as orderbot's SQLite columns hold it (storage.models.UtcDateTime)."""
    return moment.isoformat(sep=" ", timespec="microseconds")[:26]


class Timing(NamedTuple):
    """Seconds of a run: on the clock, and of CPU (which a busy machine disturbs less)."""

    wall: float
    cpu: float


def raw_tick_s(path: str, now: datetime) -> Timing:
    """The database's own speed at the tick's work: stdlib ``sqlite3`` in one
    transaction reads the due orders, inserts a ticket (every column orderbot writes) and an
    alert outbox row for each, moves each order's next check to its escalation, and commits.
    It works on a copy of the database (the WAL checkpointed into it first), so orderbot's tick
    that follows finds the same state. The commit counts: with WAL and synchronous=NORMAL it
    writes the transaction's pages to the log and may checkpoint it, which measured here as
    much as the statements themselves (a reference that rolled back left that out)."""
    copy = f"{path}.raw"
    with closing(sqlite3.connect(path)) as source:
        source.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(path, copy)
    try:
        return _raw_tick_on(copy, now)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(copy + suffix).unlink(missing_ok=True)


def _raw_tick_on(path: str, now: datetime) -> Timing:
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute("SELECT count(*) FROM orders WHERE next_check_at IS NOT NULL")  # warm
    at = _text(now)
    started, cpu = time.perf_counter(), time.process_time()
    connection.execute("BEGIN IMMEDIATE")
    due = connection.execute(
        "SELECT id, stage, stage_entered_at, deadline_at, province FROM orders "
        "WHERE next_check_at <= ? ORDER BY next_check_at",
        (at,),
    ).fetchall()
    first_id = connection.execute("SELECT coalesce(max(id), 0) FROM tickets").fetchone()[0]
    tickets = [
        (
            "overdue",
            f"order:{order_id}",
            f"{stage}@{entered}",
            order_id,
            stage,
            entered,
            "open",
            "east" if province in ("上海市", "浙江省") else "general",
            "华东",
            f"省份={province}",
            "待拣货",
            deadline,
            at,
            1,
        )
        for order_id, stage, entered, deadline, province in due
    ]
    connection.executemany(
        "INSERT INTO tickets (kind, subject, episode, order_id, stage, stage_entered_at, status,"
        " group_key, route_rule, route_reason, sla_rule, deadline_at, opened_at, level)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tickets,
    )
    opened = connection.execute(
        "SELECT id, group_key FROM tickets WHERE id > ?", (first_id,)
    ).fetchall()
    connection.executemany(
        "INSERT INTO outbox (dedup_key, ticket_id, kind, level, target_kind, target,"
        " created_at, status) VALUES (?, ?, 'alert', 1, 'group', ?, ?, 'pending')",
        [(f"ticket:{ticket_id}:level:1", ticket_id, group, at) for ticket_id, group in opened],
    )
    later = _text(now + timedelta(hours=1))
    connection.executemany(
        "UPDATE orders SET next_check_at = ? WHERE id = ?", [(later, row[0]) for row in due]
    )
    connection.execute("COMMIT")
    elapsed = Timing(time.perf_counter() - started, time.process_time() - cpu)
    connection.close()
    assert len(opened) == len(due), (len(opened), len(due))
    return elapsed


def ingest_records(count: int, offset: int, rng: random.Random) -> Records:
    channels = ["taobao", "jd", "douyin", "shop"]
    out = []
    for n in range(count):
        channel = channels[n % 4]
        record = sample_record(
            channel,
            rng,
            NOW,
            order_no=f"I{offset + n:09d}",
            stage=Stage.PAID,
            stage_age=timedelta(minutes=rng.randint(1, 100)),
        )
        out.append((channel, record))
    return out


def post_batches(port: int, bodies: list[tuple[str, bytes]]) -> float:
    """The feed, in its own process as a real one would be: POST each batch, return seconds."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    started = time.perf_counter()
    for channel, body in bodies:
        connection.request("POST", f"/api/v1/orders/{channel}", body=body, headers=headers)
        reply = connection.getresponse()
        answer = reply.read()
        assert reply.status == 200, answer
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def batch_bodies(records: Records) -> list[tuple[str, bytes]]:
    by_channel: dict[str, list[dict[str, Any]]] = {}
    for channel, record in records:
        by_channel.setdefault(channel, []).append(record)
    return [
        (channel, json.dumps(items[low : low + 1000]).encode())
        for channel, items in by_channel.items()
        for low in range(0, len(items), 1000)
    ]


class Rate(NamedTuple):
    """An ingest round: orders a second on the clock, and µs of CPU an order in this process
    (the app's loop and its driver's thread; the feed has its own), which a busy machine
    disturbs less."""

    per_second: float
    cpu_us: float


@asynccontextmanager
async def ingest_api(config: Config) -> AsyncIterator[Callable[[Records], Awaitable[Rate]]]:
    """The app on a local port, warmed up, and a function posting records to it in batches of
    1,000 from a feed process of its own (as a real feed would be)."""
    app = create_app(config, watch_timer=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=1) as feed:

        async def post(records: Records) -> Rate:
            bodies = batch_bodies(records)
            cpu = time.process_time()
            elapsed = await loop.run_in_executor(feed, post_batches, port, bodies)
            cpu = time.process_time() - cpu
            return Rate(len(records) / elapsed, cpu / len(records) * 1e6)

        # A free-text address first: the region parser loads its tables once per process.
        samples = ingest_records(100, 10**8, random.Random(0))
        await post(
            [next(s for s in samples if s[0] == "shop" and "province" not in s[1]["receiver"])]
        )
        yield post
    await runner.cleanup()


def _out_of_collector_sight() -> None:
    """What the bench built for a round (records, bodies, prepared rows) out of the garbage
    collector's sight before a side is timed, as serve's start-up does with what it keeps
    (bot.app._warm_up): the app runs in the bench's process, whose heap a server would not
    have, and each full collection during a batch walked all of it (~15 µs an order)."""
    gc.collect()
    gc.freeze()


async def raw_insert(sessions: Any, policy: Policy, records: Records) -> Rate:
    """The same orders, already normalised and scheduled, straight into the tables: the same
    rows the API writes (each order and its items, payments and waybills), without the API.
    The ceiling for ingest."""
    orders: list[tuple[dict[str, Any], dict[Any, list[dict[str, Any]]]]] = []
    for channel, record in records:
        order = ADAPTERS[channel](record, NOW)
        kind = policy.order_type(order.order_type, channel, (order.category, *order.categories))
        deadline, next_check = policy.first_check(
            order_type=kind,
            stage=order.stage.value,
            channel=channel,
            entered_at=order.stage_entered_at,
            ship_by=order.ship_by_at,
        )
        row = order_columns(order, kind)
        row |= {
            "channel": channel,
            "channel_order_id": "R" + order.channel_order_id,
            "received_at": NOW,
            "updated_at": NOW,
            "deadline_at": deadline,
            "next_check_at": next_check,
        }
        details = {
            OrderItem.__table__: [
                {"position": n, **asdict(item)} for n, item in enumerate(order.items)
            ],
            OrderPayment.__table__: [asdict(payment) for payment in order.payments],
            OrderWaybill.__table__: [asdict(waybill) for waybill in order.waybills],
        }
        orders.append((row, details))
    _out_of_collector_sight()
    orders_table = Order.__table__
    returning = orders_table.insert().returning(orders_table.c.id, orders_table.c.channel_order_id)
    started, cpu = time.perf_counter(), time.process_time()
    for low in range(0, len(orders), 1000):
        chunk = orders[low : low + 1000]
        async with sessions.begin() as session:
            inserted = await session.execute(returning, [row for row, _ in chunk])
            ids = {number: order_id for order_id, number in inserted}
            by_table: dict[Any, list[dict[str, Any]]] = {}
            for row, details in chunk:
                for table, lines in details.items():
                    for line in lines:
                        line["order_id"] = ids[row["channel_order_id"]]
                    by_table.setdefault(table, []).extend(lines)
            for table, lines in by_table.items():
                if lines:
                    await session.execute(insert(table), lines)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Rate(len(orders) / elapsed, cpu / len(orders) * 1e6)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        config = bench_config(url)
        policy = Policy.from_config(config)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        rng = random.Random(1)
        open_every = args.pool // args.open
        print(f"database: {engine.url.render_as_string(hide_password=True)}")
        filled = 0
        for target in sorted({args.pool // 100, args.pool // 10, args.pool}):
            started = time.perf_counter()
            await fill(sessions, filled, target, open_every, rng)
            print(
                f"filled {target:>9,} orders ({target // open_every:,} open) "
                f"in {time.perf_counter() - started:5.1f} s; "
                f"idle tick {await idle_tick_ms(sessions, policy):6.2f} ms (median of 7)"
            )
            filled = target

        async with sessions.begin() as session:  # --due open orders cross their deadline now
            due_ids = (
                await session.scalars(
                    select(Order.id).where(Order.next_check_at.is_not(None)).limit(args.due)
                )
            ).all()
            deadline = NOW - timedelta(seconds=1)
            await session.execute(
                update(Order)
                .where(Order.id.in_(due_ids))
                .values(
                    stage_entered_at=deadline - timedelta(hours=2),
                    deadline_at=deadline,
                    next_check_at=deadline,
                )
            )
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        # Best of 3, each on a fresh copy of the same state.
        raw = [raw_tick_s(database, NOW) for _ in range(3)] if database else []
        # What serve's start-up does (bot.app._warm_up): what lives as long as the process out
        # of the collector's sight, or each full collection during the tick walks it all.
        gc.collect()
        gc.freeze()
        tick, result = await cpu_timed_tick(sessions, policy, NOW)
        print(
            f"tick with {args.due:,} newly due: {tick.wall:.2f} s, CPU {tick.cpu:.2f} s "
            f"(opened {result.opened:,} tickets, checked {result.checked:,})"
        )
        if raw:
            wall, cpu = min(r.wall for r in raw), min(r.cpu for r in raw)
            print(
                f"raw sqlite3, same due orders in one committed transaction (best of 3): "
                f"{wall:.2f} s, CPU {cpu:.2f} s → orderbot {tick.wall / wall:.1f}× raw "
                f"(CPU {tick.cpu / cpu:.1f}×)"
            )
        else:
            print("raw reference: SQLite only, skipped on this database")
        print(f"idle tick afterwards: {await idle_tick_ms(sessions, policy):.2f} ms")

        if not args.rounds:
            await engine.dispose()
            return
        # Raw and HTTP take turns, each round with new orders; the best round of each counts.
        http: list[Rate] = []
        raw_rates: list[Rate] = []
        async with ingest_api(config) as post:
            for n in range(args.rounds):
                records = ingest_records(args.ingest, n * args.ingest, rng)
                raw_rates.append(await raw_insert(sessions, policy, records))
                _out_of_collector_sight()
                http.append(await post(records))
        await engine.dispose()
        http_rate, raw_rate = (max(r.per_second for r in rates) for rates in (http, raw_rates))
        http_cpu, raw_cpu = (min(r.cpu_us for r in rates) for rates in (http, raw_rates))
        print(
            f"ingest of {args.ingest:,} orders (4 channels, batches of 1,000; best of "
            f"{args.rounds} rounds): HTTP batch API {http_rate:,.0f} orders/s, raw bulk insert "
            f"{raw_rate:,.0f} orders/s → {http_rate / raw_rate:.0%} of raw; CPU an order "
            f"{http_cpu:.0f} µs vs raw {raw_cpu:.0f} µs → {raw_cpu / http_cpu:.0%} of raw's speed"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--ingest", type=int, default=20_000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="ingest rounds, raw and HTTP in turn (0: no ingest)"
    )
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    asyncio.run(main(parser.parse_args()))
