"""WeCom's server API under /cgi-bin/, as documented in wecom-facts.md (§2 robots, §3b
intelligent-robot replies, §4 the app). API errors are HTTP 200 with an errcode; queued faults
(HTTP 500, a hung request, an errcode) are served before any of it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import BodyPartReader, web

from sandbox import codes
from sandbox.config import robot_chat_id
from sandbox.errors import (
    API_FREQ_OUT_OF_LIMIT,
    APPCHAT_EXISTS,
    APPCHAT_NOT_FOUND,
    INVALID_AGENTID,
    INVALID_CORPID,
    INVALID_FILE_SIZE,
    INVALID_MEDIA_ID,
    INVALID_MEDIA_TYPE,
    INVALID_PARAMETER,
    INVALID_SECRET,
    INVALID_UPLOAD_TYPE,
    INVALID_WEBHOOK_KEY,
    NO_VALID_RECIPIENT,
    Rejected,
    errmsg,
)
from sandbox.login import LOGIN_CODES
from sandbox.messages import (
    APP_MSGTYPES,
    APPCHAT_MSGTYPES,
    IMAGE_MAGIC,
    check_aibot_reply,
    check_app,
    check_robot,
    decode_image,
    parse_json,
    summary,
)
from sandbox.state import SANDBOX_STATE, AppChat, Fault, Media, SandboxState

PREFIX = "/cgi-bin/"
# A 2 MB image is ~2.7 MB as base64 in JSON; uploads are streamed and capped per type instead.
MAX_BODY = 8 * 1024 * 1024
UPLOAD_MAX_BYTES = {"file": 20 * 1024 * 1024, "voice": 2 * 1024 * 1024}
# The app's temporary media; images are held to 2 MB, the strictest figure the docs give.
APP_UPLOAD_MAX_BYTES = UPLOAD_MAX_BYTES | {"image": 2 * 1024 * 1024}
UPLOAD_MIN_BYTES = 5  # every upload "must be larger than 5 bytes"
APPCHAT_NAME_MAX_CHARS = 50  # longer names are truncated
APPCHAT_MIN_USERS, APPCHAT_MAX_USERS = 2, 2000
APPCHAT_ID = re.compile(r"[0-9a-zA-Z]{1,32}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    # Chinese as it is, not as \u escapes, as WeCom answers.
    return web.json_response(data, status=status, dumps=lambda o: orjson.dumps(o).decode())


def _endpoint(request: web.Request) -> str:
    return request.path.removeprefix(PREFIX)


def _state(request: web.Request) -> SandboxState:
    return request.app[SANDBOX_STATE]


def _ok(request: web.Request, *, accepted: bool = True, **extra: Any) -> web.Response:
    if accepted:
        _state(request).stats.accepted[_endpoint(request)] += 1
    return _json({"errcode": 0, "errmsg": "ok", **extra})


def _refuse(request: web.Request, rejected: Rejected) -> web.Response:
    state = _state(request)
    state.stats.refused[_endpoint(request)][rejected.errcode] += 1
    message = errmsg(rejected.errcode, rejected.detail, request.remote, state.clock())
    return _json({"errcode": rejected.errcode, "errmsg": message, **rejected.extra})


@web.middleware
async def wecom_protocol(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Serve a queued fault first (a delay, then the request as usual); turn ``Rejected``
    into WeCom's HTTP 200 errcode reply."""
    if not request.path.startswith(PREFIX):
        return await handler(request)
    try:
        fault = _state(request).next_fault(_endpoint(request))
        if fault is not None and fault.kind == "delay":
            await _delay(_state(request), fault)
        elif fault is not None:
            return await _serve_fault(_state(request), fault)
        return await handler(request)
    except Rejected as rejected:
        return _refuse(request, rejected)


async def _delay(state: SandboxState, fault: Fault) -> None:
    """WeCom answering slowly: the request is served after ``fault.seconds`` (at once on
    shutdown)."""
    state.stats.faults[fault.endpoint][fault.kind] += 1
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.closing.wait(), fault.seconds)


async def _serve_fault(state: SandboxState, fault: Fault) -> web.Response:
    state.stats.faults[fault.endpoint][fault.kind] += 1
    if fault.kind == "errcode":
        raise Rejected(fault.errcode, "injected by the sandbox")
    if fault.kind == "timeout":
        # Hold the request past the client's timeout; the wait ends early on shutdown, and is
        # cancelled with the handler when the client gives up (if the server cancels handlers).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.closing.wait(), fault.seconds)
        return web.Response(status=504, text="sandbox: injected timeout, request not processed")
    return web.Response(status=500, text="sandbox: injected HTTP 500, request not processed")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Rejected(INVALID_PARAMETER, f"request body over {MAX_BODY} bytes") from None
    return parse_json(raw)


def _require_token(request: web.Request) -> None:
    errcode = _state(request).token_errcode(request.query.get("access_token", ""))
    if errcode:
        raise Rejected(errcode)


def _robot_key(request: web.Request) -> str:
    key = request.query.get("key", "")
    if key not in _state(request).config.webhook_keys:
        raise Rejected(INVALID_WEBHOOK_KEY)
    return key


def _ids(value: Any, name: str) -> list[str]:
    """A "a|b|c" recipient field as a list."""
    if value is None:
        return []
    if not isinstance(value, str):
        raise Rejected(INVALID_PARAMETER, f"{name} must be a string like 'a|b'")
    return [part for part in value.split("|") if part]


async def gettoken(request: web.Request) -> web.Response:
    config = _state(request).config
    if request.query.get("corpid") != config.corp_id:
        raise Rejected(INVALID_CORPID)
    if request.query.get("corpsecret") != config.corp_secret:
        raise Rejected(INVALID_SECRET)
    # "有效期内重复获取返回相同结果": the same token, and expires_in as first given.
    return _ok(request, access_token=_state(request).issue_token(), expires_in=config.token_ttl)


async def message_send(request: web.Request) -> web.Response:
    """An app message to members. Invalid userids are reported (lower-cased) and skipped; a
    member over 30 messages a minute loses the message silently, as WeCom documents."""
    state = _state(request)
    config = state.config
    _require_token(request)
    body = await _body(request)
    if str(body.get("agentid")) != str(config.agent_id):
        raise Rejected(INVALID_AGENTID, f"agentid must be {config.agent_id}")
    msgtype = check_app(body, APP_MSGTYPES)
    media = None
    if msgtype in ("image", "file"):  # a file shows in the chat as a document to open
        media = state.live_media(str(body[msgtype].get("media_id", "")))
        if media is None or media.kind != msgtype:
            raise Rejected(INVALID_MEDIA_ID, f"not a live {msgtype} media_id of this sandbox")
    wanted = _ids(body.get("touser"), "touser")
    known = {user.lower() for user in config.users}
    if "@all" in wanted and config.users:
        wanted = list(config.users)
    valid = [user for user in wanted if not known or user.lower() in known]
    addressing = {
        "invaliduser": "|".join(user.lower() for user in wanted if user not in valid),
        # The sandbox has no departments or tags: every one given is invalid.
        "invalidparty": "|".join(_ids(body.get("toparty"), "toparty")),
        "invalidtag": "|".join(_ids(body.get("totag"), "totag")),
    }
    if not valid:
        raise Rejected(NO_VALID_RECIPIENT, **addressing)
    delivered = []
    for user in valid:
        if state.take_member_slot(user):
            delivered.append(user)
        else:
            state.stats.dropped["message/send"][user] += 1
    if delivered:
        state.add_record(
            direction="out",
            endpoint="message/send",
            target_kind="user",
            target="|".join(delivered),
            msgtype=msgtype,
            body=body,
            content=summary(body),
            users=tuple(delivered),
            agentid=config.agent_id,
            media=media,
        )
    msgid = secrets.token_urlsafe(24)
    return _ok(request, accepted=bool(delivered), msgid=msgid, **addressing)


async def appchat_create(request: web.Request) -> web.Response:
    state = _state(request)
    _require_token(request)
    body = await _body(request)
    name, users, owner = body.get("name"), body.get("userlist"), body.get("owner")
    if not (isinstance(name, str) and name):
        raise Rejected(INVALID_PARAMETER, "name must be a non-empty string")
    if not (
        isinstance(users, list)
        and all(isinstance(user, str) and user for user in users)
        and APPCHAT_MIN_USERS <= len(users) <= APPCHAT_MAX_USERS
    ):
        limits = f"{APPCHAT_MIN_USERS} to {APPCHAT_MAX_USERS}"
        raise Rejected(INVALID_PARAMETER, f"userlist must hold {limits} userids")
    chat_id = body.get("chatid") or secrets.token_hex(16)
    if not (isinstance(chat_id, str) and APPCHAT_ID.fullmatch(chat_id)):
        raise Rejected(INVALID_PARAMETER, "chatid must be at most 32 of [0-9a-zA-Z]")
    if chat_id in state.appchats:
        raise Rejected(APPCHAT_EXISTS)
    owner = owner if isinstance(owner, str) and owner else users[0]
    chat = AppChat(chat_id, name[:APPCHAT_NAME_MAX_CHARS], owner, tuple(users))
    state.appchats[chat_id] = chat
    return _ok(request, chatid=chat_id)


async def appchat_send(request: web.Request) -> web.Response:
    state = _state(request)
    _require_token(request)
    body = await _body(request)
    chat = state.appchats.get(str(body.get("chatid")))
    if chat is None:
        raise Rejected(APPCHAT_NOT_FOUND, "the app did not create this chat")
    msgtype = check_app(body, APPCHAT_MSGTYPES)
    state.add_record(
        direction="out",
        endpoint="appchat/send",
        target_kind="appchat",
        target=chat.chat_id,
        msgtype=msgtype,
        body=body,
        content=summary(body),
        chat_name=chat.name,
        users=chat.users,
        agentid=state.config.agent_id,
    )
    return _ok(request)


async def webhook_send(request: web.Request) -> web.Response:
    """A robot message. The robot's limit counts accepted messages in a sliding 60 s window:
    WeCom does not document fixed or sliding, and sliding is the stricter reading."""
    state = _state(request)
    key = _robot_key(request)
    body = await _body(request)
    msgtype = check_robot(body)
    image: tuple[bytes, str] | None = None
    media: Media | None = None
    if msgtype == "image":
        image = decode_image(body["image"])
    elif msgtype in ("file", "voice"):
        media = state.live_media(body[msgtype]["media_id"])
        if media is None or media.kind != msgtype:
            raise Rejected(INVALID_MEDIA_ID, f"not a live {msgtype} media_id of this sandbox")
    if not state.take_robot_slot(key):
        raise Rejected(API_FREQ_OUT_OF_LIMIT)
    if image is not None:
        data, extension = image
        filename = f"image-{hashlib.md5(data).hexdigest()[:8]}.{extension}"
        media = state.store_media("image", filename, data, key)
        # Keep the record small: the bytes are served from /sandbox/api/media/ instead.
        body = {**body, "image": {"md5": body["image"]["md5"]}}
    state.add_record(
        direction="out",
        endpoint="webhook/send",
        target_kind="group",
        target=robot_chat_id(key),
        msgtype=msgtype,
        body=body,
        content=summary(body),
        chat_name=state.config.webhook_keys[key],
        webhook_key=key,
        media=media,
    )
    return _ok(request)


async def webhook_upload_media(request: web.Request) -> web.Response:
    """A multipart upload (field ``media``) for a robot's file or voice message."""
    state = _state(request)
    key = _robot_key(request)
    kind = request.query.get("type", "")
    if kind not in UPLOAD_MAX_BYTES:
        raise Rejected(INVALID_UPLOAD_TYPE, f"type must be one of {tuple(UPLOAD_MAX_BYTES)}")
    if request.content_type != "multipart/form-data":
        raise Rejected(INVALID_PARAMETER, "send multipart/form-data with a field named media")
    filename, data = await _read_media(request, UPLOAD_MAX_BYTES[kind])
    if len(data) <= UPLOAD_MIN_BYTES:
        raise Rejected(INVALID_FILE_SIZE, f"uploads must be larger than {UPLOAD_MIN_BYTES} bytes")
    if kind == "voice" and not data.startswith(b"#!AMR"):
        raise Rejected(INVALID_MEDIA_TYPE, "voice must be AMR")
    media = state.store_media(kind, filename, data, key)
    created_at = str(int(media.uploaded_at))
    return _ok(request, type=kind, media_id=media.media_id, created_at=created_at)


async def media_upload(request: web.Request) -> web.Response:
    """The app's temporary media (multipart field ``media``), e.g. an image for message/send;
    like a robot's upload, it lives 3 days."""
    state = _state(request)
    _require_token(request)
    kind = request.query.get("type", "")
    if kind not in APP_UPLOAD_MAX_BYTES:
        raise Rejected(INVALID_UPLOAD_TYPE, f"type must be one of {tuple(APP_UPLOAD_MAX_BYTES)}")
    if request.content_type != "multipart/form-data":
        raise Rejected(INVALID_PARAMETER, "send multipart/form-data with a field named media")
    filename, data = await _read_media(request, APP_UPLOAD_MAX_BYTES[kind])
    if len(data) <= UPLOAD_MIN_BYTES:
        raise Rejected(INVALID_FILE_SIZE, f"uploads must be larger than {UPLOAD_MIN_BYTES} bytes")
    if kind == "image" and not data.startswith(tuple(IMAGE_MAGIC)):
        raise Rejected(INVALID_MEDIA_TYPE, "image must be JPG or PNG")
    media = state.store_media(kind, filename, data, "")
    created_at = str(int(media.uploaded_at))
    return _ok(request, type=kind, media_id=media.media_id, created_at=created_at)


async def _read_media(request: web.Request, max_bytes: int) -> tuple[str, bytes]:
    """The filename and bytes of the ``media`` field, read in chunks up to ``max_bytes``."""
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name != "media":
                continue
            data = bytearray()
            while chunk := await part.read_chunk():
                data += chunk
                if len(data) > max_bytes:
                    raise Rejected(
                        INVALID_FILE_SIZE, f"uploads of this type are at most {max_bytes} bytes"
                    )
            return part.filename or "media", bytes(data)
    except ValueError as error:
        raise Rejected(INVALID_PARAMETER, f"malformed multipart body: {error}") from None
    raise Rejected(INVALID_PARAMETER, "no multipart field named media")


async def aibot_response(request: web.Request) -> web.Response:
    """An intelligent-robot active reply through a response_url: usable once, for one hour."""
    state = _state(request)
    code = request.query.get("response_code", "")
    target = codes.read(state.config, code)
    if target is None:
        raise Rejected(INVALID_PARAMETER, "unknown response_code")
    if code in state.used_response_codes:
        raise Rejected(INVALID_PARAMETER, "response_code already used")
    if target.expired(state.clock()):
        raise Rejected(INVALID_PARAMETER, "response_code expired")
    body = await _body(request)
    msgtype = check_aibot_reply(body)
    state.used_response_codes.add(code)
    where: dict[str, Any]
    if target.chat_type == "group":
        chat = state.group_chat(target.chat_id or "")
        where = {
            "target_kind": "appchat" if chat and chat["kind"] == "appchat" else "group",
            "target": target.chat_id or "",
            "chat_name": chat["name"] if chat else None,
        }
    else:
        where = {"target_kind": "user", "target": target.user, "users": (target.user,)}
    state.add_record(
        direction="out",
        endpoint="aibot/response",
        msgtype=msgtype,
        body=body,
        content=summary(body),
        **where,
    )
    return _ok(request)


async def getuserinfo(request: web.Request) -> web.Response:
    """Web login: the member a code belongs to (§3.3), once, within its 5 minutes."""
    _require_token(request)
    user = request.app[LOGIN_CODES].take(request.query.get("code", ""))
    return _ok(request, userid=user)


ROUTES: dict[str, tuple[str, Handler]] = {
    "gettoken": ("GET", gettoken),
    "auth/getuserinfo": ("GET", getuserinfo),
    "message/send": ("POST", message_send),
    "appchat/create": ("POST", appchat_create),
    "appchat/send": ("POST", appchat_send),
    "webhook/send": ("POST", webhook_send),
    "webhook/upload_media": ("POST", webhook_upload_media),
    "media/upload": ("POST", media_upload),
    "aibot/response": ("POST", aibot_response),
}
ENDPOINTS = tuple(ROUTES)


def add_routes(app: web.Application) -> None:
    for endpoint, (method, handler) in ROUTES.items():
        app.router.add_route(method, PREFIX + endpoint, handler)
