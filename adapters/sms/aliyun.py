"""Alibaba Cloud SMS, Dysmsapi SendSms (2017-05-25) through Alibaba's maintained SDK
(alibabacloud-dysmsapi20170525), which signs with ACS3-HMAC-SHA256.

Its blocking call runs in a worker thread rather than its ``send_sms_async``: for every HTTPS
request the async path builds an SSL context from certifi's bundle on the event loop (~35 ms
measured) and opens a new aiohttp session. The SDK's own timeouts bound the thread. Our row's
reference travels as OutId, which Aliyun echoes in receipts."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

from alibabacloud_dysmsapi20170525 import models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import utils_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from Tea.exceptions import TeaException

from adapters.sms import (
    PROVIDER_DOWN_RETRY,
    BadReceipts,
    OutgoingText,
    Receipt,
    SendResult,
    beijing_time,
    receipt_items,
    refused,
    retry,
    sent,
    split_endpoint,
    text_field,
)
from rules.sms import aliyun_params

# The SDK's core logger prints request URLs (the number is in the query) at DEBUG when the
# DEBUG=sdk variable is set, to a handler of its own: numbers stay out of our logs.
logging.getLogger("darabonba-core").setLevel(logging.WARNING)

HOST = "dysmsapi.aliyuncs.com"
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(hours=24)
AUTH_RETRY = timedelta(minutes=30)

_REFUSALS: dict[str, str] = {
    "isv.MOBILE_NUMBER_ILLEGAL": "手机号码无效",
    "isv.MOBILE_COUNT_OVER_LIMIT": "号码数超过上限",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板缺少变量",
    "isv.TEMPLATE_PARAMS_ILLEGAL": "模板变量不合规",
    "isv.INVALID_JSON_PARAM": "模板变量不是合法的 JSON",
    "isv.PARAM_LENGTH_LIMIT": "模板变量超长",
    "isv.PARAM_NOT_SUPPORT_URL": "模板变量中不允许链接",
    "isv.SMS_TEMPLATE_ILLEGAL": "模板未审核通过或不存在",
    "isv.SMS_SIGNATURE_ILLEGAL": "签名未审核通过或不存在",
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": "签名不适用于通知短信(请用通用签名)",
    "isv.SMS_CONTENT_ILLEGAL": "短信内容含禁止内容",
    "isv.BLACK_KEY_CONTROL_LIMIT": "内容含黑名单关键字",
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": "不支持该号码",
}
_ACCOUNT_LIMITS: dict[str, tuple[str, timedelta]] = {
    "isv.DAY_LIMIT_CONTROL": ("账号当日发送量已达我方设定上限", HOUR),
    "isv.MONTH_LIMIT_CONTROL": ("账号当月发送量已达我方设定上限", DAY),
    "isv.AMOUNT_NOT_ENOUGH": ("账户余额不足", HOUR),
    "isv.OUT_OF_SERVICE": ("账户已停机(余额不足)", HOUR),
    "Throttling.User": ("请求过于频繁", MINUTE),
    "Throttling": ("请求过于频繁", MINUTE),
}
BLACKLISTED = "isv.CUSTOMER_REFUSED"  # 用户已退订 [unverified: not in the facts' error list]


def _flow_control_wait(message: str) -> timedelta:
    """isv.BUSINESS_LIMIT_CONTROL says which window is full: 触发分钟级/小时级/天级流控."""
    if "分钟" in message:
        return MINUTE
    if "天" in message or "日" in message:
        return DAY
    return HOUR


def judge(code: str, message: str, status: int = 200) -> SendResult:
    """What an Aliyun code (the answer's Code, or an error's) means for the text."""
    if code == BLACKLISTED:
        return refused(code, "用户已退订(黑名单), 已加入退订名单", opt_out=True)
    if code == "isv.BUSINESS_LIMIT_CONTROL":
        return retry(code, f"触发阿里云号码流控: {message}", _flow_control_wait(message))
    if code in _REFUSALS:
        return refused(code, _REFUSALS[code])
    if code in _ACCOUNT_LIMITS:
        reason, after = _ACCOUNT_LIMITS[code]
        return retry(code, reason, after, scope="provider")
    if code.startswith(("InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden")):
        reason = f"阿里云鉴权失败, 请检查 secret_id/secret_key: {code}"
        return retry(code, reason, AUTH_RETRY, "provider")
    if status >= 500 or code.startswith(("InternalError", "ServiceUnavailable", "isp.")):
        return retry(code, "阿里云短信服务暂时不可用", PROVIDER_DOWN_RETRY, "provider")
    return refused(code, f"阿里云拒绝发送: {message}")


class AliyunSms:
    """SendSms for one sign; the SDK client is built once, its calls run in a thread."""

    name = "aliyun"

    def __init__(self, client: Client, sign: str, link_base: str | None) -> None:
        self._client = client
        self._sign = sign
        self._link_base = link_base

    @classmethod
    def create(
        cls,
        *,
        secret_id: str,
        secret_key: str,
        sign: str,
        endpoint: str | None,
        timeout: timedelta,
        link_base: str | None,
    ) -> AliyunSms:
        scheme, host = split_endpoint(endpoint, HOST)
        ms = max(1000, int(timeout.total_seconds() * 1000))
        config = utils_models.Config(
            access_key_id=secret_id,
            access_key_secret=secret_key,
            endpoint=host,
            protocol=scheme,
            read_timeout=ms,
            connect_timeout=ms,
        )
        return cls(Client(config), sign, link_base)

    async def send(self, text: OutgoingText) -> SendResult:
        params = aliyun_params(text.purpose, text.params, self._link_base)
        request = models.SendSmsRequest(
            phone_numbers=text.phone,
            sign_name=self._sign,
            template_code=text.template,
            template_param=json.dumps(params, ensure_ascii=False),
            out_id=text.reference,
        )
        try:
            response = await asyncio.to_thread(self._client.send_sms, request)
        except AlibabaCloudException as error:
            return judge(str(error.code), str(error.message), error.status_code or 500)
        except TeaException as error:
            reason = f"连接阿里云短信失败: {type(error).__name__}"
            return retry("ClientNetworkError", reason, PROVIDER_DOWN_RETRY, "provider")
        body = response.body
        if body is None or not body.code:
            return retry("BadResponse", "阿里云短信应答无法解析", PROVIDER_DOWN_RETRY, "provider")
        if body.code == "OK" and body.biz_id:
            return sent(str(body.biz_id))
        return judge(str(body.code), str(body.message or ""))

    async def close(self) -> None:
        return None


def parse_receipts(payload: object) -> list[Receipt]:
    """Aliyun's delivery receipts (SmsReport): a JSON array of {biz_id, out_id, success,
    err_code, err_msg, report_time, send_time, phone_number, sms_size}."""
    receipts = []
    for i, item in enumerate(receipt_items(payload)):
        success = item.get("success")
        if not isinstance(success, bool):
            raise BadReceipts(f"第{i + 1}条回执的 success 应为 true 或 false")
        out_id = item.get("out_id")
        receipts.append(
            Receipt(
                serial=text_field(item, "biz_id", i),
                delivered=success,
                code=str(item.get("err_code") or ("DELIVERED" if success else "UNKNOWN")),
                description=str(item.get("err_msg") or ""),
                at=beijing_time(item.get("report_time")),
                reference=out_id if isinstance(out_id, str) else None,
            )
        )
    return receipts
