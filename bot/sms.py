"""Texts to customers in the service: the provider and the sender for the app's lifetime, and
the routes the providers POST delivery receipts to (set these URLs in their consoles):

- ``POST /sms/receipts/tencent``: Tencent's JSON array; answered ``{"result":0,"errmsg":"OK"}``;
- ``POST /sms/receipts/aliyun``: Aliyun's SmsReport JSON array; answered
  ``{"code":0,"msg":"接收成功"}``.

A body that is not what the provider sends is refused (HTTP 400) in the provider's own answer
shape, with the reason in Chinese; nothing is recorded from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from adapters.sms import BadReceipts, Receipt, SmsProvider
from adapters.sms import aliyun as aliyun_sms
from adapters.sms import tencent as tencent_sms
from bot.keys import CLOCK, CONFIG, RULES, SESSIONS
from services import jsonbody
from services.sms.providers import open_provider
from services.sms.receipts import record_receipts
from services.sms.sender import SmsSender

SMS_PROVIDER = web.AppKey("sms_provider", SmsProvider)
SMS_SENDER = web.AppKey("sms_sender", SmsSender)
MAX_RECEIPTS_BODY = 4 * 1024 * 1024


async def provider(app: web.Application) -> AsyncIterator[None]:
    """The configured provider's client and the sender (after the database is up)."""
    sms = app[CONFIG].sms
    assert sms is not None
    client = await open_provider(sms)
    app[SMS_PROVIDER] = client
    app[SMS_SENDER] = SmsSender(app[SESSIONS], app[RULES], client, app[CLOCK])
    try:
        yield
    finally:
        await client.close()


Answer = Callable[[bool, str], dict[str, Any]]


def _tencent_answer(ok: bool, words: str) -> dict[str, Any]:
    return {"result": 0 if ok else 1, "errmsg": "OK" if ok else words}


def _aliyun_answer(ok: bool, words: str) -> dict[str, Any]:
    return {"code": 0 if ok else 1, "msg": "接收成功" if ok else words}


def _receipts_route(
    name: str, parse: Callable[[object], list[Receipt]], answer: Answer
) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        try:
            body = await request.read()
            if len(body) > MAX_RECEIPTS_BODY:
                raise BadReceipts("回执过大")
            receipts = parse(jsonbody.loads(body))
        except (jsonbody.JsonError, BadReceipts) as error:
            return web.json_response(answer(False, f"回执无法识别: {error}"), status=400)
        async with request.app[SESSIONS].begin() as session:
            await record_receipts(session, name, receipts, request.app[CLOCK].now())
        return web.json_response(answer(True, ""))

    return handle


def add_routes(app: web.Application) -> None:
    app.router.add_post(
        "/sms/receipts/tencent",
        _receipts_route("tencent", tencent_sms.parse_receipts, _tencent_answer),
    )
    app.router.add_post(
        "/sms/receipts/aliyun",
        _receipts_route("aliyun", aliyun_sms.parse_receipts, _aliyun_answer),
    )
