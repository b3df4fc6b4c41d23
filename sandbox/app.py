"""Assembles the sandbox: the WeCom API, the admin API and the page on one aiohttp app."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from sandbox import admin, login, page, paygate, sms, tracking, wecom_api
from sandbox.config import SandboxConfig
from sandbox.state import SANDBOX_STATE, SandboxState


def create_sandbox_app(
    config: SandboxConfig, *, clock: Callable[[], float] = time.time
) -> web.Application:
    """A WeCom look-alike for the bot, tests, the demo and benchmarks.

    ``clock`` drives token expiry, rate windows, media and response-code validity and record
    times; inject one to test a minute passing without waiting for it.
    """
    app = web.Application(
        client_max_size=wecom_api.MAX_BODY, middlewares=[wecom_api.wecom_protocol]
    )
    app[SANDBOX_STATE] = SandboxState(config, clock)
    app.on_shutdown.append(_release_held_requests)
    wecom_api.add_routes(app)
    admin.setup(app)
    login.setup(app, config, clock)
    sms.setup(app, config.sms, clock, time.time)  # signatures are made with the wall clock
    tracking.setup(
        app,
        key=config.tracking_key,
        expired_keys=config.tracking_expired_keys,
        refused_numbers=config.tracking_refused_numbers,
        retry_seconds=config.tracking_retry_seconds,
        retries=config.tracking_retries,
    )
    paygate.setup(app, config.pay, clock, time.time)  # signatures: the wall clock
    page.add_routes(app)
    return app


async def _release_held_requests(app: web.Application) -> None:
    # Requests held by a "timeout" fault would otherwise delay shutdown by up to their seconds.
    app[SANDBOX_STATE].closing.set()
