"""WeCom callbacks: the app's 1:1 messages (encrypted XML, receive id = corp id) and the
intelligent robot's group @mentions (encrypted JSON, receive id ""). wechatpy does the crypto.

Every callback is checked (signature 403, stale timestamp 403, oversized 413, malformed 400),
recorded by message id so WeCom's retries are answered but acted on once, and answered at once
with an empty 200: WeCom waits 5 s at most. The command then runs in the background and replies
actively (app message, or the robot's one-shot response_url).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from wechatpy.crypto import WeChatCipher
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

from adapters.wecom.inbound import Inbound
from bot.keys import CLOCK, CONFIG
from services.config import WeComConfig

logger = logging.getLogger(__name__)

MAX_CALLBACK_BODY = 64 * 1024


class Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _signed(request: web.Request) -> tuple[str, str, str]:
    """The signature query, refused when missing or when the timestamp is far from now."""
    query = request.query
    signature, timestamp, nonce = (query.get(k) for k in ("msg_signature", "timestamp", "nonce"))
    if not (signature and timestamp and nonce):
        raise Rejected(400, "missing msg_signature/timestamp/nonce")
    wecom = request.app[CONFIG].wecom
    assert wecom is not None
    try:
        skew = abs(request.app[CLOCK].now().timestamp() - int(timestamp))
    except ValueError:
        raise Rejected(400, "timestamp is not a number") from None
    if skew > wecom.callback_max_skew.total_seconds():
        raise Rejected(403, "stale timestamp (replay?)")
    return signature, timestamp, nonce


async def _body(request: web.Request) -> bytes:
    """The whole body however it arrives (in several TCP segments, chunked), up to the limit:
    aiohttp reads until the end and refuses past ``client_max_size``, for every framing."""
    if (request.content_length or 0) > MAX_CALLBACK_BODY:
        raise Rejected(413, "callback body too large")
    try:
        return await request.clone(client_max_size=MAX_CALLBACK_BODY).read()
    except web.HTTPRequestEntityTooLarge:
        raise Rejected(413, "callback body too large") from None


@dataclass(frozen=True)
class Endpoint:
    """One callback URL's crypto, and whose messages it takes (for refusals)."""

    crypto: WeChatCrypto
    receiver: str  # its receive id in words


def _decrypt(endpoint: Endpoint, envelope: Any, signed: tuple[str, str, str]) -> str:
    try:
        return str(endpoint.crypto.decrypt_message(envelope, *signed))
    except InvalidSignatureException:
        raise Rejected(403, "bad signature") from None
    except Exception as error:  # malformed XML, bad padding, wrong receive id, …
        raise Rejected(400, f"cannot decrypt: {type(error).__name__}") from None


def _receive_id(key: bytes, encrypted: str) -> str | None:
    """The receive id ``encrypted`` was sealed for, if ``key`` opens it into WeCom's layout
    (16 random bytes, length, message, receive id, PKCS#7 padding to 32 bytes); None when it
    does not, i.e. it was sealed with another key. Only to explain a refusal."""
    try:
        plain: bytes = WeChatCipher(key).decrypt(base64.b64decode(encrypted))
    except ValueError:  # not base64, or not whole AES blocks
        return None
    pad = plain[-1] if plain else 0
    if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad or len(plain) < 20 + pad:
        return None
    content = plain[16:-pad]
    (length,) = struct.unpack(">I", content[:4])
    if 4 + length > len(content):
        return None
    try:
        return content[4 + length :].decode()
    except UnicodeDecodeError:
        return None


def _echo_refusal(endpoint: Endpoint, echostr: str) -> Rejected:
    """Why a correctly signed echostr does not decrypt here, for whoever saves the URL."""
    receiver = _receive_id(endpoint.crypto.key, echostr)
    if receiver is None:
        return Rejected(
            400, "echostr 无法解密: 与 callback_aes_key 不是同一个 EncodingAESKey (wrong key)"
        )
    if receiver == endpoint.crypto.corp_id:
        return Rejected(400, "echostr 解密后不是文本 (malformed echostr)")
    sender = "智能机器人" if receiver == "" else f"企业 ID 为 {receiver} 的自建应用"
    return Rejected(
        400,
        f"接收方不符: 这是{sender}的回调, 本地址只收{endpoint.receiver}的;"
        " 请检查回调 URL 填在了哪个应用或机器人上 (wrong receive id)",
    )


def _app_message(plaintext: str) -> Inbound | None:
    message = parse_message(plaintext)
    if message.type != "text":
        return None
    return Inbound("app", str(message.id), message.source, "direct", message.content)


def _aibot_message(plaintext: str) -> Inbound | None:
    message = json.loads(plaintext)
    if message.get("msgtype") != "text":
        return None
    chat: Literal["direct", "group"] = "group" if message.get("chattype") == "group" else "direct"
    return Inbound(
        "aibot",
        str(message["msgid"]),
        message["from"]["userid"],
        chat,
        message["text"]["content"],
        message.get("response_url"),
    )


CONCURRENT_COMMANDS = 16


# The reply to a message; None for WeCom's retry of a message already answered.
Answer = Callable[[Inbound], Awaitable[str | None]]


class CallbackRoutes:
    """The two callback endpoints; ``answer`` runs a command and ``send`` delivers its reply."""

    def __init__(
        self, config: WeComConfig, answer: Answer, send: Callable[[Inbound, str], Awaitable[None]]
    ) -> None:
        assert config.token and config.aes_key
        # The receive id is the corp id for the app, empty for the intelligent robot.
        self._app = Endpoint(
            WeChatCrypto(config.token, config.aes_key, config.corp_id or ""),
            f"企业 ID 为 {config.corp_id} 的自建应用",
        )
        self._aibot = Endpoint(WeChatCrypto(config.token, config.aes_key, ""), "智能机器人")
        self._answer = answer
        self._send = send
        self._tasks: set[asyncio.Task[None]] = set()
        # Commands run a few at a time: beyond that they only contend for the database.
        self._running = asyncio.Semaphore(CONCURRENT_COMMANDS)

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/wecom/app", self.verify_app)
        app.router.add_post("/wecom/app", self.app_callback)
        app.router.add_get("/wecom/aibot", self.verify_aibot)
        app.router.add_post("/wecom/aibot", self.aibot_callback)
        app.on_shutdown.append(self._drain)  # before cleanup closes the database

    async def _drain(self, _app: web.Application) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _verify(self, request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
        """WeCom's check when a callback URL is saved: send back the decrypted echostr."""
        echo = request.query.get("echostr", "")
        try:
            signed = _signed(request)
            plain = endpoint.crypto.check_signature(*signed, echo)
        except Rejected as error:
            return _refuse(request, error)
        except InvalidSignatureException:
            return _refuse(request, Rejected(403, "bad signature"))
        except Exception:  # signed, but sealed for another receiver or with another key
            return _refuse(request, _echo_refusal(endpoint, echo))
        # wechatpy finds the receive id past the message's stated length, so an echostr sealed
        # with another key opens "for" the robot's empty receive id now and then (~1 in 250):
        # it must open into WeCom's whole layout, for this receiver, before it is echoed.
        if _receive_id(endpoint.crypto.key, echo) != endpoint.crypto.corp_id:
            return _refuse(request, _echo_refusal(endpoint, echo))
        return web.Response(text=str(plain))

    async def verify_app(self, request: web.Request) -> web.StreamResponse:
        return await self._verify(request, self._app)

    async def verify_aibot(self, request: web.Request) -> web.StreamResponse:
        return await self._verify(request, self._aibot)

    async def app_callback(self, request: web.Request) -> web.StreamResponse:
        async def read() -> Inbound | None:
            signed, body = _signed(request), await _body(request)
            return _app_message(_decrypt(self._app, body, signed))

        return await self._handle(request, read)

    async def aibot_callback(self, request: web.Request) -> web.StreamResponse:
        async def read() -> Inbound | None:
            signed, body = _signed(request), await _body(request)
            try:
                encrypted = json.loads(body)["encrypt"]
            except (ValueError, KeyError, TypeError):
                encrypted = None
            if not isinstance(encrypted, str):
                raise Rejected(400, 'body is not {"encrypt": "<text>"}')
            envelope = {"Encrypt": encrypted}
            return _aibot_message(_decrypt(self._aibot, envelope, signed))

        return await self._handle(request, read)

    async def _handle(
        self, request: web.Request, read: Callable[[], Awaitable[Inbound | None]]
    ) -> web.StreamResponse:
        try:
            inbound = await read()
        except Rejected as error:
            return _refuse(request, error)
        except (ValueError, KeyError, TypeError) as error:
            return _refuse(request, Rejected(400, f"malformed message: {type(error).__name__}"))
        if inbound is None:
            return web.Response()
        # Answer now, act after: the acknowledgement must not wait for the database, or WeCom
        # retries (5 s) whenever commands queue up.
        task = asyncio.create_task(self._run(inbound))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response()

    async def _run(self, inbound: Inbound) -> None:
        async with self._running:
            try:
                reply = await self._answer(inbound)
                if reply is not None:
                    await self._send(inbound, reply)
            except Exception:
                logger.exception("command from %s failed: %r", inbound.user, inbound.text[:50])


def _refuse(request: web.Request, error: Rejected) -> web.Response:
    logger.warning("refused %s callback: %s", request.path, error)
    return web.Response(status=error.status, text=str(error))
