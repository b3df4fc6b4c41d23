"""The watch's work on a batch of due orders: open (and route) the tickets of stage entries
past their deadline, fire each escalation level once, repeat reminders, and schedule each
order's next check. The caller (jobs.watch) claims the batch and owns its transaction.

Bulk statements per batch (the tick is benchmarked): one insert of the new tickets, one
update per kind of change, one insert of timeline and outbox rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import Kind, order_subject, stage_episode
from rules.sla import EscalationStep, Schedule
from services.config import SlaRule
from services.policy import Policy
from storage.orders import DueOrder, set_next_checks
from storage.outbox import OutboxRow, queue_messages
from storage.tickets import (
    TicketRow,
    TimelineRow,
    add_timeline,
    insert_tickets,
    open_tickets_for,
    outbox_row,
    set_levels,
    set_reminded,
    timeline_row,
)

OVERDUE = (Kind.OVERDUE.value,)


@dataclass
class BatchCounts:
    opened: int = 0
    escalated: int = 0
    reminded: int = 0


class _Entry:
    """A stage entry's schedule as this batch uses it. Orders entering a stage in the same
    second under one rule share one (platforms' times are whole seconds), so what follows from
    it (its episode, the level it opens at, what fires above a level) is worked out once for
    all of them rather than once per order."""

    __slots__ = ("_after", "episode", "opening_level", "plan", "rule")

    def __init__(
        self, rule: SlaRule, plan: Schedule, stage: str, entered_at: datetime, now: datetime
    ):
        self.rule = rule
        self.plan = plan
        self.episode = stage_episode(stage, entered_at)
        # A new ticket starts at the highest level already due, so it is written once.
        self.opening_level = max((s.level for s in plan.steps if s.at <= now), default=0)
        self._after: dict[int, tuple[list[EscalationStep], int, EscalationStep | None]] = {}

    def fire(
        self, before: int, now: datetime
    ) -> tuple[list[EscalationStep], int, EscalationStep | None]:
        """For a ticket at level ``before``: the steps due by ``now`` above it, the level it
        reaches, and the step still to come after that."""
        if (found := self._after.get(before)) is None:
            fired = [s for s in self.plan.steps if s.level > before and s.at <= now]
            reached = fired[-1].level if fired else before
            found = self._after[before] = (fired, reached, self.plan.next_after(reached))
        return found


async def handle_due(
    session: AsyncSession,
    policy: Policy,
    orders: Sequence[DueOrder],
    now: datetime,
    paused: str | None,
) -> BatchCounts:
    """Act on orders whose check is due by ``now``; while routing is paused (``paused`` says
    why) new tickets go to the triage group."""
    result = BatchCounts()
    entries: dict[int, _Entry] = {}
    next_checks: list[tuple[int, datetime | None]] = []
    shared: dict[tuple[int, datetime, datetime | None], _Entry] = {}
    for order in orders:
        rule = policy.sla_for(order_type=order.order_type, stage=order.stage, channel=order.channel)
        if rule is None:  # the config changed since the order entered this stage
            next_checks.append((order.id, None))
            continue
        key = (id(rule), order.stage_entered_at, order.ship_by_at)
        if (entry := shared.get(key)) is None:
            plan = policy.schedule(rule, order.stage_entered_at, order.ship_by_at)
            entry = shared[key] = _Entry(rule, plan, order.stage, order.stage_entered_at, now)
        entries[order.id] = entry
    tickets, opened = await _tickets_for(session, policy, orders, entries, now, paused)
    result.opened += len(opened)

    recipient = _recipients(policy)
    messages: list[OutboxRow] = []
    timeline: list[TimelineRow] = []
    levels: list[tuple[int, int]] = []
    reminded: list[tuple[int, datetime]] = []
    for order in orders:
        entry, ticket = entries.get(order.id), tickets.get(order.id)
        if entry is None:
            continue
        plan = entry.plan
        if ticket is None:
            # Not due after all (the rule changed): look again then. Or this stage entry's
            # ticket was already closed by hand: nothing more to watch until the order moves.
            first = plan.steps[0].at
            next_checks.append((order.id, first if first > now else None))
            continue
        upcoming: EscalationStep | None = None
        # A claim is enough under such a rule: no more escalation (reminders go on).
        if not (entry.rule.stop_escalation_on_claim and ticket.get("owner") is not None):
            before = 0 if ticket["id"] in opened else ticket["level"]
            fired, reached, upcoming = entry.fire(before, now)
            messages += _announcements(recipient, ticket, fired, now)
            for step in fired:
                if step.level > 1:
                    detail = f"第{step.level - 1}次, 通知{recipient(ticket['group_key'], step)[2]}"
                    timeline.append(timeline_row(ticket["id"], "escalated", now, detail))
                    result.escalated += 1
            if fired and ticket["id"] not in opened:
                levels.append((ticket["id"], reached))
        remind_at = _reminder_due(policy, plan, ticket)
        if remind_at is not None and remind_at <= now:
            messages.append(_reminder(ticket, remind_at, now))
            reminded.append((ticket["id"], now))
            result.reminded += 1
            remind_at = _reminder_due(policy, plan, ticket | {"reminded_at": now})
        due = [at for at in (upcoming.at if upcoming else None, remind_at) if at is not None]
        next_checks.append((order.id, min(due, default=None)))
    await set_levels(session, levels)
    await set_reminded(session, reminded)
    await add_timeline(session, timeline)
    await queue_messages(session, messages)
    await set_next_checks(session, next_checks)
    return result


async def _tickets_for(
    session: AsyncSession,
    policy: Policy,
    orders: Sequence[DueOrder],
    entries: dict[int, _Entry],
    now: datetime,
    paused: str | None,
) -> tuple[dict[int, TicketRow], set[int]]:
    """The open ticket of each order's current stage entry, and the ids of those opened now.

    A new ticket starts at the highest level already due, so it is written once. A ticket
    another instance opened meanwhile is taken as it is: the unique key (overdue, the order,
    its stage entry) makes the insert skip it. While routing is paused (``paused`` says why) new
    tickets go to the triage group.
    """
    stage_of = {o.id: (o.stage, o.stage_entered_at) for o in orders if o.id in entries}

    def current(rows: list[TicketRow]) -> dict[int, TicketRow]:
        return {
            t["order_id"]: t
            for t in rows
            if stage_of[t["order_id"]] == (t["stage"], t["stage_entered_at"])
        }

    tickets = current(await open_tickets_for(session, stage_of, OVERDUE))
    missing = [
        o
        for o in orders
        if o.id in stage_of and o.id not in tickets and entries[o.id].plan.steps[0].at <= now
    ]
    if not missing:
        return tickets, set()
    rows: list[TicketRow] = []
    route = policy.batch_router(paused)
    for order in missing:
        decision = route(order)
        entry = entries[order.id]
        rows.append(
            {
                "kind": Kind.OVERDUE,
                "subject": order_subject(order.id),
                "episode": entry.episode,
                "order_id": order.id,
                "stage": order.stage,
                "stage_entered_at": order.stage_entered_at,
                "status": "open",
                "group_key": decision.group,
                "route_rule": decision.rule,
                "route_reason": decision.reason,
                "sla_rule": entry.rule.name,
                "deadline_at": entry.plan.deadline,
                "opened_at": now,
                "level": entry.opening_level,
            }
        )
    if await insert_tickets(session, rows) < len(rows):
        # Another instance opened some of them meanwhile: use what it wrote.
        tickets = current(await open_tickets_for(session, stage_of, OVERDUE))
    opened = [row for row in rows if "id" in row]
    tickets |= {row["order_id"]: row for row in opened}
    return tickets, {row["id"] for row in opened}


Recipient = Callable[[str, EscalationStep], tuple[str, str, str]]


def _recipients(policy: Policy) -> Recipient:
    """``_recipient`` for one batch: each group's recipients worked out once."""
    known: dict[tuple[str, str], tuple[str, str, str]] = {}

    def recipient(group_key: str, step: EscalationStep) -> tuple[str, str, str]:
        key = (group_key, step.notify)
        if (found := known.get(key)) is None:
            found = known[key] = _recipient(policy, group_key, step)
        return found

    return recipient


def _recipient(policy: Policy, group_key: str, step: EscalationStep) -> tuple[str, str, str]:
    """Who hears of a level: (target kind, target, in words); the group when it has no
    supervisor to escalate to."""
    group = policy.group(group_key)
    if step.notify == "supervisor" and group.supervisor is not None:
        return "user", group.supervisor, f"主管 {group.supervisor}"
    return "group", group_key, group.name


def _announcements(
    recipient: Recipient, ticket: TicketRow, fired: list[EscalationStep], now: datetime
) -> list[OutboxRow]:
    """The notifications for the levels fired now: each chat hears of the ticket once, at
    the highest level it reached (a ticket first seen past several levels, or a group without
    a supervisor, would otherwise be listed twice in one digest)."""
    by_chat: dict[tuple[str, str], OutboxRow] = {}
    for step in fired:
        target_kind, target, _ = recipient(ticket["group_key"], step)
        by_chat[target_kind, target] = outbox_row(
            ticket_id=ticket["id"],
            kind="alert" if step.level == 1 else "escalation",
            level=step.level,
            target_kind=target_kind,
            target=target,
            now=now,
        )
    return list(by_chat.values())


def _reminder_due(policy: Policy, plan: Schedule, ticket: TicketRow) -> datetime | None:
    """When the ticket's next reminder is due: ``remind_every`` after the alert or the last
    reminder, held until a snooze ends; None when reminders are off. The alert went out when
    the ticket opened, which for an order first seen long overdue (a backlog import, an
    outage) is well after the deadline."""
    every = policy.config.watch.remind_every
    if every is None:
        return None
    alerted = max(plan.steps[0].at, ticket["opened_at"])
    due = (ticket.get("reminded_at") or alerted) + every
    snoozed_until = ticket.get("snoozed_until")
    return max(due, snoozed_until) if snoozed_until is not None else due


def _reminder(ticket: TicketRow, due: datetime, now: datetime) -> OutboxRow:
    """To the owner once someone claimed the ticket, to the group while nobody has."""
    owner = ticket.get("owner")
    row = outbox_row(
        ticket_id=ticket["id"],
        kind="reminder",
        level=None,
        target_kind="user" if owner else "group",
        target=owner or ticket["group_key"],
        now=now,
    )
    row["dedup_key"] = f"ticket:{ticket['id']}:remind:{due.isoformat()}"
    return row
