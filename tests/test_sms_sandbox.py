"""The sandbox as the SMS providers, through the real SDKs (adapters.sms): it refuses what the
providers refuse, with their codes, so the bot's handling is tested against them. Here a client
that ignores our own limits meets the providers' limits, a URL in a variable is refused, a
tampered or stale signature is refused, and an outage is an outage."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from adapters.sms import OutgoingText, SendResult, SmsProvider
from adapters.sms.aliyun import AliyunSms
from adapters.sms.tencent import TencentSms
from sandbox import SandboxConfig, create_sandbox_app
from sandbox.sms_config import SANDBOX_LINK_BASE, SmsSandboxConfig
from sandbox.sms_signing import tc3_signature
from tests.support import FakeClock

KEYS = SmsSandboxConfig()
STALL = {"place": "杭州转运中心", "silence": "24小时", "link": SANDBOX_LINK_BASE + "42.abc.sig"}


async def sandbox_at(aiohttp_server: Any, clock: FakeClock, **sms: Any) -> TestServer:
    app = create_sandbox_app(
        SandboxConfig(sms=SmsSandboxConfig(**sms)), clock=lambda: clock.now().timestamp()
    )
    server: TestServer = await aiohttp_server(app)
    return server


async def tencent(server: TestServer, link_base: str | None = SANDBOX_LINK_BASE) -> TencentSms:
    return await TencentSms.create(
        secret_id=KEYS.secret_id,
        secret_key=KEYS.secret_key,
        sdk_app_id=KEYS.sdk_app_id,
        sign="某某旗舰店",
        region="ap-guangzhou",
        endpoint=f"127.0.0.1:{server.port}",
        request_timeout=timedelta(seconds=5),
        link_base=link_base,
    )


def aliyun(server: TestServer, link_base: str | None = SANDBOX_LINK_BASE) -> AliyunSms:
    return AliyunSms.create(
        secret_id=KEYS.secret_id,
        secret_key=KEYS.secret_key,
        sign="某某旗舰店",
        endpoint=f"http://127.0.0.1:{server.port}",
        timeout=timedelta(seconds=5),
        link_base=link_base,
    )


async def send(provider: SmsProvider, phone: str = "13812345678", **kwargs: Any) -> SendResult:
    template = "1100001" if provider.name == "tencent" else "SMS_900001"
    text = OutgoingText(phone, template, "stall", kwargs.get("params", STALL), "orderbot-sms-1")
    return await provider.send(text)


async def test_tencent_limits_per_number_when_ours_are_not_kept(aiohttp_server: Any) -> None:
    clock = FakeClock()
    server = await sandbox_at(aiohttp_server, clock, tencent_per_hour=2)
    client = await tencent(server)
    assert (await send(client)).verdict == "sent"
    second = await send(client)
    assert (second.verdict, second.code, second.scope) == (
        "retry",
        "LimitExceeded.PhoneNumberThirtySecondLimit",
        "number",
    )
    assert (await send(client, "13912345678")).verdict == "sent"  # another number
    clock.advance(timedelta(seconds=31))
    assert (await send(client)).verdict == "sent"
    clock.advance(timedelta(seconds=31))
    third = await send(client)
    assert (third.code, third.retry_after) == (
        "LimitExceeded.PhoneNumberOneHourLimit",
        timedelta(hours=1),
    )
    await client.close()


async def test_aliyun_limits_per_sign_template_and_number(aiohttp_server: Any) -> None:
    clock = FakeClock()
    server = await sandbox_at(aiohttp_server, clock, aliyun_per_day=2)
    client = aliyun(server)
    for _ in range(2):
        assert (await send(client)).verdict == "sent"
    limited = await send(client)
    assert (limited.verdict, limited.code, limited.retry_after) == (
        "retry",
        "isv.BUSINESS_LIMIT_CONTROL",
        timedelta(hours=24),
    )
    clock.advance(timedelta(hours=24))
    assert (await send(client)).verdict == "sent"


async def test_a_url_in_a_variable_is_refused(aiohttp_server: Any) -> None:
    server = await sandbox_at(aiohttp_server, FakeClock())
    for client in (await tencent(server, link_base=None), aliyun(server, link_base=None)):
        refused = await send(client)
        assert refused.verdict == "refused"
        assert refused.code in (
            "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
            "isv.PARAM_NOT_SUPPORT_URL",
        )
        assert "链接" in refused.reason
        await client.close()


async def test_an_outage_is_reported_as_the_provider_being_down(aiohttp_server: Any) -> None:
    clock = FakeClock()
    server = await sandbox_at(aiohttp_server, clock)
    async with aiohttp.ClientSession() as http:
        await http.post(server.make_url("/sandbox/api/sms/down"), json={"seconds": 60})
    for client in (await tencent(server), aliyun(server)):
        down = await send(client)
        assert (down.verdict, down.scope) == ("retry", "provider")
        assert "不可用" in down.reason
    clock.advance(timedelta(seconds=60))
    assert (await send(aliyun(server))).verdict == "sent"


def tc3_request(server: TestServer, body: bytes, timestamp: int) -> dict[str, str]:
    host = f"127.0.0.1:{server.port}"
    signature = tc3_signature(
        KEYS.secret_key,
        timestamp=timestamp,
        content_type="application/json",
        host=host,
        body=body,
        service="sms",
    )
    date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    return {
        "Content-Type": "application/json",
        "Host": host,
        "X-TC-Action": "SendSms",
        "X-TC-Version": "2021-01-11",
        "X-TC-Timestamp": str(timestamp),
        "Authorization": f"TC3-HMAC-SHA256 Credential={KEYS.secret_id}/{date}/sms/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}",
    }


async def test_a_tampered_or_stale_tencent_request_is_refused(aiohttp_server: Any) -> None:
    server = await sandbox_at(aiohttp_server, FakeClock())
    params = {
        "PhoneNumberSet": ["+8613812345678"],
        "SmsSdkAppId": KEYS.sdk_app_id,
        "SignName": "某某旗舰店",
        "TemplateId": "1100001",
        "TemplateParamSet": ["杭州转运中心", "24", "42.abc.sig"],
    }
    body = json.dumps(params).encode()
    now = int(time.time())

    async def post(data: bytes, headers: dict[str, str]) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(server.make_url("/"), data=data, headers=headers) as response,
        ):
            return dict((await response.json())["Response"])

    accepted = await post(body, tc3_request(server, body, now))
    assert accepted["SendStatusSet"][0]["Code"] == "Ok"
    other = json.dumps(params | {"PhoneNumberSet": ["+8613900000000"]}).encode()
    tampered = await post(other, tc3_request(server, body, now))
    assert tampered["Error"]["Code"] == "AuthFailure.SignatureFailure"
    stale = await post(body, tc3_request(server, body, now - 600))
    assert stale["Error"]["Code"] == "AuthFailure.SignatureExpire"


async def test_an_unknown_sdk_app_id_pauses_every_text(aiohttp_server: Any) -> None:
    server = await sandbox_at(aiohttp_server, FakeClock(), sdk_app_id="1400000001")
    client = await tencent(server)
    paused = await send(client)
    assert (paused.verdict, paused.scope, paused.retry_after) == (
        "retry",
        "provider",
        timedelta(minutes=30),
    )
    assert "sdk_app_id" in paused.reason
    await client.close()
