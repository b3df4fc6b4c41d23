"""The sandbox's own JSON API under /sandbox/api/, for the page and out-of-process users (demo,
benchmarks): what was accepted, counts, fault injection, token expiry, uploaded files, and
members "saying" something to the bot."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeGuard, get_args
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import web

from sandbox.callbacks import CallbackNotConfigured, send_aibot_callback, send_app_callback
from sandbox.state import SANDBOX_STATE, Fault, FaultKind, Record, SandboxState
from sandbox.wecom_api import ENDPOINTS

CALLBACK_SESSION = web.AppKey("sandbox_callback_session", aiohttp.ClientSession)
APP_TARGET = "app"  # /say target for the member's 1:1 chat with the app


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: orjson.dumps(o).decode())


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


def _state(request: web.Request) -> SandboxState:
    return request.app[SANDBOX_STATE]


async def _object(request: web.Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


async def messages(request: web.Request) -> web.Response:
    """Everything recorded after id ``since`` (default 0), oldest first."""
    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        return _error(400, "since must be an integer message id")
    state = _state(request)
    records = [record.as_json() for record in state.records_since(since)]
    return _json({"messages": records, "last_id": len(state.records)})


async def stats(request: web.Request) -> web.Response:
    return _json(_state(request).stats.as_json())


async def chats(request: web.Request) -> web.Response:
    """The group chats and members, for the page's lists and its form."""
    state = _state(request)
    config = state.config
    return _json(
        {
            "groups": state.group_chats(),
            "users": list(config.users),
            "aibot_name": config.aibot_name,
            "callbacks": {
                "app": config.callback_url is not None,
                "aibot": config.aibot_callback_url is not None,
            },
        }
    )


def _is_fault_kind(value: object) -> TypeGuard[FaultKind]:
    return value in get_args(FaultKind)


def _fault(spec: dict[str, Any], default_seconds: float) -> Fault | str:
    """A Fault from its JSON spec, or what is wrong with the spec."""
    endpoint, kind = spec.get("endpoint"), spec.get("kind")
    count, errcode = spec.get("count", 1), spec.get("errcode", 0)
    seconds = spec.get("seconds", default_seconds)
    if endpoint not in ENDPOINTS:
        return f"endpoint must be one of {list(ENDPOINTS)}"
    if not _is_fault_kind(kind):
        return f"kind must be one of {list(get_args(FaultKind))}"
    if type(count) is not int or count < 1:
        return "count must be a positive integer"
    if kind == "errcode" and (type(errcode) is not int or errcode == 0):
        return "an errcode fault needs a non-zero integer errcode"
    if not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds <= 0:
        return "seconds must be a positive number"
    return Fault(endpoint, kind, count, errcode if kind == "errcode" else 0, float(seconds))


async def post_fault(request: web.Request) -> web.Response:
    """Queue a fault for the next ``count`` calls to an endpoint, after any already queued."""
    state = _state(request)
    spec = await _object(request)
    if spec is None:
        return _error(400, "send a JSON object")
    fault = _fault(spec, state.config.fault_timeout_seconds)
    if isinstance(fault, str):
        return _error(400, fault)
    state.queue_fault(fault)
    pending = [f.as_json() for f in state.pending_faults(fault.endpoint)]
    return _json({"queued": fault.as_json(), "pending": pending})


async def expire_tokens(request: web.Request) -> web.Response:
    return _json({"expired": _state(request).expire_tokens()})


async def media(request: web.Request) -> web.Response:
    """An uploaded file's bytes, whether or not its media_id is still valid for sending."""
    found = _state(request).media.get(request.match_info["media_id"])
    if found is None:
        return _error(404, "no such media_id")
    disposition = f"attachment; filename*=UTF-8''{quote(found.filename)}"
    return web.Response(
        body=found.data,
        content_type=found.content_type,
        headers={"Content-Disposition": disposition},
    )


async def say(request: web.Request) -> web.Response:
    """A member sends text to the bot: in a group as an @mention of the intelligent robot, or
    in their 1:1 chat with the app. Recorded first (it shows in the chat even if the bot is
    down), then delivered as WeCom's callback; 502 when the bot cannot be reached. Someone
    not among the sandbox's members is refused (400): WeCom knows who may write."""
    body = await _object(request) or {}
    fields = [body.get(name) for name in ("user", "target", "text")]
    if not all(isinstance(value, str) and value.strip() for value in fields):
        return _error(400, "user, target and text must be non-empty strings")
    user, target, text = (str(value).strip() for value in fields)
    members = _state(request).config.users
    known = {member.lower(): member for member in members}
    if known and user.lower() not in known:
        names = "、".join(members)
        why = f"通讯录里没有成员「{user}」: 企业微信不会送来不认识的人的消息。可选成员: {names}"
        return _error(400, why)
    user = known.get(user.lower(), user)
    if target == APP_TARGET:
        record, sending = _say_to_app(request, user, text)
    elif (chat := _state(request).group_chat(target)) is not None:
        record, sending = _say_in_group(request, user, chat, text)
    else:
        return _error(400, f"no group chat {target!r}; see /sandbox/api/chats")
    try:
        response = await sending
    except CallbackNotConfigured as error:
        return _error(502, f"{error}: start the sandbox with the bot's callback URL")
    except TimeoutError:
        return _error(502, "the bot did not answer within WeCom's 5 s")
    except aiohttp.ClientError as error:
        return _error(502, f"cannot reach the bot's callback URL: {error}")
    if response.status != 200:
        return _error(502, f"the bot answered HTTP {response.status}; WeCom would retry")
    return _json({"id": record.id, "bot_status": response.status})


Sending = Coroutine[Any, Any, aiohttp.ClientResponse]


def _say_to_app(request: web.Request, user: str, text: str) -> tuple[Record, Sending]:
    state = _state(request)
    record = state.add_record(
        direction="in",
        endpoint="callback/app",
        target_kind="user",
        target=user,
        msgtype="text",
        body={"msgtype": "text", "text": {"content": text}},
        content=text,
        users=(user,),
        from_user=user,
        agentid=state.config.agent_id,
    )
    session = request.app[CALLBACK_SESSION]
    return record, send_app_callback(state.config, session, user, text, now=state.clock())


def _say_in_group(
    request: web.Request, user: str, chat: dict[str, Any], text: str
) -> tuple[Record, Sending]:
    state = _state(request)
    mention = f"@{state.config.aibot_name}"
    content = text if text.startswith(mention) else f"{mention} {text}"
    record = state.add_record(
        direction="in",
        endpoint="callback/aibot",
        target_kind="appchat" if chat["kind"] == "appchat" else "group",
        target=chat["chat_id"],
        msgtype="text",
        body={"msgtype": "text", "text": {"content": content}},
        content=content,
        chat_name=chat["name"],
        from_user=user,
    )
    sending = send_aibot_callback(
        state.config,
        request.app[CALLBACK_SESSION],
        chat["chat_id"],
        "group",
        user,
        content,
        sandbox_url=str(request.url.origin()),
        now=state.clock(),
    )
    return record, sending


async def _callback_session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[CALLBACK_SESSION] = session
        yield


def setup(app: web.Application) -> None:
    """Add the /sandbox/api/ routes and the client session that /say posts with."""
    app.cleanup_ctx.append(_callback_session)
    app.router.add_get("/sandbox/api/messages", messages)
    app.router.add_get("/sandbox/api/stats", stats)
    app.router.add_get("/sandbox/api/chats", chats)
    app.router.add_post("/sandbox/api/faults", post_fault)
    app.router.add_post("/sandbox/api/expire-tokens", expire_tokens)
    app.router.add_get("/sandbox/api/media/{media_id}", media)
    app.router.add_post("/sandbox/api/say", say)
