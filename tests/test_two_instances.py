"""Several instances against one database: no duplicate tickets, no duplicate outbox rows."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import STDOUT
from typing import Any

import aiohttp
import tomli_w
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from channels.address import RegionParser
from jobs import watch
from sandbox import SandboxConfig, create_sandbox_app
from services.config import Config
from services.ingest import Ingestor
from services.policy import Policy, Rules
from storage.db import make_engine, make_sessionmaker
from storage.models import Delivery, DeliveryTarget, OutboxMessage, Ticket
from tests.support import T0, TOKENS, config_data, shop_order

ORDERS = 300


async def _counts(url: str) -> tuple[int, int, int, int]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            tickets = (await session.execute(select(Ticket.order_id, Ticket.stage))).all()
            keys = list(await session.scalars(select(OutboxMessage.dedup_key)))
            outbox_total = await session.scalar(select(func.count(OutboxMessage.id)))
    finally:
        await engine.dispose()
    return len(tickets), len(set(tickets)), len(keys), outbox_total or 0


async def test_two_watchers_split_the_work_without_duplicates(config: Config) -> None:
    policy = Policy.from_config(config)
    engines = [make_engine(config.database.url) for _ in range(2)]
    sessions = [make_sessionmaker(e) for e in engines]
    try:
        ingestor = Ingestor(sessions[0], Rules(policy), RegionParser())
        batch = [shop_order(f"SH{i:04d}", province="上海市") for i in range(ORDERS)]
        report = await ingestor.orders("shop", batch, T0, source="erp")
        assert report.created == ORDERS

        at = T0 + timedelta(hours=5)  # past the deadline and the 4h escalation
        results = await asyncio.gather(*(watch.run(s, policy, at) for s in sessions))
        assert sum(r.opened for r in results) == ORDERS
        assert sum(r.escalated for r in results) == ORDERS
        # A second round, both at once again, finds nothing left to do.
        again = await asyncio.gather(*(watch.run(s, policy, at) for s in sessions))
        assert [r.checked for r in again] == [0, 0]
    finally:
        for engine in engines:
            await engine.dispose()
    total, distinct, outbox_keys, outbox_rows = await _counts(config.database.url)
    assert (total, distinct) == (ORDERS, ORDERS)
    assert outbox_rows == outbox_keys == 2 * ORDERS


async def test_two_ingestors_sending_the_same_batch_create_each_order_once(config: Config) -> None:
    policy = Policy.from_config(config)
    engines = [make_engine(config.database.url) for _ in range(2)]
    try:
        ingestors = [Ingestor(make_sessionmaker(e), Rules(policy), RegionParser()) for e in engines]
        batch = [shop_order(f"SH{i:04d}") for i in range(ORDERS)]
        reports = await asyncio.gather(
            *(i.orders("shop", batch, T0, source="erp") for i in ingestors)
        )
    finally:
        for engine in engines:
            await engine.dispose()
    assert sorted(r.created for r in reports) in ([0, ORDERS], [ORDERS, 0])
    assert sum(r.created + r.unchanged for r in reports) == 2 * ORDERS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_config(
    path: Path, database_url: str, port: int, wecom: dict[str, Any] | None = None
) -> None:
    data = config_data(database_url)
    data["server"] = {"port": port}
    data["watch"] = {"scan_interval": "1s", "batch_size": 50}
    if wecom is not None:
        data["groups"]["east"]["webhook_key"] = "key-east"
        data["wecom"] = wecom
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


async def _serve(config: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", "-c", str(config), stdout=out, stderr=STDOUT
        )


async def _wait_until_quiet(url: str, expected: int, within: float) -> tuple[int, int, int, int]:
    deadline = asyncio.get_running_loop().time() + within
    counts = await _counts(url)
    while counts[0] < expected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.25)
        counts = await _counts(url)
    await asyncio.sleep(2.5)  # two more ticks of each process: nothing further may appear
    return await _counts(url)


async def test_two_serve_processes_produce_no_duplicates(database_url: str, tmp_path: Path) -> None:
    ports = [_free_port(), _free_port()]
    processes = []
    logs = [tmp_path / f"instance{n}.log" for n in range(2)]
    for n, port in enumerate(ports):
        config_path = tmp_path / f"instance{n}.toml"
        _write_config(config_path, database_url, port)
        processes.append(await _serve(config_path, logs[n]))
    try:
        paid = datetime.now(UTC) - timedelta(hours=5)
        async with aiohttp.ClientSession() as http:
            for port in ports:
                await _wait_for_port(http, port, processes)
            for start in range(0, ORDERS, 100):
                batch = [shop_order(f"SH{i:04d}", paid_at=paid) for i in range(start, start + 100)]
                # Each half of the feed goes to a different instance, as behind a balancer.
                port = ports[start // 100 % 2]
                async with http.post(
                    f"http://127.0.0.1:{port}/api/v1/orders/shop",
                    json=batch,
                    headers={"Authorization": f"Bearer {TOKENS['all']}"},
                ) as r:
                    assert r.status == 200, await r.text()
        total, distinct, keys, rows = await _wait_until_quiet(database_url, ORDERS, within=60)
    finally:
        for process in processes:
            process.terminate()
            await process.wait()
    errors = [log.read_text(encoding="utf-8") for log in logs]
    assert (total, distinct) == (ORDERS, ORDERS), errors
    assert rows == keys == 2 * ORDERS


READY_WITHIN = 90  # seconds: a serve starts in ~2 s, many times that on a loaded CI machine


async def _wait_for_port(
    http: aiohttp.ClientSession, port: int, processes: list[asyncio.subprocess.Process]
) -> None:
    """Until serve answers /healthz on ``port`` (the app is up, not just the socket)."""
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if any(p.returncode is not None for p in processes):
            raise AssertionError("a serve process exited early; see its log")
        try:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                await response.read()
                return
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"serve did not listen on {port} within {READY_WITHIN} s")


async def _chat_state(url: str) -> tuple[int, str | None]:
    """Messages WeCom accepted so far (by the delivery log) and who holds the east group's
    lease."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            delivered = await session.scalar(select(func.count(Delivery.id)))
            owner = await session.scalar(
                select(DeliveryTarget.lease_owner).where(
                    DeliveryTarget.target_kind == "group", DeliveryTarget.target == "east"
                )
            )
    finally:
        await engine.dispose()
    return delivered or 0, owner


async def _orders_shown(http: aiohttp.ClientSession, sandbox: TestServer) -> list[set[str]]:
    """The order numbers in each message the sandbox accepted, oldest first."""
    async with http.get(sandbox.make_url("/sandbox/api/messages")) as response:
        records = (await response.json())["messages"]
    return [set(re.findall(r"SH\d{4}", record["content"] or "")) for record in records]


async def test_a_serve_killed_mid_digest_costs_seconds_and_repeats_at_most_one_message(
    database_url: str, tmp_path: Path, aiohttp_server: Any
) -> None:
    sandbox = await aiohttp_server(
        create_sandbox_app(SandboxConfig(webhook_keys={"key-east": "华东组"}))
    )
    wecom = {"api_base": str(sandbox.make_url("/cgi-bin/")), "group_wait": "1s"}
    ports = [_free_port(), _free_port()]
    logs = [tmp_path / f"instance{n}.log" for n in range(2)]
    processes = []
    for n, port in enumerate(ports):
        _write_config(tmp_path / f"instance{n}.toml", database_url, port, wecom)
        processes.append(await _serve(tmp_path / f"instance{n}.toml", logs[n]))
    orders = {f"SH{i:04d}" for i in range(150)}  # one digest of five robot messages
    try:
        async with aiohttp.ClientSession() as http:
            for port in ports:
                await _wait_for_port(http, port, processes)
            spec = {"endpoint": "webhook/send", "kind": "delay", "seconds": 0.6, "count": 20}
            async with http.post(sandbox.make_url("/sandbox/api/faults"), json=spec) as r:
                assert r.status == 200
            paid = datetime.now(UTC) - timedelta(hours=3)
            async with http.post(
                f"http://127.0.0.1:{ports[0]}/api/v1/orders/shop",
                json=[shop_order(order, paid_at=paid) for order in sorted(orders)],
                headers={"Authorization": f"Bearer {TOKENS['all']}"},
            ) as r:
                assert r.status == 200, await r.text()
            delivered, owner = await _chat_state(database_url)
            for _ in range(300):  # two messages accepted and recorded, the third under way
                if delivered >= 2:
                    break
                await asyncio.sleep(0.1)
                delivered, owner = await _chat_state(database_url)
            assert delivered >= 2 and owner is not None, [log.read_text() for log in logs]
            os.kill(int(owner.split(":")[-2]), signal.SIGKILL)
            killed_at = time.monotonic()

            shown = await _orders_shown(http, sandbox)
            while set().union(*shown) != orders and time.monotonic() - killed_at < 40:
                await asyncio.sleep(0.25)
                shown = await _orders_shown(http, sandbox)
            took = time.monotonic() - killed_at
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
            await process.wait()
    assert set().union(*shown) == orders, [log.read_text() for log in logs]
    assert took < 25  # the lease lapses within seconds, then the survivor sends the rest
    times = Counter(order for seen in shown for order in seen)
    repeated = {order for order, n in times.items() if n > 1}
    assert any(repeated <= seen for seen in shown)  # at most the message in flight
