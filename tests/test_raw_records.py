"""What a platform sent is kept whole: the record read back from the order is the record posted,
whatever JSON it holds. The raw column is written by a fast encoder that refuses some valid
JSON (nesting past 255 levels); such a record must still be stored as sent, not cost its batch
a 500. Run with ORDERBOT_TEST_DB=postgresql too."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.keys import SESSIONS
from storage.models import Order
from tests.support import auth


def trade(tid: str, **more: Any) -> dict[str, Any]:
    return {
        "tid": tid,
        "status": "WAIT_SELLER_SEND_GOODS",
        "created": "2026-03-02 09:00:00",
        "pay_time": "2026-03-02 09:00:00",
        "payment": "99.00",
        "seller_nick": "家居旗舰店",
        "receiver_state": "浙江省",
    } | more


def nested(depth: int) -> list[Any]:
    value: list[Any] = ["底"]
    for _ in range(depth - 1):
        value = [value]
    return value


async def test_a_record_with_json_the_fast_encoder_refuses_is_stored_as_sent(
    client: TestClient,
) -> None:
    records = [
        trade("T1"),
        trade("T2", trade_attr=nested(300)),  # a field orderbot does not read
    ]
    response = await client.post("/api/v1/orders/taobao", json=records, headers=auth("all"))
    assert response.status == 200, await response.text()
    assert (await response.json())["created"] == 2

    async with client.app[SESSIONS]() as session:
        raw = dict((await session.execute(select(Order.channel_order_id, Order.raw))).all())
    assert raw == {record["tid"]: record for record in records}
