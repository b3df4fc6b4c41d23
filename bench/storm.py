"""A storm: 10,000 orders overdue at once across 10 handler groups, then, seconds later, the
escalation wave: the same 10,000 orders escalated at once to the 10 supervisors (1,000 each).
Delivered through the WeCom sandbox with WeCom's documented limits on, each call answered
after ``--latency`` (100 ms by default, as over the internet), with the watch and the sender
on 1 s timers as ``serve`` runs them.

    .venv/bin/python -m bench.storm

Prints, for the groups: the orders visible in WeCom (every order number found in an accepted
message or an attached file), the most messages any robot got in a minute, the messages the
sandbox refused, and the seconds from the first watch tick until the last order was visible.
For the supervisors: the escalations visible, the most app messages a member got in a minute,
the messages the sandbox dropped, and the seconds from the escalation level until the last
escalation was visible. And how often the sender's 1 s job overran its interval.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import re
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from adapters.wecom.client import WeComClient
from channels.address import RegionParser
from jobs import deliver, watch
from sandbox import SANDBOX_STATE, SandboxConfig, create_sandbox_app
from services.clock import SystemClock
from services.config import Config, parse_config
from services.ingest import Ingestor
from services.policy import Policy, Rules
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
ESCALATE_AFTER = timedelta(hours=4)  # the default second level: the group's supervisor
# The escalation level comes this long after the first tick, so that the group storm is over
# (or nearly) and the wave is measured on its own, as when alerts went out two hours earlier.
WAVE_LEAD = timedelta(seconds=30)
TIMEOUT = 900.0
INTERVAL = 1.0  # [watch] scan_interval and [wecom] send_interval, as timers


def with_latency(app: web.Application, seconds: float) -> None:
    """Every WeCom API call answers ``seconds`` late, as over the internet to WeCom."""

    @web.middleware
    async def latency(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/cgi-bin/"):
            await asyncio.sleep(seconds)
        return await handler(request)

    app.middlewares.insert(0, latency)


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


def visible_orders(state: Any, target_kind: str) -> dict[str, float]:
    """Each order number seen in a message to this kind of chat, and when it was first seen."""
    seen: dict[str, float] = {}
    for record in state.records:
        if record.direction != "out" or record.target_kind != target_kind:
            continue
        text = record.content or ""
        if record.msgtype == "file" and record.media is not None:
            rows = csv.reader(io.StringIO(record.media.data.decode("utf-8-sig")))
            text += " ".join(",".join(row) for row in rows)
        for order_no in ORDER_NO.findall(text):
            seen.setdefault(order_no, record.time)
    return seen


def most_per_member_minute(state: Any) -> int:
    """The most app messages any member got within one sliding minute."""
    windows: defaultdict[str, deque[float]] = defaultdict(deque)
    most = 0
    for record in state.records:
        if record.direction != "out" or record.endpoint != "message/send":
            continue
        for user in record.users:
            window = windows[user]
            window.append(record.time)
            while window[0] <= record.time - 60:
                window.popleft()
            most = max(most, len(window))
    return most


class Timer:
    """A job on a fixed interval that, like APScheduler with ``max_instances=1``, skips the
    runs that fall due while the previous one is still going; counts those overruns."""

    def __init__(self, run: Callable[[], Awaitable[Any]]) -> None:
        self.run = run
        self.overruns = 0
        self.longest = 0.0

    async def loop(self) -> None:
        while True:
            started = time.perf_counter()
            await self.run()
            elapsed = time.perf_counter() - started
            self.longest = max(self.longest, elapsed)
            self.overruns += int(elapsed // INTERVAL)
            await asyncio.sleep(INTERVAL - elapsed % INTERVAL)


async def main(orders: int, latency: float) -> None:
    sandbox_config = SandboxConfig(
        webhook_keys={f"key-{i}": f"{p}处理组" for i, p in enumerate(PROVINCES)}
    )
    sandbox_app = create_sandbox_app(sandbox_config)
    with_latency(sandbox_app, latency)
    runner = web.AppRunner(sandbox_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state = sandbox_app[SANDBOX_STATE]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'storm.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        config = storm_config(url, f"http://127.0.0.1:{port}/cgi-bin/")
        policy = Policy.from_config(config)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        escalate_at = datetime.now(UTC) + WAVE_LEAD
        paid = escalate_at - ESCALATE_AFTER
        ingestor = Ingestor(sessions, Rules(policy), RegionParser())
        for start in range(0, orders, 1000):
            batch = [shop_order(n, paid) for n in range(start, min(orders, start + 1000))]
            await ingestor.orders("shop", batch, datetime.now(UTC), source="bench")
        started = time.time()
        result = await watch.run(sessions, policy, datetime.now(UTC))
        print(f"watch tick: {result.opened:,} tickets opened in {time.time() - started:.2f} s")
        async with aiohttp.ClientSession() as http:
            wecom = WeComClient(
                http,
                base_url=config.wecom.api_base,  # type: ignore[union-attr]
                corp_id="wwsandbox0000001",
                corp_secret="sandbox-secret",
                agent_id=1000002,
            )
            outbox = deliver.Sender(sessions, Rules(policy), wecom, SystemClock(), "storm")
            sender = Timer(outbox.tick)
            watcher = Timer(lambda: watch.run(sessions, policy, datetime.now(UTC)))
            timers = [asyncio.create_task(t.loop()) for t in (sender, watcher)]
            while time.time() - started < TIMEOUT:
                await asyncio.sleep(INTERVAL)
                done = (
                    len(visible_orders(state, "group")) >= orders
                    and len(visible_orders(state, "user")) >= orders
                )
                if done:
                    break
            for task in timers:
                task.cancel()
            await asyncio.gather(*timers, return_exceptions=True)
            await outbox.stop(grace=timedelta(seconds=10))
        await engine.dispose()
    stats = state.stats.as_json()
    refused = sum(n for codes in stats["refused"].values() for n in codes.values())
    dropped = sum(n for users in stats["dropped"].values() for n in users.values())
    per_minute = max(stats["robot_per_minute_max"].values(), default=0)
    robot_messages = stats["accepted"].get("webhook/send", 0)
    app_messages = stats["accepted"].get("message/send", 0)
    in_groups, to_supervisors = visible_orders(state, "group"), visible_orders(state, "user")
    print("— the storm, in the groups —")
    print(f"orders visible in WeCom: {len(in_groups):,} of {orders:,}")
    print(
        f"robot messages sent: {robot_messages}; most to one robot in a minute: {per_minute} (≤ 20)"
    )
    print(f"messages refused by the sandbox: {refused}")
    if len(in_groups) >= orders:
        last = max(in_groups.values()) - started
        print(f"seconds until the last order was visible: {last:.1f}")
    else:
        print(f"not all visible in {TIMEOUT:.0f} s")
    print("— the escalation wave, to the supervisors —")
    print(f"escalations visible: {len(to_supervisors):,} of {orders:,}")
    print(
        f"app messages sent: {app_messages}; most to one member in a minute: "
        f"{most_per_member_minute(state)} (≤ 30); dropped by WeCom: {dropped}"
    )
    if len(to_supervisors) >= orders:
        last = max(to_supervisors.values()) - escalate_at.timestamp()
        print(f"seconds from the escalation level to the last one visible: {last:.1f} (goal ≤ 75)")
    else:
        print(f"not all visible in {TIMEOUT:.0f} s")
    print(
        f"sender job: longest run {sender.longest:.1f} s, "
        f"overran its {INTERVAL:.0f} s interval {sender.overruns} times"
    )
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument(
        "--latency", type=float, default=0.1, help="seconds each WeCom call takes (default 0.1)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.latency))
