"""A storm: 10,000 orders overdue at once across 10 handler groups, delivered through the
WeCom sandbox with WeCom's documented limits on.

    .venv/bin/python -m bench.storm

Prints the orders visible in WeCom (every order number found in an accepted message or an
attached file), the most messages any robot got in a minute, the messages the sandbox refused,
and the seconds from the watch tick until the last order was visible.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import re
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.clock import SystemClock
from bot.config import Config, parse_config
from bot.ingest import Ingestor
from bot.policy import Policy
from bot.sandbox import SANDBOX_STATE, SandboxConfig, create_sandbox_app
from bot.wecom.client import WeComClient
from channels.address import RegionParser
from jobs import deliver, watch
from storage import migrate
from storage.db import make_engine, make_sessionmaker

PROVINCES = [
    "上海市",
    "浙江省",
    "江苏省",
    "广东省",
    "北京市",
    "四川省",
    "湖北省",
    "山东省",
    "福建省",
    "河南省",
]
ORDER_NO = re.compile(r"SH\d{6}")


def storm_config(url: str, sandbox_url: str) -> Config:
    groups = {
        f"g{i}": {
            "name": f"{p}处理组",
            "supervisor": f"boss{i}",
            "members": [f"handler{i}"],
            "webhook_key": f"key-{i}",
        }
        for i, p in enumerate(PROVINCES)
    }
    rules = [{"name": p, "group": f"g{i}", "provinces": [p]} for i, p in enumerate(PROVINCES)]
    return parse_config(
        {
            "database": {"url": url},
            "watch": {"batch_size": 1000},
            "groups": groups,
            "routing": {"default_group": "g0", "rules": rules},
            "sla": [{"name": "待拣货", "stage": "paid", "limit": "2h"}],
            "wecom": {
                "api_base": sandbox_url,
                "corp_id": "wwsandbox0000001",
                "corp_secret": "sandbox-secret",
                "agent_id": 1000002,
            },
        }
    )


def shop_order(n: int, paid: datetime) -> dict[str, Any]:
    at = paid.isoformat()
    province = PROVINCES[n % len(PROVINCES)]
    return {
        "order_no": f"SH{n:06d}",
        "status": "PAID",
        "created_at": at,
        "paid_at": at,
        "total_fen": 10000 + n,
        "receiver": {"province": province, "city": province},
    }


def visible_orders(state: Any) -> set[str]:
    seen: set[str] = set()
    for record in state.records:
        seen.update(ORDER_NO.findall(record.content or ""))
        if record.msgtype == "file" and record.media is not None:
            rows = csv.reader(io.StringIO(record.media.data.decode("utf-8-sig")))
            seen.update(ORDER_NO.findall(" ".join(",".join(row) for row in rows)))
    return seen


async def main(orders: int) -> None:
    sandbox_config = SandboxConfig(
        webhook_keys={f"key-{i}": f"{p}处理组" for i, p in enumerate(PROVINCES)}
    )
    sandbox_app = create_sandbox_app(sandbox_config)
    runner = web.AppRunner(sandbox_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'storm.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        config = storm_config(url, f"http://127.0.0.1:{port}/cgi-bin/")
        policy = Policy.from_config(config)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        paid = datetime.now(UTC) - timedelta(hours=3)
        ingestor = Ingestor(sessions, policy, RegionParser())
        for start in range(0, orders, 1000):
            batch = [shop_order(n, paid) for n in range(start, min(orders, start + 1000))]
            await ingestor.orders("shop", batch, datetime.now(UTC))
        started = time.perf_counter()
        result = await watch.run(sessions, policy, datetime.now(UTC))
        print(
            f"watch tick: {result.opened:,} tickets opened in {time.perf_counter() - started:.2f} s"
        )
        state = sandbox_app[SANDBOX_STATE]
        async with aiohttp.ClientSession() as http:
            wecom = WeComClient(
                http,
                base_url=config.wecom.api_base,  # type: ignore[union-attr]
                corp_id="wwsandbox0000001",
                corp_secret="sandbox-secret",
                agent_id=1000002,
            )
            last_visible = None
            while time.perf_counter() - started < 600:
                await deliver.run(sessions, policy, wecom, SystemClock(), "storm")
                if len(visible_orders(state)) >= orders:
                    last_visible = time.perf_counter() - started
                    break
                await asyncio.sleep(1)
        await engine.dispose()
    stats = state.stats.as_json()
    refused = sum(n for codes in stats["refused"].values() for n in codes.values())
    per_minute = max(stats["robot_per_minute_max"].values(), default=0)
    messages = stats["accepted"].get("webhook/send", 0)
    print(f"orders visible in WeCom: {len(visible_orders(state)):,} of {orders:,}")
    print(f"robot messages sent: {messages}; most to one robot in a minute: {per_minute} (≤ 20)")
    print(f"messages refused by the sandbox: {refused}")
    print(
        f"seconds until the last order was visible: {last_visible:.1f}"
        if last_visible is not None
        else "not all visible in 600 s"
    )
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().orders))
