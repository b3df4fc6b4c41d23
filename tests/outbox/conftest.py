"""Fixtures of the tests that read what the outbox sender got through to WeCom: here the
sandbox has three group robots and the config's people, and the bot is ticked by hand with a
sender wired to it (tests/outbox_side.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sandbox import create_sandbox_app
from tests.outbox_side import SANDBOX, Bot, BotWith, bot_config, make_bot
from tests.support import FakeClock


@pytest.fixture
async def sandbox(aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(create_sandbox_app(SANDBOX))
    return server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def bot_with(
    aiohttp_client: Any,
    database_url: str,
    sandbox: TestServer,
    clock: FakeClock,
    http: aiohttp.ClientSession,
) -> BotWith:
    """A bot whose config differs from the usual one (``bot_config``'s keywords)."""

    async def make(**config: Any) -> Bot:
        return await make_bot(
            aiohttp_client, bot_config(database_url, sandbox, **config), clock, http
        )

    return make


@pytest.fixture
async def bot(bot_with: BotWith) -> Bot:
    return await bot_with()
