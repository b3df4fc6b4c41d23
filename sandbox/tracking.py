"""快递100 played locally: its subscribe API (``POST /poll``) and its pushes to the callback URL.

Subscribe checks what 快递100 checks (the form, the key, the carrier code or ``autoCom``, the
number, the callback URL, 顺丰's phone) and answers its codes: 200, 501 while already followed,
500 while "down", 600/601 for a bad or expired key, 700/701/702 for bad data, a carrier that
refuses, a carrier not recognised; a waybill may be subscribed at most 4 times a month.

Pushes carry the full trace, newest first, as form fields ``param`` and ``sign`` =
uppercase MD5(param + salt). Anything but ``{"result": true, "returnCode": "200", …}`` is
pushed again, 3 times, 35 minutes apart (``tracking_retry_seconds`` compresses that for tests
and the demo). Scans come by admin command (``POST /sandbox/tracking/scan``), by script on a
schedule (``POST /sandbox/tracking/script``), and ``abort``/``shutdown``/``updateall`` pushes by
``POST /sandbox/tracking/push``; ``POST /sandbox/tracking/down`` makes subscribe answer 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from rules.logistics import CARRIERS
from rules.phones import mask_phone
from sandbox.state import SANDBOX_STATE

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8))
MONTH_SECONDS = 30 * 24 * 3600
SUBSCRIBE_LIMIT = 4  # per carrier and number per month
_COMPANIES = {carrier.kuaidi100 for carrier in CARRIERS} | {"debangkuaidi"}
# 快递100 guesses the carrier from the number with autoCom=1; these prefixes it recognises here.
_GUESSES = (("SF", "shunfeng"), ("JDV", "jd"), ("JD", "jd"), ("JT", "jitu"), ("YT", "yuantong"))
_NAMES = {
    "0": "在途", "1": "揽收", "2": "疑难", "3": "签收", "4": "退签", "5": "派件", "6": "退回",
    "7": "转投", "8": "清关", "10": "待清关", "11": "清关中", "12": "已清关", "13": "清关异常",
    "14": "拒签", "101": "已下单", "102": "待揽收", "103": "已揽收", "1001": "到达派件城市",
    "1002": "干线", "1003": "转递", "501": "投柜或驿站", "301": "本人签收",
    "302": "派件异常后签收", "303": "代签", "304": "投柜或站签收", "401": "已销单",
    "201": "超时未签收", "202": "超时未更新", "203": "拒收", "204": "派件异常",
}  # fmt: skip
_SIGNED = {"3", "301", "302", "303", "304"}


@dataclass
class Followed:
    """A subscribed waybill: where its pushes go and its trace, newest first."""

    company: str
    number: str
    callback_url: str
    salt: str
    phone: str | None
    origin: str | None
    destination: str | None
    status: str = "polling"  # polling | shutdown | abort
    trace: list[dict[str, str]] = field(default_factory=list)
    subscribed_at: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "company": self.company,
            "number": self.number,
            "callback_url": self.callback_url,
            "phone": mask_phone(self.phone) if self.phone else None,
            "from": self.origin,
            "to": self.destination,
            "status": self.status,
            "subscriptions": len(self.subscribed_at),
            "trace": self.trace,
        }


@dataclass
class TrackingState:
    key: str
    expired_keys: tuple[str, ...]
    refused_numbers: tuple[str, ...]
    retry_seconds: float
    retries: int
    followed: dict[str, Followed] = field(default_factory=dict)  # by number
    pushes: list[dict[str, Any]] = field(default_factory=list)  # every attempt, for the admin
    subscribe_calls: int = 0
    down_until: float = 0.0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


TRACKING_STATE = web.AppKey("sandbox_tracking", TrackingState)
PUSH_SESSION = web.AppKey("sandbox_tracking_session", aiohttp.ClientSession)


def sign(param: str, salt: str) -> str:
    return hashlib.md5((param + salt).encode()).hexdigest().upper()


def _answer(code: str, message: str) -> web.Response:
    body = {"result": code == "200", "returnCode": code, "message": message}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _now(request: web.Request) -> float:
    return request.app[SANDBOX_STATE].clock()


async def poll(request: web.Request) -> web.Response:
    """快递100's subscribe: form ``schema=json`` and ``param`` (JSON)."""
    state = request.app[TRACKING_STATE]
    state.subscribe_calls += 1
    if _now(request) < state.down_until:
        return _answer("500", "服务器错误")
    form = await request.post()
    raw = form.get("param")
    if form.get("schema") != "json" or not isinstance(raw, str):
        return _answer("700", "提交的数据不符合规范: 需要 schema=json 和 param")
    try:
        param = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _answer("700", "提交的数据不符合规范: param 不是 JSON")
    if not isinstance(param, dict):
        return _answer("700", "提交的数据不符合规范: param 不是对象")
    return _subscribe(state, param, _now(request))


def _subscribe(state: TrackingState, param: dict[str, Any], now: float) -> web.Response:
    key = param.get("key")
    if key in state.expired_keys:
        return _answer("601", "授权key已过期")
    if key != state.key:
        return _answer("600", "您不是合法的订阅者 (授权key无效)")
    sent = param.get("parameters")
    parameters: dict[str, Any] = sent if isinstance(sent, dict) else {}
    number = str(param.get("number") or "").strip()
    callback = str(parameters.get("callbackurl") or "")
    if not 6 <= len(number) <= 32 or not callback.startswith(("http://", "https://")):
        return _answer("700", "提交的数据不符合规范: 单号为6-32位, 回调地址须为 http(s)")
    company = str(param.get("company") or "").strip()
    if not company and str(parameters.get("autoCom")) == "1":
        company = next((c for prefix, c in _GUESSES if number.upper().startswith(prefix)), "")
    if company not in _COMPANIES:
        return _answer("702", "无法识别快递公司")
    phone = str(parameters.get("phone") or "") or None
    if company == "shunfeng" and not phone:
        return _answer("700", "提交的数据不符合规范: 顺丰单号须提供收件人手机号 phone")
    if number in state.refused_numbers:
        return _answer("701", "快递公司拒绝订阅该单号")
    known = state.followed.get(number)
    if known is not None and known.status == "polling":
        return _answer("501", "重复订阅")
    recent = [t for t in (known.subscribed_at if known else []) if now - t < MONTH_SECONDS]
    if len(recent) >= SUBSCRIBE_LIMIT:
        return _answer("700", f"提交的数据不符合规范: 同一单号每月最多订阅{SUBSCRIBE_LIMIT}次")
    followed = Followed(
        company,
        number,
        callback,
        str(parameters.get("salt") or ""),
        phone,
        param.get("from"),
        param.get("to"),
        trace=known.trace if known else [],
        subscribed_at=[*recent, now],
    )
    state.followed[number] = followed
    return _answer("200", "提交成功")


def push_form(followed: Followed, status: str, message: str = "") -> dict[str, str]:
    """The push as 快递100 sends it: the full trace, newest first, signed with the salt."""
    newest = followed.trace[0]["statusCode"] if followed.trace else ""
    param = {
        "status": status,
        "billstatus": "got",
        "message": message,
        "lastResult": {
            "message": "ok",
            "nu": followed.number,
            "ischeck": "1" if newest in _SIGNED else "0",
            "com": followed.company,
            "status": "200",
            "condition": "F00",
            "state": newest,
            "data": followed.trace,
        },
    }
    text = orjson.dumps(param).decode()
    return {"param": text, "sign": sign(text, followed.salt)}


def trace_item(code: str, context: str, place: str | None, at: datetime) -> dict[str, str]:
    local = at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "time": local,
        "ftime": local,
        "context": context,
        "status": _NAMES.get(code, "未知"),
        "statusCode": code,
        "areaCode": "",
        "areaName": place or "",
    }


async def _deliver(app: web.Application, followed: Followed, form: dict[str, str]) -> bool:
    """One push attempt; whether the bot answered the success body. Each attempt is kept."""
    state = app[TRACKING_STATE]
    record: dict[str, Any] = {"number": followed.number, "at": app[SANDBOX_STATE].clock()}
    try:
        async with app[PUSH_SESSION].post(
            followed.callback_url, data=form, timeout=aiohttp.ClientTimeout(total=20)
        ) as response:
            body = await response.read()
            record["http_status"] = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        record |= {"http_status": None, "error": repr(error), "accepted": False}
        state.pushes.append(record)
        return False
    try:
        answer = orjson.loads(body)
        accepted = answer.get("result") is True and str(answer.get("returnCode")) == "200"
    except (orjson.JSONDecodeError, AttributeError):
        accepted = False
    record |= {"accepted": accepted, "answer": body.decode(errors="replace")[:200]}
    state.pushes.append(record)
    return accepted


async def push(app: web.Application, followed: Followed, status: str, message: str = "") -> bool:
    """Push now; on failure push again later (in the background), as 快递100 does."""
    form = push_form(followed, status, message)
    if await _deliver(app, followed, form):
        return True
    state = app[TRACKING_STATE]
    task = asyncio.create_task(_retry(app, followed, form))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)
    return False


async def _retry(app: web.Application, followed: Followed, form: dict[str, str]) -> None:
    state = app[TRACKING_STATE]
    for _ in range(state.retries):
        await asyncio.sleep(state.retry_seconds)
        if await _deliver(app, followed, form):
            return


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise web.HTTPBadRequest(text="send a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="send a JSON object")
    return body


def _followed(request: web.Request, number: Any) -> Followed:
    found = request.app[TRACKING_STATE].followed.get(str(number or ""))
    if found is None:
        raise web.HTTPNotFound(text=f"单号 {number!r} 未订阅")
    return found


def _when(request: web.Request, sent: Any) -> datetime:
    """A scan's time: ISO 8601, or 快递100's Beijing ``yyyy-MM-dd HH:mm:ss``; default now."""
    if not sent:
        return datetime.fromtimestamp(_now(request), UTC)
    try:
        moment = datetime.fromisoformat(str(sent))
    except ValueError:
        raise web.HTTPBadRequest(text=f"time {sent!r} is not a time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=BEIJING)


async def admin_scan(request: web.Request) -> web.Response:
    """A scan on a subscribed waybill: {number, state (快递100's code), context, place, time},
    pushed at once; answers whether the bot took it."""
    body = await _body(request)
    followed = _followed(request, body.get("number"))
    code, context = str(body.get("state", "")), str(body.get("context", ""))
    if not code or not context:
        raise web.HTTPBadRequest(text="state and context are required")
    item = trace_item(code, context, body.get("place"), _when(request, body.get("time")))
    followed.trace.insert(0, item)
    followed.trace.sort(key=lambda i: i["ftime"], reverse=True)
    status = "shutdown" if code in _SIGNED else "polling"
    followed.status = status
    return web.json_response({"accepted": await push(request.app, followed, status)})


async def admin_push(request: web.Request) -> web.Response:
    """A push without a new scan: {number, status: polling|updateall|abort|shutdown, message}."""
    body = await _body(request)
    followed = _followed(request, body.get("number"))
    status = str(body.get("status", ""))
    if status not in ("polling", "updateall", "abort", "shutdown"):
        raise web.HTTPBadRequest(text="status must be polling, updateall, abort or shutdown")
    if status in ("abort", "shutdown"):
        followed.status = status
    message = str(body.get("message", "3天查询无记录" if status == "abort" else ""))
    return web.json_response({"accepted": await push(request.app, followed, status, message)})


async def admin_script(request: web.Request) -> web.Response:
    """Scans on a schedule for the demo: {number, steps: [{after_seconds, state, context,
    place}]}, each pushed when its time comes."""
    body = await _body(request)
    followed = _followed(request, body.get("number"))
    steps = body.get("steps")
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise web.HTTPBadRequest(text="steps must be a list of objects")
    state = request.app[TRACKING_STATE]
    task = asyncio.create_task(_play(request.app, followed, steps))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)
    return web.json_response({"scheduled": len(steps)})


async def _play(app: web.Application, followed: Followed, steps: list[dict[str, Any]]) -> None:
    for step in steps:
        await asyncio.sleep(float(step.get("after_seconds", 0)))
        moment = datetime.fromtimestamp(app[SANDBOX_STATE].clock(), UTC)
        code = str(step.get("state", "0"))
        item = trace_item(code, str(step.get("context", "")), step.get("place"), moment)
        followed.trace.insert(0, item)
        followed.status = "shutdown" if code in _SIGNED else "polling"
        await push(app, followed, followed.status)


async def admin_down(request: web.Request) -> web.Response:
    """快递100 "down" for {seconds}: subscribe answers 500 until then (0 brings it back)."""
    body = await _body(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        raise web.HTTPBadRequest(text="seconds must be a number ≥ 0")
    state = request.app[TRACKING_STATE]
    state.down_until = _now(request) + seconds
    return web.json_response({"down_until": state.down_until})


async def admin_state(request: web.Request) -> web.Response:
    """The subscriptions (phones masked) and every push attempt."""
    state = request.app[TRACKING_STATE]
    return web.json_response(
        {
            "subscriptions": [f.as_json() for f in state.followed.values()],
            "pushes": state.pushes,
            "subscribe_calls": state.subscribe_calls,
        },
        dumps=lambda o: orjson.dumps(o).decode(),
    )


async def _session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[PUSH_SESSION] = session
        yield
        for task in list(app[TRACKING_STATE].tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def setup(
    app: web.Application,
    *,
    key: str,
    expired_keys: tuple[str, ...],
    refused_numbers: tuple[str, ...],
    retry_seconds: float,
    retries: int,
) -> None:
    app[TRACKING_STATE] = TrackingState(key, expired_keys, refused_numbers, retry_seconds, retries)
    app.cleanup_ctx.append(_session)
    app.router.add_post("/poll", poll)
    app.router.add_post("/sandbox/tracking/scan", admin_scan)
    app.router.add_post("/sandbox/tracking/push", admin_push)
    app.router.add_post("/sandbox/tracking/script", admin_script)
    app.router.add_post("/sandbox/tracking/down", admin_down)
    app.router.add_get("/sandbox/tracking/state", admin_state)
