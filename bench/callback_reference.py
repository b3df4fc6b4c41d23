"""The reference beside ``bench.callbacks``: the chat's HTTP side alone, answering without the
database.

    .venv/bin/python -m bench.callback_reference -c bot.toml     (bench.callbacks starts it)

A process like ``orderbot serve`` (aiohttp on uvloop, ``serve``'s logging and access log) with
only the WeCom callback routes of ``bot.callback``: each callback is checked, decrypted and
acknowledged as in ``serve``, and its reply goes through the robot's response_url with the
same WeCom client, but the reply is a fixed text per command (the beginning bench.callbacks
expects) instead of a unit of work. What ``serve`` needs beyond this, per command, is what the
commands themselves cost: their statements, the ORM, the unit of work.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import uvloop
from aiohttp import web

from adapters.wecom.client import WeComClient
from adapters.wecom.inbound import Inbound
from adapters.wecom.messages import markdown
from bot.access_log import AccessLog
from bot.app import wecom_client
from bot.callback import CallbackRoutes
from bot.keys import CLOCK, CONFIG
from handlers.registry import normalize
from services.clock import SystemClock
from services.config import load_config

# The fixed reply to each command word: what bench.callbacks.EXPECTED looks for.
REPLIES = {
    "状态": "订单 (参照: 未查数据库)",
    "备注": "已为工单添加备注 (参照)",
    "认领": "已认领工单 (参照)",
}


def reference_app(config_path: Path) -> web.Application:
    config = load_config(config_path)
    wecom = config.wecom
    assert wecom is not None and wecom.token and wecom.aes_key
    app = web.Application()
    app[CONFIG], app[CLOCK] = config, SystemClock()  # the callback routes check timestamps
    clients: list[WeComClient] = []

    async def client(_app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as http:
            clients.append(wecom_client(http, wecom))
            yield

    async def answer(inbound: Inbound) -> str:
        tokens = normalize(inbound.text)
        return REPLIES.get(tokens[0] if tokens else "", "未知命令")

    async def send(inbound: Inbound, reply: str) -> None:
        assert inbound.response_url is not None
        await clients[0].respond_aibot(inbound.response_url, markdown(reply))

    app.cleanup_ctx.append(client)
    CallbackRoutes(wecom, answer, send).add_to(app)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    web.run_app(
        reference_app(arguments.config),
        host="127.0.0.1",
        port=arguments.port,
        loop=uvloop.new_event_loop(),
        access_log_class=AccessLog,
        print=lambda _banner: None,
    )
