"""WeCom callbacks into the bot: Tencent's published vector, forged and replayed callbacks,
oversized and malformed bodies, retries acted on once, and commands answered through WeCom."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.config import Config, parse_config
from bot.keys import POLICY, SESSIONS
from bot.sandbox import SandboxConfig, create_sandbox_app, send_aibot_callback, send_app_callback
from bot.sandbox.config import DEFAULT_ENCODING_AES_KEY, robot_chat_id
from jobs import watch
from storage.models import InboundMessage, TicketEvent
from tests.support import FakeClock, all_rows, auth, config_data, shop_order

# Tencent's published sample (weworkapi_python callback/Sample.py): public test values.
TENCENT = {
    "token": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    "key": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    "corp_id": "ww1436e0e65a779aee",
}
VERIFY = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnF"
    "yq6SVHyA==",
}
MESSAGE_QUERY = {
    "msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
    "timestamp": "1476422779",
    "nonce": "1597212914",
}
MESSAGE_BODY = (
    "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA["
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3Nye"
    "TkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJ"
    "PQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7Mhm"
    "EbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/o"
    "xwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"
)

SANDBOX = SandboxConfig(
    webhook_keys={"key-east": "华东组"}, users=("zhang", "li", "wang", "boss-east", "outsider")
)


def bot_config(database_url: str, sandbox_url: str, **wecom: Any) -> Config:
    data = config_data(database_url)
    data["groups"]["east"]["webhook_key"] = "key-east"
    data["wecom"] = {
        "api_base": sandbox_url,
        "corp_id": SANDBOX.corp_id,
        "corp_secret": SANDBOX.corp_secret,
        "agent_id": SANDBOX.agent_id,
        "callback_token": SANDBOX.callback_token,
        "callback_aes_key": DEFAULT_ENCODING_AES_KEY,
    } | wecom
    return parse_config(data)


@pytest.fixture
async def sandbox(aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(create_sandbox_app(SANDBOX))
    return server


@pytest.fixture
async def bot(aiohttp_client: Any, database_url: str, sandbox: TestServer) -> TestClient:
    config = bot_config(database_url, str(sandbox.make_url("/cgi-bin/")))
    clock = FakeClock(datetime.now(UTC))
    client: TestClient = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    return client


def wecom_side(bot: TestClient) -> SandboxConfig:
    """The sandbox acting as WeCom towards this bot."""
    return dataclasses.replace(
        SANDBOX,
        callback_url=str(bot.make_url("/wecom/app")),
        aibot_callback_url=str(bot.make_url("/wecom/aibot")),
    )


async def tencent_bot(aiohttp_client: Any, database_url: str, at: str) -> TestClient:
    config = bot_config(
        database_url,
        "http://127.0.0.1:9/cgi-bin/",
        corp_id=TENCENT["corp_id"],
        callback_token=TENCENT["token"],
        callback_aes_key=TENCENT["key"],
    )
    clock = FakeClock(datetime.fromtimestamp(int(at), UTC))
    client: TestClient = await aiohttp_client(create_app(config, clock=clock, watch_timer=False))
    return client


async def test_tencent_url_verification_vector(aiohttp_client: Any, database_url: str) -> None:
    bot = await tencent_bot(aiohttp_client, database_url, VERIFY["timestamp"])
    response = await bot.get("/wecom/app", params=VERIFY)
    assert response.status == 200
    assert await response.text() == "1288432023552776189"
    forged = VERIFY | {"msg_signature": "0" * 40}
    assert (await bot.get("/wecom/app", params=forged)).status == 403


async def test_tencent_message_vector_is_accepted_once(
    aiohttp_client: Any, database_url: str
) -> None:
    bot = await tencent_bot(aiohttp_client, database_url, MESSAGE_QUERY["timestamp"])
    for _ in range(2):  # WeCom retries an unanswered callback with the same MsgId
        response = await bot.post("/wecom/app", params=MESSAGE_QUERY, data=MESSAGE_BODY)
        assert (response.status, await response.text()) == (200, "")
    seen = await all_rows(bot.app[SESSIONS], InboundMessage)
    assert [(m.source, m.msg_id) for m in seen] == [("app", "1456453720")]


async def replies_to(sandbox: TestServer, user: str, count: int = 1) -> list[str]:
    """What the bot answered ``user`` through WeCom, waiting briefly for background replies."""
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            async with http.get(sandbox.make_url("/sandbox/api/messages")) as response:
                records = (await response.json())["messages"]
            texts = [
                r["content"] or str(r["body"])
                for r in records
                if r["direction"] == "out" and user in r["users"]
            ]
            if len(texts) >= count:
                return texts
            await asyncio.sleep(0.05)
    raise AssertionError(f"no reply to {user}")


async def overdue_ticket(bot: TestClient) -> None:
    paid = datetime.now(UTC) - timedelta(hours=3)
    order = shop_order("SH100", province="上海市", paid_at=paid)
    response = await bot.post("/api/v1/orders/shop", json=order, headers=auth("all"))
    assert response.status == 200
    await watch.run(bot.app[SESSIONS], bot.app[POLICY], datetime.now(UTC))


async def test_a_claim_typed_in_the_app_is_answered_and_recorded(
    bot: TestClient, sandbox: TestServer
) -> None:
    await overdue_ticket(bot)
    async with aiohttp.ClientSession() as http:
        response = await send_app_callback(wecom_side(bot), http, "zhang", "认领 1")
    assert response.status == 200
    [answer] = await replies_to(sandbox, "zhang")
    assert "认领" in answer and "#1" in answer
    events = await all_rows(bot.app[SESSIONS], TicketEvent)
    assert ("claimed", "zhang") in [(e.kind, e.actor) for e in events]


async def test_a_group_mention_is_answered_through_the_response_url(
    bot: TestClient, sandbox: TestServer
) -> None:
    await overdue_ticket(bot)
    async with aiohttp.ClientSession() as http:
        response = await send_aibot_callback(
            wecom_side(bot),
            http,
            robot_chat_id("key-east"),
            "group",
            "zhang",
            "@订单助手 状态 SH100",
            sandbox_url=str(sandbox.make_url("/")),
        )
    assert response.status == 200
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            async with http.get(sandbox.make_url("/sandbox/api/messages")) as reply:
                records = (await reply.json())["messages"]
            answers = [r for r in records if r["endpoint"].startswith("aibot")]
            if answers:
                break
            await asyncio.sleep(0.05)
    assert answers and "SH100" in str(answers[0])


async def test_a_retried_callback_is_acted_on_once(bot: TestClient, sandbox: TestServer) -> None:
    await overdue_ticket(bot)
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            response = await send_app_callback(
                wecom_side(bot), http, "zhang", "备注 1 打过电话", msg_id=42
            )
            assert response.status == 200
    await replies_to(sandbox, "zhang")
    await asyncio.sleep(0.2)
    notes = [e for e in await all_rows(bot.app[SESSIONS], TicketEvent) if e.kind == "noted"]
    assert len(notes) == 1


async def test_a_forged_or_replayed_callback_gets_403_and_does_nothing(
    bot: TestClient, sandbox: TestServer
) -> None:
    forged = dataclasses.replace(wecom_side(bot), callback_token="attacker")
    stale = time.time() - 3600
    async with aiohttp.ClientSession() as http:
        assert (await send_app_callback(forged, http, "zhang", "认领 1")).status == 403
        replay = await send_app_callback(wecom_side(bot), http, "zhang", "认领 1", now=stale)
        assert replay.status == 403
    assert await all_rows(bot.app[SESSIONS], InboundMessage) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"<xml>" + b"A" * 70_000 + b"</xml>", 413),
        (b"this is not xml", 400),
        (
            b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<xml><Encrypt>&b;</Encrypt></xml>",
            400,
        ),
    ],
    ids=["oversized", "malformed", "entity-tricks"],
)
async def test_bad_bodies_are_refused_cleanly(bot: TestClient, body: bytes, status: int) -> None:
    query = {"msg_signature": "x" * 40, "timestamp": str(int(time.time())), "nonce": "1"}
    response = await bot.post("/wecom/app", params=query, data=body)
    assert response.status == status
    assert "Traceback" not in await response.text()
    assert await all_rows(bot.app[SESSIONS], InboundMessage) == []
