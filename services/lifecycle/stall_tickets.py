"""Stall tickets opened in bulk: the stall check finds thousands of silent parcels in a tick
after an outage or a carrier's bad day, so their tickets go in one multi-row insert and their
alerts in one more, not one open_ticket each. One ticket per parcel and silence (its episode,
``parcel:<id>@<last scan>``); a scan closes it (services.lifecycle.parcel_tickets)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import KINDS, Kind, order_subject
from rules.routing import TicketFacts
from services.policy import Policy
from storage.outbox import queue_messages
from storage.stalls import DueParcel
from storage.tickets import TicketRow, insert_tickets, outbox_row

STALL = KINDS[Kind.STALL]


@dataclass(frozen=True, slots=True)
class Stall:
    """A parcel's silence to open a ticket for."""

    parcel: DueParcel
    episode: str
    summary: str
    facts: TicketFacts


async def open_stall_tickets(
    session: AsyncSession,
    policy: Policy,
    stalls: Sequence[Stall],
    now: datetime,
    paused: str | None,
) -> dict[int, int]:
    """Open the stall tickets, routed by the order and the parcel's state and carrier (to the
    triage group while routing is paused: ``paused`` says why), and alert each one's group.
    Returns the ticket id of each parcel whose ticket opened now; a silence whose ticket exists
    (another instance's, or one closed by hand) is left as it is."""
    rows: list[TicketRow] = []
    for stall in stalls:
        order = stall.parcel
        decision = policy.route(order, paused, stall.facts)
        rows.append(
            {
                "kind": Kind.STALL,
                "subject": order_subject(order.order_id),
                "episode": stall.episode,
                "order_id": order.order_id,
                # The order entering its next stage (delivered) settles it.
                "stage": order.stage,
                "stage_entered_at": order.stage_entered_at,
                "status": "open",
                "group_key": decision.group,
                "route_rule": decision.rule,
                "route_reason": decision.reason,
                "sla_rule": STALL.label,
                "deadline_at": now,
                "opened_at": now,
                "level": 1,
                "summary": stall.summary,
            }
        )
    await insert_tickets(session, rows)
    opened = {stall.parcel.id: row for stall, row in zip(stalls, rows, strict=True) if "id" in row}
    alerts = [
        outbox_row(
            ticket_id=row["id"],
            kind="alert",
            level=1,
            target_kind="group",
            target=row["group_key"],
            now=now,
        )
        for row in opened.values()
    ]
    await queue_messages(session, alerts)
    return {parcel_id: row["id"] for parcel_id, row in opened.items()}
