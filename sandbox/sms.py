"""The SMS providers, played: Tencent Cloud SendSms (2021-01-11) and Alibaba Cloud Dysmsapi
SendSms (2017-05-25), both on ``POST /`` as their SDKs send it (told apart by the
``X-TC-Action`` / ``x-acs-action`` header), so [sms].endpoint is ``http://<sandbox host:port>``.

Each checks the request's signature, the account (SecretId / AccessKeyId, SmsSdkAppId), the
approved signs and templates (with their variables), URLs in variables, numbers (vacant,
blacklisted), its per-number limits, and answers with the provider's codes. An accepted text is
kept per phone (GET /sandbox/api/sms, shown on the page), and after ``receipt_delay`` its
delivery receipt is POSTed to the bot in the provider's format (undelivered for a number
switched off). POST /sandbox/api/sms/down {"seconds": N} makes both providers answer HTTP 503
for N seconds of the sandbox's clock (0: up again); POST /sandbox/api/sms/slow answers the next
sends late (carried out, answered after the client gave up).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from aiohttp import web

from rules.phones import mask_phone
from rules.sms import (
    MAX_TEXT_LENGTH,
    aliyun_variable_names,
    billed_parts,
    render_aliyun,
    render_tencent,
    signed_text,
    tencent_variable_count,
)
from sandbox.sms_config import SmsSandboxConfig
from sandbox.sms_signing import check_acs3, check_tc3

logger = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8))
_MOBILE = re.compile(r"1[3-9]\d{9}")
_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


@dataclass
class Text:
    """A text a phone received (or was meant to: a receipt may say otherwise)."""

    id: int
    provider: str
    phone: str
    time: float
    sign: str
    template: str
    content: str
    serial: str
    reference: str | None
    receipt: str | None = None  # "delivered" | "undelivered", once sent

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "time": self.time,
            "sign": self.sign,
            "template": self.template,
            "content": self.content,
            "serial": self.serial,
            "receipt": self.receipt,
        }


@dataclass
class Refusal:
    provider: str
    phone: str
    time: float
    code: str

    def as_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "time": self.time, "code": self.code}


@dataclass
class SmsState:
    config: SmsSandboxConfig
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    texts: list[Text] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    down_until: float = 0.0
    slow: list[float] = field(default_factory=list)  # the next sends answer this much later
    nonces: dict[str, float] = field(default_factory=dict)
    sent_at: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    receipts: set[asyncio.Task[None]] = field(default_factory=set)
    http: aiohttp.ClientSession | None = None

    def accepted_within(self, key: str, seconds: float) -> int:
        now = self.clock()
        return sum(1 for at in self.sent_at[key] if at > now - seconds)

    def refuse(self, provider: str, phone: str, code: str) -> str:
        self.refusals.append(Refusal(provider, phone, self.clock(), code))
        return code


SMS_STATE = web.AppKey("sms_state", SmsState)


def _bad_number(state: SmsState, phone: str) -> bool:
    return not _MOBILE.fullmatch(phone) or phone in state.config.vacant


def _accept(
    request: web.Request,
    provider: str,
    phone: str,
    sign: str,
    template: str,
    content: str,
    reference: str | None,
    limit_keys: Sequence[str],
) -> Text:
    state = request.app[SMS_STATE]
    now = state.clock()
    serial = f"{provider[:2]}{uuid.uuid4().hex[:20]}"
    text = Text(
        len(state.texts) + 1, provider, phone, now, sign, template, content, serial, reference
    )
    state.texts.append(text)
    for key in limit_keys:
        state.sent_at[key].append(now)
    task = asyncio.create_task(_send_receipt(request.app, text))
    state.receipts.add(task)
    task.add_done_callback(state.receipts.discard)
    return text


# --- Tencent ---------------------------------------------------------------------------------


def _tencent(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode(),
        content_type="application/json",
    )


def _tencent_error(code: str, message: str) -> web.Response:
    return _tencent(
        {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}}
    )


def _tencent_limit(state: SmsState, phone: str) -> str | None:
    config = state.config
    key = f"tencent:{phone}"
    if state.accepted_within(key, 30) >= config.tencent_per_30s:
        return "LimitExceeded.PhoneNumberThirtySecondLimit"
    if state.accepted_within(key, HOUR) >= config.tencent_per_hour:
        return "LimitExceeded.PhoneNumberOneHourLimit"
    if state.accepted_within(key, DAY) >= config.tencent_per_day:
        return "LimitExceeded.PhoneNumberDailyLimit"
    return None


def _tencent_number(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    for prefix in ("+86", "0086", "86"):
        if raw.startswith(prefix) and len(raw) == len(prefix) + 11:
            return raw[len(prefix) :]
    return raw


async def _tencent_send(request: web.Request, body: bytes) -> web.Response:
    state = request.app[SMS_STATE]
    config = state.config
    problem = check_tc3(
        request.headers,
        body,
        secret_id=config.secret_id,
        secret_key=config.secret_key,
        now=state.wall_clock(),
        max_age=config.signature_max_age,
    )
    if problem is not None:
        return _tencent_error(problem, "签名校验失败或密钥不存在")
    if request.headers.get("X-TC-Action") != "SendSms":
        return _tencent_error("InvalidAction", "接口不存在")
    if request.headers.get("X-TC-Version") != "2021-01-11":
        return _tencent_error("NoSuchVersion", "接口版本不存在")
    try:
        params = json.loads(body)
    except ValueError:
        return _tencent_error("InvalidParameter", "请求体不是合法的 JSON")
    if not isinstance(params, dict):
        return _tencent_error("InvalidParameter", "请求体应为 JSON 对象")
    if params.get("SmsSdkAppId") != config.sdk_app_id:
        return _tencent_error("InvalidParameterValue.SdkAppIdNotExist", "SmsSdkAppId 不存在")
    sign = params.get("SignName")
    if sign not in config.signs:
        return _tencent_error(
            "FailedOperation.SignatureIncorrectOrUnapproved", "签名未审核或不存在"
        )
    template = config.tencent_templates.get(str(params.get("TemplateId")))
    values = params.get("TemplateParamSet") or []
    if (
        template is None
        or not isinstance(values, list)
        or not all(isinstance(v, str) for v in values)
        or len(values) != tencent_variable_count(template)
    ):
        return _tencent_error(
            "FailedOperation.TemplateIncorrectOrUnapproved", "模板未审核或变量个数不符"
        )
    if any(_URL.search(v) for v in values):
        return _tencent_error(
            "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter", "模板变量中不允许链接"
        )
    longest = config.tencent_param_max
    if longest is not None and any(len(v) > longest for v in values):
        return _tencent_error("InvalidParameterValue.TemplateParameterLengthLimit", "变量超长")
    content = signed_text(str(sign), render_tencent(template, values))
    if len(content) > MAX_TEXT_LENGTH:
        return _tencent_error("InvalidParameterValue.ContentLengthLimit", "短信内容超长")
    numbers = params.get("PhoneNumberSet")
    if not isinstance(numbers, list) or not numbers:
        return _tencent_error("MissingParameter", "缺少 PhoneNumberSet")
    if len(numbers) > 200:
        return _tencent_error("LimitExceeded.PhoneNumberCountLimit", "号码数超过200")
    context = params.get("SessionContext")
    statuses = []
    for raw in numbers:
        phone = _tencent_number(raw)
        code: str | None
        if phone is None or _bad_number(state, phone):
            code = "InvalidParameterValue.IncorrectPhoneNumber"
        elif phone in config.blacklist:
            code = "FailedOperation.PhoneNumberInBlacklist"
        else:
            code = _tencent_limit(state, phone)
        status: dict[str, Any] = {
            "SerialNo": "",
            "PhoneNumber": raw,
            "Fee": 0,
            "SessionContext": context or "",
            "Code": code or "Ok",
            "Message": code or "send success",
            "IsoCode": "CN",
        }
        if code is None and phone is not None:
            text = _accept(
                request,
                "tencent",
                phone,
                str(sign),
                str(params.get("TemplateId")),
                content,
                context if isinstance(context, str) else None,
                [f"tencent:{phone}"],
            )
            status |= {"SerialNo": text.serial, "Fee": billed_parts(content)}
        else:
            state.refuse("tencent", phone or str(raw), str(code))
        statuses.append(status)
    return _tencent({"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}})


# --- Aliyun ----------------------------------------------------------------------------------


def _aliyun(code: str, message: str, status: int = 200, **extra: str) -> web.Response:
    body = {"Code": code, "Message": message, "RequestId": str(uuid.uuid4()), **extra}
    return web.json_response(body, status=status)


async def _aliyun_send(request: web.Request, body: bytes) -> web.Response:
    state = request.app[SMS_STATE]
    config = state.config
    query = {key: request.query[key] for key in request.query}
    problem = check_acs3(
        request.method,
        request.path,
        query,
        request.headers,
        body,
        access_key_id=config.secret_id,
        secret=config.secret_key,
        now=state.wall_clock(),
        max_age=config.signature_max_age,
    )
    if problem is not None:
        status = 404 if problem.startswith("InvalidAccessKeyId") else 400
        return _aliyun(problem, "签名校验失败或 AccessKey 不存在", status)
    nonce = request.headers.get("x-acs-signature-nonce", "")
    now = state.wall_clock()
    state.nonces = {n: at for n, at in state.nonces.items() if at > now - 900}
    if nonce in state.nonces:
        return _aliyun("SignatureNonceUsed", "签名随机数已使用", 400)
    state.nonces[nonce] = now
    if request.headers.get("x-acs-action") != "SendSms":
        return _aliyun("InvalidAction.NotFound", "接口不存在", 404)
    if request.headers.get("x-acs-version") != "2017-05-25":
        return _aliyun("InvalidVersion", "接口版本不存在", 400)
    sign = query.get("SignName", "")
    if sign not in config.signs:
        return _aliyun("isv.SMS_SIGNATURE_ILLEGAL", "签名不合法(不存在或被拉黑)")
    code = query.get("TemplateCode", "")
    template = config.aliyun_templates.get(code)
    if template is None:
        return _aliyun("isv.SMS_TEMPLATE_ILLEGAL", "模板不合法(不存在或被拉黑)")
    try:
        values = json.loads(query.get("TemplateParam") or "{}")
    except ValueError:
        return _aliyun("isv.INVALID_JSON_PARAM", "JSON参数不合法,只接受字符串值")
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        return _aliyun("isv.INVALID_JSON_PARAM", "JSON参数不合法,只接受字符串值")
    if not aliyun_variable_names(template) <= set(values):
        return _aliyun("isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量")
    if any(_URL.search(v) for v in values.values()):
        return _aliyun("isv.PARAM_NOT_SUPPORT_URL", "不支持URL参数")
    content = signed_text(sign, render_aliyun(template, values))
    phones = [p.strip() for p in query.get("PhoneNumbers", "").split(",") if p.strip()]
    if not phones or len(phones) > 1000:
        return _aliyun("isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制")
    for phone in phones:
        if _bad_number(state, phone):
            state.refuse("aliyun", phone, "isv.MOBILE_NUMBER_ILLEGAL")
            return _aliyun("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if phone in config.blacklist:
            state.refuse("aliyun", phone, "isv.CUSTOMER_REFUSED")
            return _aliyun("isv.CUSTOMER_REFUSED", "用户已退订")
        if state.accepted_within(f"aliyun:{sign}:{code}:{phone}", DAY) >= config.aliyun_per_day:
            state.refuse("aliyun", phone, "isv.BUSINESS_LIMIT_CONTROL")
            return _aliyun(
                "isv.BUSINESS_LIMIT_CONTROL", f"触发天级流控Permits:{config.aliyun_per_day}"
            )
    out_id = query.get("OutId")
    serial = ""
    for phone in phones:
        text = _accept(
            request, "aliyun", phone, sign, code, content, out_id, [f"aliyun:{sign}:{code}:{phone}"]
        )
        serial = serial or text.serial
    return _aliyun("OK", "OK", BizId=serial)


# --- both ------------------------------------------------------------------------------------


async def send_sms(request: web.Request) -> web.Response:
    """POST /: SendSms of either provider, by its SDK's headers."""
    state = request.app[SMS_STATE]
    body = await request.read()
    tencent = "X-TC-Action" in request.headers
    if not tencent and "x-acs-action" not in request.headers:
        return web.json_response({"error": "不是腾讯云或阿里云短信接口的请求"}, status=400)
    if state.clock() < state.down_until:
        if tencent:
            return web.Response(status=503, text="sandbox: SMS provider down")
        return _aliyun("ServiceUnavailable", "服务暂不可用", 503)
    response = await (_tencent_send(request, body) if tencent else _aliyun_send(request, body))
    if state.slow:  # done, but the answer comes late: past the client's timeout, say
        await asyncio.sleep(state.slow.pop(0))
    return response


def _beijing(moment: float) -> str:
    return datetime.fromtimestamp(moment, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _receipt(text: Text, delivered: bool, now: float) -> tuple[str | None, list[dict[str, Any]]]:
    state_code = "DELIVRD" if delivered else "MK:0001"
    if text.provider == "tencent":
        item: dict[str, Any] = {
            "user_receive_time": _beijing(now),
            "nationcode": "86",
            "mobile": text.phone,
            "report_status": "SUCCESS" if delivered else "FAIL",
            "errmsg": state_code,
            "description": "用户短信送达成功" if delivered else "用户关机或不在服务区",
            "sid": text.serial,
        }
        return "tencent", [item]
    item = {
        "phone_number": text.phone,
        "send_time": _beijing(text.time),
        "report_time": _beijing(now),
        "success": delivered,
        "err_code": "DELIVERED" if delivered else state_code,
        "err_msg": "用户接收成功" if delivered else "用户关机或不在服务区",
        "sms_size": "1",
        "biz_id": text.serial,
        "out_id": text.reference or "",
    }
    return "aliyun", [item]


async def _send_receipt(app: web.Application, text: Text) -> None:
    """After the carrier's delay, the receipt to the bot (when it gave a URL)."""
    state = app[SMS_STATE]
    await asyncio.sleep(state.config.receipt_delay)
    delivered = text.phone not in state.config.switched_off
    text.receipt = "delivered" if delivered else "undelivered"
    provider, payload = _receipt(text, delivered, state.clock())
    url = (
        state.config.tencent_receipt_url
        if provider == "tencent"
        else state.config.aliyun_receipt_url
    )
    if url is None or state.http is None:
        return
    try:
        async with state.http.post(url, json=payload) as response:
            await response.read()
    except aiohttp.ClientError as error:  # a real provider retries later; this one tells
        logger.warning("SMS receipt to %s failed: %s", url, type(error).__name__)


# --- admin -----------------------------------------------------------------------------------


def _phone_key(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()[:10]


async def phones(request: web.Request) -> web.Response:
    """GET /sandbox/api/sms: per phone (masked), the texts it received and the refusals."""
    state = request.app[SMS_STATE]
    by_phone: dict[str, dict[str, Any]] = {}
    for phone in [t.phone for t in state.texts] + [r.phone for r in state.refusals]:
        by_phone.setdefault(
            phone,
            {"key": _phone_key(phone), "phone": mask_phone(phone), "texts": [], "refused": []},
        )
    for text in state.texts:
        by_phone[text.phone]["texts"].append(text.as_json())
    for refusal in state.refusals:
        by_phone[refusal.phone]["refused"].append(refusal.as_json())
    return web.json_response(
        {"phones": list(by_phone.values()), "down": state.clock() < state.down_until}
    )


async def down(request: web.Request) -> web.Response:
    """POST /sandbox/api/sms/down {"seconds": N}: both providers down for N seconds."""
    state = request.app[SMS_STATE]
    try:
        seconds = float((await request.json())["seconds"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": 'body must be {"seconds": <number>}'}, status=400)
    state.down_until = state.clock() + max(0.0, seconds)
    return web.json_response({"down_until": state.down_until})


async def slow(request: web.Request) -> web.Response:
    """POST /sandbox/api/sms/slow {"seconds": S, "count": N}: the next N sends are carried out
    at once but answered S seconds (wall clock) later."""
    state = request.app[SMS_STATE]
    try:
        body = await request.json()
        seconds, count = float(body["seconds"]), int(body.get("count", 1))
    except (ValueError, KeyError, TypeError):
        return web.json_response(
            {"error": 'body must be {"seconds": <number>, "count": <integer>}'}, status=400
        )
    state.slow.extend([seconds] * max(0, count))
    return web.json_response({"slow": state.slow})


def setup(
    app: web.Application,
    config: SmsSandboxConfig,
    clock: Callable[[], float],
    wall_clock: Callable[[], float],
) -> None:
    """The providers' route, the admin routes, and the session receipts are POSTed with."""
    app[SMS_STATE] = SmsState(config, clock, wall_clock)

    async def receipts_session(app: web.Application) -> AsyncIterator[None]:
        state = app[SMS_STATE]
        async with aiohttp.ClientSession() as http:
            state.http = http
            yield
            for task in list(state.receipts):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            state.http = None

    app.cleanup_ctx.append(receipts_session)
    app.router.add_post("/", send_sms)
    app.router.add_get("/sandbox/api/sms", phones)
    app.router.add_post("/sandbox/api/sms/down", down)
    app.router.add_post("/sandbox/api/sms/slow", slow)
