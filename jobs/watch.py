"""The overdue watch: open tickets for missed deadlines and fire each escalation level once.

A tick reads only orders whose ``next_check_at`` has passed (an indexed range scan), so its
cost follows the work due, not the size of the pool. Rows are claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several instances split the work; the unique keys
on tickets and outbox rows are the backstop against duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.policy import Policy
from rules.render import AlertFacts, region_of, render_alert
from rules.sla import EscalationStep, Schedule
from storage.conflicts import insert_ignoring_duplicates
from storage.models import Order, Ticket
from storage.tickets import add_timeline, open_tickets_for, outbox_row, queue_messages


@dataclass
class WatchResult:
    checked: int = 0
    opened: int = 0
    escalated: int = 0


async def run(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, now: datetime
) -> WatchResult:
    """One tick: handle every order due by ``now``, a batch per transaction."""
    result = WatchResult()
    while True:
        async with sessions.begin() as session:
            due = list(
                await session.scalars(
                    select(Order)
                    .where(Order.next_check_at <= now)
                    .order_by(Order.next_check_at)
                    .limit(policy.config.watch.batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            if not due:
                return result
            await _handle_batch(session, policy, due, now, result)
        result.checked += len(due)


async def _handle_batch(
    session: AsyncSession, policy: Policy, orders: list[Order], now: datetime, result: WatchResult
) -> None:
    tickets = {
        t.order_id: t
        for t in await open_tickets_for(session, (o.id for o in orders))
        if t.stage == _order_of(orders, t.order_id).stage
    }
    plans: dict[int, Schedule] = {}
    to_open: list[Order] = []
    for order in orders:
        rule = policy.sla_for(order_type=order.order_type, stage=order.stage, channel=order.channel)
        if rule is None:  # the config changed since the order entered this stage
            order.next_check_at = None
            continue
        plans[order.id] = policy.schedule(rule, order.stage_entered_at)
        if order.id not in tickets:
            to_open.append(order)
    tickets.update(await _open_tickets(session, policy, to_open, plans, now))
    result.opened += len(to_open)

    messages: list[dict[str, Any]] = []
    for order in orders:
        plan, ticket = plans.get(order.id), tickets.get(order.id)
        if plan is None or ticket is None:
            continue
        rule = policy.sla_for(order_type=order.order_type, stage=order.stage, channel=order.channel)
        fired = [s for s in plan.steps if s.level > ticket.level and s.at <= now]
        for step in fired:
            messages.append(_notification(policy, order, ticket, step, plan, now))
            add_timeline(
                session,
                ticket.id,
                "alerted" if step.level == 1 else "escalated",
                now,
                f"第{step.level}级 → {step.notify}",
            )
            result.escalated += step.level > 1
        if fired:
            ticket.level = fired[-1].level
        upcoming = plan.next_after(ticket.level)
        stop = rule is not None and rule.stop_escalation_on_claim and ticket.owner is not None
        order.next_check_at = None if upcoming is None or stop else upcoming.at
    await queue_messages(session, messages)


def _order_of(orders: list[Order], order_id: int) -> Order:
    return next(o for o in orders if o.id == order_id)


async def _open_tickets(
    session: AsyncSession,
    policy: Policy,
    orders: list[Order],
    plans: dict[int, Schedule],
    now: datetime,
) -> dict[int, Ticket]:
    """Insert one ticket per overdue stage entry; an existing one (another instance) is reused."""
    if not orders:
        return {}
    rows = []
    for order in orders:
        decision = policy.route(order)
        rule = policy.sla_for(order_type=order.order_type, stage=order.stage, channel=order.channel)
        rows.append(
            {
                "order_id": order.id,
                "stage": order.stage,
                "stage_entered_at": order.stage_entered_at,
                "status": "open",
                "group_key": decision.group,
                "route_rule": decision.rule,
                "route_reason": decision.reason,
                "sla_rule": rule.name if rule else "",
                "deadline_at": plans[order.id].deadline,
                "opened_at": now,
                "level": 0,
            }
        )
    await session.execute(insert_ignoring_duplicates(session, Ticket), rows)
    opened = await session.scalars(
        select(Ticket).where(Ticket.order_id.in_([o.id for o in orders]), Ticket.status == "open")
    )
    by_order = {}
    for ticket in opened:
        by_order[ticket.order_id] = ticket
        add_timeline(
            session,
            ticket.id,
            "opened",
            now,
            f"超时开单, 分派 {ticket.group_key}: {ticket.route_reason}",
        )
    return by_order


def _notification(
    policy: Policy,
    order: Order,
    ticket: Ticket,
    step: EscalationStep,
    plan: Schedule,
    now: datetime,
) -> dict[str, Any]:
    group = policy.group(ticket.group_key)
    to_supervisor = step.notify == "supervisor" and group.supervisor is not None
    following = plan.next_after(step.level)
    facts = AlertFacts(
        ticket_id=ticket.id,
        order_no=order.channel_order_id,
        channel=order.channel,
        stage=order.stage,
        amount_fen=order.amount_fen,
        region=region_of(order.province, order.city, order.district),
        group_name=group.name,
        route_reason=ticket.route_reason,
        entered_at=order.stage_entered_at,
        deadline_at=ticket.deadline_at,
        level=step.level,
        owner=ticket.owner,
        next_escalation_at=following.at if following else None,
    )
    return outbox_row(
        dedup_key=f"ticket:{ticket.id}:level:{step.level}",
        ticket_id=ticket.id,
        kind="alert" if step.level == 1 else "escalation",
        target_kind="user" if to_supervisor else "group",
        target=group.supervisor if to_supervisor and group.supervisor else ticket.group_key,
        text=render_alert(facts, now, ZoneInfo(policy.config.watch.timezone)),
        payload={
            "ticket_id": ticket.id,
            "order_no": order.channel_order_id,
            "channel": order.channel,
            "stage": order.stage,
            "level": step.level,
            "group": ticket.group_key,
        },
        now=now,
    )
