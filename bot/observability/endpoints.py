"""GET /healthz, /readyz and /metrics: for orchestrators and Prometheus, without a token.

Every database read here gives up after :data:`PROBE_TIMEOUT`, so a hung database makes a probe
answer "down" instead of hanging it. A connection cut off mid-query is closed before the answer,
which asyncpg bounds at another 2 s.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from aiohttp import web
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.keys import CLOCK, CONFIG, ENGINE, METRICS, RULES, SCHEDULER, SESSIONS
from bot.observability.metrics import HealthView, OutboxBacklog
from channels.registry import LABELS
from rules.freshness import summarize
from rules.health import evaluate
from storage.health import measure, routing_pause
from storage.migrate import current_revision, head_revision
from storage.models import OutboxMessage

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0  # seconds
SENDER_JOB = "deliver"  # the id bot.app gives the outbox sender's job


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str


def _reason(error: Exception) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT:g} s"
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0][:160]}" if message else type(error).__name__


@functools.cache
def _code_head(url: str) -> str | None:
    """The newest migration of the running code: read once, as a deploy may replace the files."""
    return head_revision(url)


async def healthz(_request: web.Request) -> web.Response:
    """Alive: looks at nothing else, so a database outage never gets the process restarted."""
    return web.json_response({"status": "ok"})


async def _database_checks(engine: AsyncEngine, head: str | None) -> tuple[Check, Check]:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            current = await current_revision(engine)
    except Exception as error:  # whatever the driver raises, the database is not usable
        return Check(False, _reason(error)), Check(False, "not checked: database unreachable")
    if current != head:
        return Check(True, "reachable"), Check(False, f"at {current or 'none'}, code needs {head}")
    return Check(True, "reachable"), Check(True, f"at {head}")


def _scheduler_check(app: web.Application) -> Check:
    if SCHEDULER not in app:
        return Check(True, "skipped: built without timers")
    state = app[SCHEDULER].state
    if state == STATE_RUNNING:
        return Check(True, "running")
    return Check(False, "paused" if state == STATE_PAUSED else "stopped")


def _sender_check(app: web.Application) -> Check:
    if app[CONFIG].wecom is None:
        return Check(True, "skipped: no [wecom] section")
    if SCHEDULER not in app:
        return Check(True, "skipped: built without timers")
    scheduler = app[SCHEDULER]
    job = scheduler.get_job(SENDER_JOB)
    if job is None or job.next_run_time is None:
        return Check(False, "outbox sender not scheduled")
    if scheduler.state != STATE_RUNNING:
        return Check(False, "scheduler not running")
    return Check(True, "running")


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    head = _code_head(app[CONFIG].database.url)
    database, migrations = await _database_checks(app[ENGINE], head)
    checks = {
        "database": database,
        "migrations": migrations,
        "scheduler": _scheduler_check(app),
        "sender": _sender_check(app),
    }
    ready = all(check.ok for check in checks.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {name: asdict(check) for name, check in checks.items()},
    }
    return web.json_response(body, status=200 if ready else 503)


async def _outbox_backlog(engine: AsyncEngine, now: datetime) -> OutboxBacklog | None:
    """How many notifications wait and for how long; ``None`` if the database did not answer."""
    query = select(func.count(), func.min(OutboxMessage.created_at)).where(
        OutboxMessage.status == "pending"
    )
    try:
        async with asyncio.timeout(PROBE_TIMEOUT), engine.connect() as connection:
            pending, oldest = (await connection.execute(query)).one()
    except Exception as error:  # whatever the driver raises, the scrape must still answer
        logger.warning("metrics: outbox backlog not read: %s", _reason(error))
        return None
    age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
    return OutboxBacklog(pending, age)


async def _health(app: web.Application) -> HealthView | None:
    """The health guard's signals judged now, whether routing is paused, and each source's lag;
    ``None`` if the database did not answer."""
    policy, now = app[RULES].current(), app[CLOCK].now()
    try:
        async with asyncio.timeout(PROBE_TIMEOUT), app[SESSIONS]() as session:
            measured = await measure(session, now, policy.config.health.window, policy.calendar)
            paused = await routing_pause(session) is not None
    except Exception as error:  # whatever the driver raises, the scrape must still answer
        logger.warning("metrics: health signals not read: %s", _reason(error))
        return None
    readings = evaluate(measured, policy.config.health, now, channel_labels=LABELS)
    return HealthView(readings, paused, summarize(measured.lags))


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; the in-memory metrics even when the database is down."""
    app = request.app
    backlog = await _outbox_backlog(app[ENGINE], app[CLOCK].now())
    app[METRICS].outbox_read(backlog)
    app[METRICS].health_read(await _health(app) if backlog is not None else None)
    body = generate_latest(app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
