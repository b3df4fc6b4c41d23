"""The demo's order sources: a shop feed posting sample orders to orderbot's ingest API, a
WMS stand-in that reports picking and shipping (with a waybill) for most of them and forgets
some, which the watch then turns into tickets, and the carriers: each shipped parcel gets a
script of scans on the sandbox's 快递100, most reaching the door, some stalling for a while (a
stall ticket, a text to the customer, closed by the next scan), a few refused at the door. The
bot's own subscription makes the sandbox follow a waybill, so a script is retried until then.
The sources use the bearer tokens of the demo's config (bot/demo.toml)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from rules.stages import Stage
from sandbox.paid import payments_of
from sandbox.samples import sample_record

CHANNEL_PREFIX = {"taobao": "TB", "jd": "JD", "douyin": "DY", "shop": "SH"}
FEED_TOKEN, WMS_TOKEN = "demo-feed-token", "demo-wms-token"
CARRIERS = (("ZTO", "ZT"), ("YTO", "YT"), ("YUNDA", "YD"), ("STO", "ST"), ("JD", "JDV"))
HUBS = ("杭州转运中心", "上海转运中心", "南京转运中心", "广州转运中心", "武汉转运中心")
# 快递100's codes: 1 揽收, 0 在途, 5 派件, 3 签收, 14 拒签.
PICKED_UP, IN_TRANSIT, OUT_FOR_DELIVERY, SIGNED, REFUSED = "1", "0", "5", "3", "14"
SUBSCRIBE_WAIT = 2.0  # seconds between tries to script a waybill the bot has not subscribed yet


def _scan(after: float, state: str, context: str, place: str) -> dict[str, object]:
    return {"after_seconds": after, "state": state, "context": context, "place": place}


def parcel_script(
    rng: random.Random, stall_seconds: float, stalls: float = 0.25
) -> list[dict[str, object]]:
    """The scans of one parcel on its way: most arrive; a share ``stalls`` goes quiet for longer
    than ``stall_seconds`` at a hub before moving on; one in ten is refused at the door."""
    first, second = rng.sample(HUBS, 2)
    fate = rng.random()
    quiet = stall_seconds + rng.uniform(20, 40) if fate < stalls else 8
    refused = stalls <= fate < stalls + 0.1
    return [
        _scan(3, PICKED_UP, "快递员已揽件", "杭州市"),
        _scan(8, IN_TRANSIT, f"已到达【{first}】", first),
        _scan(quiet, IN_TRANSIT, f"已到达【{second}】", second),
        _scan(8, OUT_FOR_DELIVERY, "快递员正在派件", second),
        _scan(8, REFUSED, "收件人拒收, 包裹将退回", second)
        if refused
        else _scan(8, SIGNED, "已签收, 签收人: 本人", second),
    ]


async def follow(
    sandbox_url: str, tracking_no: str, steps: list[dict[str, object]], stop: asyncio.Event
) -> None:
    """Hand the parcel's scans to the sandbox's 快递100 once the bot has subscribed it."""
    async with aiohttp.ClientSession(sandbox_url) as http:
        while not stop.is_set():
            body = {"number": tracking_no, "steps": steps}
            async with http.post("/sandbox/tracking/script", json=body) as response:
                await response.read()
                if response.status != 404:  # 404: not subscribed yet
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=SUBSCRIBE_WAIT)


async def feed(
    base_url: str,
    rng: random.Random,
    stop: asyncio.Event,
    *,
    sandbox_url: str | None = None,
    stall_seconds: float = 45.0,
) -> None:
    """Post a few orders every couple of seconds; the WMS reports picking for ~70% of them and
    shipping for most picked ones, some late enough to open a ticket that then closes itself.
    With ``sandbox_url`` each shipped parcel gets its carrier's scans (``parcel_script``), and
    each payment is told to the sandbox's payment gateways (their bills are made of them)."""
    scheduled: list[tuple[datetime, str, str, Stage]] = []
    parcels: set[asyncio.Task[None]] = set()
    serial = 0
    feed_headers = {"Authorization": f"Bearer {FEED_TOKEN}"}
    wms_headers = {"Authorization": f"Bearer {WMS_TOKEN}"}
    async with aiohttp.ClientSession(base_url) as http:
        while not stop.is_set():
            now = datetime.now(UTC)
            channel = rng.choice(list(CHANNEL_PREFIX))
            batch = []
            for _ in range(rng.randint(1, 3)):
                serial += 1
                order_no = f"{CHANNEL_PREFIX[channel]}{now:%m%d}{serial:05d}"
                batch.append(
                    sample_record(
                        channel,
                        rng,
                        now,
                        order_no=order_no,
                        stage=Stage.PAID,
                        stage_age=timedelta(0),
                    )
                )
                if rng.random() < 0.7:
                    at = now + timedelta(seconds=rng.uniform(3, 35))
                    scheduled.append((at, channel, order_no, Stage.PICKING))
            async with http.post(
                f"/api/v1/orders/{channel}", json={"orders": batch}, headers=feed_headers
            ) as response:
                await response.read()
            if sandbox_url is not None:
                await _paid(http, sandbox_url, channel, batch)
            due = [item for item in scheduled if item[0] <= now]
            scheduled = [item for item in scheduled if item[0] > now]
            for _, channel_, order_no, stage in due:
                if stage == Stage.PICKING and rng.random() < 0.9:
                    at = now + timedelta(seconds=rng.uniform(5, 40))
                    scheduled.append((at, channel_, order_no, Stage.SHIPPED))
            if due:
                events = [_event(c, o, stage, now, rng) for _, c, o, stage in due]
                async with http.post(
                    "/api/v1/events", json={"events": events}, headers=wms_headers
                ) as response:
                    await response.read()
                for event in events:
                    if sandbox_url is not None and "tracking_no" in event:
                        # Only the shop's own orders carry the buyer's full number (the
                        # platforms mask it), so only their customers can be texted: more of
                        # their parcels stall, to show it.
                        stalls = 0.5 if event["channel"] == "shop" else 0.2
                        steps = parcel_script(rng, stall_seconds, stalls)
                        task = asyncio.create_task(
                            follow(sandbox_url, event["tracking_no"], steps, stop)
                        )
                        parcels.add(task)
                        task.add_done_callback(parcels.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=rng.uniform(1.5, 3.0))
    await asyncio.gather(*parcels, return_exceptions=True)


async def _paid(
    http: aiohttp.ClientSession, sandbox_url: str, channel: str, batch: list[dict[str, Any]]
) -> None:
    """The buyers paid: the gateways (the sandbox's) learn of each payment."""
    payments = [p for record in batch for p in payments_of(channel, record)]
    if payments:
        url = f"{sandbox_url}/sandbox/api/payments"
        async with http.post(url, json={"payments": payments}) as response:
            await response.read()


def _event(
    channel: str, order_no: str, stage: Stage, now: datetime, rng: random.Random
) -> dict[str, str]:
    """The WMS's stage event; shipping names the waybill the parcel left with."""
    event = {
        "channel": channel,
        "order_id": order_no,
        "event_id": f"wms-{stage}-{order_no}",
        "stage": stage.value,
        "occurred_at": now.isoformat(),
    }
    if stage == Stage.SHIPPED:
        carrier, prefix = rng.choice(CARRIERS)
        event |= {"tracking_no": f"{prefix}{rng.randrange(10**11, 10**12)}", "carrier": carrier}
    return event
