"""What new rules do to the work under way: the preview of a draft (new deadlines, tickets that
would route elsewhere, orders overdue at once) and the rescheduling of open orders when rules
change (a publish, a promotion starting or ending)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import Kind
from rules.logistics import Logistics
from rules.routing import PAUSED_RULE, TicketFacts
from rules.sla import Schedule
from services.policy import Policy
from storage.orders import DueOrder
from storage.rule_effects import open_tickets, orders_in_stages, set_schedules

PAGE = 2000  # orders or tickets read at a time
SHOWN = 50  # tickets listed by the preview (all are counted)


@dataclass(frozen=True, slots=True)
class Rerouted:
    ticket_id: int
    order_no: str
    from_group: str
    to_group: str
    rule: str  # the routing rule that would take it


@dataclass(frozen=True, slots=True)
class Moved:
    order_no: str
    old: datetime | None
    new: datetime | None


@dataclass
class Preview:
    """What a draft would change right now."""

    open_orders: int = 0  # in a stage with a deadline under either rules
    new_deadlines: int = 0
    overdue_at_once: int = 0
    open_tickets: int = 0
    rerouted_count: int = 0
    rerouted: list[Rerouted] = field(default_factory=list)  # the first SHOWN
    moved: list[Moved] = field(default_factory=list)  # the first SHOWN new deadlines


def _plan(policy: Policy, order: DueOrder) -> Schedule | None:
    rule = policy.sla_for(order_type=order.order_type, stage=order.stage, channel=order.channel)
    return None if rule is None else policy.schedule(rule, order.stage_entered_at, order.ship_by_at)


def _stages(*policies: Policy) -> set[str]:
    return {str(rule.stage) for policy in policies for rule in policy.config.sla}


async def _walk_orders(
    session: AsyncSession, old: Policy, new: Policy, now: datetime, write: bool, preview: Preview
) -> None:
    """Each order in a stage with a deadline under ``old`` or ``new``: counted, and when its
    schedule differs, rescheduled from its stage entry (``write``)."""
    after = 0
    stages = _stages(old, new)
    while page := await orders_in_stages(session, stages, after, PAGE):
        after = page[-1].order.id
        changes: list[tuple[int, datetime | None, datetime | None]] = []
        for order, deadline_at, _ in page:
            before, plan = _plan(old, order), _plan(new, order)
            preview.open_orders += 1
            deadline = plan.deadline if plan else None
            if deadline != deadline_at:
                preview.new_deadlines += 1
                if len(preview.moved) < SHOWN:
                    preview.moved.append(Moved(order.channel_order_id, deadline_at, deadline))
                if deadline is not None and deadline <= now and not _past(deadline_at, now):
                    preview.overdue_at_once += 1
            if deadline != deadline_at or before != plan:
                # The watch takes it from the first step on: a step already past fires (once:
                # the ticket keeps its level), the next one is scheduled as usual.
                changes.append((order.id, deadline, plan.steps[0].at if plan else None))
        if write:
            await set_schedules(session, changes)


def _past(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment <= now


async def _walk_tickets(session: AsyncSession, new: Policy, preview: Preview) -> None:
    after = 0
    while page := await open_tickets(session, after, PAGE):
        after = page[-1].id
        for ticket in page:
            preview.open_tickets += 1
            if ticket.route_rule == PAUSED_RULE:  # in triage while routing was paused
                continue
            state = Logistics(ticket.parcel_state) if ticket.parcel_state else None
            facts = TicketFacts(Kind(ticket.kind), state, ticket.carrier)
            decision = new.route(ticket.order, facts=facts)
            if decision.group != ticket.group_key:
                preview.rerouted_count += 1
                if len(preview.rerouted) < SHOWN:
                    preview.rerouted.append(
                        Rerouted(
                            ticket.id,
                            ticket.order.channel_order_id,
                            ticket.group_key,
                            decision.group,
                            decision.rule,
                        )
                    )


async def preview(session: AsyncSession, old: Policy, new: Policy, now: datetime) -> Preview:
    """What replacing ``old`` by ``new`` at ``now`` would change; nothing is written."""
    result = Preview()
    await _walk_orders(session, old, new, now, False, result)
    await _walk_tickets(session, new, result)
    return result


async def reschedule(session: AsyncSession, old: Policy, new: Policy, now: datetime) -> Preview:
    """Recompute the deadline and next check of every open order whose schedule differs
    under ``new``, counted from its stage entry; returns the order counts. Tickets keep their
    group (a preview lists those the new rules would route elsewhere)."""
    result = Preview()
    await _walk_orders(session, old, new, now, True, result)
    return result
