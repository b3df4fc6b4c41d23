"""Tickets of kinds other than overdue, opened when something reports a problem with an order
(a parcel that stopped moving, a payment that differs from the statement): routed like an
overdue ticket, alerted to its group at once, one per (kind, order, episode)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import KINDS, Kind, order_subject
from rules.routing import TicketFacts
from services.policy import Policy
from storage.models import Order
from storage.outbox import queue_messages
from storage.tickets import TicketRow, insert_tickets, outbox_row


async def open_ticket(
    session: AsyncSession,
    policy: Policy,
    order: Order,
    *,
    kind: Kind,
    episode: str,
    summary: str,
    now: datetime,
    paused: str | None = None,
    facts: TicketFacts | None = None,
) -> int | None:
    """Open a ticket of ``kind`` about ``order`` saying ``summary``; ``episode`` tells this
    occurrence from a later one (e.g. the payment serial). None when that ticket exists.

    A kind that the order's next stage settles keeps the stage entry it was about. ``facts``
    add what routing rules may match besides the kind (a parcel's state and carrier)."""
    decision = policy.route(order, paused, facts or TicketFacts(kind))
    about_stage = KINDS[kind].closes_on_move
    row: TicketRow = {
        "kind": kind,
        "subject": order_subject(order.id),
        "episode": episode,
        "order_id": order.id,
        "stage": order.stage if about_stage else None,
        "stage_entered_at": order.stage_entered_at if about_stage else None,
        "status": "open",
        "group_key": decision.group,
        "route_rule": decision.rule,
        "route_reason": decision.reason,
        "sla_rule": KINDS[kind].label,
        "deadline_at": now,
        "opened_at": now,
        "level": 1,
        "summary": summary,
    }
    if not await insert_tickets(session, [row]):
        return None
    ticket_id = row["id"]
    alert = outbox_row(
        ticket_id=ticket_id,
        kind="alert",
        level=1,
        target_kind="group",
        target=decision.group,
        now=now,
    )
    await queue_messages(session, [alert])
    return ticket_id
