"""The composition root: the only place that builds concrete resources and wires them."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bot import api
from bot.callback import CallbackRoutes, Inbound
from bot.clock import Clock, SystemClock
from bot.config import Config, WeComConfig
from bot.ingest import Ingestor
from bot.keys import CLOCK, CONFIG, INGESTOR, POLICY, SESSIONS, WECOM
from bot.policy import Policy
from bot.wecom.client import WeComClient
from bot.wecom.messages import markdown, text
from channels.address import RegionParser
from handlers import ROUTERS
from handlers.registry import CommandContext, dispatch
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
    if config.wecom is not None:
        app.cleanup_ctx.append(_wecom)
        if config.wecom.token and config.wecom.aes_key:
            _callbacks(app).add_to(app)
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


async def _wecom(app: web.Application) -> AsyncIterator[None]:
    """One HTTP session and WeCom client for the app's lifetime."""
    config = app[CONFIG].wecom
    assert config is not None
    async with aiohttp.ClientSession() as http:
        app[WECOM] = wecom_client(http, config)
        yield


def _callbacks(app: web.Application) -> CallbackRoutes:
    """Chat commands in, replies out: 1:1 through the app, groups through the robot's
    response_url."""

    async def reply(user: str, chat: str, text: str) -> str:
        context = CommandContext(user, chat, app[CLOCK].now(), app[SESSIONS], app[POLICY])
        return await dispatch(ROUTERS, context, text)

    async def send(inbound: Inbound, answer: str) -> None:
        if inbound.response_url:
            await app[WECOM].respond_aibot(inbound.response_url, markdown(answer))
        else:
            await app[WECOM].send_app_message([inbound.user], text(answer))

    return CallbackRoutes(reply, send)


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    config, sessions, policy, clock = app[CONFIG], app[SESSIONS], app[POLICY], app[CLOCK]
    jobs = [
        JobSpec(
            "watch", lambda: watch.run(sessions, policy, clock.now()), config.watch.scan_interval
        )
    ]
    if config.wecom is not None:
        wecom = app[WECOM]
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
