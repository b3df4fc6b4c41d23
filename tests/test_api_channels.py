"""Each channel's native records through the HTTP API into the pool, and presale recognised."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.keys import SESSIONS
from channels.registry import ADAPTERS
from sandbox.samples import CHANNEL_STAGES, sample_record
from storage.models import Order
from tests.support import T0, all_rows, auth

CHANNELS = ["taobao", "jd", "douyin", "shop"]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_native_records_land_normalised(client: TestClient, channel: str) -> None:
    rng = random.Random(channel)
    records = [
        sample_record(
            channel,
            rng,
            T0,
            order_no=f"{9000 + i}",
            stage=stage,
            stage_age=timedelta(minutes=7 * i),
        )
        for i, stage in enumerate(CHANNEL_STAGES[channel])
    ]
    response = await client.post(
        f"/api/v1/orders/{channel}", json={"orders": records}, headers=auth("all")
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["created"] == len(records)

    stored = {o.channel_order_id: o for o in await all_rows(client.app[SESSIONS], Order)}
    async with client.app[SESSIONS]() as session:  # the native record is loaded on request only
        raw = dict((await session.execute(select(Order.channel_order_id, Order.raw))).all())
    for i, stage in enumerate(CHANNEL_STAGES[channel]):
        order = stored[f"{9000 + i}"]
        expected = ADAPTERS[channel](records[i], T0)
        assert (order.channel, order.stage) == (channel, stage.value)
        assert order.stage_entered_at == T0 - timedelta(minutes=7 * i)
        assert order.amount_fen == expected.amount_fen
        assert raw[order.channel_order_id] == records[i]
        if order.address_source != "failed":
            assert order.province is not None


async def test_taobao_yuan_strings_and_beijing_time(client: TestClient) -> None:
    trade = {
        "tid": 3920481234567890,
        "type": "fixed",
        "status": "WAIT_SELLER_SEND_GOODS",
        "created": "2026-03-02 08:55:10",
        "pay_time": "2026-03-02 09:00:00",
        "modified": "2026-03-02 09:00:05",
        "payment": "200.07",
        "seller_nick": "家居旗舰店",
        "receiver_state": "河南省",
        "receiver_city": "",
        "receiver_district": "济源市",
        "receiver_mobile": "13912345678",
        "orders": [{"oid": 1, "cid": 50020611, "title": "实木书桌", "payment": "200.07"}],
    }
    response = await client.post("/api/v1/orders/taobao", json=trade, headers=auth("taobao"))
    assert response.status == 200, await response.text()
    [order] = await all_rows(client.app[SESSIONS], Order)
    assert (order.channel_order_id, order.amount_fen) == ("3920481234567890", 20007)
    assert order.stage_entered_at == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 Beijing
    assert (order.province, order.city, order.district) == ("河南省", "济源市", "济源市")
    assert order.deadline_at == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def taobao_presale(status: str, step: str, modified: str) -> dict[str, object]:
    return {
        "tid_str": "7001",
        "type": "step",
        "status": status,
        "step_trade_status": step,
        "created": "2026-02-28 20:00:00",
        "pay_time": "2026-02-28 20:01:00",
        "modified": modified,
        "payment": "300.00",
        "receiver_state": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
        "orders": [{"oid": 1, "cid": 50020611, "payment": "300.00"}],
    }


def shop_presale(status: str, final_paid_at: str | None) -> dict[str, object]:
    payments = [{"stage": "DEPOSIT", "amount_fen": 5000, "paid_at": "2026-02-28T20:01:00+08:00"}]
    if final_paid_at:
        payments.append({"stage": "FINAL", "amount_fen": 25000, "paid_at": final_paid_at})
    return {
        "order_no": "7001",
        "status": status,
        "created_at": "2026-02-28T20:00:00+08:00",
        "paid_at": "2026-02-28T20:01:00+08:00",
        "total_fen": 30000,
        "category": "定制家具",
        "receiver": {"province": "浙江省", "city": "杭州市", "district": "西湖区"},
        "payments": payments,
    }


@pytest.mark.parametrize(
    ("channel", "deposit", "final"),
    [
        (
            "taobao",
            taobao_presale("WAIT_BUYER_PAY", "FRONT_PAID_FINAL_NOPAID", "2026-02-28 20:01:00"),
            taobao_presale(
                "WAIT_SELLER_SEND_GOODS", "FRONT_PAID_FINAL_PAID", "2026-03-02 08:00:00"
            ),
        ),
        (
            "shop",
            shop_presale("PARTIALLY_PAID", None),
            shop_presale("PAID", "2026-03-02T08:00:00+08:00"),
        ),
    ],
    ids=["taobao", "shop"],
)
async def test_presale_counts_from_the_final_payment(
    client: TestClient, channel: str, deposit: dict[str, object], final: dict[str, object]
) -> None:
    await client.post(f"/api/v1/orders/{channel}", json=deposit, headers=auth("all"))
    [order] = await all_rows(client.app[SESSIONS], Order)
    # Waiting for the balance is expected: no SLA rule covers it, so nothing is watched.
    assert (order.order_type, order.stage, order.next_check_at) == ("presale", "deposit_paid", None)

    await client.post(f"/api/v1/orders/{channel}", json=final, headers=auth("all"))
    [order] = await all_rows(client.app[SESSIONS], Order)
    # A presale stays presale even in a category configured as custom-made, and its 4h SLA
    # counts from the final payment (08:00 Beijing = 00:00 UTC), not from the deposit.
    assert (order.order_type, order.stage) == ("presale", "paid")
    assert order.stage_entered_at == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert order.deadline_at == datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
