"""Tencent Cloud SMS, SendSms (API 2021-01-11) through Tencent's maintained SDK
(tencentcloud-sdk-python-sms), its async client: httpx, no thread needed. The SDK signs with
TC3-HMAC-SHA256 and POSTs to ``/`` of [sms].endpoint. Our row's reference travels as
SessionContext, which Tencent echoes."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client_async

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
from rules.sms import tencent_params

# The SDK logs whole requests (the full number) at DEBUG: numbers stay out of our logs.
logging.getLogger("tencentcloud_sdk_common").setLevel(logging.INFO)

HOST = "sms.tencentcloudapi.com"
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(hours=24)
AUTH_RETRY = timedelta(minutes=30)  # a wrong key is fixed by a person: do not hammer

# Per-number limits (the console's frequency rules) and what we do: wait that long.
_NUMBER_LIMITS: dict[str, tuple[str, timedelta]] = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": ("号码30秒内发送已达上限", MINUTE),
    "LimitExceeded.PhoneNumberOneHourLimit": ("号码1小时内发送已达上限", HOUR),
    "LimitExceeded.PhoneNumberDailyLimit": ("号码当日发送已达上限", DAY),
    "LimitExceeded.PhoneNumberSameContentDailyLimit": ("号码当日相同内容已达上限", DAY),
    "LimitExceeded.DeliveryFrequencyLimit": ("触发发送频率限制", HOUR),
    "FailedOperation.MarketingSendTimeConstraint": ("营销短信仅限8点到22点发送", HOUR),
}
# Our account as a whole: every text waits.
_ACCOUNT_LIMITS: dict[str, tuple[str, timedelta]] = {
    "LimitExceeded.AppDailyLimit": ("应用当日发送量已达上限", HOUR),
    "RequestLimitExceeded": ("请求过于频繁", MINUTE),
    "FailedOperation.InsufficientBalanceInSmsPackage": ("短信套餐包余量不足", HOUR),
}
_REFUSALS: dict[str, str] = {
    "FailedOperation.TemplateIncorrectOrUnapproved": "模板未审核通过或参数与模板不符",
    "FailedOperation.SignatureIncorrectOrUnapproved": "签名未审核通过或与账号不符",
    "FailedOperation.ContainSensitiveWord": "内容含敏感词",
    "InvalidParameterValue.IncorrectPhoneNumber": "手机号码无效",
    "InvalidParameterValue.ContentLengthLimit": "短信内容超长",
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": "模板变量中不允许链接",
    "InvalidParameterValue.TemplateParameterLengthLimit": "模板变量超长(个人认证账号限12字)",
    "InvalidParameterValue.TemplateParameterFormatError": "模板变量格式错误",
    "LimitExceeded.PhoneNumberCountLimit": "单次号码数超过200",
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": "国内与国际号码混发",
}
BLACKLISTED = "FailedOperation.PhoneNumberInBlacklist"


def judge(code: str, message: str) -> SendResult:
    """What a Tencent code (in SendStatusSet or as Response.Error) means for the text."""
    if code == "Ok":
        raise ValueError("judge() is for failures")
    if code == BLACKLISTED:
        return refused(code, "号码在黑名单中(用户退订或运营商黑名单), 已加入退订名单", opt_out=True)
    if code in _REFUSALS:
        return refused(code, _REFUSALS[code])
    if code in _NUMBER_LIMITS:
        reason, after = _NUMBER_LIMITS[code]
        return retry(code, reason, after)
    if code in _ACCOUNT_LIMITS:
        reason, after = _ACCOUNT_LIMITS[code]
        return retry(code, reason, after, scope="provider")
    if code == "InvalidParameterValue.SdkAppIdNotExist":  # our config: every text would fail
        return retry(code, "SmsSdkAppId 不存在, 请检查 sdk_app_id", AUTH_RETRY, "provider")
    if code.startswith("AuthFailure"):
        return retry(
            code, f"腾讯云鉴权失败, 请检查 secret_id/secret_key: {message}", AUTH_RETRY, "provider"
        )
    if code.startswith(("InternalError", "ServerNetworkError", "ClientNetworkError")):
        return retry(code, "腾讯云短信服务暂时不可用", PROVIDER_DOWN_RETRY, "provider")
    if code.startswith("LimitExceeded"):
        return retry(code, f"触发腾讯云频率限制: {message}", HOUR)
    return refused(code, f"腾讯云拒绝发送: {message}")


class TencentSms:
    """SendSms for one SmsSdkAppId and sign; ``create`` builds the SDK client off the loop (it
    loads the CA bundle)."""

    name = "tencent"

    def __init__(
        self,
        client: sms_client_async.SmsClient,
        sdk_app_id: str,
        sign: str,
        link_base: str | None,
    ) -> None:
        self._client = client
        self._sdk_app_id = sdk_app_id
        self._sign = sign
        self._link_base = link_base

    @classmethod
    async def create(
        cls,
        *,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign: str,
        region: str,
        endpoint: str | None,
        request_timeout: timedelta,
        link_base: str | None,
    ) -> TencentSms:
        scheme, host = split_endpoint(endpoint, HOST)
        http = HttpProfile(
            protocol=scheme, endpoint=host, reqTimeout=max(1, int(request_timeout.total_seconds()))
        )

        def build() -> sms_client_async.SmsClient:
            cred = credential.Credential(secret_id, secret_key)
            return sms_client_async.SmsClient(cred, region, ClientProfile(httpProfile=http))

        return cls(await asyncio.to_thread(build), sdk_app_id, sign, link_base)

    async def send(self, text: OutgoingText) -> SendResult:
        request = models.SendSmsRequest()
        request.PhoneNumberSet = [f"+86{text.phone}" if len(text.phone) == 11 else text.phone]
        request.SmsSdkAppId = self._sdk_app_id
        request.SignName = self._sign
        request.TemplateId = text.template
        request.TemplateParamSet = tencent_params(text.purpose, text.params, self._link_base)
        request.SessionContext = text.reference
        try:
            response = await self._client.SendSms(request)
        except TencentCloudSDKException as error:
            return judge(str(error.code), str(error.message))
        except httpx.HTTPError as error:
            reason = f"连接腾讯云短信失败: {type(error).__name__}"
            return retry("ClientNetworkError", reason, PROVIDER_DOWN_RETRY, "provider")
        except (ValueError, KeyError, TypeError):  # JSON that is not Tencent's answer
            reason = "腾讯云短信应答无法解析"
            return retry("BadResponse", reason, PROVIDER_DOWN_RETRY, "provider")
        statuses = response.SendStatusSet or []
        if len(statuses) != 1:
            return retry(
                "BadResponse", "腾讯云短信应答缺少发送状态", PROVIDER_DOWN_RETRY, "provider"
            )
        status = statuses[0]
        if status.Code == "Ok" and status.SerialNo:
            return sent(str(status.SerialNo))
        return judge(str(status.Code), str(status.Message))

    async def close(self) -> None:
        await self._client.close()


def parse_receipts(payload: object) -> list[Receipt]:
    """Tencent's delivery receipts: a JSON array of {sid, report_status SUCCESS|FAIL, errmsg,
    description, user_receive_time, mobile, nationcode}."""
    receipts = []
    for i, item in enumerate(receipt_items(payload)):
        status = text_field(item, "report_status", i)
        if status not in ("SUCCESS", "FAIL"):
            raise BadReceipts(f"第{i + 1}条回执的 report_status 应为 SUCCESS 或 FAIL")
        receipts.append(
            Receipt(
                serial=text_field(item, "sid", i),
                delivered=status == "SUCCESS",
                code=str(item.get("errmsg") or status),
                description=str(item.get("description") or ""),
                at=beijing_time(item.get("user_receive_time")),
            )
        )
    return receipts
