"""The demo's order sources: a shop feed posting sample orders to orderbot's ingest API, and a
WMS stand-in that reports picking and shipping for most of them and forgets some, which the
watch then turns into tickets. Both use the bearer tokens of the demo's config (bot/demo.toml)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime, timedelta

import aiohttp

from rules.stages import Stage
from sandbox.samples import sample_record

CHANNEL_PREFIX = {"taobao": "TB", "jd": "JD", "douyin": "DY", "shop": "SH"}
FEED_TOKEN, WMS_TOKEN = "demo-feed-token", "demo-wms-token"


async def feed(base_url: str, rng: random.Random, stop: asyncio.Event) -> None:
    """Post a few orders every couple of seconds; the WMS reports picking for ~70% of them and
    shipping for most picked ones, some late enough to open a ticket that then closes itself."""
    scheduled: list[tuple[datetime, str, str, Stage]] = []
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
            due = [item for item in scheduled if item[0] <= now]
            scheduled = [item for item in scheduled if item[0] > now]
            for _, channel_, order_no, stage in due:
                if stage == Stage.PICKING and rng.random() < 0.9:
                    at = now + timedelta(seconds=rng.uniform(5, 40))
                    scheduled.append((at, channel_, order_no, Stage.SHIPPED))
            if due:
                events = [
                    {
                        "channel": c,
                        "order_id": o,
                        "event_id": f"wms-{stage}-{o}",
                        "stage": stage.value,
                        "occurred_at": now.isoformat(),
                    }
                    for _, c, o, stage in due
                ]
                async with http.post(
                    "/api/v1/events", json={"events": events}, headers=wms_headers
                ) as response:
                    await response.read()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=rng.uniform(1.5, 3.0))
