"""WeCom callbacks into the bot: Tencent's published vector, forged and replayed callbacks,
oversized and malformed bodies, retries acted on once, and commands answered through WeCom."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.utils import WeChatSigner

from bot.app import create_app
from bot.keys import SESSIONS
from sandbox import (
    SandboxConfig,
    aibot_callback_request,
    app_callback_request,
    send_aibot_callback,
    send_app_callback,
    verification_query,
)
from sandbox.config import robot_chat_id
from storage.models import InboundMessage, OutboxMessage, Ticket, TicketEvent
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
    # The bot acts after answering: its reply, which WeCom (unreachable here) does not take,
    # lands in the outbox once the command has run.
    for _ in range(200):  # up to 10 s on a loaded machine
        if await all_rows(bot.app[SESSIONS], OutboxMessage):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # time for a second, duplicate run to show itself
    seen = await all_rows(bot.app[SESSIONS], InboundMessage)
    assert [(m.source, m.msg_id) for m in seen] == [("app", "1456453720")]
    replies = await all_rows(bot.app[SESSIONS], OutboxMessage)
    assert [(m.kind, m.target) for m in replies] == [("reply", "ChenJiaShun")]


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


# --- Bodies however they arrive: split across TCP writes, chunked, and the limit in each ---


def signed_request(
    bot: TestClient, sandbox: TestServer, chat: Chat, text: str
) -> tuple[str, dict[str, str], bytes]:
    """The callback WeCom would send for ``text`` from zhang: (path, signed query, body)."""
    wecom = wecom_side(bot)
    if chat == "direct":
        return "/wecom/app", *app_callback_request(wecom, "zhang", text)
    query, body = aibot_callback_request(
        wecom,
        robot_chat_id("key-east"),
        "group",
        "zhang",
        text,
        sandbox_url=str(sandbox.make_url("/")),
    )
    return "/wecom/aibot", query, body


async def post_raw(
    bot: TestClient, path: str, query: dict[str, str], pieces: list[bytes], *, chunked: bool
) -> int:
    """POST ``pieces`` over a raw socket, one TCP write each, 100 ms apart: with a
    Content-Length, or as the chunks of a chunked body. Returns the HTTP status."""
    reader, writer = await asyncio.open_connection(bot.host, bot.port)
    framing = (
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {sum(map(len, pieces))}"
    )
    head = (
        f"POST {path}?{urlencode(query)} HTTP/1.1\r\nHost: {bot.host}\r\n"
        f"{framing}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode())
    for number, piece in enumerate(pieces):
        if number:
            await asyncio.sleep(0.1)
        writer.write(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
        await writer.drain()
    if chunked:
        writer.write(b"0\r\n\r\n")
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    return int(status_line.split()[1])


async def bot_answers(sandbox: TestServer) -> list[str]:
    """What the bot sent back through WeCom (app messages and robot replies), waiting briefly."""
    for _ in range(100):
        answers = [
            str(r["content"] or r["body"])
            for r in await sandbox_records(sandbox)
            if r["direction"] == "out"
        ]
        if answers:
            return answers
        await asyncio.sleep(0.05)
    return []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("chat", ["direct", "group"])
async def test_a_body_arriving_in_pieces_is_read_whole_and_acted_on(
    bot: TestClient, sandbox: TestServer, chat: Chat, chunked: bool
) -> None:
    path, query, body = signed_request(bot, sandbox, chat, "帮助")
    half = len(body) // 2
    assert await post_raw(bot, path, query, [body[:half], body[half:]], chunked=chunked) == 200
    [answer] = await bot_answers(sandbox)
    assert answer.startswith("可用命令:")
    assert len(await all_rows(bot.app[SESSIONS], InboundMessage)) == 1


@pytest.mark.parametrize("chat", ["direct", "group"])
async def test_a_chunked_body_over_the_limit_is_413_and_not_acted_on(
    bot: TestClient, sandbox: TestServer, chat: Chat
) -> None:
    # A whole, valid envelope first; then 100 KiB of whitespace (legal after XML and JSON).
    path, query, body = signed_request(bot, sandbox, chat, "帮助")
    padding = [b" " * 50 * 1024, b" " * 50 * 1024]
    assert await post_raw(bot, path, query, [body, *padding], chunked=True) == 413
    await bot.app.shutdown()  # lets any command the bot took in finish
    assert await all_rows(bot.app[SESSIONS], InboundMessage) == []
    assert [r for r in await sandbox_records(sandbox) if r["direction"] == "out"] == []


# --- URL verification that does not decrypt here: 400 with the cause, never 500 ---

OTHER_KEY = "b3RoZXItc2FuZGJveC1hZXMta2V5LTMyYnl0ZXMhISE"  # another 32-byte EncodingAESKey


@pytest.mark.parametrize(
    ("path", "robots_echo", "key", "cause"),
    [
        ("/wecom/app", True, None, "接收方不符: 这是智能机器人的回调, 本地址只收企业 ID 为"),
        ("/wecom/aibot", False, None, "接收方不符: 这是企业 ID 为 wwsandbox0000001 的自建应用"),
        ("/wecom/app", False, OTHER_KEY, "echostr 无法解密: 与 callback_aes_key 不是同一个"),
        ("/wecom/aibot", True, OTHER_KEY, "echostr 无法解密: 与 callback_aes_key 不是同一个"),
    ],
    ids=["robot-echo-to-app", "app-echo-to-robot", "app-wrong-key", "robot-wrong-key"],
)
async def test_url_verification_for_another_receiver_or_key_is_400_with_the_cause(
    bot: TestClient,
    caplog: pytest.LogCaptureFixture,
    path: str,
    robots_echo: bool,
    key: str | None,
    cause: str,
) -> None:
    wecom = wecom_side(bot)
    if key is not None:
        wecom = dataclasses.replace(wecom, encoding_aes_key=key)
    query = verification_query(wecom, "1288432023552776189", aibot=robots_echo)
    with caplog.at_level(logging.WARNING, logger="bot.callback"):
        response = await bot.get(path, params=query)
        text = await response.text()
    assert response.status == 400
    assert text.startswith(cause)
    assert ("wrong key" if key else "wrong receive id") in text
    [logged] = [r for r in caplog.records if r.name == "bot.callback"]
    assert logged.exc_info is None and "\n" not in logged.getMessage()


async def test_an_echo_sealed_with_another_key_is_never_echoed_back(bot: TestClient) -> None:
    # Sealed with a wrong key, an echostr opens into random bytes: about 1 in 250 of them once
    # passed wechatpy's check for the robot's empty receive id and were echoed as garbage.
    wecom = dataclasses.replace(wecom_side(bot), encoding_aes_key=OTHER_KEY)
    answers = []
    for n in range(1500):
        query = verification_query(wecom, str(n), aibot=True)
        response = await bot.get("/wecom/aibot", params=query)
        answers.append(response.status)
    assert set(answers) == {400}


async def test_url_verification_still_echoes_for_its_own_receiver(bot: TestClient) -> None:
    for path, robots_echo in (("/wecom/app", False), ("/wecom/aibot", True)):
        query = verification_query(wecom_side(bot), "42", aibot=robots_echo)
        response = await bot.get(path, params=query)
        assert (response.status, await response.text()) == (200, "42")


async def test_url_verification_of_an_echo_that_is_not_text_is_400(bot: TestClient) -> None:
    wecom = wecom_side(bot)  # sealed for this app with this key, but not UTF-8 inside
    key = WeChatCrypto(wecom.callback_token, wecom.encoding_aes_key, wecom.corp_id).key
    echostr = PrpCrypto(key).encrypt(b"\xff\xfe", wecom.corp_id).decode()
    timestamp, nonce = str(int(time.time())), "7"
    signer = WeChatSigner()
    signer.add_data(wecom.callback_token, timestamp, nonce, echostr)
    query = {"msg_signature": signer.signature, "timestamp": timestamp, "nonce": nonce}
    response = await bot.get("/wecom/app", params=query | {"echostr": echostr})
    assert response.status == 400
    assert await response.text() == "echostr 解密后不是文本 (malformed echostr)"
