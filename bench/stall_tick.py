"""The stall check's tick at scale: 1,000,000 shipped parcels followed, 10,000 newly stalled.

    .venv/bin/python -m bench.stall_tick                     # 1,000,000 parcels on SQLite
    .venv/bin/python -m bench.stall_tick --parcels 200000    # quicker
    .venv/bin/python -m bench.stall_tick --no-texts          # tickets only, no [sms]
    .venv/bin/python -m bench.stall_tick --database postgresql+asyncpg://postgres@127.0.0.1/bench

Fills a fresh database with ``--parcels`` shipped orders, each with a parcel last scanned within
the day (its stall check ahead), of which ``--stalled`` went silent 25 hours ago; prints the idle
tick, then the tick that opens their stall tickets (routed, alerted, each parcel's next check
cleared, each customer's text queued), beside raw ``sqlite3`` doing the same writes on the same
parcels in one transaction (SQLite only; rolled back so the tick finds the same state). Best of
``--rounds``: between rounds the tick's writes are undone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, update

from jobs import stalls
from services.config import Config, parse_config
from services.policy import Policy
from storage import migrate
from storage.db import make_engine, make_sessionmaker
from storage.models import Order, OutboxMessage, Parcel, SmsMessage, Ticket, utc_text

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 14:00 in Beijing: texts go at once
CHUNK = 10_000
CARRIERS = ("ZTO", "YTO", "SF", "YUNDA", "JD")
PROVINCES = ("上海市", "广东省", "浙江省", "四川省")
PLACES = ("杭州转运中心", "上海分拨中心", "广州白云集散中心", "成都双流转运中心")


def bench_config(url: str, texts: bool) -> Config:
    data: dict[str, Any] = {
        "database": {"url": url},
        "groups": {
            "logistics": {"name": "物流组", "supervisor": "boss"},
            "general": {"name": "综合组", "supervisor": "boss2"},
        },
        "routing": {
            "default_group": "general",
            "rules": [{"name": "物流停滞", "group": "logistics", "kinds": ["stall"]}],
        },
        "tracking": {
            "key": "bench-key",
            "salt": "bench-salt",
            "callback_url": "http://bench/tracking/kuaidi100",
            "notify_customer": ["stall"] if texts else [],
        },
    }
    if texts:
        data["sms"] = {
            "provider": "tencent",
            "secret_id": "bench-id",
            "secret_key": "bench-key",
            "sdk_app_id": "1400000000",
            "sign_name": "某某旗舰店",
            "templates": {"stall": "1100001"},
            "link_base": "https://h5.example.com/o/",
            "link_secret": "bench-link-secret",
        }
    return parse_config(data)


def rows(n: int, rng: random.Random, stalled: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Order ``n`` (shipped) and its parcel; a stalled one last scanned 25 hours ago."""
    shipped = NOW - timedelta(hours=rng.randint(30, 96))
    scanned = NOW - (timedelta(hours=25) if stalled else timedelta(minutes=rng.randint(1, 1400)))
    order = {
        "id": n + 1,
        "channel": "taobao",
        "channel_order_id": f"P{n:09d}",
        "order_type": "normal",
        "stage": "shipped",
        "stage_entered_at": shipped,
        "amount_fen": rng.randint(100, 500000),
        "category": "服饰",
        "province": rng.choice(PROVINCES),
        "receiver_phone": f"138{n % 100000000:08d}",
        "received_at": shipped,
        "updated_at": shipped,
        "shipped_at": shipped,
        "raw": {},
    }
    parcel = {
        "order_id": n + 1,
        "tracking_no": f"YT{n:012d}",
        "carrier": CARRIERS[n % len(CARRIERS)],
        "state": "in_transit",
        "last_scan_at": scanned,
        "last_scan_place": PLACES[n % len(PLACES)],
        "last_scan_text": "快件已到达",
        "shipped_at": shipped,
        "origin_province": "浙江省",
        "destination_province": order["province"],
        "stall_check_at": scanned + timedelta(hours=24),
        "subscription": "active",
        "created_at": shipped,
        "updated_at": scanned,
    }
    return order, parcel


async def fill(sessions: Any, count: int, stalled_every: int, rng: random.Random) -> list[int]:
    """The pool; returns the ids of the stalled parcels (ids follow insertion)."""
    stalled: list[int] = []
    for low in range(0, count, CHUNK):
        pairs = [rows(n, rng, n % stalled_every == 0) for n in range(low, min(count, low + CHUNK))]
        stalled += [n + 1 for n in range(low, min(count, low + CHUNK)) if n % stalled_every == 0]
        async with sessions.begin() as session:
            await session.execute(insert(Order.__table__), [order for order, _ in pairs])
            await session.execute(insert(Parcel.__table__), [parcel for _, parcel in pairs])
    return stalled


async def undo(sessions: Any, stalled: list[int]) -> None:
    """Put the stalled parcels back as they were before the tick."""
    async with sessions.begin() as session:
        for model in (OutboxMessage, SmsMessage, Ticket):
            await session.execute(delete(model))
        await session.execute(
            update(Parcel)
            .where(Parcel.id.in_(stalled))
            .values(stall_check_at=NOW - timedelta(hours=1))
        )


def raw_tick_s(path: str, texts: bool) -> tuple[float, int]:
    """The database's own speed at the tick's work, in seconds: stdlib ``sqlite3`` in one
    transaction reads the due parcels with their orders, inserts a stall ticket (every column
    orderbot writes) and an alert for each, a text per customer when ``texts``, and clears each
    parcel's next check. Rolled back."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA cache_size=-65536")
    at = utc_text(NOW)
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    due = connection.execute(
        "SELECT p.id, p.order_id, p.tracking_no, p.last_scan_at, p.last_scan_place, o.stage,"
        " o.stage_entered_at, o.receiver_phone FROM parcels p JOIN orders o ON o.id = p.order_id"
        " WHERE p.stall_check_at <= ? ORDER BY p.stall_check_at",
        (at,),
    ).fetchall()
    first_id = connection.execute("SELECT coalesce(max(id), 0) FROM tickets").fetchone()[0]
    connection.executemany(
        "INSERT INTO tickets (kind, subject, episode, order_id, stage, stage_entered_at, status,"
        " group_key, route_rule, route_reason, sla_rule, deadline_at, opened_at, level, summary)"
        " VALUES ('stall', ?, ?, ?, ?, ?, 'open', 'logistics', '物流停滞', '类型=物流停滞',"
        " '物流停滞', ?, ?, 1, ?)",
        [
            (
                f"order:{order_id}",
                f"parcel:{pid}@{scanned}",
                order_id,
                stage,
                entered,
                at,
                at,
                f"中通 {no}: 包裹在【{place}】已超过25小时没有更新",
            )
            for pid, order_id, no, scanned, place, stage, entered, _ in due
        ],
    )
    opened = connection.execute("SELECT id FROM tickets WHERE id > ?", (first_id,)).fetchall()
    connection.executemany(
        "INSERT INTO outbox (dedup_key, ticket_id, kind, level, target_kind, target,"
        " created_at, status) VALUES (?, ?, 'alert', 1, 'group', 'logistics', ?, 'pending')",
        [(f"ticket:{ticket_id}:level:1", ticket_id, at) for (ticket_id,) in opened],
    )
    if texts:
        connection.executemany(
            "INSERT INTO sms_messages (dedup_key, order_id, phone, purpose, params, status,"
            " not_before, attempts, created_at) VALUES (?, ?, ?, 'stall', ?, 'pending', ?, 0, ?)",
            [
                (
                    f"stall:parcel:{pid}@{scanned}",
                    order_id,
                    phone,
                    json.dumps(
                        {"place": place, "silence": "24小时", "link": "x"}, ensure_ascii=False
                    ),
                    at,
                    at,
                )
                for pid, order_id, _, scanned, place, _, _, phone in due
            ],
        )
    connection.executemany(
        "UPDATE parcels SET stall_check_at = NULL WHERE id = ?", [(row[0],) for row in due]
    )
    elapsed = time.perf_counter() - started
    connection.rollback()
    connection.close()
    return elapsed, len(due)


async def timed_tick(sessions: Any, policy: Policy) -> tuple[float, stalls.StallResult]:
    started = time.perf_counter()
    result = await stalls.run(sessions, policy, NOW)
    return time.perf_counter() - started, result


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        policy = Policy.from_config(bench_config(url, args.texts))
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        print(f"database: {engine.url.render_as_string(hide_password=True)}")
        started = time.perf_counter()
        stalled = await fill(sessions, args.parcels, args.parcels // args.stalled, random.Random(1))
        print(
            f"filled {args.parcels:,} shipped orders and parcels ({len(stalled):,} silent for 25 h)"
            f" in {time.perf_counter() - started:.0f} s"
        )
        await undo(sessions, stalled)  # their check due an hour ago
        idle = []
        for _ in range(7):  # nothing due an hour before
            started = time.perf_counter()
            await stalls.run(sessions, policy, NOW - timedelta(hours=2))
            idle.append(time.perf_counter() - started)
        print(f"idle tick: {statistics.median(idle) * 1000:.2f} ms (median of 7)")
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        ticks: list[float] = []
        raws: list[float] = []
        for _ in range(args.rounds):
            if database:
                raw, due = raw_tick_s(database, args.texts)
                assert due == len(stalled), (due, len(stalled))
                raws.append(raw)
            elapsed, result = await timed_tick(sessions, policy)
            assert result.opened == len(stalled), result
            ticks.append(elapsed)
            await undo(sessions, stalled)
        print(
            f"tick with {len(stalled):,} newly stalled (best of {args.rounds}): {min(ticks):.2f} s"
            f" ({result.opened:,} tickets, {result.texted:,} texts queued)"
        )
        if raws:
            print(
                f"raw sqlite3, same parcels in one transaction (best of {args.rounds}): "
                f"{min(raws):.2f} s → orderbot {min(ticks) / min(raws):.1f}× raw"
            )
        else:
            print("raw reference: SQLite only, skipped on this database")
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=1_000_000)
    parser.add_argument("--stalled", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--no-texts", dest="texts", action="store_false", help="no [sms]: tickets only"
    )
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    asyncio.run(main(parser.parse_args()))
