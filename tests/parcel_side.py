"""Shipped orders and their parcels for the tracking tests: the order comes in through the
HTTP API and ships by a warehouse event; the parcel and its scans are written as the scan intake
leaves them (the intake has tests of its own)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.keys import CLOCK, SESSIONS
from storage.models import Order, Parcel, ParcelScan
from tests.sms_side import sms_section
from tests.support import auth, config_data, shop_order, stage_event

H = timedelta(hours=1)


async def shipped_order(
    client: TestClient, order_no: str, shipped_at: datetime, province: str = "上海市"
) -> int:
    """An order paid an hour before ``shipped_at`` and shipped then; its id."""
    order = shop_order(order_no, paid_at=shipped_at - H, province=province)
    client.app[CLOCK].current = shipped_at - H
    response = await client.post(
        "/api/v1/orders/shop", json={"orders": [order]}, headers=auth("all")
    )
    assert response.status == 200, await response.text()
    client.app[CLOCK].current = shipped_at
    response = await client.post(
        "/api/v1/events", json=stage_event(order_no, "shipped", shipped_at), headers=auth("wms")
    )
    assert (await response.json())["updated"] == 1
    async with client.app[SESSIONS]() as session:
        order_id = await session.scalar(select(Order.id).where(Order.channel_order_id == order_no))
    assert order_id is not None
    return order_id


def parcel_row(order_id: int, tracking_no: str, shipped_at: datetime, **columns: Any) -> Parcel:
    defaults: dict[str, Any] = {
        "carrier": "ZTO",
        "carrier_text": "中通快递",
        "origin_province": "浙江省",
        "destination_province": "上海市",
        "subscription": "active",
        "created_at": shipped_at,
        "updated_at": shipped_at,
    }
    return Parcel(
        order_id=order_id, tracking_no=tracking_no, shipped_at=shipped_at, **(defaults | columns)
    )


async def add_parcel(
    client: TestClient, order_id: int, tracking_no: str, shipped_at: datetime, **columns: Any
) -> int:
    async with client.app[SESSIONS].begin() as session:
        parcel = parcel_row(order_id, tracking_no, shipped_at, **columns)
        session.add(parcel)
        await session.flush()
        return parcel.id


async def scan(
    client: TestClient,
    parcel_id: int,
    at: datetime,
    place: str,
    text: str,
    state: str = "in_transit",
    stall_after: timedelta = 24 * H,
) -> None:
    """A scan stored, and the parcel moved, as the intake does (its stall check restarts)."""
    async with client.app[SESSIONS].begin() as session:
        parcel = await session.get(Parcel, parcel_id)
        assert parcel is not None
        session.add(
            ParcelScan(
                parcel_id=parcel_id,
                order_id=parcel.order_id,
                at=at,
                state=state,
                code="0",
                place=place,
                text=text,
                source="kuaidi100",
                digest=hashlib.md5(f"{at.isoformat()} {text}".encode()).hexdigest(),
                received_at=at,
            )
        )
        parcel.state, parcel.state_at = state, at
        parcel.last_scan_at, parcel.last_scan_place, parcel.last_scan_text = at, place, text
        parcel.stall_check_at = at + stall_after
        parcel.updated_at = at


def tracking_config(database_url: str, **tracking: Any) -> dict[str, Any]:
    """The test config with a logistics group that stall tickets are routed to, [tracking]
    (SF parcels stall after 12 h, others after 24 h) and texts to customers."""
    data = config_data(database_url)
    data["groups"]["logistics"] = {"name": "物流组", "members": ["zhao"]}
    stall_rule = {"name": "物流停滞", "group": "logistics", "kinds": ["stall"]}
    data["routing"]["rules"] = [stall_rule, *data["routing"]["rules"]]
    data["tracking"] = {
        "key": "k100-key",
        "salt": "k100-salt",
        "callback_url": "http://bot.test/tracking/kuaidi100",
        "stall_after": "24h",
        "stall_after_by_carrier": {"SF": "12h"},
    } | tracking
    data["sms"] = sms_section("tencent")
    return data
