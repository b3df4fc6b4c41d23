"""The payment gateways' bill APIs, played (tracking-sms-login-pay-facts §4–5):

- WeChat Pay APIv3: ``GET /v3/bill/tradebill`` and ``/v3/bill/fundflowbill`` check the
  WECHATPAY2-SHA256-RSA2048 Authorization, answer 400 ``STATEMENT_CREATING`` before 10:00 on
  the next day (the sandbox's clock), ``NO_STATEMENT_EXIST`` for a day without trades, else a
  signed ``{download_url, hash_type: SHA1, hash_value}``; ``GET /v3/billdownload/file`` (signed
  request, unsigned answer) serves the gzip for 5 minutes.
- Alipay: ``POST /gateway.do`` with alipay.data.dataservice.bill.downloadurl.query checks the
  RSA2 ``sign``, answers ``isp.bill_not_exist`` before 10:00 next day or for a day without
  trades, else a signed ``bill_download_url``; ``GET /downloadBillFile.resource`` serves the
  zip for 30 seconds, unsigned.

Admin: ``POST /sandbox/api/payments`` records payments ({"payments": [...]}, see
sandbox.payments.Payment); ``POST /sandbox/api/bills/differences`` injects a difference into a
payment's lines ({"differences": [{"order_no", "kind"}]}); ``POST /sandbox/api/bills/faults``
queues faults for a gateway's next bill ({"gateway", "faults": ["bad_signature" | "bad_hash" |
"truncated"]}); ``GET /sandbox/api/bills?date=YYYY-MM-DD`` (default: the gateways' yesterday)
lists each gateway's lines and the payments left out, for the sandbox page."""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from sandbox.bills import alipay_zip, wechat_fundflow, wechat_trade
from sandbox.pay_config import DIFFERENCES, PaySandboxConfig
from sandbox.pay_signing import (
    alipay_signed_text,
    check_wechat,
    load_private,
    load_public,
    rsa_sign,
    rsa_valid,
    wechat_answer_headers,
)
from sandbox.payments import BEIJING, GATEWAYS, Payment, PayState

PAY_STATE = web.AppKey("pay_state", PayState)
WECHAT_URL_TTL = 300.0
ALIPAY_URL_TTL = 30.0
ALIPAY_METHOD = "alipay.data.dataservice.bill.downloadurl.query"
ALIPAY_RESPONSE = ALIPAY_METHOD.replace(".", "_") + "_response"
FAULTS = ("bad_signature", "bad_hash", "truncated")
HISTORY = timedelta(days=92)  # WeChat Pay serves the last 3 months


def _state(request: web.Request) -> PayState:
    return request.app[PAY_STATE]


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        return None


# --- WeChat Pay ------------------------------------------------------------------------------


def _wechat_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def _wechat_refusal(request: web.Request) -> web.Response | None:
    state, config = _state(request), _state(request).config
    key = config.wechat_merchant_public_key
    problem = check_wechat(
        request.headers.get("Authorization", ""),
        request.method,
        request.raw_path,
        "",
        mchid=config.wechat_mchid,
        serial=config.wechat_merchant_serial,
        key=load_public(key) if key else None,
        now=state.wall_clock(),
        max_age=config.signature_max_age,
        seen=state.nonces,
    )
    return None if problem is None else _wechat_error(401, "SIGN_ERROR", problem)


async def wechat_bill(request: web.Request) -> web.Response:
    """Apply for a bill: /v3/bill/tradebill (bill_type=ALL) or /v3/bill/fundflowbill."""
    if (refusal := _wechat_refusal(request)) is not None:
        return refusal
    state, config = _state(request), _state(request).config
    fundflow = request.path.endswith("fundflowbill")
    day = _day(request.query.get("bill_date"))
    if day is None:
        return _wechat_error(400, "PARAM_ERROR", "bill_date 应为 yyyy-MM-dd")
    if fundflow and request.query.get("account_type", "BASIC") != "BASIC":
        return _wechat_error(400, "NO_STATEMENT_EXIST", "请求的账单文件不存在")
    if not fundflow and request.query.get("bill_type", "ALL") != "ALL":
        return _wechat_error(400, "PARAM_ERROR", "沙箱只提供 bill_type=ALL 的账单")
    today = state.now().date()
    if day >= today or day < today - HISTORY:
        return _wechat_error(400, "PARAM_ERROR", "bill_date 须为今天以前、三个月以内的日期")
    if not state.ready(day):
        return _wechat_error(400, "STATEMENT_CREATING", "账单生成中")
    lines = state.bill_lines("wechat", day)
    if not lines:
        return _wechat_error(400, "NO_STATEMENT_EXIST", "请求的账单文件不存在")
    bill = (
        wechat_fundflow(lines)
        if fundflow
        else wechat_trade(config.wechat_mchid, f"{config.wechat_rate_bp / 100:.2f}%", lines)
    )
    fault = state.next_fault("wechat")
    digest = hashlib.sha1(bill).hexdigest()
    served = bill.replace(b"`SUCCESS", b"`SUCCESS ", 1) if fault == "bad_hash" else bill
    if request.query.get("tar_type") == "GZIP":
        served = gzip.compress(served, mtime=0)
    token = secrets.token_urlsafe(24)
    state.downloads[token] = (state.clock() + WECHAT_URL_TTL, served, "wechat")
    origin = request.url.origin()
    body = json.dumps(
        {
            "download_url": f"{origin}/v3/billdownload/file?token={token}",
            "hash_type": "SHA1",
            "hash_value": digest,
        }
    ).encode()
    assert config.wechat_private_key is not None  # checked with the merchant's key above
    headers = wechat_answer_headers(
        load_private(config.wechat_private_key),
        config.wechat_public_key_id,
        body,
        state.wall_clock(),
    )
    if fault == "bad_signature":  # the answer altered after it was signed
        body = body.replace(digest.encode(), hashlib.sha1(b"forged").hexdigest().encode())
    return web.Response(body=body, content_type="application/json", headers=headers)


async def wechat_download(request: web.Request) -> web.Response:
    """The bill file: the request is signed, the answer is not."""
    if (refusal := _wechat_refusal(request)) is not None:
        return refusal
    found = _download(request, "wechat")
    if found is None:
        return _wechat_error(400, "INVALID_REQUEST", "下载地址已过期或无效, 请重新申请")
    return web.Response(body=found, content_type="application/octet-stream")


def _download(request: web.Request, gateway: str) -> bytes | None:
    state = _state(request)
    entry = state.downloads.get(request.query.get("token", ""))
    if entry is None or entry[2] != gateway or entry[0] < state.clock():
        return None
    return entry[1]


# --- Alipay ----------------------------------------------------------------------------------


def _alipay_answer(
    state: PayState, key: str, content: dict[str, Any], *, signed: bool = True
) -> web.Response:
    """``{"<key>": {...}, "sign": "..."}``, signed over the exact text of the inner object."""
    inner = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    outer = f'{{"{key}":{inner}'
    private = state.config.alipay_private_key
    if signed and private is not None:
        outer += f',"sign":"{rsa_sign(load_private(private), inner.encode())}"'
    return web.Response(text=outer + "}", content_type="application/json", charset="utf-8")


def _alipay_error(
    state: PayState, code: str, sub_code: str, sub_msg: str, *, signed: bool = True
) -> web.Response:
    msg = {
        "40002": "Invalid Arguments",
        "40004": "Business Failed",
        "40006": "Insufficient Permissions",
    }
    content = {
        "code": code,
        "msg": msg.get(code, "Error"),
        "sub_code": sub_code,
        "sub_msg": sub_msg,
    }
    return _alipay_answer(state, ALIPAY_RESPONSE, content, signed=signed)


def _alipay_refusal(state: PayState, params: dict[str, str]) -> web.Response | None:
    config = state.config
    if params.get("app_id") != config.alipay_app_id or config.alipay_app_public_key is None:
        return _alipay_error(state, "40002", "isv.invalid-app-id", "无效的AppID参数", signed=False)
    if not params.get("sign"):
        return _alipay_error(state, "40002", "isv.missing-signature", "缺少签名参数", signed=False)
    if params.get("sign_type") != "RSA2":
        return _alipay_error(
            state, "40002", "isv.invalid-signature-type", "无效的签名类型", signed=False
        )
    try:
        sent = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=BEIJING
        )
    except ValueError:
        return _alipay_error(
            state, "40002", "isv.invalid-timestamp", "非法的时间戳参数", signed=False
        )
    age = abs(sent.timestamp() - state.wall_clock())
    if age > config.signature_max_age:
        return _alipay_error(
            state, "40002", "isv.invalid-timestamp", "时间戳与当前时间相差过大", signed=False
        )
    text = alipay_signed_text(params).encode()
    if not rsa_valid(load_public(config.alipay_app_public_key), text, params["sign"]):
        return _alipay_error(state, "40002", "isv.invalid-signature", "验签出错", signed=False)
    return None


async def alipay_gateway(request: web.Request) -> web.Response:
    """alipay.data.dataservice.bill.downloadurl.query, form-encoded as the SDKs send it."""
    state = _state(request)
    params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    params |= {k: v for k, v in request.query.items() if k not in params}
    if (refusal := _alipay_refusal(state, params)) is not None:
        return refusal
    if params.get("method") != ALIPAY_METHOD:
        content = {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-method"}
        return _alipay_answer(state, "error_response", content | {"sub_msg": "不存在的方法名"})
    try:
        biz = json.loads(params.get("biz_content", ""))
        bill_type, day = biz["bill_type"], _day(biz["bill_date"])
    except (ValueError, KeyError, TypeError):
        return _alipay_error(state, "40002", "isv.invalid-parameter", "biz_content 不合法")
    if bill_type != "trade" or day is None:
        return _alipay_error(
            state, "40004", "isv.invalid_arguments", "入参不合法 (沙箱只提供 trade 日账单)"
        )
    if day >= state.now().date():
        return _alipay_error(state, "40004", "isv.invalid_arguments", "入参不合法")
    lines = state.bill_lines("alipay", day)
    if not state.ready(day) or not lines:
        return _alipay_error(state, "40004", "isp.bill_not_exist", "账单不存在")
    exported = datetime(day.year, day.month, day.day, 9, tzinfo=BEIJING) + timedelta(days=1)
    data = alipay_zip(state.config.alipay_pid, day, lines, exported)
    fault = state.next_fault("alipay")
    if fault == "truncated":
        data = data[: len(data) // 2]
    token = secrets.token_urlsafe(24)
    state.downloads[token] = (state.clock() + ALIPAY_URL_TTL, data, "alipay")
    query = f"bizType=trade&bizDates={day:%Y%m%d}&token={token}"
    url = f"{request.url.origin()}/downloadBillFile.resource?{query}"
    content = {"code": "10000", "msg": "Success", "bill_download_url": url}
    answer = _alipay_answer(state, ALIPAY_RESPONSE, content)
    if fault == "bad_signature":
        assert answer.text is not None
        answer.text = answer.text.replace("Success", "Succes5")
    return answer


async def alipay_download(request: web.Request) -> web.Response:
    found = _download(request, "alipay")
    if found is None:
        return web.Response(status=404, text="链接已失效")
    return web.Response(body=found, content_type="application/zip")


# --- admin -----------------------------------------------------------------------------------


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None


async def add_payments(request: web.Request) -> web.Response:
    body = await _json(request)
    try:
        payments = [Payment.from_json(item) for item in body["payments"]]
    except (ValueError, KeyError, TypeError) as error:
        raise web.HTTPBadRequest(text=f"bad payment: {error}") from None
    _state(request).payments.extend(payments)
    return web.json_response({"count": len(_state(request).payments)})


async def inject_differences(request: web.Request) -> web.Response:
    body = await _json(request)
    try:
        wanted = {str(d["order_no"]): str(d["kind"]) for d in body["differences"]}
    except (KeyError, TypeError) as error:
        raise web.HTTPBadRequest(text=f"bad difference: {error}") from None
    if unknown := set(wanted.values()) - set(DIFFERENCES):
        raise web.HTTPBadRequest(text=f"unknown differences {sorted(unknown)}")
    _state(request).injected.update(wanted)
    return web.json_response({"injected": len(_state(request).injected)})


async def queue_faults(request: web.Request) -> web.Response:
    body = await _json(request)
    gateway, faults = body.get("gateway"), body.get("faults")
    if gateway not in GATEWAYS or not isinstance(faults, list) or set(faults) - set(FAULTS):
        raise web.HTTPBadRequest(text=f"gateway in {GATEWAYS}, faults from {FAULTS}")
    _state(request).faults.setdefault(gateway, []).extend(faults)
    return web.json_response({"queued": len(_state(request).faults[gateway])})


async def list_bills(request: web.Request) -> web.Response:
    state = _state(request)
    day = _day(request.query.get("date")) or state.now().date() - timedelta(days=1)
    return web.json_response(
        {
            "date": day.isoformat(),
            "ready": state.ready(day),
            "bills": {
                gateway: [line.as_json() for line in state.bill_lines(gateway, day)]
                for gateway in GATEWAYS
            },
            "omitted": {
                gateway: [
                    {"order_no": p.order_no, "amount_fen": p.amount_fen}
                    for p in state.omitted(gateway, day)
                ]
                for gateway in GATEWAYS
            },
        }
    )


def setup(
    app: web.Application,
    config: PaySandboxConfig,
    clock: Callable[[], float],
    wall_clock: Callable[[], float],
) -> None:
    app[PAY_STATE] = PayState(config, clock, wall_clock)
    app.router.add_get("/v3/bill/tradebill", wechat_bill)
    app.router.add_get("/v3/bill/fundflowbill", wechat_bill)
    app.router.add_get("/v3/billdownload/file", wechat_download)
    app.router.add_post("/gateway.do", alipay_gateway)
    app.router.add_get("/downloadBillFile.resource", alipay_download)
    app.router.add_post("/sandbox/api/payments", add_payments)
    app.router.add_post("/sandbox/api/bills/differences", inject_differences)
    app.router.add_post("/sandbox/api/bills/faults", queue_faults)
    app.router.add_get("/sandbox/api/bills", list_bills)
