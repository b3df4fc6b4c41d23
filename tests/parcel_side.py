"""Shipped orders and their parcels for the stall, ETA and view tests: the order comes in
through the HTTP API and ships by a warehouse event; with [tracking], the event carries the
waybill and scans come as TMS scan events (the intake follows the parcel, moves it, closes its
stall ticket and sets its next check). Without it (the ETA's history, the WeCom test's bot), or
for what the intake does not do yet, parcels and scans are written as the intake leaves them."""

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
    client: TestClient,
    order_no: str,
    shipped_at: datetime,
    province: str = "上海市",
    waybill: tuple[str, str] | None = None,
    phone: str | None = None,
) -> int:
    """An order paid an hour before ``shipped_at`` and shipped then, with ``waybill``
    (tracking number, carrier) if given, to ``phone`` if given; its id."""
    order = shop_order(order_no, paid_at=shipped_at - H, province=province)
    if phone is not None:
        order["receiver"]["mobile"] = phone
    client.app[CLOCK].current = shipped_at - H
    response = await client.post(
        "/api/v1/orders/shop", json={"orders": [order]}, headers=auth("all")
    )
    assert response.status == 200, await response.text()
    client.app[CLOCK].current = shipped_at
    event: dict[str, str] = stage_event(order_no, "shipped", shipped_at)
    if waybill is not None:
        event |= {"tracking_no": waybill[0], "carrier": waybill[1]}
    response = await client.post("/api/v1/events", json=event, headers=auth("wms"))
    assert (await response.json())["updated"] == 1
    async with client.app[SESSIONS]() as session:
        order_id = await session.scalar(select(Order.id).where(Order.channel_order_id == order_no))
    assert order_id is not None
    return order_id


async def followed_parcel(
    client: TestClient, order_no: str, shipped_at: datetime, carrier: str = "中通快递"
) -> int:
    """A shipped order whose waybill ``YT<order_no>`` the intake follows; the parcel's id."""
    await shipped_order(client, order_no, shipped_at, waybill=(f"YT{order_no}", carrier))
    async with client.app[SESSIONS]() as session:
        parcel_id = await session.scalar(
            select(Parcel.id).where(Parcel.tracking_no == f"YT{order_no}")
        )
    assert parcel_id is not None
    return parcel_id


async def scan_event(
    client: TestClient,
    order_no: str,
    at: datetime,
    place: str,
    text: str,
    state: str = "in_transit",
) -> None:
    """A TMS scan of the order's waybill ``YT<order_no>``, heard at ``at``."""
    client.app[CLOCK].current = at
    event = {
        "type": "scan",
        "channel": "shop",
        "order_id": order_no,
        "event_id": f"tms-{order_no}-{at.timestamp():.0f}",
        "tracking_no": f"YT{order_no}",
        "state": state,
        "occurred_at": at.isoformat(),
        "place": place,
        "text": text,
    }
    response = await client.post("/api/v1/events", json=[event], headers=auth("wms"))
    assert response.status == 200, await response.text()


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
        "origin_province": "浙江省",
        "key": "k100-key",
        "salt": "k100-salt",
        "callback_url": "http://bot.test/tracking/kuaidi100",
        "stall_after": "24h",
        "stall_after_by_carrier": {"SF": "12h"},
    } | tracking
    data["sms"] = sms_section("tencent")
    return data
