"""The table source (``kind = "table"``): orders polled from a table in another database,
ingested like the API's. The source tables live in real PostgreSQL (required: these tests fail
when it is down) and MariaDB (skipped, saying why, when it is down); orderbot's own database is
the suite's (SQLite, or PostgreSQL with ORDERBOT_TEST_DB=postgresql)."""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest
from pymysql.err import OperationalError as MariaDbDown
from sqlalchemy import select

from bot import table_sources
from bot.app import create_app
from bot.config_text import startup_line
from channels.address import RegionParser
from services.config import Config, ConfigError, parse_config
from services.ingest import Ingestor
from services.policy import Rules
from services.table_source import PollResult, TablePoller
from storage.db import make_engine, make_sessionmaker
from storage.models import Order
from storage.orders import orders_by_channel_id
from storage.table_sources import rejected_rows
from tests.conftest import PG_ADMIN_DSN, _pg_admin
from tests.support import T0, FakeClock, config_data
from tests.table_writer import is_bad, order_no
from tests.test_cli import no_crash, orderbot_here, write_config
from tests.test_cli import orderbot as cli

SHOP_TABLE = """
CREATE TABLE shop_orders (
    id BIGSERIAL PRIMARY KEY,
    order_no TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMPTZ,
    paid_at TIMESTAMPTZ,
    total_fen BIGINT,
    province TEXT,
    mobile TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
)
"""
SHOP_COLUMNS = {
    "order_no": "order_no",
    "status": "status",
    "created_at": "created_at",
    "paid_at": "paid_at",
    "total_fen": "total_fen",
    "receiver.province": "province",
    "receiver.mobile": "mobile",
}
INSERT = """
INSERT INTO shop_orders (order_no, status, created_at, paid_at, total_fen, province, mobile)
VALUES ($1, $2, '2026-03-02 08:30:00+08', '2026-03-02 08:30:00+08', 12900, '上海市', '13812345678')
"""


@dataclass
class PgSource:
    dsn: str  # asyncpg's
    url: str  # SQLAlchemy's


@pytest.fixture
async def pg_source() -> AsyncIterator[PgSource]:
    """A database of its own on the real PostgreSQL, with the ERP's ``shop_orders`` table."""
    name = f"orderbot_src_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    dsn = f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    try:
        connection = await asyncpg.connect(dsn)
        await connection.execute(SHOP_TABLE)
        await connection.close()
        yield PgSource(dsn, dsn.replace("postgresql://", "postgresql+asyncpg://"))
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def table_config(database_url: str, source: dict[str, Any]) -> Config:
    data = config_data(database_url)
    data["sources"]["erp-table"] = {"kind": "table", "channel": "shop"} | source
    return parse_config(data)


@dataclass
class Orderbot:
    """orderbot's side: its database, and pollers as ``serve`` builds them."""

    config: Config
    clock: FakeClock

    def __post_init__(self) -> None:
        self.engine = make_engine(self.config.database.url)
        self.sessions = make_sessionmaker(self.engine)
        self.ingestor = Ingestor(self.sessions, Rules.from_config(self.config), RegionParser())
        self.pollers: list[TablePoller] = []

    def poller(self, instance: str) -> TablePoller:
        (poller,) = table_sources.pollers(
            self.config, self.ingestor, self.sessions, self.clock, instance
        )
        self.pollers.append(poller)
        return poller

    async def orders(self) -> dict[str, str]:
        """Order number → stage, of every order in the pool."""
        async with self.sessions() as session:
            rows = await session.execute(select(Order.channel_order_id, Order.stage))
            return {number: stage for number, stage in rows}

    async def rejections(self) -> dict[int, str]:
        async with self.sessions() as session:
            return {r.row_id: r.reason for r in await rejected_rows(session, "erp-table", 1000)}

    async def close(self) -> None:
        for poller in self.pollers:
            await poller.close()
        await self.engine.dispose()


@pytest.fixture
async def orderbot(database_url: str) -> AsyncIterator[Callable[[dict[str, Any]], Orderbot]]:
    made: list[Orderbot] = []

    def make(source: dict[str, Any]) -> Orderbot:
        made.append(Orderbot(table_config(database_url, source), FakeClock(T0)))
        return made[-1]

    yield make
    for side in made:
        await side.close()


def total(results: list[PollResult]) -> PollResult:
    summed = PollResult()
    for result in results:
        for field in ("created", "updated", "unchanged", "rejected", "looked_back"):
            setattr(summed, field, getattr(summed, field) + getattr(result, field))
    return summed


async def test_every_row_of_a_table_written_concurrently_arrives_once(
    pg_source: PgSource, orderbot: Callable[[dict[str, Any]], Orderbot]
) -> None:
    """Four writers insert in concurrent transactions, one committing late with smaller ids,
    while orderbot polls; every good row is ingested exactly once, every bad one is recorded
    with its id and reason."""
    side = orderbot({"url": pg_source.url, "table": "shop_orders", "columns": SHOP_COLUMNS})
    poller = side.poller("instance-a")
    rows, writers = 30, 4
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.table_writer",
        pg_source.dsn,
        str(rows),
        str(writers),
        stdout=asyncio.subprocess.PIPE,
    )
    written = asyncio.create_task(writer.communicate())
    results = []
    try:
        while not written.done():
            results.append(await poller.poll())
            side.clock.advance(timedelta(seconds=1))  # ~20x real time; the look-back is 5 min
            await asyncio.sleep(0.05)
    finally:
        if not written.done():
            writer.kill()
    out, _ = await written
    assert writer.returncode == 0
    results.append(await poller.poll())

    committed = [int(line) for line in out.decode().split()]
    late = [b for a, b in itertools.pairwise(committed) if b < a]
    assert late, "the writer committed no row after a larger id: nothing late to catch"
    good = {order_no(w, n) for w in range(writers) for n in range(rows) if not is_bad(n)}
    assert set(await side.orders()) == good
    summed = total(results)
    assert (summed.created, summed.updated, summed.unchanged) == (len(good), 0, 0)
    connection = await asyncpg.connect(pg_source.dsn)
    bad_ids = {
        r["id"]
        for r in await connection.fetch("SELECT id FROM shop_orders WHERE status = 'TELEPORTED'")
    }
    await connection.close()
    rejections = await side.rejections()
    assert set(rejections) == bad_ids
    assert all("status" in reason and "TELEPORTED" in reason for reason in rejections.values())
    assert summed.rejected == len(bad_ids)


async def test_a_row_committed_late_within_the_look_back_is_read(
    pg_source: PgSource, orderbot: Callable[[dict[str, Any]], Orderbot]
) -> None:
    side = orderbot(
        {"url": pg_source.url, "table": "shop_orders", "columns": SHOP_COLUMNS, "look_back": "5m"}
    )
    poller = side.poller("instance-a")
    slow, fast = await asyncpg.connect(pg_source.dsn), await asyncpg.connect(pg_source.dsn)
    try:
        late = slow.transaction()
        await late.start()
        await slow.execute(INSERT, "LATE-1", "PAID")  # takes id 1, not committed yet
        await fast.execute(INSERT, "FAST-2", "PAID")  # id 2, committed
        first = await poller.poll()
        assert (first.created, set(await side.orders())) == (1, {"FAST-2"})
        side.clock.advance(timedelta(minutes=4))
        await late.commit()
        second = await poller.poll()
        assert (second.created, second.looked_back) == (1, 1)  # FAST-2 read again, not ingested
        assert set(await side.orders()) == {"FAST-2", "LATE-1"}

        # Past the look-back the poll starts at the cursor: rows already read cost nothing.
        side.clock.advance(timedelta(minutes=6))
        await fast.execute(INSERT, "FAST-3", "PAID")
        third = await poller.poll()
        assert (third.created, third.looked_back) == (1, 0)
    finally:
        await slow.close()
        await fast.close()


async def test_a_restarted_instance_resumes_from_the_stored_cursor(
    pg_source: PgSource, orderbot: Callable[[dict[str, Any]], Orderbot]
) -> None:
    source = {"url": pg_source.url, "table": "shop_orders", "columns": SHOP_COLUMNS}
    connection = await asyncpg.connect(pg_source.dsn)
    try:
        for n in range(5):
            await connection.execute(INSERT, f"A-{n}", "PAID")
        before = orderbot(source)
        assert (await before.poller("before-restart").poll()).created == 5
        await before.close()

        for n in range(2):
            await connection.execute(INSERT, f"B-{n}", "PAID")
        after = orderbot(source)  # a new process: nothing in memory, the old lease lapsed
        after.clock.advance(timedelta(minutes=10))
        resumed = await after.poller("after-restart").poll()
        assert (resumed.created, resumed.unchanged, resumed.looked_back) == (2, 0, 0)
        assert len(await after.orders()) == 7
    finally:
        await connection.close()


async def test_one_instance_polls_a_source_at_a_time(
    pg_source: PgSource, orderbot: Callable[[dict[str, Any]], Orderbot]
) -> None:
    side = orderbot(
        {
            "url": pg_source.url,
            "table": "shop_orders",
            "columns": SHOP_COLUMNS,
            "poll_interval": "5s",
        }
    )
    first, second = side.poller("instance-a"), side.poller("instance-b")
    connection = await asyncpg.connect(pg_source.dsn)
    try:
        await connection.execute(INSERT, "X-1", "PAID")
        assert (await first.poll()).created == 1
        side.clock.advance(timedelta(seconds=5))
        await connection.execute(INSERT, "X-2", "PAID")
        refused = await second.poll()
        assert (refused.held_by, refused.created, refused.looked_back) == ("instance-a", 0, 0)
        side.clock.advance(timedelta(seconds=31))  # instance-a stopped polling: its lease lapses
        taken = await second.poll()
        assert (taken.held_by, taken.created) == (None, 1)
        assert (await first.poll()).held_by == "instance-b"
    finally:
        await connection.close()


TIED = """
INSERT INTO shop_orders (id, order_no, status, created_at, paid_at, total_fen, updated_at)
VALUES ($1, $2, $3, '2026-03-02 08:30:00+08', '2026-03-02 08:30:00+08', 12900,
        '2026-03-02 08:40:00+08'::timestamptz + $4 * interval '1 minute')
"""


async def test_an_updated_at_cursor_reads_ties_updates_and_late_ties(
    pg_source: PgSource, orderbot: Callable[[dict[str, Any]], Orderbot]
) -> None:
    """Rows sharing one updated-at across pages all arrive; an updated row is read again and
    moves its order; a row committed late with the same updated-at and a smaller id is read."""
    columns = SHOP_COLUMNS | {"updated_at": "updated_at"}
    side = orderbot(
        {
            "url": pg_source.url,
            "table": "shop_orders",
            "columns": columns,
            "updated_at_column": "updated_at",
            "batch_size": 2,
        }
    )
    poller = side.poller("instance-a")
    slow, fast = await asyncpg.connect(pg_source.dsn), await asyncpg.connect(pg_source.dsn)
    try:
        for row_id in range(1, 6):
            await fast.execute(TIED, row_id, f"TIE-{row_id}", "PAID", 0)
        assert (await poller.poll()).created == 5

        await fast.execute(
            "UPDATE shop_orders SET status = 'PICKING', "
            "updated_at = '2026-03-02 08:41:00+08' WHERE id = 3"
        )
        side.clock.advance(timedelta(seconds=10))
        moved = await poller.poll()
        assert (moved.created, moved.updated) == (0, 1)
        assert (await side.orders())["TIE-3"] == "picking"

        late = slow.transaction()
        await late.start()
        await slow.execute(TIED, 50, "LATE-50", "PAID", 2)
        await fast.execute(TIED, 60, "TIE-60", "PAID", 2)
        assert (await poller.poll()).created == 1
        side.clock.advance(timedelta(minutes=1))
        await late.commit()
        assert (await poller.poll()).created == 1
        assert {"LATE-50", "TIE-60"} <= set(await side.orders())

        # A refused row the ERP mends (a newer updated_at) is taken, and refused no more.
        await fast.execute(TIED, 70, "MENDED-70", "ON_THE_MOON", 3)
        assert (await poller.poll()).rejected == 1
        assert list(await side.rejections()) == [70]
        await fast.execute(
            "UPDATE shop_orders SET status = 'PAID', "
            "updated_at = '2026-03-02 08:44:00+08' WHERE id = 70"
        )
        assert (await poller.poll()).created == 1
        assert await side.rejections() == {}
    finally:
        await slow.close()
        await fast.close()


TRADES = """
CREATE TABLE trades (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    tid BIGINT NOT NULL,
    status VARCHAR(64) NOT NULL,
    created DATETIME,
    pay_time DATETIME,
    payment DECIMAL(12, 2),
    seller_nick VARCHAR(64),
    receiver_state VARCHAR(32),
    receiver_mobile VARCHAR(20),
    modified DATETIME(6) NOT NULL
)
"""
TRADE = (
    "INSERT INTO trades (tid, status, created, pay_time, payment, seller_nick, receiver_state,"
    " receiver_mobile, modified) VALUES (%s, %s, '2026-03-02 08:20:00', '2026-03-02 08:30:00',"
    " %s, '木森家居旗舰店', '浙江省', '13812345678', %s)"
)


@pytest.fixture
async def mariadb_source() -> AsyncIterator[str]:
    """A database of its own on MariaDB (127.0.0.1:3306, root) with a Taobao ``trades`` table;
    the test is skipped, saying why, when MariaDB is not there."""
    try:
        admin = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    except (OSError, MariaDbDown) as error:
        pytest.skip(f"MariaDB 127.0.0.1:3306 不可用 ({error}); 中间表的 MySQL 测试跳过")
    name = f"orderbot_src_{uuid.uuid4().hex[:12]}"
    try:
        async with admin.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
            await cursor.execute(TRADES.replace("trades", f"{name}.trades", 1))
        yield f"mysql+aiomysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"
    finally:
        async with admin.cursor() as cursor:
            await cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


async def test_a_mariadb_table_with_yuan_and_beijing_times(
    mariadb_source: str, orderbot: Callable[[dict[str, Any]], Orderbot]
) -> None:
    columns = {
        "tid": "tid",
        "status": "status",
        "created": "created",
        "pay_time": "pay_time",
        "payment": "payment",
        "seller_nick": "seller_nick",
        "receiver_state": "receiver_state",
        "receiver_mobile": "receiver_mobile",
    }
    side = orderbot(
        {
            "url": mariadb_source,
            "table": "trades",
            "channel": "taobao",
            "columns": columns,
            "updated_at_column": "modified",
        }
    )
    url = mariadb_source.removeprefix("mysql+aiomysql://root@127.0.0.1:3306/").split("?")[0]
    writer = await aiomysql.connect(
        host="127.0.0.1", user="root", db=url, autocommit=True, charset="utf8mb4"
    )
    try:
        async with writer.cursor() as cursor:
            rows = [
                (3920481234567301, "WAIT_SELLER_SEND_GOODS", "200.07", "2026-03-02 08:40:00"),
                (3920481234567302, "WAIT_SELLER_SEND_GOODS", "99.00", "2026-03-02 08:40:00"),
                (3920481234567303, "LOST_IN_SPACE", "10.00", "2026-03-02 08:41:00"),
            ]
            await cursor.executemany(TRADE, rows)
        result = await side.poller("instance-a").poll()
        assert (result.created, result.rejected) == (2, 1)
        async with side.sessions() as session:
            found = await orders_by_channel_id(
                session, "taobao", ["3920481234567301", "3920481234567302"]
            )
        first = found["3920481234567301"]
        assert first["amount_fen"] == 20007
        assert first["paid_at"] == T0 - timedelta(minutes=30)  # 08:30 Beijing
        (reason,) = (await side.rejections()).values()
        assert "status" in reason and "LOST_IN_SPACE" in reason
    finally:
        writer.close()


# --- the config, check-config and the rejected rows ---------------------------------------------


def _refusal(source: dict[str, Any]) -> str:
    data = config_data("sqlite+aiosqlite:///x.db")
    data["sources"]["erp-table"] = source
    with pytest.raises(ConfigError) as refused:
        parse_config(data)
    return str(refused.value)


GOOD = {
    "kind": "table",
    "url": "postgresql+asyncpg://erp:secret@db.example/erp",
    "table": "erp.shop_orders",
    "channel": "shop",
    "columns": {"order_no": "order_no", "status": "status"},
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"updated_at_colum": "changed_at"},
            "sources.erp-table.updated_at_colum: 未知配置项, 是否想写 updated_at_column?",
        ),
        (
            {"columns": {"recever.province": "province"}},
            "columns.recever.province: shop 渠道没有这个字段, 是否想写 receiver.province?",
        ),
        ({"channel": "shopp"}, "sources.erp-table.channel: 未知渠道 'shopp', 是否想写 shop?"),
        ({"url": "mysql://root@db/erp"}, "url: 只支持 postgresql+asyncpg://, mysql+aiomysql://"),
        ({"url": None, "url_env": "ORDERBOT_NO_SUCH_URL"}, "环境变量 ORDERBOT_NO_SUCH_URL 未设置"),
        ({"token": "t"}, 'token 只用于 kind = "api" 的来源'),
        ({"table": None}, "需要 table"),
        ({"look_back": "5"}, "sources.erp-table.look_back: 时长须带单位"),
        ({"kind": "tabel"}, "sources.erp-table.kind: 应为 'api', 'table' 之一"),
    ],
)
def test_a_bad_table_source_is_named_with_the_nearest_valid_key(
    change: dict[str, Any], expected: str
) -> None:
    source = {k: v for k, v in (GOOD | change).items() if v is not None}
    assert expected in _refusal(source)


def test_an_api_source_refuses_the_table_keys() -> None:
    refusal = _refusal({"token": "t", "channels": ["shop"], "table": "orders"})
    assert 'sources.erp-table: table 只用于 kind = "table" 的来源' in refusal


async def test_a_table_source_opens_no_door_to_the_api(
    aiohttp_client: Any, database_url: str
) -> None:
    """A table source has no token: an empty bearer token must not pass as its own."""
    config = table_config(database_url, GOOD)
    client = await aiohttp_client(create_app(config, clock=FakeClock(T0), watch_timer=False))
    for header in ("Bearer ", "Bearer"):
        response = await client.post(
            "/api/v1/orders/shop", json=[], headers={"Authorization": header}
        )
        assert response.status == 401


def test_check_config_says_a_table_source_in_words(tmp_path: Path) -> None:
    data = config_data(f"sqlite+aiosqlite:///{tmp_path / 'never-opened.db'}")
    data["sources"]["erp-table"] = GOOD | {"updated_at_column": "changed_at"}
    result = orderbot_here(
        "check-config", "-c", write_config(tmp_path / "c.toml", data), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "erp-table" in line]
    assert line.startswith("中间表来源 erp-table: postgresql+asyncpg://erp:***@db.example/erp")
    for words in (
        "表 erp.shop_orders → 自营商城订单",
        "按 changed_at 递增 (相同时按 id)",
        "(相同时按 id) 读取, 每 10秒 一次, 每批 1000 行, 回看 5分 (",
        "列映射: order_no ← order_no, status ← status",
    ):
        assert words in line
    assert "secret" not in result.stdout


async def test_rejected_rows_are_listed_by_the_command_line(
    pg_source: PgSource,
    orderbot: Callable[[dict[str, Any]], Orderbot],
    database_url: str,
    tmp_path: Path,
) -> None:
    source = {"url": pg_source.url, "table": "shop_orders", "columns": SHOP_COLUMNS}
    side = orderbot(source)
    connection = await asyncpg.connect(pg_source.dsn)
    try:
        await connection.execute(INSERT, "OK-1", "PAID")
        await connection.execute(INSERT, "BAD-2", "ON_THE_MOON")
    finally:
        await connection.close()
    assert (await side.poller("instance-a").poll()).rejected == 1

    data = config_data(database_url)
    data["sources"]["erp-table"] = {"kind": "table", "channel": "shop"} | source
    path = write_config(tmp_path / "c.toml", data)
    listed = await asyncio.to_thread(cli, "table-rejected", "erp-table", "-c", path, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "erp-table: 被拒的行 (最新的 1 行)" in listed.stdout
    assert re.search(r"id 2 · 2026-03-02 09:00:00 · status: .*ON_THE_MOON", listed.stdout)

    mistyped = await asyncio.to_thread(cli, "table-rejected", "erp-tabel", "-c", path, cwd=tmp_path)
    assert mistyped.returncode == 2
    assert "没有名为 'erp-tabel' 的中间表来源, 是否想写 erp-table?" in mistyped.stderr
    no_crash(mistyped)


async def test_serve_polls_a_table_source_on_its_timer(
    aiohttp_client: Any, pg_source: PgSource, database_url: str
) -> None:
    """The app as ``serve`` runs it, timers on: a row written to the table becomes an order
    within a few poll intervals, and the start-up line names the timer."""
    source = {"url": pg_source.url, "table": "shop_orders", "columns": SHOP_COLUMNS}
    config = table_config(database_url, source | {"poll_interval": "1s"})
    assert "中间表 erp-table 每 1秒" in startup_line(config, "http://127.0.0.1:8080")
    connection = await asyncpg.connect(pg_source.dsn)
    try:
        await connection.execute(INSERT, "SERVED-1", "PAID")
    finally:
        await connection.close()
    side = Orderbot(config, FakeClock(T0))
    try:
        await aiohttp_client(create_app(config, clock=side.clock))
        for _ in range(100):
            if await side.orders():
                break
            await asyncio.sleep(0.1)
        assert await side.orders() == {"SERVED-1": "paid"}
    finally:
        await side.close()
