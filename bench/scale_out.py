"""Scale-out on PostgreSQL: chat commands a second of 1, 2 and 4 ``serve`` processes on one
database, and whether the watch and delivery split the work without duplicates.

    .venv/bin/python -m bench.scale_out                       # 1, 2 and 4 instances
    .venv/bin/python -m bench.scale_out --instances 1 2 --seconds 8
    ORDERBOT_BENCH_PG=postgresql://user@host:5432/postgres .venv/bin/python -m bench.scale_out

Per instance count: a fresh database on the PostgreSQL server (created and dropped through the
administrative DSN, by default the tests' ``postgres@127.0.0.1:5432``; the bench says so and
stops when none answers), ``orderbot db upgrade``, then N ``orderbot serve`` processes with
the watch and the outbox on their 1 s timers against one in-process WeCom sandbox. The pool
(``--orders``, ``--tickets`` of them overdue, as in ``bench.callbacks``) goes in through the
HTTP API, its batches spread over the instances as a balancer would. Then the split is checked:
each overdue order has one ticket, and its alert reached its group once (its order number
counted in the group messages the sandbox accepted). Then chat commands (``bench.callbacks``'
mix: 70% 状态, 20% 备注, 10% 认领), signed and encrypted as WeCom sends them, are sent round
robin to the instances for ``--seconds``, closed loop: ``--window`` commands in flight per
instance, the next sent when a reply reaches the sandbox. So the figure is what the instances
answer when never idle, and nothing queues beyond the window.

Per N it prints the commands answered a second, the ratio to one instance, reply p50/p99,
replies that are not the command's answer, commands without a reply, the noted/claimed
timeline rows against the commands sent (each command acted on once), duplicates found, and
the cores used by the serve processes, by PostgreSQL and by the whole machine. The reference
beside it, from the same run: the machine's ceiling, its cores divided by the CPU that one
command cost (serve and PostgreSQL together) at that N; no number of instances answers more
on this machine. Goal: two instances at least 1.8 times one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import tomli_w
from aiohttp import web
from wechatpy.enterprise.crypto import WeChatCrypto
from yarl import URL

from bench.callbacks import (
    CALLBACK_TIMEOUT,
    EXPECTED,
    JSON,
    PREFIX,
    REPLY_PATH,
    TOKEN,
    Prepared,
    Ticket,
    bot_config,
    cpu_seconds,
    free_port,
    log_summary,
    machine_cpu_seconds,
    percentile,
    plan,
    pool_records,
    sandbox_config,
    sandbox_site,
    seal,
    serve,
)
from sandbox import SANDBOX_STATE, SandboxState, create_sandbox_app

ADMIN_DSN = os.environ.get("ORDERBOT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


# The database


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new, empty database on the server; yields its DSN (dropped at the end)."""
    name = f"orderbot_scale_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def scalar(dsn: str, sql: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval(sql))
    finally:
        await connection.close()


async def wait_for(dsn: str, sql: str, want: int, seconds: float) -> int:
    """Poll ``sql`` until it returns ``want``; returns what it last returned."""
    deadline = time.monotonic() + seconds
    while True:
        got = await scalar(dsn, sql)
        if got == want or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.5)


async def load_tickets(dsn: str) -> list[Ticket]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT t.id, t.group_key, o.channel_order_id FROM tickets t "
            "JOIN orders o ON o.id = t.order_id ORDER BY t.id"
        )
    finally:
        await connection.close()
    return [Ticket(*row) for row in rows]


async def timeline_counts(dsn: str) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = dict(await connection.fetch("SELECT kind, count(*) FROM ticket_events GROUP BY 1"))
    finally:
        await connection.close()
    return {"note": rows.get("noted", 0), "claim": rows.get("claimed", 0)}


def postgres_cpu_seconds() -> float:
    """CPU of the PostgreSQL server's processes (all of them: the server is the bench's)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                total += cpu_seconds(int(entry.name))
    return total


# Replies


class Replies:
    """Each intelligent-robot reply as it reaches the sandbox, by response_code: when, what,
    how many times, and a future for the sender waiting on it."""

    def __init__(self) -> None:
        self.arrived: dict[str, tuple[float, bytes]] = {}
        self.uses: Counter[str] = Counter()
        self.waiting: dict[str, asyncio.Future[None]] = {}

    @web.middleware
    async def stamp(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == REPLY_PATH:
            code = request.query.get("response_code", "")
            self.uses[code] += 1
            self.arrived.setdefault(code, (time.perf_counter(), await request.read()))
            waiter = self.waiting.pop(code, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        response: web.StreamResponse = await handler(request)
        return response


# The split of the watch's and the delivery's work


@dataclass(frozen=True)
class Split:
    tickets: int
    distinct: int  # (order, stage) pairs among them
    alerted: int  # overdue orders whose number reached a group
    repeated: int  # extra appearances of an order number in group messages


ORDER_NUMBER = re.compile(rf"(?:{'|'.join(PREFIX.values())})\d{{7}}")  # as pool_records names them


def alerts_by_order(state: SandboxState, order_numbers: set[str]) -> Counter[str]:
    """How many group messages the sandbox accepted name each order number."""
    seen: Counter[str] = Counter()
    for record in state.records:
        if record.direction == "out" and record.target_kind == "group":
            seen.update(set(ORDER_NUMBER.findall(record.content or "")) & order_numbers)
    return seen


async def split_of(dsn: str, state: SandboxState, tickets: list[Ticket]) -> Split:
    total = await scalar(dsn, "SELECT count(*) FROM tickets")
    distinct = await scalar(
        dsn, "SELECT count(*) FROM (SELECT DISTINCT order_id, stage FROM tickets) AS pairs"
    )
    seen = alerts_by_order(state, {t.order_no for t in tickets})
    return Split(total, distinct, len(seen), sum(n - 1 for n in seen.values()))


# Commands, closed loop


@dataclass
class Load:
    answered: int
    seconds: float
    reply_ms: list[float]
    refused: int  # replies that are not the command's expected answer
    unanswered: int  # sent, no reply within 5 s of the end
    effect: dict[str, tuple[int, int]]  # kind -> (timeline rows found, commands sent)
    cores: tuple[float, float, float]  # serve processes, PostgreSQL, machine


async def closed_loop(
    http: aiohttp.ClientSession,
    queues: list[list[Prepared]],
    window: int,
    seconds: float,
    replies: Replies,
    pids: list[int],
) -> tuple[list[Prepared], list[float], float, tuple[float, float, float]]:
    """``window`` commands in flight per instance for ``seconds``; returns the commands sent,
    when each was sent, how long it ran, and the cores used (serve, PostgreSQL, machine)."""
    sent: list[Prepared] = []
    started: list[float] = []
    stop = time.perf_counter() + seconds

    async def slot(queue: list[Prepared]) -> None:
        while queue and time.perf_counter() < stop:
            item = queue.pop()
            waiter = replies.waiting[item.code] = asyncio.get_running_loop().create_future()
            sent.append(item)
            started.append(time.perf_counter())
            try:
                async with http.post(item.url, data=item.body, headers=JSON) as answer:
                    await answer.read()
                await asyncio.wait_for(waiter, 5)
            except (aiohttp.ClientError, TimeoutError):
                replies.waiting.pop(item.code, None)

    before = sum(map(cpu_seconds, pids)), postgres_cpu_seconds(), machine_cpu_seconds()
    began = time.perf_counter()
    await asyncio.gather(*(slot(queue) for queue in queues for _ in range(window)))
    ran = time.perf_counter() - began
    after = sum(map(cpu_seconds, pids)), postgres_cpu_seconds(), machine_cpu_seconds()
    used = tuple((a - b) / ran for a, b in zip(after, before, strict=True))
    return sent, started, ran, (used[0], used[1], used[2])


async def commands(
    http: aiohttp.ClientSession,
    args: argparse.Namespace,
    dsn: str,
    ports: list[int],
    pids: list[int],
    tickets: list[Ticket],
    replies: Replies,
    sandbox_port: int,
) -> Load:
    sandbox = sandbox_config(ports[0])
    crypto = WeChatCrypto(sandbox.callback_token, sandbox.encoding_aes_key, "")
    rng = random.Random(args.seed)
    # Enough for the fastest imaginable run, sealed beforehand so that the timed part only sends.
    count = int(args.seconds * 250 * len(ports))
    unclaimed = rng.sample(tickets, len(tickets))
    planned = plan(count, tickets, unclaimed, rng)
    queues: list[list[Prepared]] = [[] for _ in ports]
    for i, command in enumerate(planned):
        url = URL(f"http://127.0.0.1:{ports[i % len(ports)]}/wecom/aibot")
        sealed = seal(sandbox, crypto, url, f"http://127.0.0.1:{sandbox_port}", command, f"s{i}")
        queues[i % len(ports)].append(sealed)
    for queue in queues:
        queue.reverse()  # popped from the end: in planned order
    before = await timeline_counts(dsn)
    sent, started, ran, cores = await closed_loop(
        http, queues, args.window, args.seconds, replies, pids
    )
    await asyncio.sleep(1)  # a command acted on may still be committing its reply's row
    after = await timeline_counts(dsn)
    reply_ms, refused = [], 0
    for item, at in zip(sent, started, strict=True):
        if item.code not in replies.arrived:
            continue
        arrived, body = replies.arrived[item.code]
        reply_ms.append((arrived - at) * 1000)
        content = orjson.loads(body).get("markdown", {}).get("content", "")
        refused += not content.startswith(EXPECTED[item.kind])
    kinds = Counter(item.kind for item in sent)
    return Load(
        answered=len(reply_ms),
        seconds=ran,
        reply_ms=reply_ms,
        refused=refused,
        unanswered=sum(item.code not in replies.arrived for item in sent),
        effect={kind: (after[kind] - before[kind], kinds[kind]) for kind in ("note", "claim")},
        cores=cores,
    )


# One instance count


@dataclass
class Run:
    instances: int
    split: Split
    overdue: int
    load: Load
    repeated_replies: int  # response_codes used more than once
    log: str

    @property
    def rate(self) -> float:
        return self.load.answered / self.load.seconds

    @property
    def ceiling(self) -> float:
        """Commands/s if every core of the machine ran at this run's CPU cost a command."""
        serve, postgres, _ = self.load.cores
        per_command = (serve + postgres) / self.rate if self.rate else float("inf")
        return (os.cpu_count() or 1) / per_command


async def feed(http: aiohttp.ClientSession, ports: list[int], records: dict[str, Any]) -> None:
    """The pool in batches of 1,000, round robin over the instances."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    n = 0
    for channel, items in records.items():
        for low in range(0, len(items), 1000):
            url = f"http://127.0.0.1:{ports[n % len(ports)]}/api/v1/orders/{channel}"
            n += 1
            async with http.post(
                url, json={"orders": items[low : low + 1000]}, headers=headers
            ) as r:
                if r.status != 200:
                    raise RuntimeError(f"ingest {channel}: HTTP {r.status} {await r.text()}")


async def run_instances(args: argparse.Namespace, instances: int, tmp: Path) -> Run:
    ports = [free_port() for _ in range(instances)]
    sandbox = sandbox_config(ports[0])
    replies = Replies()
    app = create_sandbox_app(sandbox)
    app.middlewares.append(replies.stamp)
    logs = [tmp / f"serve-{instances}-{n}.log" for n in range(instances)]
    async with (
        fresh_database() as dsn,
        sandbox_site(app) as sandbox_port,
        contextlib.AsyncExitStack() as stack,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000), timeout=CALLBACK_TIMEOUT
        ) as http,
    ):
        url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        pids = []
        for n, port in enumerate(ports):
            settings = bot_config(tmp / "unused.db", port, sandbox, sandbox_port)
            settings["database"] = {"url": url}
            config = tmp / f"bot-{instances}-{n}.toml"
            config.write_text(tomli_w.dumps(settings), encoding="utf-8")
            pids.append(await stack.enter_async_context(serve(config, port, logs[n], None)))
        rng = random.Random(args.seed)
        started = time.perf_counter()
        await feed(http, ports, pool_records(args.orders, args.tickets, rng))
        opened = await wait_for(dsn, "SELECT count(*) FROM tickets", args.tickets, 120)
        pending = "SELECT count(*) FROM outbox WHERE status = 'pending'"
        await wait_for(dsn, pending, 0, 60)
        await asyncio.sleep(2.5)  # two more ticks of each: nothing further may appear
        print(
            f"  {instances} instance(s): pool in, {opened:,} tickets, alerts delivered after "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        tickets = await load_tickets(dsn)
        split = await split_of(dsn, app[SANDBOX_STATE], tickets)
        load = await commands(http, args, dsn, ports, pids, tickets, replies, sandbox_port)
    return Run(
        instances,
        split,
        args.tickets,
        load,
        sum(n > 1 for n in replies.uses.values()),
        "\n".join(f"  instance {n}: {log_summary(log)}" for n, log in enumerate(logs)),
    )


HEADER = (
    f"{'instances':>9} │ {'answered/s':>10} {'ratio':>5} │ {'ceiling/s':>9} │ "
    f"{'reply p50':>9} {'p99':>7} │ {'refused':>7} {'unanswered':>10} │ {'noted':>11} "
    f"{'claimed':>9} │ {'tickets':>13} {'alerted':>9} {'repeats':>7} │ "
    f"{'cores: serve':>12} {'pg':>4} {'machine':>7}"
)


def row(run: Run, one: float) -> str:
    load, split = run.load, run.split
    noted, claimed = (f"{found}/{sent}" for found, sent in load.effect.values())
    tickets = f"{split.tickets}/{split.distinct}/{run.overdue}"
    repeats = split.repeated + run.repeated_replies
    serve_cores, pg_cores, machine = load.cores
    return (
        f"{run.instances:>9} │ {run.rate:>10.1f} {run.rate / one:>5.2f} │ {run.ceiling:>9.0f} │ "
        f"{percentile(load.reply_ms, 0.5):>7.1f}ms {percentile(load.reply_ms, 0.99):>5.0f}ms │ "
        f"{load.refused:>7} {load.unanswered:>10} │ {noted:>11} {claimed:>9} │ "
        f"{tickets:>13} {split.alerted:>4}/{run.overdue:<4} {repeats:>7} │ "
        f"{serve_cores:>12.2f} {pg_cores:>4.2f} {machine:>7.2f}"
    )


def verdict(runs: list[Run]) -> str:
    by_count = {run.instances: run for run in runs}
    clean = all(
        r.split.tickets == r.split.distinct == r.overdue
        and r.split.alerted == r.overdue
        and r.split.repeated == r.repeated_replies == 0
        and all(found == sent for found, sent in r.load.effect.values())
        for r in runs
    )
    lines = [
        "watch and delivery split without duplicates: "
        + ("HOLDS" if clean else "DOES NOT HOLD (see tickets, alerted, repeats, noted, claimed)")
    ]
    if 1 in by_count and 2 in by_count:
        ratio = by_count[2].rate / by_count[1].rate
        holds = "HOLDS" if ratio >= 1.8 else "DOES NOT HOLD"
        lines.append(f"goal (two instances at least 1.8x one): {holds}, {ratio:.2f}x")
    else:
        lines.append("goal (two instances at least 1.8x one): not measured")
    return "\n".join(lines)


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def main(args: argparse.Namespace) -> None:
    try:
        await (await asyncpg.connect(ADMIN_DSN, timeout=5)).close()
    except (OSError, asyncpg.PostgresError) as error:
        sys.exit(f"no PostgreSQL at {ADMIN_DSN} ({error}); set ORDERBOT_BENCH_PG")
    print(
        f"{args.orders:,} orders ({args.tickets:,} overdue) per run, commands for "
        f"{args.seconds:.0f} s, {args.window} in flight per instance; {os.cpu_count()} cores"
    )
    runs = []
    with stop_on_sigterm(), tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for instances in args.instances:
            runs.append(await run_instances(args, instances, Path(tmp)))
    print(f"\n{HEADER}")
    one = next((r.rate for r in runs if r.instances == 1), runs[0].rate)
    for run in runs:
        print(row(run, one))
    print("(tickets: rows/distinct (order, stage)/overdue orders; alerted: overdue orders named")
    print(" in a group message; repeats: order numbers named again, replies sent twice)")
    for run in runs:
        print(run.log)
    print(verdict(runs))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--orders", type=int, default=2_000, help="orders in the pool")
    parser.add_argument("--tickets", type=int, default=200, help="of them overdue")
    parser.add_argument("--seconds", type=float, default=10.0, help="of commands per run")
    parser.add_argument("--window", type=int, default=16, help="commands in flight an instance")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    if not 0 < arguments.tickets <= arguments.orders:
        parser.error("--tickets must be between 1 and --orders")
    try:
        asyncio.run(main(arguments))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("interrupted; the servers, databases and temporary files are cleaned up")
