"""The tracking provider in and out: its push endpoint (public, verified by its own signature,
not the /api bearer token) and the subscribe job's provider, built when [tracking] is set."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from adapters.tracking.base import PushRefused
from adapters.tracking.kuaidi100 import Kuaidi100
from bot.api import DATABASE_AWAY
from bot.keys import CLOCK, CONFIG, RULES, SESSIONS
from services.config import TrackingConfig
from services.tracking.push import PushWriter

log = logging.getLogger(__name__)

TRACKING = web.AppKey("tracking", Kuaidi100)
PUSHES = web.AppKey("tracking_pushes", PushWriter)
PUSH_PATH = "/tracking/kuaidi100"


def kuaidi100(http: aiohttp.ClientSession, config: TrackingConfig) -> Kuaidi100:
    return Kuaidi100(
        http,
        api_base=config.api_base,
        key=config.provider_key,
        salt=config.push_salt,
        callback_url=config.callback_url,
        timeout=config.timeout.total_seconds(),
    )


async def provider(app: web.Application) -> AsyncIterator[None]:
    """One HTTP session and provider client for the app's lifetime, and the writer that
    stores the provider's pushes."""
    config = app[CONFIG].tracking
    assert config is not None
    async with aiohttp.ClientSession() as http:
        app[TRACKING] = provider = kuaidi100(http, config)
        app[PUSHES] = PushWriter(app[SESSIONS], app[RULES].current, provider, app[CLOCK])
        yield


def _answer(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


async def post_kuaidi100(request: web.Request) -> web.Response:
    """A push: refused unless signed with our salt (nothing kept); stored, then answered with
    the exact body 快递100 expects, so it stops re-sending. A database away gets a failure
    answer: 快递100 sends the push again later."""
    tracking = request.app[TRACKING]
    form = await request.post()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    try:
        push = tracking.read_push(fields)
    except PushRefused as refused:
        log.warning("拒收快递100推送 (来自 %s): %s", request.remote, refused)
        return _answer(tracking.failure_body, 403)
    try:
        await request.app[PUSHES].take(push)
    except DATABASE_AWAY as error:
        log.warning("快递100推送未保存, 数据库不可用: %s", str(error).splitlines()[0])
        return _answer(tracking.failure_body, 503)
    return _answer(tracking.success_body)


def add_routes(app: web.Application) -> None:
    app.router.add_post(PUSH_PATH, post_kuaidi100)
