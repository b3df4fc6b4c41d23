"""Payment tickets, one per reconciliation difference (its episode ``recon:<difference id>``):
opened in bulk by a run, closed by themselves when a re-run no longer finds the difference,
opened again when it comes back. A run announces them in one digest (services.recon.digest),
so no ticket is alerted on its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import KINDS, Kind, order_subject
from rules.routing import RouteDecision
from storage.tickets import TicketRow, add_timeline, insert_tickets, reopen, resolve, timeline_row

PAYMENT = KINDS[Kind.PAYMENT]
NO_ORDER_SUBJECT = "recon"  # money no order claims (长款)


@dataclass(frozen=True, slots=True)
class PaymentIssue:
    difference_id: int
    order_id: int | None
    summary: str
    route: RouteDecision


async def open_payment_tickets(
    session: AsyncSession, issues: Sequence[PaymentIssue], now: datetime
) -> dict[int, int]:
    """A ticket per difference; returns each difference's ticket id."""
    rows: list[TicketRow] = [
        {
            "kind": Kind.PAYMENT,
            "subject": NO_ORDER_SUBJECT if i.order_id is None else order_subject(i.order_id),
            "episode": f"recon:{i.difference_id}",
            "order_id": i.order_id,  # type: ignore[typeddict-item]  # 长款: no order
            "stage": None,
            "stage_entered_at": None,
            "status": "open",
            "group_key": i.route.group,
            "route_rule": i.route.rule,
            "route_reason": i.route.reason,
            "sla_rule": PAYMENT.label,
            "deadline_at": now,
            "opened_at": now,
            "level": 1,
            "summary": i.summary,
        }
        for i in issues
    ]
    await insert_tickets(session, rows)
    return {
        issue.difference_id: row["id"]
        for issue, row in zip(issues, rows, strict=True)
        if "id" in row
    }


async def close_payment_tickets(
    session: AsyncSession, ticket_ids: Sequence[int], why: str, now: datetime
) -> None:
    """Close tickets whose difference a re-run no longer finds."""
    await resolve(session, [(t, now) for t in ticket_ids], "auto")
    await add_timeline(session, [timeline_row(t, "resolved", now, why) for t in ticket_ids])


async def reopen_payment_tickets(
    session: AsyncSession, ticket_ids: Sequence[int], why: str, now: datetime
) -> None:
    """Open again the tickets of differences a re-run finds again."""
    await reopen(session, ticket_ids)
    await add_timeline(session, [timeline_row(t, "noted", now, why) for t in ticket_ids])
