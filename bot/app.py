"""The composition root: the only place that builds concrete resources and wires them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bot import api
from bot.clock import Clock, SystemClock
from bot.config import Config, WeComConfig
from bot.ingest import Ingestor
from bot.keys import CLOCK, CONFIG, INGESTOR, POLICY, SESSIONS
from bot.policy import Policy
from bot.wecom.client import WeComClient
from channels.address import RegionParser
from jobs import deliver, watch
from jobs.scheduler import JobSpec, build_scheduler
from storage.db import make_engine, make_sessionmaker
from storage.migrate import ensure_migrated

logger = logging.getLogger(__name__)
MAX_BODY = 32 * 1024 * 1024  # a full batch of 1,000 raw channel orders with line items


def create_app(
    config: Config, *, clock: Clock | None = None, watch_timer: bool = True
) -> web.Application:
    """Build the service. ``watch_timer=False`` leaves ticks to the caller (tests, benchmarks)."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[api.bearer_auth])
    app[CONFIG] = config
    app[CLOCK] = clock or SystemClock()
    app[POLICY] = Policy.from_config(config)
    app.cleanup_ctx.append(_database)
    if watch_timer:
        app.cleanup_ctx.append(_scheduler)
    api.add_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = make_engine(app[CONFIG].database.url)
    try:
        await ensure_migrated(engine)
        sessions = make_sessionmaker(engine)
        regions = RegionParser()
        app[SESSIONS] = sessions
        app[INGESTOR] = Ingestor(sessions, app[POLICY], regions)
        # Loading the division tables takes seconds; do it now, off the loop, not on the
        # first free-text address.
        warm_up = asyncio.create_task(asyncio.to_thread(regions.parse, "北京市东城区"))
        yield
        warm_up.cancel()
    finally:
        await engine.dispose()


def wecom_client(http: aiohttp.ClientSession, config: WeComConfig) -> WeComClient:
    return WeComClient(
        http,
        base_url=config.api_base,
        corp_id=config.corp_id,
        corp_secret=config.app_secret,
        agent_id=config.agent_id,
        timeout=config.timeout.total_seconds(),
    )


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    config, sessions, policy, clock = app[CONFIG], app[SESSIONS], app[POLICY], app[CLOCK]
    jobs = [
        JobSpec(
            "watch", lambda: watch.run(sessions, policy, clock.now()), config.watch.scan_interval
        )
    ]
    async with contextlib.AsyncExitStack() as stack:
        if config.wecom is not None:
            http = await stack.enter_async_context(aiohttp.ClientSession())
            wecom = wecom_client(http, config.wecom)
            instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
            jobs.append(
                JobSpec(
                    "deliver",
                    lambda: deliver.run(sessions, policy, wecom, clock, instance),
                    config.wecom.send_interval,
                )
            )
        scheduler = build_scheduler(jobs, config.watch.timezone)
        scheduler.start()
        yield
        scheduler.shutdown(wait=False)
