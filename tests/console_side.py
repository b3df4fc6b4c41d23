"""The console's side of tests: a bot with [console] wired to a sandbox that plays WeCom's
login, and signing in the way a browser does (the bot's client keeps the cookies)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from bot.app import create_app
from sandbox import SandboxConfig, create_sandbox_app
from services.config import Config, parse_config
from tests.support import FakeClock, config_data
from tests.wecom_side import SANDBOX

CONSOLE_SECRET = "console-test-secret"


def console_config(database_url: str, sandbox: TestServer, **console: Any) -> Config:
    """The chat tests' config with [console]: wang publishes, li edits drafts, ops-liu and the
    supervisors look."""
    data = config_data(database_url)
    data["wecom"] = {
        "api_base": str(sandbox.make_url("/cgi-bin/")),
        "corp_id": SANDBOX.corp_id,
        "corp_secret": SANDBOX.corp_secret,
        "agent_id": SANDBOX.agent_id,
    }
    data["console"] = {
        "login_base": str(sandbox.make_url("/")),
        "secret": CONSOLE_SECRET,
    } | console
    data["roles"] = data["roles"] | {"rule_editors": ["li"], "rule_publishers": ["wang"]}
    return parse_config(data)


class SandboxClock:
    """The sandbox's clock (seconds), moved by hand: login codes expire on it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


async def login_sandbox(
    aiohttp_server: Any, clock: Callable[[], float], **changes: Any
) -> TestServer:
    config: SandboxConfig = dataclasses.replace(SANDBOX, **changes)
    server: TestServer = await aiohttp_server(create_sandbox_app(config, clock=clock))
    return server


async def console_bot(
    aiohttp_client: Any, database_url: str, sandbox: TestServer, **console: Any
) -> TestClient:
    config = console_config(database_url, sandbox, **console)
    clock = FakeClock(datetime.now(UTC))
    client: TestClient = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    return client


async def wecom_callback(bot: TestClient, sandbox: TestServer, user: str, query: str = "") -> str:
    """Start a login on the bot (``query``: the login link's, e.g. ``?next=…``) and pick
    ``user`` on the sandbox's login page: the path and query WeCom sends the browser back to
    (not followed yet)."""
    start = await bot.get("/console/login/wecom" + query, allow_redirects=False)
    assert start.status == 302, await start.text()
    login = URL(start.headers["Location"])
    assert login.path == "/wwlogin/sso/login"
    async with aiohttp.ClientSession() as http:
        async with http.get(sandbox.make_url(login.path_qs)) as page:
            assert page.status == 200, await page.text()
        form = {
            "user": user,
            "redirect_uri": login.query["redirect_uri"],
            "state": login.query["state"],
        }
        async with http.post(
            sandbox.make_url("/wwlogin/sso/pick"), data=form, allow_redirects=False
        ) as picked:
            assert picked.status == 302, await picked.text()
            back = URL(picked.headers["Location"])
    assert back.host == bot.host and back.path == "/console/login/callback"
    return back.path_qs


async def sign_in(bot: TestClient, sandbox: TestServer, user: str) -> None:
    response = await bot.get(await wecom_callback(bot, sandbox, user), allow_redirects=False)
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/console/"


async def csrf_of(bot: TestClient) -> str:
    """The CSRF token the signed-in person's pages carry."""
    page = await bot.get("/console/health")
    text = await page.text()
    marker = 'name="csrf" value="'
    start = text.index(marker) + len(marker)
    return text[start : text.index('"', start)]
