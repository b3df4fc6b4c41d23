"""The sandbox acting as WeCom towards the bot: a member's message, encrypted and signed exactly
as WeCom does it (wecom-facts.md §1 for the self-built app, §3b for the intelligent robot), posted
to the bot's callback URL; and the GET check WeCom runs when a callback URL is saved.

One attempt per call: WeCom's three retries on a missing or slow answer are the caller's to
emulate, by calling again with the same ``msg_id``/``msgid``.
"""

from __future__ import annotations

import secrets
import time
from xml.etree import ElementTree

import aiohttp
import orjson
from wechatpy.enterprise.crypto import WeChatCrypto

from sandbox import codes
from sandbox.config import SandboxConfig

MESSAGE_DEADLINE = aiohttp.ClientTimeout(total=5.0)  # WeCom drops the connection after 5 s
VERIFY_DEADLINE = aiohttp.ClientTimeout(total=1.0)  # and expects the echostr within 1 s
CHAT_TYPES = ("group", "single")


class CallbackNotConfigured(RuntimeError):
    """The sandbox was not told where the bot's callback endpoint is."""


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside one CDATA section; split it across two.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _seal(
    config: SandboxConfig, plaintext: str, receive_id: str, timestamp: int
) -> tuple[dict[str, str], str]:
    """Encrypt ``plaintext``; returns the signed query (msg_signature, timestamp, nonce) and the
    ciphertext that the signature covers."""
    crypto = WeChatCrypto(config.callback_token, config.encoding_aes_key, receive_id)
    nonce = str(secrets.randbelow(10**10))
    envelope = ElementTree.fromstring(crypto.encrypt_message(plaintext, nonce, str(timestamp)))
    query = {
        "msg_signature": envelope.findtext("MsgSignature", ""),
        "timestamp": str(timestamp),
        "nonce": nonce,
    }
    return query, envelope.findtext("Encrypt", "")


def _url(url: str | None, what: str) -> str:
    if not url:
        raise CallbackNotConfigured(f"the sandbox has no {what} configured")
    return url


def app_callback_request(
    config: SandboxConfig,
    from_user: str,
    content: str,
    *,
    msg_id: int | None = None,
    now: float | None = None,
) -> tuple[dict[str, str], bytes]:
    """A member's 1:1 text to the app as WeCom sends it: the signed query and the XML body.
    For callers that send it themselves (in pieces, chunked); ``send_app_callback`` posts it."""
    timestamp = int(time.time() if now is None else now)
    msg_id = secrets.randbits(63) if msg_id is None else msg_id
    plaintext = (
        f"<xml><ToUserName>{_cdata(config.corp_id)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType>{_cdata('text')}</MsgType>"
        f"<Content>{_cdata(content)}</Content><MsgId>{msg_id}</MsgId>"
        f"<AgentID>{config.agent_id}</AgentID></xml>"
    )
    query, encrypt = _seal(config, plaintext, config.corp_id, timestamp)
    body = (
        f"<xml><ToUserName>{_cdata(config.corp_id)}</ToUserName>"
        f"<AgentID>{_cdata(str(config.agent_id))}</AgentID>"
        f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
    )
    return query, body.encode()


async def send_app_callback(
    config: SandboxConfig,
    session: aiohttp.ClientSession,
    from_user: str,
    content: str,
    *,
    msg_id: int | None = None,
    now: float | None = None,
) -> aiohttp.ClientResponse:
    """POST a member's 1:1 text to the app as WeCom does; returns the bot's response, read.

    Raises CallbackNotConfigured without ``config.callback_url``, and aiohttp's errors (or
    TimeoutError after WeCom's 5 s) when the bot cannot be reached.
    """
    url = _url(config.callback_url, "callback_url")
    query, body = app_callback_request(config, from_user, content, msg_id=msg_id, now=now)
    async with session.post(
        url,
        params=query,
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=MESSAGE_DEADLINE,
    ) as response:
        await response.read()  # keeps the body readable after the connection is released
    return response


def aibot_callback_request(
    config: SandboxConfig,
    chat_id: str | None,
    chat_type: str,
    from_user: str,
    content: str,
    *,
    sandbox_url: str,
    msgid: str | None = None,
    now: float | None = None,
) -> tuple[dict[str, str], bytes]:
    """A member's text to the intelligent robot as WeCom sends it: the signed query and the
    JSON body, with a fresh one-time response_url (see ``send_aibot_callback``)."""
    if chat_type not in CHAT_TYPES:
        raise ValueError(f"chat_type must be one of {CHAT_TYPES}, not {chat_type!r}")
    if chat_type == "group" and not chat_id:
        raise ValueError("a group message needs its chat_id")
    now = time.time() if now is None else now
    target = codes.ResponseTarget(chat_type, chat_id, from_user, now)
    code = codes.issue(config, target)
    message = {
        "msgid": msgid or secrets.token_urlsafe(24),
        "aibotid": config.aibot_id,
        **({"chatid": chat_id} if chat_type == "group" else {}),
        "chattype": chat_type,
        "from": {"userid": from_user},
        "response_url": f"{sandbox_url.rstrip('/')}/cgi-bin/aibot/response?response_code={code}",
        "msgtype": "text",
        "text": {"content": content},
    }
    # The intelligent robot's receiveid is "" (wecom-facts.md §1, crypto).
    query, encrypt = _seal(config, orjson.dumps(message).decode(), "", int(now))
    return query, orjson.dumps({"encrypt": encrypt})


async def send_aibot_callback(
    config: SandboxConfig,
    session: aiohttp.ClientSession,
    chat_id: str | None,
    chat_type: str,
    from_user: str,
    content: str,
    *,
    sandbox_url: str,
    msgid: str | None = None,
    now: float | None = None,
) -> aiohttp.ClientResponse:
    """POST a member's text to the intelligent robot as WeCom does (an @mention in a group, or
    any text in a 1:1 chat); returns the bot's response, read.

    ``sandbox_url`` is where the bot reaches this sandbox: the message's response_url points at
    its /cgi-bin/aibot/response with a fresh one-time response_code, issued at ``now`` on the
    sandbox's clock. Raises as ``send_app_callback`` does.
    """
    query, body = aibot_callback_request(
        config,
        chat_id,
        chat_type,
        from_user,
        content,
        sandbox_url=sandbox_url,
        msgid=msgid,
        now=now,
    )
    url = _url(config.aibot_callback_url, "aibot_callback_url")
    async with session.post(
        url,
        params=query,
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=MESSAGE_DEADLINE,
    ) as response:
        await response.read()
    return response


def verification_query(config: SandboxConfig, echo: str, *, aibot: bool) -> dict[str, str]:
    """The signed query of WeCom's GET check for the app's (or the robot's) callback URL:
    ``echo`` encrypted for that receiver, which the bot must send back decrypted."""
    receive_id = "" if aibot else config.corp_id
    query, echostr = _seal(config, echo, receive_id, int(time.time()))
    return {**query, "echostr": echostr}


async def verify_callback_url(
    config: SandboxConfig, session: aiohttp.ClientSession, *, aibot: bool = False
) -> bool:
    """Run the GET check WeCom makes when a callback URL is saved: an encrypted, signed echostr
    that the bot must decrypt and send back as it is, within 1 s."""
    if aibot:
        url = _url(config.aibot_callback_url, "aibot_callback_url")
    else:
        url = _url(config.callback_url, "callback_url")
    echo = str(secrets.randbits(63))
    query = verification_query(config, echo, aibot=aibot)
    try:
        async with session.get(url, params=query, timeout=VERIFY_DEADLINE) as response:
            return response.status == 200 and await response.text() == echo
    except TimeoutError:
        return False
