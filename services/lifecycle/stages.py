"""Stage entries: new orders entering their first stage, known ones moving on as records and
stage events report, the deadline and first check of each entry, the SLA met counts of the
entries left in time, and the tickets that close because their order moved.

Bulk statements per batch (ingest is benchmarked): the first-stage events of a batch of new
orders are one executemany with the moves, never a statement per order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import CLOSING_ON_MOVE
from rules.stages import Stage, accepts_transition, refusal
from services.policy import Policy
from storage.events import EventRow, insert_events
from storage.orders import OrderRow, insert_orders, update_orders
from storage.reports import MetKey, count_met
from storage.tickets import close_by_themselves, open_tickets_for


@dataclass(slots=True)
class Sighting:
    """A known order a record reports again: its row with the record's facts merged in, the
    stage the record reports, and what changed besides."""

    order: OrderRow
    stage: str
    entered_at: datetime
    facts_changed: bool
    ship_by_moved: bool  # the platform moved its ship-by: the deadline may move with it


@dataclass(slots=True)
class Recorded:
    """What a batch of records did: the orders inserted and updated (with their ids) and how
    many tickets closed because their order moved."""

    new: list[OrderRow]
    changed: list[OrderRow]
    resolved: int


@dataclass(frozen=True, slots=True)
class StageReport:
    """A stage event about a known order, from a WMS, TMS or other source."""

    order: OrderRow
    event_id: str
    stage: Stage
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class EventOutcome:
    applied: bool
    refusal: str | None = None  # why a valid event moves nothing (past that stage, ended)
    came_from: tuple[Stage, datetime] | None = None  # the stage the order was in, and since


async def record_orders(
    session: AsyncSession,
    policy: Policy,
    channel: str,
    new: list[OrderRow],
    seen: list[Sighting],
    now: datetime,
    held: list[OrderRow] | None = None,
) -> Recorded:
    """Store a batch of one channel's records: ``new`` orders enter their first stage (an
    event of the channel), ``seen`` ones move on when their stage does. In a backfill (``held``
    is a list) orders already past their deadline are not watched but collected in ``held``."""
    for order in new:
        _enter_stage(policy, order, order["stage"], order["stage_entered_at"])
        _hold_back(order, now, held)
    changed: list[OrderRow] = []
    moved: list[OrderRow] = []
    met: Counter[MetKey] = Counter()
    for sighting in seen:
        order, is_changed = sighting.order, sighting.facts_changed
        if accepts_transition(Stage(order["stage"]), Stage(sighting.stage)):
            met.update(_met(policy, order, sighting.entered_at))
            _enter_stage(policy, order, sighting.stage, sighting.entered_at)
            _hold_back(order, now, held)
            moved.append(order)
            is_changed = True
        elif sighting.ship_by_moved:
            _enter_stage(policy, order, order["stage"], order["stage_entered_at"])
            _hold_back(order, now, held)
        else:
            _follow_stage(order)
        if is_changed:
            order["updated_at"] = now
            changed.append(order)
    await insert_orders(session, new)
    await update_orders(session, changed)
    await insert_events(session, [_stage_event(channel, o, now) for o in (*new, *moved)])
    await count_met(session, met)
    resolved = await _close_moved(session, moved, now)
    return Recorded(new, changed, resolved)


async def apply_stage_events(
    session: AsyncSession, policy: Policy, source: str, reports: list[StageReport], now: datetime
) -> tuple[list[EventOutcome], int]:
    """Apply stage events in the order given (several may be about one order), keeping each
    as an event whether it moved the order or not; returns each one's outcome and how many
    tickets closed because their order moved."""
    outcomes: list[EventOutcome] = []
    moved: dict[int, OrderRow] = {}
    events: list[EventRow] = []
    met: Counter[MetKey] = Counter()
    for report in reports:
        order = report.order
        current, since = Stage(order["stage"]), order["stage_entered_at"]
        applied = accepts_transition(current, report.stage)
        if applied:
            met.update(_met(policy, order, report.occurred_at))
            _enter_stage(policy, order, report.stage.value, report.occurred_at)
            order["updated_at"] = now
            moved[order["id"]] = order
        why = None if applied else refusal(current, report.stage)
        outcomes.append(EventOutcome(applied, why, (current, since)))
        events.append(
            {
                "order_id": order["id"],
                "source": source,
                "event_id": report.event_id,
                "stage": report.stage.value,
                "occurred_at": report.occurred_at,
                "received_at": now,
                "applied": applied,
            }
        )
    await update_orders(session, list(moved.values()))
    await insert_events(session, events)
    await count_met(session, met)
    return outcomes, await _close_moved(session, list(moved.values()), now)


async def _close_moved(session: AsyncSession, moved: list[OrderRow], now: datetime) -> int:
    """Close the open tickets that the order's next stage settles (an overdue one, a stall),
    each at the moment the order moved, and queue a notice for each group."""
    by_id = {order["id"]: order for order in moved}
    tickets = await open_tickets_for(session, by_id, CLOSING_ON_MOVE)
    closures = []
    for ticket in tickets:
        order = by_id[ticket["order_id"]]
        why = f"订单进入「{Stage(order['stage']).label}」"
        closures.append((ticket, order["stage_entered_at"], why))
    await close_by_themselves(session, closures, now)
    return len(tickets)


def _met(policy: Policy, order: OrderRow, left_at: datetime) -> list[MetKey]:
    """The report key of the stage entry the order leaves at ``left_at``, if that is within its
    deadline (the entries that missed are the tickets)."""
    deadline = order["deadline_at"]
    if deadline is None or left_at > deadline:
        return []
    day = deadline.astimezone(policy.timezone).date().isoformat()
    group = policy.route(SimpleNamespace(**order)).group
    return [(day, order["stage"], order["channel"], order["province"] or "", group)]


def _enter_stage(policy: Policy, order: OrderRow, stage: str, entered_at: datetime) -> None:
    order["stage"], order["stage_entered_at"] = stage, entered_at
    order["deadline_at"], order["next_check_at"] = policy.first_check(
        order_type=order["order_type"],
        stage=stage,
        channel=order["channel"],
        entered_at=entered_at,
        ship_by=order["ship_by_at"],
    )
    _follow_stage(order)


def _follow_stage(order: OrderRow) -> None:
    """What the stage says about the order's other facts: it left when it entered ``shipped``
    (unless the platform said when), and a hold reason holds only while it is on hold."""
    if order["stage"] == Stage.SHIPPED and order["shipped_at"] is None:
        order["shipped_at"] = order["stage_entered_at"]
    if order["stage"] != Stage.ON_HOLD:
        order["hold_reason"] = None


def _hold_back(order: OrderRow, now: datetime, held: list[OrderRow] | None) -> None:
    """In a backfill (``held`` is a list), an order already past its deadline is recorded but
    not watched: no ticket, no alert; it is collected for the import's one summary."""
    if held is not None and order["deadline_at"] is not None and order["deadline_at"] <= now:
        order["next_check_at"] = None
        held.append(order)


def _stage_event(source: str, order: OrderRow, now: datetime) -> EventRow:
    """A stage an order record reported (its first, or a move), kept as an event for the
    order's history; migration 0010 wrote the same for the orders stored before it."""
    entered = order["stage_entered_at"]
    return {
        "order_id": order["id"],
        "source": source,
        "event_id": f"{order['channel_order_id']}:{order['stage']}:{int(entered.timestamp())}",
        "stage": order["stage"],
        "occurred_at": entered,
        "received_at": now,
        "applied": True,
    }
