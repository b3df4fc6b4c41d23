"""快递100 (Kuaidi100): subscribe a waybill over ``POST <api_base>poll`` and read its pushes.

The push is a form with ``param`` (JSON) and ``sign`` = uppercase MD5(param + salt): the sign is
checked on the raw text before anything is parsed, in constant time. Each push carries the
waybill's full trace, newest first; any answer but the exact success body makes 快递100 push
again (tracking facts §1.1–1.3).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import orjson

from adapters.tracking.base import (
    Outcome,
    ProviderScan,
    Push,
    PushRefused,
    PushStatus,
    SubscribeAnswer,
    Subscription,
)
from rules.logistics import Logistics, carrier_of, kuaidi100_state

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8))
SUCCESS = {"result": True, "returnCode": "200", "message": "成功"}
FAILURE = {"result": False, "returnCode": "500", "message": "失败"}
# 快递100's subscribe answer codes: what each means for the waybill.
ANSWERS: dict[str, tuple[Outcome, str]] = {
    "200": (Outcome.ACCEPTED, "订阅成功"),
    "501": (Outcome.ACCEPTED, "重复订阅: 快递100已在跟踪该单号"),
    "500": (Outcome.RETRY, "快递100服务器错误"),
    "600": (Outcome.REFUSED, "授权key无效"),
    "601": (Outcome.REFUSED, "授权key已过期"),
    "700": (Outcome.REFUSED, "提交的数据不符合规范 (单号、快递公司或回调地址有误)"),
    "701": (Outcome.REFUSED, "快递公司拒绝订阅该单号"),
    "702": (Outcome.REFUSED, "无法识别快递公司"),
}
_STATUSES = {
    "polling": PushStatus.POLLING,
    "updateall": PushStatus.POLLING,
    "shutdown": PushStatus.ENDED,
    "abort": PushStatus.ABORTED,
}


def sign(param: str, salt: str) -> str:
    """The ``sign`` of a push: MD5 of the raw param text and the salt, 32 uppercase hex."""
    return hashlib.md5((param + salt).encode()).hexdigest().upper()


class Kuaidi100:
    """One enterprise account's subscriptions and pushes, over the app's HTTP session."""

    name = "kuaidi100"
    success_body = orjson.dumps(SUCCESS)
    failure_body = orjson.dumps(FAILURE)

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        api_base: str,
        key: str,
        salt: str,
        callback_url: str,
        timeout: float,
    ) -> None:
        self._http = http
        self._url = api_base.rstrip("/") + "/poll"
        self._key = key
        self._salt = salt
        self._callback_url = callback_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def subscribe_param(self, subscription: Subscription) -> dict[str, Any]:
        """The ``param`` JSON of a subscription (the receiver's phone goes only here)."""
        carrier = carrier_of(subscription.carrier)
        parameters: dict[str, Any] = {
            "callbackurl": self._callback_url,
            "salt": self._salt,
            "resultv2": "4",
        }
        if carrier is None:
            parameters["autoCom"] = "1"
        if subscription.phone:
            parameters["phone"] = subscription.phone
        param: dict[str, Any] = {
            "company": carrier.kuaidi100 if carrier else "",
            "number": subscription.tracking_no,
            "key": self._key,
            "parameters": parameters,
        }
        if subscription.origin:
            param["from"] = subscription.origin
        if subscription.destination:
            param["to"] = subscription.destination
        return param

    async def subscribe(self, subscription: Subscription) -> SubscribeAnswer:
        form = {
            "schema": "json",
            "param": orjson.dumps(self.subscribe_param(subscription)).decode(),
        }
        try:
            async with self._http.post(self._url, data=form, timeout=self._timeout) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            return SubscribeAnswer(Outcome.RETRY, "network", f"无法连接快递100: {error!r}")
        try:
            answer = orjson.loads(body)
            code = str(answer.get("returnCode", ""))
            message = str(answer.get("message", ""))
        except (orjson.JSONDecodeError, AttributeError):
            return SubscribeAnswer(
                Outcome.RETRY, f"http{status}", f"快递100应答无法解析 (HTTP {status})"
            )
        outcome, meaning = ANSWERS.get(code, (Outcome.RETRY, "未知应答码"))
        return SubscribeAnswer(outcome, code, f"{code} {meaning}: {message}".rstrip(": "))

    def read_push(self, form: Mapping[str, str]) -> Push:
        param, given = form.get("param"), form.get("sign")
        if not param or not given:
            raise PushRefused("缺少 param 或 sign")
        if not hmac.compare_digest(
            given.strip().upper().encode(), sign(param, self._salt).encode()
        ):
            raise PushRefused("签名不符")
        try:
            body = orjson.loads(param)
            return _push(body)
        except (orjson.JSONDecodeError, TypeError, ValueError, KeyError, AttributeError) as error:
            raise PushRefused(f"推送内容无法解析: {error}") from None

    def state_of(self, code: str) -> Logistics | None:
        return kuaidi100_state(code)


def _push(body: dict[str, Any]) -> Push:
    status = _STATUSES.get(str(body.get("status", "")))
    if status is None:
        raise ValueError(f"未知的推送状态 {body.get('status')!r}")
    last = body.get("lastResult") or {}
    number = str(last.get("nu") or "").strip()
    if not number:
        raise ValueError("lastResult.nu 缺少单号")
    items = last.get("data") or []
    latest_state = str(last.get("state", "")).strip() or None
    scans = tuple(_scan(item, latest_state if i == 0 else None) for i, item in enumerate(items))
    known = carrier_of(str(last.get("com") or ""))
    return Push(number, known.code if known else None, status, str(body.get("message", "")), scans)


def _scan(item: dict[str, Any], latest_state: str | None) -> ProviderScan:
    """One trace item; its code is its ``statusCode`` (resultv2 4), else, for the newest item,
    the trace's ``state``."""
    when = str(item.get("ftime") or item.get("time") or "")
    if len(when) != 19 or when[10] != " ":  # yyyy-MM-dd HH:mm:ss, Beijing time
        raise ValueError(f"轨迹时间格式不符: {when!r}")
    at = datetime.fromisoformat(when).replace(tzinfo=BEIJING).astimezone(UTC)
    code = str(item.get("statusCode") or "").strip() or latest_state
    place = str(item.get("areaName") or "").strip() or None
    return ProviderScan(at, str(item.get("context") or "").strip(), place, code)
