"""The configured SMS provider, built from [sms]."""

from __future__ import annotations

from adapters.sms import SmsProvider
from adapters.sms.aliyun import AliyunSms
from adapters.sms.tencent import TencentSms
from services.config import SmsConfig


async def open_provider(sms: SmsConfig) -> SmsProvider:
    """Tencent Cloud SMS or Alibaba Cloud SMS, at [sms].endpoint (their public API if unset)."""
    if sms.provider == "tencent":
        return await TencentSms.create(
            secret_id=sms.access_id,
            secret_key=sms.access_key,
            sdk_app_id=sms.sdk_app_id or "",
            sign=sms.sign_name,
            region=sms.region,
            endpoint=sms.endpoint,
            request_timeout=sms.timeout,
            link_base=sms.link_base,
        )
    return AliyunSms.create(
        secret_id=sms.access_id,
        secret_key=sms.access_key,
        sign=sms.sign_name,
        endpoint=sms.endpoint,
        timeout=sms.timeout,
        link_base=sms.link_base,
    )
