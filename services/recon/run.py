"""``orderbot recon run`` and the nightly job: one gateway's bill day matched against the order
pool (rules.recon.matching, in a thread), its differences stored so that a re-run updates them
(never twice), a difference gone closed with its ticket, each new one a payment ticket routed
to finance, and one digest per run queued for finance (services.recon.digest).

Several instances may run the same day at once (the nightly job fires on each): a run stores
its findings only if no other run stored the day since it read it (storage.recon.save_run),
else it is ``taken`` and stores nothing, queues no digest, and fails nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from operator import itemgetter
from typing import Any

import polars as pl
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rules.recon.matching import Day, Match, match_day
from rules.recon.reasons import reason
from rules.recon.routing import route_payment
from rules.routing import RouteDecision
from services.config import Config
from services.lifecycle.payment_tickets import (
    PaymentIssue,
    close_payment_tickets,
    open_payment_tickets,
    reopen_payment_tickets,
)
from services.policy import Policy
from services.recon.digest import queue_digest
from services.rulebook import policy_in_force
from storage import recon as db
from storage.db import begin_reading
from storage.migrate import migrated_sessions
from storage.models import ReconRun

GONE = "重新对账: 差异已消失, 自动关闭"
BACK = "重新对账: 差异再次出现, 重新打开"


@dataclass
class RunOutcome:
    """What a run found; ``new``/``closed``/``reopened`` count differences changed by it."""

    gateway: str
    bill_date: date
    status: str  # done | no_bill | taken (another run stored the day: nothing stored)
    looked_at: int = 0
    matched: int = 0
    pending: int = 0
    differences: int = 0
    at_stake_fen: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    new: int = 0
    closed: int = 0
    reopened: int = 0
    run_id: int | None = None
    runs: int = 0


@dataclass(frozen=True)
class DayInputs:
    day: Day
    payments: pl.DataFrame
    refunds: pl.DataFrame
    lines: pl.DataFrame
    previous_lines: pl.DataFrame
    deposits_due: pl.DataFrame
    bills: int


def bounds(policy: Policy, bill_date: date) -> tuple[datetime, datetime]:
    """The local day's first moment and the next day's, in UTC."""
    tz = policy.timezone
    start = datetime.combine(bill_date, time(), tz).astimezone(UTC)
    end = datetime.combine(bill_date + timedelta(days=1), time(), tz).astimezone(UTC)
    return start, end


def day_of(policy: Policy, gateway: str, bill_date: date) -> Day:
    recon = policy.config.recon
    start, end = bounds(policy, bill_date)
    return Day(
        bill_date,
        start,
        end,
        recon.carry_over,
        recon.fee_ppm(gateway),
        recon.fee_tolerance_fen * 1000,
    )


async def load_inputs(
    session: AsyncSession, policy: Policy, gateway: str, bill_date: date
) -> DayInputs:
    """What the day is matched with, read from one snapshot (storage.recon.one_snapshot: a
    large day on SQLite not the session's, so what the caller reads itself may be of another
    moment)."""
    size = await db.bill_size(session, gateway, bill_date)  # only decides how it is read
    async with db.one_snapshot(session, size):
        return await _read_inputs(session, policy, gateway, bill_date)


async def _read_inputs(
    session: AsyncSession, policy: Policy, gateway: str, bill_date: date
) -> DayInputs:
    day = day_of(policy, gateway, bill_date)
    window = policy.config.recon.balance_window
    lines = await db.bill_lines(session, gateway, bill_date)
    sides = {kind: await _side(session, gateway, day, lines, kind) for kind in _SIDES}
    before = await db.billed_before(
        session, gateway, bill_date, bill_date - window, {k: a for k, (_, a) in sides.items()}
    )
    payments, refunds = (
        sides[kind][0].with_columns(
            billed_before=pl.col(_SIDES[kind][1]).is_in(
                pl.Series(sorted(before[kind]), dtype=pl.String).implode()
            )
        )
        for kind in ("payment", "refund")
    )
    finals = payments.filter(pl.col("stage") == "final")["order_id"].unique().to_list()
    seen = await db.deposits_in_bills(session, gateway, finals, bill_date - window)
    payments = payments.with_columns(
        deposit_seen=pl.col("order_id").is_in(pl.Series(list(seen), dtype=pl.Int64).implode())
    )
    return DayInputs(
        day=day,
        payments=payments,
        refunds=refunds,
        lines=lines,
        previous_lines=await db.bill_lines(
            session, gateway, bill_date - timedelta(days=1), NUMBER_COLUMNS
        ),
        deposits_due=await db.deposits_between(
            session, gateway, day.start - window, day.end - window
        ),
        bills=await db.bill_days(session, gateway, bill_date),
    )


# What the previous day's bill is needed for: which numbers it had.
NUMBER_COLUMNS = ("kind", "merchant_order_no", "gateway_trade_no", "refund_no")

_SIDES = {  # kind → what is made in a window, its number
    "payment": (db.payments_between, "serial"),
    "refund": (db.refunds_between, "refund_no"),
}


async def _side(
    session: AsyncSession, gateway: str, day: Day, lines: pl.DataFrame, kind: str
) -> tuple[pl.DataFrame, list[str]]:
    """The payments (refunds) made in the day and the carry before it, and, serial (refund
    number) first, those the day's bill lists made at another time or at no known time; and
    the numbers of those whose ``billed_before`` matters (one the day's bill lacks, or one made
    outside the day), to be asked of the earlier bills: few, so they are looked up by the
    chunk."""
    between, key = _SIDES[kind]
    ours, theirs = db.LINE_NUMBERS[kind]
    made = await between(session, gateway, day.start - day.carry, day.end)
    billed = lines.filter(pl.col("kind") == kind)
    # Each second question (the other number) is asked only of what the first left over.
    unclaimed = _unlisted(_unlisted(billed, ours, made[key]), theirs, made[key])
    numbers = pl.concat([unclaimed[ours], unclaimed[theirs]]).drop_nulls().unique().sort()
    other = await db.numbered(session, kind, gateway, numbers.to_list())
    unbilled = _unlisted(_unlisted(made, key, billed[ours]), key, billed[theirs]).get_column(key)
    asked = pl.concat([unbilled, other[key]]).drop_nulls().unique().sort().to_list()
    return pl.concat([made, other]), asked


def _unlisted(frame: pl.DataFrame, column: str, numbers: pl.Series) -> pl.DataFrame:
    """The rows whose ``column`` is none of ``numbers`` (or null), in their order. An anti
    join: ``is_in`` builds a set of all the numbers each time (a day's million, even for the few
    rows the first question left over) and costs twice as much on a million rows."""
    listed = numbers.drop_nulls().to_frame(column)
    return frame.join(listed, on=column, how="anti", maintain_order="left")


def match(inputs: DayInputs) -> Match:
    """The matching itself (CPU: run it in a thread)."""
    return match_day(
        inputs.day,
        inputs.payments,
        inputs.refunds,
        inputs.lines,
        inputs.previous_lines,
        inputs.deposits_due,
    )


async def reconcile(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    gateway: str,
    bill_date: date,
    now: datetime,
    unless_run_since: datetime | None = None,
) -> tuple[RunOutcome, Match | None]:
    """Run the day: read, match, store. Without a bill for the day the run is recorded as
    ``no_bill`` and nothing is matched (every payment would look missing). A day another run
    stored meanwhile, or (``unless_run_since``: the nightly job's slot) ran since then, is
    ``taken``: nothing stored, no digest."""
    async with sessions() as session:
        await begin_reading(session)
        earlier = await db.run_of(session, gateway, bill_date)
        if earlier and unless_run_since and earlier.last_run_at >= unless_run_since:
            return RunOutcome(gateway, bill_date, "taken", run_id=earlier.id), None
        inputs = await load_inputs(session, policy, gateway, bill_date)
    outcome = RunOutcome(gateway, bill_date, "done" if inputs.bills else "no_bill")
    found = await asyncio.to_thread(match, inputs) if inputs.bills else None
    async with sessions.begin() as session:
        stored = await store(session, policy, outcome, found, now, earlier.runs if earlier else 0)
        if stored is None:
            outcome.status = "taken"
        else:
            await queue_digest(session, policy, outcome, stored, now)
    return outcome, found


def _counts(outcome: RunOutcome, found: Match | None) -> dict[str, Any]:
    if found is not None:
        status = found.rows["status"]
        outcome.looked_at = found.rows.height
        outcome.matched = int(status.is_in(["matched", "settled"]).sum())
        outcome.pending = int((status == "pending").sum())
        outcome.differences = found.differences.height
        outcome.at_stake_fen = int(found.differences["at_stake_fen"].sum())
        outcome.by_class = Counter(found.differences["cls"].to_list())
    return {
        "status": outcome.status,
        "payments": outcome.looked_at,
        "matched": outcome.matched,
        "pending": outcome.pending,
        "differences": outcome.differences,
        "at_stake_fen": outcome.at_stake_fen,
    }


async def store(
    session: AsyncSession,
    policy: Policy,
    outcome: RunOutcome,
    found: Match | None,
    now: datetime,
    runs_seen: int,
) -> pl.DataFrame | None:
    """The run row and the differences: new ones inserted with their tickets, known ones
    updated (opened again if they had gone), vanished ones closed with their tickets. A
    difference written off by finance stays written off. None, nothing stored, when the day
    no longer has the ``runs_seen`` runs it had when this run read it; else the day's open
    differences as stored now (storage.recon.DIGEST_SCHEMA), for the digest."""
    counts = _counts(outcome, found)
    run = await db.save_run(session, outcome.gateway, outcome.bill_date, counts, now, runs_seen)
    if run is None:
        return None
    outcome.run_id, outcome.runs = run.id, run.runs
    if found is None:
        return await db.open_differences(session, run.gateway, run.bill_date)
    known = {
        (d.cls, d.key): d for d in await db.day_differences(session, run.gateway, run.bill_date)
    }
    rows = _rows(policy, run, found.differences, now)
    olds = [known.get((r["cls"], r["key"])) for r in rows]
    fresh = [r for r, old in zip(rows, olds, strict=True) if old is None]
    ids = await db.add_differences(session, fresh)
    outcome.new = len(fresh)
    for row in fresh:
        row["id"] = ids[row["cls"], row["key"]]
    updates, back = [], []
    for row, old in zip(rows, olds, strict=True):
        if old is None:
            continue
        values = {k: row[k] for k in _UPDATED} | {"difference_id": old.id}
        if old.status == "closed":
            values |= {"status": "open", "closed_at": None}
            back.append(old)
        updates.append(values)
        # The row as stored now.
        row |= {"id": old.id, "ticket_id": old.ticket_id}
        row["status"] = "open" if old.status == "closed" else old.status
    seen = {old.id for old in olds if old is not None}
    gone = [d for d in known.values() if d.id not in seen and d.status == "open"]
    updates += [{"difference_id": d.id, "status": "closed", "closed_at": now} for d in gone]
    await db.update_differences(session, updates)
    outcome.closed, outcome.reopened = len(gone), len(back)
    await close_payment_tickets(session, [d.ticket_id for d in gone if d.ticket_id], GONE, now)
    await reopen_payment_tickets(session, [d.ticket_id for d in back if d.ticket_id], BACK, now)
    opened = [r for r in rows if r["status"] == "open"]
    opened.sort(key=itemgetter("id"))
    waiting = [r for r in opened if r["ticket_id"] is None]
    tickets = await _open_tickets(session, policy, run, waiting)
    for row in waiting:
        row["ticket_id"] = tickets.get(row["id"])
    return pl.DataFrame(
        {name: [r[name] for r in opened] for name in db.DIGEST_SCHEMA}, schema=db.DIGEST_SCHEMA
    )


_UPDATED = (
    "run_id", "stage", "order_id", "order_no", "shop", "channel", "serial", "expected_fen",
    "actual_fen", "fee_milli", "at_stake_fen", "reason",
)  # fmt: skip


def _rows(
    policy: Policy, run: ReconRun, differences: pl.DataFrame, now: datetime
) -> list[dict[str, Any]]:
    """The differences found as the run stores them, made column-wise."""
    order_no = pl.col("order_no")
    stored = differences.select(
        "cls",
        pl.col("key").str.slice(0, 160),
        "order_id",
        pl.when(order_no != "").then(order_no.str.slice(0, 64)).alias("order_no"),
        "shop",
        "channel",
        "serial",
        "stage",
        "expected_fen",
        "actual_fen",
        "fee_milli",
        "at_stake_fen",
        reason(run.gateway, policy.timezone).alias("reason"),
    )
    same = {
        "run_id": run.id,
        "gateway": run.gateway,
        "bill_date": run.bill_date,
        "status": "open",
        "ticket_id": None,
        "found_at": now,
        "closed_at": None,
    }
    return [row | same for row in stored.to_dicts()]


async def _open_tickets(
    session: AsyncSession, policy: Policy, run: ReconRun, waiting: list[dict[str, Any]]
) -> dict[int, int]:
    """A payment ticket for each of the day's open differences that has none yet
    (``waiting``, their rows as stored); each one's ticket by the difference's id."""
    recon = policy.config.recon
    finance = recon.group or policy.config.routing.default_group
    routes: dict[str | None, RouteDecision] = {}  # by shop: a day has thousands, a few shops
    for shop in {d["shop"] for d in waiting}:
        routes[shop] = route_payment(shop, run.gateway, recon.routes, finance)
    issues = [PaymentIssue(d["id"], d["order_id"], d["reason"], routes[d["shop"]]) for d in waiting]
    tickets = await open_payment_tickets(session, issues, run.last_run_at)
    await db.set_tickets(session, tickets)
    return tickets


async def reconcile_days(
    config: Config, bill_date: date, gateways: Sequence[str], now: datetime
) -> list[RunOutcome]:
    """``orderbot recon run``: each gateway's day, one after another."""
    async with migrated_sessions(config.database.url) as sessions:
        policy = await policy_in_force(sessions, config, now)  # the rules in force
        return [(await reconcile(sessions, policy, g, bill_date, now))[0] for g in gateways]
