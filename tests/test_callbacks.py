"""WeCom callbacks into the bot: Tencent's published vector, forged and replayed callbacks,
oversized and malformed bodies, retries acted on once, and commands answered through WeCom."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.keys import SESSIONS
from bot.sandbox import SandboxConfig, send_aibot_callback, send_app_callback
from bot.sandbox.config import robot_chat_id
from storage.models import InboundMessage, Ticket, TicketEvent
from tests.support import FakeClock, all_rows
from tests.wecom_side import (
    Chat,
    bot_config,
    overdue_ticket,
    replies_to,
    sandbox_records,
    type_in_wecom,
    wecom_side,
)

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
    answer = await type_in_wecom(bot, sandbox, "group", "zhang", "状态 SH100")
    assert answer.startswith("订单 SH100 (自营商城)")


async def send(
    bot: TestClient,
    sandbox: TestServer,
    chat: Chat,
    text: str,
    *,
    wecom: SandboxConfig | None = None,
    msg_id: int | None = None,
    now: float | None = None,
) -> int:
    """Send ``text`` from zhang as WeCom would (``wecom`` to forge it); the bot's HTTP status."""
    wecom = wecom or wecom_side(bot)
    async with aiohttp.ClientSession() as http:
        if chat == "direct":
            response = await send_app_callback(wecom, http, "zhang", text, msg_id=msg_id, now=now)
        else:
            response = await send_aibot_callback(
                wecom,
                http,
                robot_chat_id("key-east"),
                "group",
                "zhang",
                text,
                sandbox_url=str(sandbox.make_url("/")),
                msgid=None if msg_id is None else str(msg_id),
                now=now,
            )
        return response.status


@pytest.mark.parametrize("chat", ["group", "direct"])
async def test_a_retried_callback_is_acted_on_once(
    bot: TestClient, sandbox: TestServer, chat: Chat
) -> None:
    await overdue_ticket(bot)
    for _ in range(3):  # WeCom retries with the same message id when it got no answer in time
        assert await send(bot, sandbox, chat, "备注 1 打过电话", msg_id=42) == 200
    await bot.app.shutdown()  # lets every command the bot took in finish
    answers = [r for r in await sandbox_records(sandbox) if "添加备注" in (r["content"] or "")]
    assert len(answers) == 1
    notes = [e for e in await all_rows(bot.app[SESSIONS], TicketEvent) if e.kind == "noted"]
    assert len(notes) == 1
    seen = await all_rows(bot.app[SESSIONS], InboundMessage)
    assert sorted(m.msg_id for m in seen if m.msg_id == "42") == ["42"]


@pytest.mark.parametrize("chat", ["group", "direct"])
async def test_a_forged_or_replayed_callback_gets_403_and_does_nothing(
    bot: TestClient, sandbox: TestServer, chat: Chat
) -> None:
    await overdue_ticket(bot)
    forged = dataclasses.replace(wecom_side(bot), callback_token="attacker")
    assert await send(bot, sandbox, chat, "认领 1", wecom=forged) == 403
    assert await send(bot, sandbox, chat, "认领 1", now=time.time() - 3600) == 403
    assert await all_rows(bot.app[SESSIONS], InboundMessage) == []
    assert (await the_ticket(bot)).owner is None


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
async def test_bad_app_bodies_are_refused_cleanly(
    bot: TestClient, body: bytes, status: int
) -> None:
    query = {"msg_signature": "x" * 40, "timestamp": str(int(time.time())), "nonce": "1"}
    response = await bot.post("/wecom/app", params=query, data=body)
    assert response.status == status
    assert "Traceback" not in await response.text()
    assert await all_rows(bot.app[SESSIONS], InboundMessage) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"encrypt": "' + b"A" * 70_000 + b'"}', 413),
        (b"{not json", 400),
        (b'["encrypt"]', 400),
        (b'{"encrypt": 42}', 400),
    ],
    ids=["oversized", "malformed", "not-an-object", "encrypt-not-text"],
)
async def test_bad_robot_bodies_are_refused_cleanly(
    bot: TestClient, body: bytes, status: int
) -> None:
    query = {"msg_signature": "x" * 40, "timestamp": str(int(time.time())), "nonce": "1"}
    response = await bot.post("/wecom/aibot", params=query, data=body)
    assert response.status == status
    assert "Traceback" not in await response.text()
    assert await all_rows(bot.app[SESSIONS], InboundMessage) == []


async def the_ticket(bot: TestClient) -> Ticket:
    [ticket] = await all_rows(bot.app[SESSIONS], Ticket)
    return ticket
