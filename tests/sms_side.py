"""The SMS side of tests: a config with [sms] for either provider, pointed at the sandbox's
SMS provider, and the app and sandbox wired together."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.keys import SESSIONS
from storage.models import Order, SmsMessage
from tests.support import auth, config_data, shop_order

SECRET_ID = "AKIDsandboxsecretid"
SECRET_KEY = "sandbox-secret-key"
SDK_APP_ID = "1400009099"
SIGN = "某某旗舰店"
LINK_BASE = "https://h5.example.com/o/"
TEMPLATES = {
    "tencent": {
        "stall": "1100001",
        "rejected": "1100002",
        "returning": "1100003",
        "returned": "1100004",
    },
    "aliyun": {
        "stall": "SMS_900001",
        "rejected": "SMS_900002",
        "returning": "SMS_900003",
        "returned": "SMS_900004",
    },
}


def sms_section(provider: str, endpoint: str | None = None) -> dict[str, Any]:
    section: dict[str, Any] = {
        "provider": provider,
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "sign_name": SIGN,
        "templates": TEMPLATES[provider],
        "link_base": LINK_BASE,
        "link_secret": "link-secret-for-tests",
        "send_interval": "1s",
    }
    if provider == "tencent":
        section["sdk_app_id"] = SDK_APP_ID
    if endpoint is not None:
        section["endpoint"] = endpoint
    return section


def sms_config_data(
    database_url: str, provider: str = "tencent", endpoint: str | None = None
) -> dict[str, Any]:
    return config_data(database_url) | {"sms": sms_section(provider, endpoint)}


async def add_order(
    client: TestClient, order_no: str, phone: str = "13812345678", at: datetime | None = None
) -> int:
    """An order through the API (its receiver's phone ``phone``); its id."""
    order = shop_order(order_no, **({"paid_at": at} if at else {}))
    order["receiver"]["mobile"] = phone
    response = await client.post("/api/v1/orders/shop", json=[order], headers=auth("all"))
    assert response.status == 200, await response.text()
    async with client.app[SESSIONS]() as session:
        found = await session.scalar(select(Order.id).where(Order.channel_order_id == order_no))
    assert found is not None
    return found


async def texts(client: TestClient) -> list[SmsMessage]:
    async with client.app[SESSIONS]() as session:
        return list((await session.scalars(select(SmsMessage).order_by(SmsMessage.id))).all())


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
