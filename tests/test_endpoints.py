"""The service's own endpoints over HTTP: /healthz, /readyz and /metrics on a healthy database,
on one a migration behind, with the timers running, and with PostgreSQL going away behind a
TCP proxy (refusing new connections, or accepting them and never answering)."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from alembic import command
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from bot.app import create_app
from bot.observability.endpoints import PROBE_TIMEOUT
from sandbox import SandboxConfig, create_sandbox_app
from services.config import Config, parse_config
from storage import migrate
from tests.conftest import PG_ADMIN_DSN, _pg_admin
from tests.support import T0, FakeClock, auth, config_data, shop_order, stage_event

H = timedelta(hours=1)
FAST = timedelta(milliseconds=100)  # timer interval of the apps that run their jobs here
INGESTED = "orderbot_ingested_records_total"
DELIVERIES = "orderbot_wecom_deliveries_total"
JOB_RUNS = "orderbot_job_duration_seconds_count"
JOB_FAILURES = "orderbot_job_failures_total"
GROUP_SENT = {"target_kind": "group", "outcome": "sent"}
GROUP_DEAD = {"target_kind": "group", "outcome": "dead"}


class Scrape:
    """One /metrics answer, parsed by prometheus-client's own parser."""

    def __init__(self, exposition: str) -> None:
        families = text_string_to_metric_families(exposition)
        self.samples = [sample for family in families for sample in family.samples]

    def value(self, name: str, **labels: str) -> float | None:
        for sample in self.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
        return None

    def count(self, name: str, **labels: str) -> float:
        """A counter's value, 0 while it has no series yet."""
        return self.value(name, **labels) or 0.0


async def scrape(client: TestClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    return Scrape(await response.text())


async def scrape_until(
    client: TestClient, condition: Callable[[Scrape], bool], within: float = 5.0
) -> Scrape:
    deadline = time.monotonic() + within
    while not condition(metrics := await scrape(client)):
        assert time.monotonic() < deadline, "the metrics never got there"
        await asyncio.sleep(0.05)
    return metrics


async def readiness(client: TestClient) -> tuple[int, dict[str, dict[str, Any]]]:
    response = await client.get("/readyz")
    body = await response.json()
    assert body["status"] == ("ready" if response.status == 200 else "not ready")
    return response.status, body["checks"]


def failing(checks: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, check in checks.items() if not check["ok"]]


async def test_probes_need_no_token_and_the_ingest_api_still_does(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert (response.status, await response.json()) == (200, {"status": "ok"})
    assert (await client.get("/readyz")).status == 200
    assert (await client.get("/metrics")).status == 200

    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = await client.post("/api/v1/orders/shop", json=shop_order("S1"), headers=headers)
        assert response.status == 401


async def test_readyz_lists_every_check_and_says_which_an_app_without_timers_skips(
    client: TestClient, database_url: str
) -> None:
    status, checks = await readiness(client)

    assert status == 200
    assert set(checks) == {"database", "migrations", "scheduler", "sender"}
    assert failing(checks) == []
    assert checks["migrations"]["reason"] == f"at {migrate.head_revision(database_url)}"
    assert checks["scheduler"]["reason"] == "skipped: built without timers"
    assert checks["sender"]["reason"] == "skipped: no [wecom] section"


async def test_readyz_names_migrations_when_the_database_is_a_revision_behind(
    client: TestClient, database_url: str
) -> None:
    # The app refuses to start unmigrated, so the schema goes back after it started.
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(database_url), "-1")

    status, checks = await readiness(client)

    assert status == 503
    assert failing(checks) == ["migrations"]
    head = migrate.head_revision(database_url)
    assert checks["migrations"]["reason"].endswith(f"code needs {head}")


async def test_metrics_count_ingested_records_by_kind_channel_and_outcome(
    client: TestClient,
) -> None:
    orders = [shop_order("S1"), shop_order("S2"), shop_order("S3"), shop_order("坏 单号")]
    response = await client.post("/api/v1/orders/shop", json=orders, headers=auth("all"))
    assert response.status == 207
    events = [
        stage_event("S1", "picking", T0 + H),
        stage_event("S9", "picking", T0 + H),  # no such order
        stage_event("S2", "picking", T0 + H, channel="nowhere"),
    ]
    response = await client.post("/api/v1/events", json=events, headers=auth("wms"))
    assert response.status == 207

    metrics = await scrape(client)

    assert metrics.value(INGESTED, kind="orders", channel="shop", outcome="accepted") == 3
    assert metrics.value(INGESTED, kind="orders", channel="shop", outcome="rejected") == 1
    assert metrics.value(INGESTED, kind="events", channel="shop", outcome="accepted") == 1
    assert metrics.value(INGESTED, kind="events", channel="shop", outcome="rejected") == 1
    assert metrics.value(INGESTED, kind="events", channel="unknown", outcome="rejected") == 1
    assert metrics.value("orderbot_database_up") == 1
    assert metrics.value("orderbot_outbox_pending") == 0
    assert metrics.value("orderbot_outbox_oldest_pending_age_seconds") == 0
    assert metrics.value("orderbot_health_failing", signal="outbox_backlog") == 0
    assert math.isnan(metrics.value("orderbot_health_failing", signal="address_parse") or 0)
    assert metrics.value("orderbot_routing_paused") == 0


async def test_metrics_show_the_health_guards_signals(client: TestClient) -> None:
    unparseable = [shop_order(f"S{n}", province=None, detail="火星基地第3号舱") for n in range(25)]
    response = await client.post("/api/v1/orders/shop", json=unparseable, headers=auth("all"))
    assert response.status == 200

    metrics = await scrape(client)

    assert metrics.value("orderbot_health_failing", signal="address_parse") == 1
    assert metrics.value("orderbot_health_failing", signal="rejected:shop") == 0


async def test_timed_jobs_deliveries_and_backlog_with_scheduler_and_sender_ready(
    aiohttp_client: Any, aiohttp_server: Any, database_url: str, clock: FakeClock
) -> None:
    sandbox: TestServer = await aiohttp_server(
        create_sandbox_app(SandboxConfig(webhook_keys={"key-east": "华东组"}))
    )
    data = config_data(database_url)
    data["watch"]["scan_interval"] = FAST
    data["groups"]["east"]["webhook_key"] = "key-east"  # the vip group has no robot
    data["wecom"] = {"api_base": str(sandbox.make_url("/cgi-bin/")), "send_interval": FAST}
    client = await aiohttp_client(create_app(parse_config(data), clock=clock))
    overdue = T0 - 3 * H  # paid three hours ago, picking was due within two
    orders = [
        shop_order("S1", paid_at=overdue),  # 上海: the east group
        shop_order("S2", paid_at=overdue, total_fen=600_000),  # 6,000 yuan: the vip group
    ]
    response = await client.post("/api/v1/orders/shop", json=orders, headers=auth("all"))
    assert response.status == 200

    # The watch opens both tickets and queues their alerts; the sender holds them for the
    # group wait (10 s on the app's clock, which stands still).
    await scrape_until(
        client,
        lambda m: (
            m.value("orderbot_outbox_pending") == 2
            and m.count(JOB_RUNS, job="watch") >= 1
            and m.count(JOB_RUNS, job="deliver") >= 1
        ),
    )
    clock.advance(timedelta(seconds=5))
    metrics = await scrape(client)
    assert metrics.value("orderbot_outbox_oldest_pending_age_seconds") == 5
    assert metrics.value(JOB_FAILURES, job="watch") == 0
    last_success = metrics.value("orderbot_job_last_success_timestamp_seconds", job="watch")
    assert last_success is not None and abs(last_success - time.time()) < 10

    status, checks = await readiness(client)
    assert status == 200
    assert (checks["scheduler"], checks["sender"]) == (
        {"ok": True, "reason": "running"},
        {"ok": True, "reason": "running"},
    )

    clock.advance(timedelta(seconds=6))  # past the group wait: east's robot gets it, vip has none
    metrics = await scrape_until(
        client, lambda m: m.count(DELIVERIES, **GROUP_SENT) + m.count(DELIVERIES, **GROUP_DEAD) >= 2
    )
    sent, dead = (metrics.value(DELIVERIES, **labels) for labels in (GROUP_SENT, GROUP_DEAD))
    assert (sent, dead) == (1, 1)


class DatabaseProxy:
    """TCP between the app and PostgreSQL, which the test can take away."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._connections: list[asyncio.StreamWriter] = []
        self._handlers: list[asyncio.Task[Any]] = []
        self._hanging = False

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        self._connections.append(writer)
        if self._hanging:
            return  # accepted, and never a byte back
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        self._connections.append(upstream_writer)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    def _cut(self) -> None:
        for connection in self._connections:
            connection.transport.abort()

    def refuse(self) -> None:
        """Cut every connection and stop listening: new ones are refused."""
        assert self._server is not None
        self._server.close()
        self._cut()

    def hang(self) -> None:
        """Cut every connection; new ones are accepted and then never answered."""
        self._hanging = True
        self._cut()

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        self._cut()  # since Python 3.12 wait_closed() waits for every connection to end
        await self._server.wait_closed()
        await asyncio.gather(*self._handlers, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh migrated PostgreSQL database, whichever backend the rest of the suite runs on."""
    name = f"orderbot_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_DSN).set(drivername="postgresql+asyncpg", database=name)
    try:
        rendered = url.render_as_string(hide_password=False)
        await asyncio.to_thread(migrate.upgrade, rendered)
        yield rendered
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def proxy() -> AsyncIterator[DatabaseProxy]:
    upstream = urlsplit(PG_ADMIN_DSN)
    proxy = DatabaseProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432)
    yield proxy
    await proxy.close()


async def proxied_config(postgres_url: str, proxy: DatabaseProxy) -> Config:
    port = await proxy.start()
    url = make_url(postgres_url).set(host="127.0.0.1", port=port)
    data = config_data(url.render_as_string(hide_password=False))
    data["watch"]["scan_interval"] = FAST
    return parse_config(data)


async def probe_while_down(client: TestClient) -> tuple[float, dict[str, dict[str, Any]]]:
    """How long readiness and a scrape take with the database gone (while /healthz answers
    at once), and what readiness said."""
    started = time.monotonic()
    ready = asyncio.ensure_future(readiness(client))
    metrics = asyncio.ensure_future(scrape(client))
    response = await client.get("/healthz")
    assert response.status == 200
    assert time.monotonic() - started < 0.5
    (status, checks), scraped = await asyncio.gather(ready, metrics)
    elapsed = time.monotonic() - started
    assert status == 503
    assert failing(checks)[:2] == ["database", "migrations"]
    assert scraped.value("orderbot_database_up") == 0
    assert math.isnan(scraped.value("orderbot_outbox_pending") or 0)
    assert math.isnan(scraped.value("orderbot_routing_paused") or 0)
    assert scraped.value(INGESTED, kind="orders", channel="shop", outcome="accepted") == 1
    return elapsed, checks


async def test_database_refusing_connections_after_start(
    postgres_url: str, proxy: DatabaseProxy, aiohttp_client: Any, clock: FakeClock
) -> None:
    client = await aiohttp_client(
        create_app(await proxied_config(postgres_url, proxy), clock=clock)
    )
    response = await client.post("/api/v1/orders/shop", json=shop_order("S1"), headers=auth("all"))
    assert response.status == 200
    assert (await readiness(client))[0] == 200

    proxy.refuse()
    elapsed, checks = await probe_while_down(client)

    assert elapsed < PROBE_TIMEOUT / 2  # refused: no need to wait for the timeout
    assert failing(checks) == ["database", "migrations"]  # the timers still run
    await scrape_until(client, lambda m: m.count(JOB_FAILURES, job="watch") >= 1)


async def test_database_hanging_after_start(
    postgres_url: str, proxy: DatabaseProxy, aiohttp_client: Any, clock: FakeClock
) -> None:
    config = await proxied_config(postgres_url, proxy)
    # No timers: a job stuck on the hung database would outlive the app.
    client = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    response = await client.post("/api/v1/orders/shop", json=shop_order("S1"), headers=auth("all"))
    assert response.status == 200
    assert (await readiness(client))[0] == 200

    proxy.hang()
    elapsed, checks = await probe_while_down(client)

    assert PROBE_TIMEOUT <= elapsed < PROBE_TIMEOUT + 1
    assert checks["database"]["reason"] == f"no answer within {PROBE_TIMEOUT:g} s"
