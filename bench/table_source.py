"""Table source throughput against the HTTP batch API, on the same records.

    .venv/bin/python -m bench.table_source                      # orderbot on SQLite
    .venv/bin/python -m bench.table_source --postgresql         # orderbot on PostgreSQL too

A PostgreSQL database of its own (on 127.0.0.1:5432, dropped at the end) holds ``--orders``
shop orders in an ERP-like table (scalar columns: a table cannot hold the items and payments
arrays). Each round ingests all of them into a fresh orderbot database twice: once by one poll of
the table source (rows read in pages of ``--batch`` after the cursor, mapped, ingested), once by
POSTing the very same records, as JSON batches of ``--batch``, to ``serve``'s ingest API from a
feed process of its own. The two take turns, each going first in every other round; the best
round of each counts (a shared machine's noise only ever slows a run down). Beside each rate, the
CPU orderbot's process spent per 1,000 orders, which a busy machine disturbs less. Last, one
more poll after the table's rows were all taken: the look-back read again, every row skipped
before the ingest.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from adapters.table.reader import TableReader
from adapters.table.records import RecordMaker
from bench.watch_and_ingest import TOKEN, Records, bench_config, ingest_api
from bot import table_sources
from channels.address import RegionParser
from rules.stages import Stage
from sandbox.samples import sample_record
from services.clock import SystemClock
from services.config import Config, parse_config
from services.ingest import Ingestor
from services.policy import Rules
from storage import migrate
from storage.db import make_engine, make_sessionmaker

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
TABLE = """
CREATE TABLE shop_orders (
    id BIGSERIAL PRIMARY KEY,
    order_no TEXT NOT NULL, status TEXT NOT NULL,
    created_at TIMESTAMPTZ, paid_at TIMESTAMPTZ, updated_at TIMESTAMPTZ,
    total_fen BIGINT, freight_fen BIGINT, discount_fen BIGINT, paid_fen BIGINT,
    pay_channel TEXT, shop_name TEXT, category TEXT, buyer_message TEXT,
    receiver_name TEXT, receiver_mobile TEXT, receiver_province TEXT, receiver_city TEXT,
    receiver_district TEXT, receiver_detail TEXT
)
"""
TIMES = ("created_at", "paid_at", "updated_at")
SCALARS = (
    "order_no", "status", *TIMES, "total_fen", "freight_fen", "discount_fen", "paid_fen",
    "pay_channel", "shop_name", "category", "buyer_message",
)  # fmt: skip
RECEIVER = ("name", "mobile", "province", "city", "district", "detail")
COLUMNS = {field: field for field in SCALARS} | {f"receiver.{p}": f"receiver_{p}" for p in RECEIVER}


def table_row(n: int, rng: random.Random) -> tuple[Any, ...]:
    """One shop order (a sample as the demo makes them) as the ERP table's columns."""
    record = sample_record(
        "shop",
        rng,
        NOW,
        order_no=f"T{n:09d}",
        stage=Stage.PAID,
        stage_age=timedelta(minutes=rng.randint(1, 100)),
    )
    values = [record.get(name) for name in SCALARS]
    for i, name in enumerate(SCALARS):
        if name in TIMES and values[i] is not None:
            values[i] = datetime.fromisoformat(values[i])
    return (*values, *(record["receiver"].get(part) for part in RECEIVER))


async def fill_source(dsn: str, count: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(TABLE)
        rng = random.Random(7)
        await connection.copy_records_to_table(
            "shop_orders",
            records=[table_row(n, rng) for n in range(count)],
            columns=[*SCALARS, *(f"receiver_{p}" for p in RECEIVER)],
        )
    finally:
        await connection.close()


async def same_records(url: str, batch: int) -> Records:
    """The records the table source makes of the table's rows, for the API to be sent."""
    reader = TableReader(url, "shop_orders", list(COLUMNS.values()), "id", None)
    records: Records = []
    record_of = RecordMaker(COLUMNS, "shop")
    after = None
    try:
        while rows := await reader.page(after, batch):
            records += [("shop", record_of(row.values)) for row in rows]
            after = rows[-1].cursor
    finally:
        await reader.close()
    return records


def table_config(orderbot_url: str, source_url: str, batch: int) -> Config:
    data = bench_config(orderbot_url).model_dump(mode="python", by_alias=True, exclude={"sources"})
    data["sources"] = {
        "bench": {"token": TOKEN, "channels": ["shop"]},
        "erp-table": {
            "kind": "table",
            "url": source_url,
            "table": "shop_orders",
            "channel": "shop",
            "columns": COLUMNS,
            "batch_size": batch,
        },
    }
    return parse_config(data)


@asynccontextmanager
async def orderbot_databases(postgresql: bool) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Fresh, migrated orderbot databases on demand, all gone at the end."""
    made: list[str] = []
    with tempfile.TemporaryDirectory() as folder:

        async def fresh() -> str:
            name = f"orderbot_bench_{uuid.uuid4().hex[:10]}"
            if postgresql:
                await admin(f'CREATE DATABASE "{name}"')
                made.append(name)
                url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
            else:
                url = f"sqlite+aiosqlite:///{Path(folder) / name}.db"
            await asyncio.to_thread(migrate.upgrade, url)
            return url

        try:
            yield fresh
        finally:
            for name in made:
                await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def warm_up(ingestor: Ingestor) -> None:
    """The region parser loads its tables once per process, on the first free-text address."""
    await asyncio.to_thread(RegionParser().parse, "北京市东城区")
    record = {
        "order_no": "WARM-UP",
        "status": "PAID",
        "created_at": "2026-03-02T10:00:00+08:00",
        "total_fen": 100,
        "receiver": {"detail": "北京市朝阳区科技园路30号"},
    }
    await ingestor.orders("shop", [record], datetime.now(UTC), source="erp-table")


@dataclass
class Round:
    rate: float  # orders/s, wall clock
    cpu_ms: float  # this process's CPU per 1,000 orders (orderbot's side only)


@asynccontextmanager
async def measured(orders: int, rounds: list[Round]) -> AsyncIterator[None]:
    started, cpu = time.perf_counter(), time.process_time()
    yield
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    rounds.append(Round(orders / elapsed, cpu * 1e6 / orders))


async def table_round(
    orderbot_url: str, source_url: str, args: argparse.Namespace, rounds: list[Round]
) -> float:
    """One poll taking the whole table; then the seconds of the next poll (the look-back read
    again, nothing ingested)."""
    config = table_config(orderbot_url, source_url, args.batch)
    engine = make_engine(orderbot_url)
    sessions = make_sessionmaker(engine)
    ingestor = Ingestor(sessions, Rules.from_config(config), RegionParser())
    (poller,) = table_sources.pollers(config, ingestor, sessions, SystemClock(), "bench")
    try:
        await warm_up(ingestor)
        async with measured(args.orders, rounds):
            result = await poller.poll()
        assert result.created == args.orders, result
        started = time.perf_counter()
        again = await poller.poll()
        assert again.created == again.updated == again.unchanged == 0, again
        return time.perf_counter() - started
    finally:
        await poller.close()
        await engine.dispose()


async def api_round(orderbot_url: str, records: Records, rounds: list[Round]) -> None:
    """The same records POSTed in batches by a feed process; the server is this process."""
    async with ingest_api(bench_config(orderbot_url)) as post, measured(len(records), rounds):
        await post(records)


async def main(args: argparse.Namespace) -> None:
    source = f"orderbot_bench_src_{uuid.uuid4().hex[:10]}"
    await admin(f'CREATE DATABASE "{source}"')
    source_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{source}"
    try:
        await fill_source(f"postgresql://postgres@127.0.0.1:5432/{source}", args.orders)
        records = await same_records(source_url, args.batch)
        table: list[Round] = []
        api: list[Round] = []
        rereads = []
        async with orderbot_databases(args.postgresql) as fresh:
            for n in range(args.rounds):
                if n % 2:  # who goes first takes turns too: a process warms up as it runs
                    await api_round(await fresh(), records, api)
                rereads.append(await table_round(await fresh(), source_url, args, table))
                if not n % 2:
                    await api_round(await fresh(), records, api)
        best_table, best_api = max(r.rate for r in table), max(r.rate for r in api)
        cpu_table, cpu_api = min(r.cpu_ms for r in table), min(r.cpu_ms for r in api)
        where = "PostgreSQL" if args.postgresql else "SQLite"
        print(
            f"{args.orders:,} shop orders into orderbot on {where}, batches of {args.batch:,}, "
            f"best of {args.rounds} rounds:"
        )
        print(
            f"  table source (a PostgreSQL table, one poll): {best_table:,.0f} orders/s, "
            f"CPU {cpu_table:,.0f} ms per 1,000"
        )
        print(
            f"  HTTP batch API (the same records as JSON):   {best_api:,.0f} orders/s, "
            f"CPU {cpu_api:,.0f} ms per 1,000 (the server's)"
        )
        print(f"  table source / API: {best_table / best_api:.0%} (goal ≥ 100%)")
        print(
            f"  the next poll, re-reading the look-back ({args.orders:,} rows, all skipped): "
            f"{min(rereads):.2f} s"
        )
        each = ", ".join(f"{t.rate:,.0f}/{a.rate:,.0f}" for t, a in zip(table, api, strict=True))
        print(f"  each round, table/API orders/s: {each}")
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{source}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgresql", action="store_true", help="orderbot's database too")
    asyncio.run(main(parser.parse_args()))
