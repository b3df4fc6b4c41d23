"""Chat commands under load: signed, encrypted WeCom callbacks against the real ``serve``.

    .venv/bin/python -m bench.callbacks            # 50, 100, 200, 400 commands/s, 12 s each
    .venv/bin/python -m bench.callbacks --quick    # 50 and 200 commands/s, 5 s each
    .venv/bin/python -m bench.callbacks --profile serve.prof   # the server under cProfile

Starts ``orderbot serve`` as ops run it (a subprocess, SQLite in a temporary directory, the
watch on its own 1 s timer) against an in-process WeCom sandbox, fills the pool through the
HTTP ingest API (``--orders``, of which ``--tickets`` are overdue so the watch opens as many
tickets), then sends group @mentions of the intelligent robot (``/wecom/aibot``, encrypted JSON)
at each target rate on an open-loop schedule: 70% ``状态 <order>``, 20% ``备注 <ticket> <text>``,
10% ``认领 <ticket>`` of a so far unclaimed ticket, each by a member of the ticket's group in
the group's chat, each with its own msgid. Replies come back through the one-shot response_url,
whose code identifies the command, so the sandbox stamps each reply's arrival. (The app's 1:1
chats would do too, but WeCom lets the app send a member only 30 messages a minute; the
response_url has no such limit.) Each step waits for its replies before the next begins.

Per step it prints the rate sent and the rate answered (replies / s until the last one came),
the callback acknowledgement latency (the bot's HTTP 200; it answers at once and runs the
command in the background), the end-to-end latency until the reply reached WeCom, callbacks
that failed (non-200 or no answer within WeCom's 5 s), acknowledged commands without a reply,
replies that are not the command's expected answer, the noted/claimed timeline rows found in
the database against the commands sent, and the cores used by the server, by this process
(client and sandbox) and by anything else on the machine, and the server's CPU a command (all
its threads); with the send lag (how late posts left against the schedule) they tell whether the
client kept up. Then what the sandbox accepted and refused, the server log's warnings and
errors, and whether the goal holds.

The reference from the same run (unless ``--no-reference``): the same steps, callbacks about the
same tickets, against ``bench.callback_reference``, which is serve's HTTP side alone (the
callback routes' checks, decryption, acknowledgement and the reply through the response_url)
answering a fixed text without the database. Its CPU a command is what any command costs
before its own work; its reply p99 at 200/s is the best orderbot's could be on this machine.

Goal: p99 latency under 50 ms at 200 commands/s, judged on the callback (WeCom's wait) and on
the reply (the person's wait, which holds only while the replies keep up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import pstats
import random
import secrets
import signal
import socket
import sqlite3
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import PIPE, STDOUT
from typing import Any
from xml.etree import ElementTree

import aiohttp
import orjson
import tomli_w
from aiohttp import web
from wechatpy.enterprise.crypto import WeChatCrypto
from yarl import URL

from rules.stages import Stage
from sandbox import (
    SANDBOX_STATE,
    SandboxConfig,
    SandboxState,
    create_sandbox_app,
    robot_chat_id,
)
from sandbox import codes as response_codes
from sandbox.samples import sample_record

TOKEN = "bench-feed-token"
PREFIX = {"taobao": "TB", "jd": "JD", "douyin": "DY", "shop": "SH"}
# Handler groups by region, as an operator would split them; big orders go to vip first.
REGIONS = {
    "east": ("华东组", ["上海市", "江苏省", "浙江省"]),
    "south": ("华南组", ["广东省", "广西壮族自治区", "福建省"]),
    "north": ("华北组", ["北京市", "山东省", "河南省", "黑龙江省", "陕西省"]),
    "central": ("华中组", ["湖北省", "湖南省"]),
    "west": ("西南组", ["重庆市", "四川省"]),
}
GROUP_NAMES = {"vip": "大额组", **{key: name for key, (name, _) in REGIONS.items()}}
GROUP_NAMES["general"] = "综合组"  # the default group
MEMBERS_PER_GROUP = 4
NOTES = ("已电话联系客户, 同意延后发货", "仓库缺货, 预计明天到货", "已催仓库加急", "客户要求改地址")
# What a successful reply starts with, per command.
EXPECTED = {"status": "订单 ", "note": "已为工单", "claim": "已认领工单"}
CALLBACK_TIMEOUT = aiohttp.ClientTimeout(total=5.0)  # WeCom gives up after 5 s
JSON = {"Content-Type": "application/json"}
REPLY_PATH = "/cgi-bin/aibot/response"
STDLIB = sysconfig.get_paths()["stdlib"]
PROJECT = str(Path(__file__).resolve().parent.parent)
# `orderbot ...` under cProfile, each thread timed by its own CPU (wall-clock timing would count
# the event loop's waits in epoll as cost); the threads that ended before the server did (the
# command workers, the drivers' threads) are added to the main thread's stats.
PROFILER = """
import cProfile, pstats, sys, threading, time
from bot.cli import main
path, sys.argv = sys.argv[1], ["orderbot", *sys.argv[2:]]
ended = []
run = threading.Thread.run
def profiled(thread):
    profile = cProfile.Profile(time.thread_time)
    try:
        profile.runcall(run, thread)
    finally:
        ended.append(profile)
threading.Thread.run = profiled
profile = cProfile.Profile(time.thread_time)
try:
    profile.runcall(main)
finally:
    pstats.Stats(profile, *ended).dump_stats(path)
"""


def members(group: str) -> list[str]:
    return [f"{group}{n}" for n in range(1, MEMBERS_PER_GROUP + 1)]


def bot_config(db: Path, port: int, sandbox: SandboxConfig, sandbox_port: int) -> dict[str, Any]:
    return {
        "database": {"url": f"sqlite+aiosqlite:///{db}"},
        "server": {"host": "127.0.0.1", "port": port},
        "watch": {"scan_interval": "1s"},
        "wecom": {
            "api_base": f"http://127.0.0.1:{sandbox_port}/cgi-bin/",
            "corp_id": sandbox.corp_id,
            "corp_secret": sandbox.corp_secret,
            "agent_id": sandbox.agent_id,
            "group_wait": "3s",
            "callback_token": sandbox.callback_token,
            "callback_aes_key": sandbox.encoding_aes_key,
        },
        "sla": [
            {"name": "待拣货", "stage": "paid", "limit": "2h"},
            {"name": "拣货超时", "stage": "picking", "limit": "4h"},
            {"name": "物流停滞", "stage": "shipped", "limit": "72h"},
        ],
        "routing": {
            "default_group": "general",
            "rules": [
                {"name": "大额订单", "group": "vip", "min_yuan": 5000},
                *(
                    {"name": name, "group": key, "provinces": provinces}
                    for key, (name, provinces) in REGIONS.items()
                ),
            ],
        },
        "groups": {
            key: {
                "name": name,
                "supervisor": f"boss-{key}",
                "members": members(key),
                "webhook_key": f"bench-{key}",
            }
            for key, name in GROUP_NAMES.items()
        },
        "sources": {"bench": {"token": TOKEN, "channels": list(PREFIX)}},
    }


def sandbox_config(bot_port: int) -> SandboxConfig:
    people = [p for key in GROUP_NAMES for p in (*members(key), f"boss-{key}")]
    bot = f"http://127.0.0.1:{bot_port}"
    return SandboxConfig(
        webhook_keys={f"bench-{key}": name for key, name in GROUP_NAMES.items()},
        users=tuple(people),
        callback_url=f"{bot}/wecom/app",
        aibot_callback_url=f"{bot}/wecom/aibot",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The pool


def pool_records(orders: int, overdue: int, rng: random.Random) -> dict[str, list[Any]]:
    """``orders`` native records over the four channels; every ``orders // overdue``-th has been
    waiting 2h05m-3h30m for picking (past the 2 h deadline, before the 4 h escalation), the rest
    are within their deadlines or have no SLA."""
    now = datetime.now(UTC)
    every = orders // overdue
    by_channel: dict[str, list[Any]] = {channel: [] for channel in PREFIX}
    for n in range(orders):
        channel = list(PREFIX)[n % len(PREFIX)]
        if n % every == 0 and n // every < overdue:
            stage, age = Stage.PAID, timedelta(minutes=rng.randint(125, 210))
        else:
            stage, age = rng.choice(
                [
                    (Stage.PAID, timedelta(minutes=rng.randint(1, 100))),
                    (Stage.SHIPPED, timedelta(hours=rng.randint(1, 48))),
                    (Stage.COMPLETED, timedelta(days=rng.randint(1, 20))),
                ]
            )
        record = sample_record(
            channel, rng, now, order_no=f"{PREFIX[channel]}{n:07d}", stage=stage, stage_age=age
        )
        by_channel[channel].append(record)
    return by_channel


async def ingest(http: aiohttp.ClientSession, base: str, records: dict[str, list[Any]]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for channel, items in records.items():
        for low in range(0, len(items), 1000):
            batch = {"orders": items[low : low + 1000]}
            async with http.post(
                f"{base}/api/v1/orders/{channel}", json=batch, headers=headers
            ) as response:
                if response.status != 200:
                    answer = (await response.text())[:500]
                    raise RuntimeError(f"ingest {channel}: HTTP {response.status} {answer}")


@contextlib.contextmanager
def read_only(db: Path) -> Iterator[sqlite3.Connection]:
    """A read-only look at the server's database (WAL: it does not block the server)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        yield connection
    finally:
        connection.close()


def scalar(db: Path, sql: str) -> int:
    with read_only(db) as connection:
        return int(connection.execute(sql).fetchone()[0])


async def wait_for(db: Path, sql: str, want: int, seconds: float) -> int:
    """Poll ``sql`` until it returns ``want``; returns what it last returned."""
    deadline = time.monotonic() + seconds
    while True:
        got = scalar(db, sql)
        if got == want or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.5)


@dataclass(frozen=True)
class Ticket:
    id: int
    group: str
    order_no: str


def load_tickets(db: Path) -> list[Ticket]:
    with read_only(db) as connection:
        rows = connection.execute(
            "SELECT t.id, t.group_key, o.channel_order_id FROM tickets t "
            "JOIN orders o ON o.id = t.order_id ORDER BY t.id"
        ).fetchall()
    return [Ticket(*row) for row in rows]


def timeline_counts(db: Path) -> dict[str, int]:
    """Timeline rows the commands leave, by command: note -> noted, claim -> claimed."""
    with read_only(db) as connection:
        rows = dict(
            connection.execute("SELECT kind, count(*) FROM ticket_events GROUP BY kind").fetchall()
        )
    return {"note": rows.get("noted", 0), "claim": rows.get("claimed", 0)}


# Commands


@dataclass(frozen=True)
class Command:
    kind: str  # status | note | claim
    text: str
    user: str
    group: str


@dataclass(frozen=True)
class Prepared:
    """A callback ready to post: the signed URL, the encrypted body, and the response_code that
    identifies its reply."""

    kind: str
    url: URL
    body: bytes
    code: str


def plan(
    count: int, tickets: list[Ticket], unclaimed: list[Ticket], rng: random.Random
) -> list[Command]:
    """The step's commands: 70% status, 20% note, 10% claim (a note once all are claimed)."""
    commands = []
    for _ in range(count):
        draw = rng.random()
        if draw < 0.1 and unclaimed:
            ticket = unclaimed.pop()
            kind, text = "claim", f"认领 {ticket.id}"
        elif draw < 0.3:
            ticket = rng.choice(tickets)
            kind, text = "note", f"备注 {ticket.id} {rng.choice(NOTES)}"
        else:
            ticket = rng.choice(tickets)
            kind, text = "status", f"状态 {ticket.order_no}"
        user = rng.choice(members(ticket.group))
        commands.append(Command(kind, text, user, ticket.group))
    return commands


def seal(
    sandbox: SandboxConfig,
    crypto: WeChatCrypto,
    bot_url: URL,
    sandbox_url: str,
    command: Command,
    msgid: str,
) -> Prepared:
    """The callback WeCom would post for ``command`` (as ``send_aibot_callback`` builds it),
    encrypted now so that the timed step only sends."""
    now = time.time()
    chat_id = robot_chat_id(f"bench-{command.group}")
    target = response_codes.ResponseTarget("group", chat_id, command.user, now)
    code = response_codes.issue(sandbox, target)
    message = {
        "msgid": msgid,
        "aibotid": sandbox.aibot_id,
        "chatid": chat_id,
        "chattype": "group",
        "from": {"userid": command.user},
        "response_url": f"{sandbox_url}{REPLY_PATH}?response_code={code}",
        "msgtype": "text",
        "text": {"content": f"@{sandbox.aibot_name} {command.text}"},
    }
    nonce, timestamp = str(secrets.randbelow(10**10)), str(int(now))
    sealed = crypto.encrypt_message(orjson.dumps(message).decode(), nonce, timestamp)
    envelope = ElementTree.fromstring(sealed)
    query = {
        "msg_signature": envelope.findtext("MsgSignature", ""),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    body = orjson.dumps({"encrypt": envelope.findtext("Encrypt", "")})
    return Prepared(command.kind, bot_url.with_query(query), body, code)


# Measuring


class Replies:
    """Stamps each intelligent-robot reply as it reaches the sandbox, keyed by response_code."""

    def __init__(self) -> None:
        self.arrived: dict[str, tuple[float, bytes]] = {}

    @web.middleware
    async def stamp(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == REPLY_PATH:
            arrived = time.perf_counter()
            body = await request.read()  # aiohttp keeps it for the handler
            # The first arrival counts; a second use of the code is refused by the sandbox.
            self.arrived.setdefault(request.query.get("response_code", ""), (arrived, body))
        response: web.StreamResponse = await handler(request)
        return response


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU busy on the whole machine (user, nice, system, irq, softirq, steal) from /proc."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = [int(fields[i]) for i in (0, 1, 2, 5, 6, 7)]
    return sum(busy) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Outcome:
    """What one step measured, per command and over the step."""

    sent: list[float]  # when each post began (perf_counter)
    acked: list[float]  # seconds until the bot's answer, or the error
    statuses: list[int]  # HTTP status, -1 for a timeout or connection error
    lag: list[float]  # seconds each post began after its planned time
    answered_in: float  # seconds from the first planned send to the last reply
    cpu: tuple[float, float, float]  # cores used by the server, this process, anything else
    cpu_ms: float  # the server's CPU (all its threads) a command, in ms


async def run_step(
    http: aiohttp.ClientSession,
    prepared: list[Prepared],
    rate: int,
    replies: Replies,
    server_pid: int,
) -> Outcome:
    """Send ``prepared`` at ``rate`` per second, open loop, and wait for the replies."""
    count = len(prepared)
    sent, acked, statuses = [0.0] * count, [math.nan] * count, [0] * count

    async def post(i: int) -> None:
        started = sent[i] = time.perf_counter()
        try:
            async with http.post(prepared[i].url, data=prepared[i].body, headers=JSON) as reply:
                await reply.read()
                statuses[i] = reply.status
        except (aiohttp.ClientError, TimeoutError):
            statuses[i] = -1
        acked[i] = time.perf_counter() - started

    cpu_before = cpu_seconds(server_pid), time.process_time(), machine_cpu_seconds()
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(i)))
    await asyncio.gather(*tasks)
    # A command runs even when its acknowledgement came too late, so wait for every reply;
    # stop when all came or none for 5 s.
    seen, quiet_since = -1, time.perf_counter()
    while (got := sum(p.code in replies.arrived for p in prepared)) < count:
        if got != seen:
            seen, quiet_since = got, time.perf_counter()
        elif time.perf_counter() - quiet_since > 5:
            break
        await asyncio.sleep(0.05)
    server, client, machine = (
        after - before
        for after, before in zip(
            (cpu_seconds(server_pid), time.process_time(), machine_cpu_seconds()),
            cpu_before,
            strict=True,
        )
    )
    measured = time.perf_counter() - start
    arrivals = [replies.arrived[p.code][0] for p in prepared if p.code in replies.arrived]
    last = max([*arrivals, *(s + a for s, a in zip(sent, acked, strict=True))])
    return Outcome(
        sent=sent,
        acked=acked,
        statuses=statuses,
        lag=[sent[i] - (start + i / rate) for i in range(count)],
        answered_in=last - start,
        cpu=(server / measured, client / measured, max(0.0, machine - server - client) / measured),
        cpu_ms=server / count * 1000,
    )


@dataclass
class Step:
    target: int
    sent_rate: float
    held_rate: float
    ack_ms: tuple[float, float, float]  # p50, p99, max
    reply_ms: tuple[float, float]  # p50, p99
    lag_p99_ms: float
    failed: int  # non-200s, timeouts, connection errors
    lost: int  # acknowledged, but no reply reached WeCom
    refusals: int  # replies that are not the command's expected answer
    effect: dict[str, tuple[int, int]]  # kind -> (rows found, commands sent); -1: not looked
    cpu: tuple[float, float, float]  # server, client, other
    cpu_ms: float  # the server's CPU a command


def summarise(
    target: int,
    prepared: list[Prepared],
    outcome: Outcome,
    replies: Replies,
    effect: dict[str, tuple[int, int]],
) -> Step:
    ok = [i for i, status in enumerate(outcome.statuses) if status == 200]
    ack = [outcome.acked[i] * 1000 for i in ok]
    reply_ms, refusals = [], 0
    for i, item in enumerate(prepared):
        if item.code not in replies.arrived:
            continue
        arrived, body = replies.arrived[item.code]
        reply_ms.append((arrived - outcome.sent[i]) * 1000)
        content = orjson.loads(body).get("markdown", {}).get("content", "")
        refusals += not content.startswith(EXPECTED[item.kind])
    return Step(
        target=target,
        sent_rate=(len(prepared) - 1) / (max(outcome.sent) - min(outcome.sent)),
        held_rate=len(reply_ms) / outcome.answered_in,
        ack_ms=(percentile(ack, 0.5), percentile(ack, 0.99), max(ack, default=math.nan)),
        reply_ms=(percentile(reply_ms, 0.5), percentile(reply_ms, 0.99)),
        lag_p99_ms=percentile(outcome.lag, 0.99) * 1000,
        failed=len(prepared) - len(ok),
        lost=sum(prepared[i].code not in replies.arrived for i in ok),
        refusals=refusals,
        effect=effect,
        cpu=outcome.cpu,
        cpu_ms=outcome.cpu_ms,
    )


HEADER = (
    f"{'target/s':>8} {'sent/s':>6} {'held/s':>6} │ {'ack p50':>7} {'p99':>7} {'max':>7} │ "
    f"{'reply p50':>9} {'p99':>7} │ {'failed':>6} {'lost':>4} {'refused':>7} │ "
    f"{'noted':>9} {'claimed':>7} │ {'CPU: server':>11} {'client':>6} {'other':>5} │ "
    f"{'server CPU/cmd':>14} │ {'lag p99':>7}"
)


def row(step: Step) -> str:
    noted, claimed = (
        f"{found}/{sent}" if found >= 0 else "-" for found, sent in step.effect.values()
    )
    server, client, other = step.cpu
    return (
        f"{step.target:>8} {step.sent_rate:>6.1f} {step.held_rate:>6.1f} │ "
        f"{step.ack_ms[0]:>5.1f}ms {step.ack_ms[1]:>5.1f}ms {step.ack_ms[2]:>5.0f}ms │ "
        f"{step.reply_ms[0]:>7.1f}ms {step.reply_ms[1]:>5.0f}ms │ "
        f"{step.failed:>6} {step.lost:>4} {step.refusals:>7} │ "
        f"{noted:>9} {claimed:>7} │ {server:>11.0%} {client:>6.0%} {other:>5.0%} │ "
        f"{step.cpu_ms:>12.2f}ms │ {step.lag_p99_ms:>5.1f}ms"
    )


def verdict(steps: list[Step], rate: int = 200, limit_ms: float = 50.0) -> str:
    """Whether the goal holds at ``rate`` commands/s (all sent at that rate, every callback
    acknowledged and answered), judged twice: on the callback's latency, which is what WeCom
    waits for, and on the reply's, which is what the person waits for (it holds only while
    the replies keep up: a server that acknowledges at once but answers slower than commands
    arrive has a backlog that only grows)."""
    step = next((s for s in steps if s.target == rate), None)
    if step is None:
        return f"goal (p99 under {limit_ms:.0f} ms at {rate} commands/s): not measured"
    complete = step.sent_rate >= 0.95 * rate and step.failed == step.lost == 0
    kept_up = step.held_rate >= 0.95 * rate
    judged = [
        ("callback", step.ack_ms[1], complete),
        ("reply", step.reply_ms[1], complete and kept_up),
    ]
    lines = [
        f"goal (p99 {what} latency under {limit_ms:.0f} ms at {rate} commands/s): "
        f"{'HOLDS' if ok and p99 < limit_ms else 'DOES NOT HOLD'}, p99 {p99:.1f} ms"
        for what, p99, ok in judged
    ]
    lines.append(
        f"  at {rate}/s: {step.sent_rate:.0f} sent/s, {step.held_rate:.0f} answered/s, "
        f"{step.failed} failed, {step.lost} lost"
    )
    return "\n".join(lines)


def reference_verdict(steps: list[Step], ruler: list[Step], rate: int = 200) -> str:
    """orderbot's figures at ``rate`` beside the reference's from the same run."""
    ours = next((s for s in steps if s.target == rate), None)
    theirs = next((s for s in ruler if s.target == rate), None)
    if ours is None or theirs is None:
        return f"reference at {rate}/s: not measured"
    return (
        f"at {rate}/s, orderbot beside the reference (HTTP side alone): answered "
        f"{ours.held_rate:.0f}/s vs {theirs.held_rate:.0f}/s, reply p99 {ours.reply_ms[1]:.1f} "
        f"vs {theirs.reply_ms[1]:.1f} ms, server CPU a command {ours.cpu_ms:.2f} vs "
        f"{theirs.cpu_ms:.2f} ms"
    )


# The service


@contextlib.asynccontextmanager
async def sandbox_site(app: web.Application) -> AsyncIterator[int]:
    """The sandbox on a free port of this process's loop; yields the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serve(config: Path, port: int, log: Path, profile: Path | None) -> AsyncIterator[int]:
    """``orderbot serve -c config`` (after ``db upgrade``); yields its pid once it listens.
    Stopped with SIGINT as Ctrl-C would (so that a profile gets written), killed if it does not
    stop within 15 s."""
    orderbot = str(Path(sys.executable).with_name("orderbot"))
    upgrade = await asyncio.create_subprocess_exec(
        orderbot, "db", "upgrade", "-c", str(config), stdout=PIPE, stderr=STDOUT
    )
    output, _ = await upgrade.communicate()
    if upgrade.returncode != 0:
        raise RuntimeError(f"db upgrade failed:\n{output.decode()}")
    command = [orderbot, "serve", "-c", str(config)]
    if profile is not None:
        command = [sys.executable, "-c", PROFILER, str(profile), *command[1:]]
    with log.open("wb") as sink:
        # Its own session: a Ctrl-C in the terminal reaches only us, and we stop it in order.
        process = await asyncio.create_subprocess_exec(
            *command, stdout=sink, stderr=STDOUT, start_new_session=True
        )
    try:
        await _listening(process, port, log)
        yield process.pid
    finally:
        await _stop(process)


@contextlib.asynccontextmanager
async def reference(config: Path, port: int, log: Path) -> AsyncIterator[int]:
    """``python -m bench.callback_reference`` on ``port``; yields its pid once it listens."""
    command = [sys.executable, "-m", "bench.callback_reference", "-c", str(config)]
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            *command, "--port", str(port), stdout=sink, stderr=STDOUT, start_new_session=True
        )
    try:
        await _listening(process, port, log)
        yield process.pid
    finally:
        await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGINT as Ctrl-C would (so that a profile gets written); killed after 15 s."""
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _listening(process: asyncio.subprocess.Process, port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while process.returncode is None:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not listen within 30 s") from None
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    text = await asyncio.to_thread(log.read_text)
    raise RuntimeError(f"serve exited with {process.returncode}:\n{text}")


def print_profile(path: Path) -> None:
    """The server's CPU (all its threads) over the whole run, by package, then its costliest
    functions. Cumulative times are left out: cProfile counts each resumption of a coroutine as
    a call and nests them, so they add up to nonsense."""
    stats = pstats.Stats(str(path), stream=sys.stdout)
    by_package: Counter[str] = Counter()
    for (file, _, function), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        by_package[_package(file, function)] += own
    total = sum(by_package.values())
    print(f"\nserver CPU ({path}, {total:.1f} s with setup), by package:")
    for package, seconds in by_package.most_common(15):
        print(f"{seconds:8.2f} s {seconds / total:6.1%}  {package}")
    stats.sort_stats("tottime").print_stats(25)


def _package(file: str, function: str) -> str:
    if file == "~":  # a builtin: "<method 'poll' of 'select.epoll' objects>"
        return function
    if "/site-packages/" in file:
        return file.split("/site-packages/")[1].split("/")[0]
    if file.startswith(STDLIB):
        return "stdlib " + file[len(STDLIB) :].strip("/").split("/")[0].removesuffix(".py")
    if file.startswith(PROJECT):
        return "orderbot " + file[len(PROJECT) :].strip("/").split("/")[0]
    return file


async def measure(
    args: argparse.Namespace,
    http: aiohttp.ClientSession,
    db: Path,
    server_pid: int,
    bot_port: int,
    sandbox: SandboxConfig,
    sandbox_port: int,
    replies: Replies,
) -> tuple[list[Step], list[Ticket]]:
    """Fill the pool, wait for the watch's tickets and their alerts, then run the steps."""
    rng = random.Random(args.seed)
    records = pool_records(args.orders, args.tickets, rng)
    started = time.perf_counter()
    await ingest(http, f"http://127.0.0.1:{bot_port}", records)
    print(f"ingested {args.orders:,} orders over HTTP in {time.perf_counter() - started:.1f} s")
    opened = await wait_for(db, "SELECT count(*) FROM tickets", args.tickets, 120)
    print(f"the watch opened {opened:,} tickets after {time.perf_counter() - started:.1f} s")
    pending = "SELECT count(*) FROM outbox WHERE status = 'pending'"
    left = await wait_for(db, pending, 0, 60)
    print(f"alerts delivered after {time.perf_counter() - started:.1f} s ({left} still pending)")
    idle_before, idle_started = cpu_seconds(server_pid), time.perf_counter()
    await asyncio.sleep(3)
    idle = (cpu_seconds(server_pid) - idle_before) / (time.perf_counter() - idle_started)
    print(f"server CPU while idle (its watch and outbox timers): {idle:.0%} of a core")
    tickets = load_tickets(db)
    if not tickets:
        raise RuntimeError("the watch opened no tickets; nothing to send commands about")
    unclaimed = rng.sample(tickets, len(tickets))
    crypto = WeChatCrypto(sandbox.callback_token, sandbox.encoding_aes_key, "")
    bot_url = URL(f"http://127.0.0.1:{bot_port}/wecom/aibot")
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    print(f"\n{HEADER}")
    steps = []
    for n, rate in enumerate(args.rates):
        commands = plan(round(rate * args.seconds), tickets, unclaimed, rng)
        prepared = [
            seal(sandbox, crypto, bot_url, sandbox_url, command, f"bench-{n}-{i}")
            for i, command in enumerate(commands)
        ]
        before = timeline_counts(db)
        outcome = await run_step(http, prepared, rate, replies, server_pid)
        after = timeline_counts(db)
        effect = {
            kind: (after[kind] - before[kind], sum(c.kind == kind for c in commands))
            for kind in ("note", "claim")
        }
        steps.append(summarise(rate, prepared, outcome, replies, effect))
        print(row(steps[-1]), flush=True)
        await asyncio.sleep(1)
    return steps, tickets


async def reference_steps(
    args: argparse.Namespace,
    http: aiohttp.ClientSession,
    pid: int,
    port: int,
    sandbox: SandboxConfig,
    sandbox_port: int,
    replies: Replies,
    tickets: list[Ticket],
) -> list[Step]:
    """The same steps against bench.callback_reference: callbacks as WeCom sends them about
    the same tickets, answered without the database."""
    rng = random.Random(args.seed + 1)
    unclaimed = rng.sample(tickets, len(tickets))
    crypto = WeChatCrypto(sandbox.callback_token, sandbox.encoding_aes_key, "")
    url = URL(f"http://127.0.0.1:{port}/wecom/aibot")
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    print(
        "\nreference: the same callbacks answered by bench.callback_reference "
        "(serve's HTTP side alone: checks, decryption, acknowledgement, reply; no database)"
    )
    print(HEADER)
    steps = []
    for n, rate in enumerate(args.rates):
        commands = plan(round(rate * args.seconds), tickets, unclaimed, rng)
        prepared = [
            seal(sandbox, crypto, url, sandbox_url, command, f"reference-{n}-{i}")
            for i, command in enumerate(commands)
        ]
        outcome = await run_step(http, prepared, rate, replies, pid)
        effect = {kind: (-1, sum(c.kind == kind for c in commands)) for kind in ("note", "claim")}
        steps.append(summarise(rate, prepared, outcome, replies, effect))
        print(row(steps[-1]), flush=True)
        await asyncio.sleep(1)
    return steps


def log_summary(log: Path) -> str:
    """Warnings and errors in the server's log, counted by logger, each with its first line."""
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(" ", 4)  # date time LEVEL logger message, as `serve` logs
        if len(parts) == 5 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
            kind = f"{parts[2]} {parts[3]}"
            counts[kind] += 1
            first.setdefault(kind, parts[4][:160])
    if not counts:
        return "server log: no warnings or errors"
    return "server log:" + "".join(
        f"\n  {n} {kind}, first: {first[kind]}" for kind, n in counts.most_common()
    )


def sandbox_summary(state: SandboxState) -> str:
    stats = state.stats.as_json()
    accepted = ", ".join(f"{n} {endpoint}" for endpoint, n in sorted(stats["accepted"].items()))
    refused = {endpoint: codes for endpoint, codes in stats["refused"].items() if codes}
    return f"WeCom sandbox accepted {accepted}; refused {refused or 'nothing'}"


async def main(args: argparse.Namespace) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    bot_port = free_port()
    sandbox = sandbox_config(bot_port)
    replies = Replies()
    sandbox_app = create_sandbox_app(sandbox)
    sandbox_app.middlewares.append(replies.stamp)
    with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp:
        db, config, log = Path(tmp) / "orderbot.db", Path(tmp) / "bot.toml", Path(tmp) / "serve.log"
        async with sandbox_site(sandbox_app) as sandbox_port:
            settings = bot_config(db, bot_port, sandbox, sandbox_port)
            config.write_text(tomli_w.dumps(settings), encoding="utf-8")
            async with (
                serve(config, bot_port, log, args.profile) as server_pid,
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=1000), timeout=CALLBACK_TIMEOUT
                ) as http,
            ):
                steps, tickets = await measure(
                    args, http, db, server_pid, bot_port, sandbox, sandbox_port, replies
                )
            ruler: list[Step] = []
            if args.reference:
                port, ruler_log = free_port(), Path(tmp) / "reference.log"
                async with (
                    reference(config, port, ruler_log) as pid,
                    aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(limit=1000), timeout=CALLBACK_TIMEOUT
                    ) as http,
                ):
                    ruler = await reference_steps(
                        args, http, pid, port, sandbox, sandbox_port, replies, tickets
                    )
        print(sandbox_summary(sandbox_app[SANDBOX_STATE]))
        print(log_summary(log))
        if args.reference:
            print(f"reference {log_summary(ruler_log)}")
    print(verdict(steps))
    print(reference_verdict(steps, ruler))
    if args.profile is not None:
        print_profile(args.profile)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--orders", type=int, default=10_000, help="orders in the pool")
    parser.add_argument("--tickets", type=int, default=1_000, help="of them overdue")
    parser.add_argument(
        "--rates", type=int, nargs="+", default=[50, 100, 200, 400], help="commands/s per step"
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each step")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-reference",
        dest="reference",
        action="store_false",
        help="skip the reference run (bench.callback_reference: the HTTP side alone)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="2,000 orders, 200 tickets, 50 and 200/s for 5 s"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the server under cProfile, write its stats here and print the top (slower)",
    )
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.orders, arguments.tickets = 2_000, 200
        arguments.rates, arguments.seconds = [50, 200], 5.0
    if not 0 < arguments.tickets <= arguments.orders:
        parser.error("--tickets must be between 1 and --orders")
    if min(arguments.rates) < 1 or arguments.seconds * min(arguments.rates) < 2:
        parser.error("each step needs a rate of at least 1/s and at least 2 commands")
    try:
        asyncio.run(main(arguments))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, or SIGTERM
        sys.exit("interrupted; the server and temporary files are cleaned up")
