"""The composition root: the only place that builds concrete resources and wires them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import time, timedelta

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.wecom.client import WeComClient
from adapters.wecom.inbound import Inbound
from bot import api, sms, table_sources, tracking
from bot.callback import CallbackRoutes
from bot.console.app import create_console_app
from bot.customer.listener import listener as customer_page
from bot.keys import (
    CLOCK,
    CONFIG,
    ENGINE,
    INGESTOR,
    METRICS,
    RULES,
    SCHEDULER,
    SESSIONS,
    UNITS,
    WECOM,
)
from bot.observability import endpoints
from bot.observability.metrics import Metrics
from channels.address import RegionParser
from handlers import ROUTERS
from handlers.registry import Message, answer
from jobs import deliver, eta, health, recon, report, stalls, subscribe, watch
from jobs import sms as sms_job
from jobs.scheduler import JobSpec, Timers, daily, every
from services.clock import Clock, SystemClock
from services.config import Config, WeComConfig
from services.ingest import Ingestor
from services.policy import Rules
from services.replies import send_reply
from services.rulebook import import_rules
from services.rules_live import RulesFollower
from storage.db import make_engine, make_sessionmaker
from storage.health import beat
from storage.inbound import first_time
from storage.migrate import ensure_migrated
from storage.unit_threads import unit_threads

logger = logging.getLogger(__name__)
MAX_BODY = 32 * 1024 * 1024  # a full batch of 1,000 raw channel orders with line items
JOB_STOP_GRACE = timedelta(seconds=20)  # for a tick under way when the service stops
WEEKLY_REPORT_AT = time(9, 0)  # when [reports] has a weekly day but no daily time


def create_app(
    config: Config, *, clock: Clock | None = None, watch_timer: bool = True
) -> web.Application:
    """Build the service. ``watch_timer=False`` leaves ticks to the caller (tests, benchmarks)."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[api.bearer_auth])
    app[CONFIG] = config
    app[CLOCK] = clock or SystemClock()
    app[RULES] = Rules.from_config(config)
    # Its own registry, not the process-wide default: one process may hold several apps.
    app[METRICS] = Metrics(CollectorRegistry())
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_follow_rules)
    if config.wecom is not None:
        app.cleanup_ctx.append(_wecom)
        if config.wecom.token and config.wecom.aes_key:
            _callbacks(app, config.wecom).add_to(app)
    if config.tracking is not None:
        app.cleanup_ctx.append(tracking.provider)
        tracking.add_routes(app)
    if config.sms is not None:
        app.cleanup_ctx.append(sms.provider)
        sms.add_routes(app)
    if config.customer_page is not None:  # on its own listener, once the sender is up
        app.cleanup_ctx.append(customer_page)
    if watch_timer:
        app.cleanup_ctx.append(_scheduler)
    if config.console is not None:
        app.add_subapp("/console", create_console_app(config.console))
    api.add_routes(app)
    endpoints.add_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = make_engine(app[CONFIG].database.url)
    try:
        await ensure_migrated(engine)
        sessions = make_sessionmaker(engine)
        regions = RegionParser()
        app[ENGINE] = engine
        app[SESSIONS] = sessions
        app[INGESTOR] = Ingestor(sessions, app[RULES], regions)
        units = unit_threads(app[CONFIG].database.url, engine)
        if units is not None:
            app[UNITS] = units
        warm_up = asyncio.create_task(_warm_up(regions))
        try:
            yield
        finally:
            warm_up.cancel()
            if units is not None:
                await units.close()
    finally:
        await engine.dispose()


async def _follow_rules(app: web.Application) -> AsyncIterator[None]:
    """The config file's rules become a version when they changed (services.rulebook), then
    this instance follows the version in force: a publish anywhere is in force here within
    ``[watch].rules_poll``."""
    config, sessions, clock = app[CONFIG], app[SESSIONS], app[CLOCK]
    author = f"配置文件 ({socket.gethostname()})"
    await import_rules(sessions, config, author=author, now=clock.now(), on_start=True)
    follower = RulesFollower(sessions, config, app[RULES], clock)
    await follower.refresh()

    async def follow() -> None:
        while True:
            await asyncio.sleep(config.watch.rules_poll.total_seconds())
            try:
                await follower.refresh()
            except Exception:  # the database away for a moment: the rules in force stay
                logger.warning("读取规则版本失败, 稍后重试", exc_info=True)

    task = asyncio.create_task(follow())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


_YOUNG_OBJECTS = 50_000  # new objects between young collections (Python's default: 700)


async def _warm_up(regions: RegionParser) -> None:
    """Load the division tables now, off the loop, rather than on the first free-text address
    (it takes seconds); then take what start-up built out of the garbage collector's sight."""
    await asyncio.to_thread(regions.parse, "北京市东城区")
    # Modules and these tables live as long as the process, and a full collection walked all
    # of their ~260,000 objects: ~110 ms during which no callback or tick made progress.
    gc.collect()
    gc.freeze()
    # A unit of work's objects (an ingest batch's records and rows, a command's statements)
    # mostly die with it, freed as they go; collecting every 700 new ones walked them again
    # and again while they lived (~10 µs an ingested order). Cycles wait a little longer.
    gc.set_threshold(_YOUNG_OBJECTS)


def wecom_client(http: aiohttp.ClientSession, config: WeComConfig) -> WeComClient:
    return WeComClient(
        http,
        base_url=config.api_base,
        corp_id=config.corp_id,
        corp_secret=config.app_secret,
        agent_id=config.agent_id,
        timeout=config.timeout.total_seconds(),
    )


async def _wecom(app: web.Application) -> AsyncIterator[None]:
    """One HTTP session and WeCom client for the app's lifetime."""
    config = app[CONFIG].wecom
    assert config is not None
    async with aiohttp.ClientSession() as http:
        app[WECOM] = wecom_client(http, config)
        yield


def _callbacks(app: web.Application, config: WeComConfig) -> CallbackRoutes:
    """Chat commands in, replies out: 1:1 through the app, groups through the robot's
    response_url."""

    async def reply_to(inbound: Inbound) -> str | None:
        now = app[CLOCK].now()
        message = Message(inbound.user, inbound.chat, inbound.text, now)
        policy = app[RULES].current()

        async def command(sessions: async_sessionmaker[AsyncSession]) -> str | None:
            return await answer(
                ROUTERS,
                sessions,
                policy,
                message,
                lambda session: first_time(session, inbound.source, inbound.msg_id, now),
            )

        units = app.get(UNITS)  # SQLite: the whole command one thread hand-off
        return await (command(app[SESSIONS]) if units is None else units.run(command))

    async def send(inbound: Inbound, reply: str) -> None:
        await send_reply(app[WECOM], app[SESSIONS], inbound, reply, app[CLOCK].now())

    return CallbackRoutes(config, reply_to, send)


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    config, sessions, rules, clock = app[CONFIG], app[SESSIONS], app[RULES], app[CLOCK]
    metrics, tz = app[METRICS], config.watch.timezone
    instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    async def watch_tick() -> watch.WatchResult:
        result = await watch.run(sessions, rules.current(), clock.now())
        async with sessions.begin() as session:  # the health guard's "last watch tick"
            await beat(session, "watch", instance, clock.now())
        return result

    jobs = [
        JobSpec("watch", watch_tick, every(config.watch.scan_interval)),
        JobSpec(
            "health",
            lambda: health.run(sessions, rules.current(), clock.now()),
            every(config.health.check_interval),
        ),
    ]
    if config.tracking is not None:
        jobs.append(
            JobSpec(
                "stalls",
                lambda: stalls.run(sessions, rules.current(), clock.now()),
                every(config.tracking.stall_check_interval),
            )
        )
        jobs.append(
            JobSpec(
                "eta",
                lambda: eta.run(sessions, rules.current().config.eta, clock.now()),
                every(config.eta.recompute_every),
            )
        )
    reports = config.reports
    if reports.daily_at is not None:
        jobs.append(
            JobSpec(
                "report-daily",
                lambda: report.run(sessions, rules.current(), clock.now()),
                daily(reports.daily_at, tz),
            )
        )
    if reports.weekly_on is not None:
        jobs.append(
            JobSpec(
                "report-weekly",
                lambda: report.run(sessions, rules.current(), clock.now(), days=7),
                daily(reports.daily_at or WEEKLY_REPORT_AT, tz, reports.weekly_on),
            )
        )
    if config.recon.daily_at is not None:
        jobs.append(
            JobSpec(
                "recon",
                lambda: recon.run(sessions, rules.current(), clock.now()),
                daily(config.recon.daily_at, tz),
            )
        )
    if config.tracking is not None:
        provider = app[tracking.TRACKING]
        jobs.append(
            JobSpec(
                "subscribe",
                lambda: subscribe.run(sessions, rules.current(), provider, clock.now()),
                every(config.tracking.subscribe_interval),
            )
        )
    if config.sms is not None:
        texts = app[sms.SMS_SENDER]
        jobs.append(JobSpec("sms", lambda: sms_job.run(texts), every(config.sms.send_interval)))
    sender: deliver.Sender | None = None
    if config.wecom is not None:
        sender = outbox = deliver.Sender(sessions, rules, app[WECOM], clock, instance)

        async def deliver_due() -> deliver.DeliveryResult:
            result = await outbox.tick()  # starts the due chats; never waits on WeCom
            metrics.deliveries_done(result)
            return result

        jobs.append(JobSpec("deliver", deliver_due, every(config.wecom.send_interval)))
    pollers = table_sources.pollers(config, app[INGESTOR], sessions, clock, instance)
    jobs += table_sources.jobs(pollers)
    timers = Timers(jobs, config.watch.timezone, metrics)
    timers.start()
    app[SCHEDULER] = timers.scheduler
    yield
    await timers.stop(grace=JOB_STOP_GRACE)
    for poller in pollers:
        await poller.close()
    if sender is not None:
        await sender.stop(grace=JOB_STOP_GRACE)
