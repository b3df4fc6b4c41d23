"""What finance does in the chat with reconciliation: look a day's runs and differences up
(对账), and write a difference off (核销: its payment ticket closed with a note)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import Kind
from services.lifecycle import actions
from storage import recon as db
from storage.models import ReconDifference, ReconRun, Ticket


class WriteOffRefused(Exception):
    """Why the ticket cannot be written off, in Chinese."""


@dataclass(frozen=True)
class DayView:
    runs: list[ReconRun]
    differences: list[ReconDifference]  # filtered, open first, then by money at stake


async def day_view(
    session: AsyncSession,
    bill_date: date,
    gateway: str | None,
    shop: str | None,
    open_only: bool,
) -> DayView:
    runs = await db.runs_of(session, bill_date, gateway)
    query = select(ReconDifference).where(ReconDifference.bill_date == bill_date)
    if gateway is not None:
        query = query.where(ReconDifference.gateway == gateway)
    if shop is not None:
        query = query.where(ReconDifference.shop == shop)
    if open_only:
        query = query.where(ReconDifference.status == "open")
    found = list((await session.scalars(query)).all())
    found.sort(key=lambda d: (d.status != "open", -d.at_stake_fen, d.id))
    return DayView(runs, found)


async def write_off(
    session: AsyncSession, ticket_id: int, remark: str, actor: str, now: datetime
) -> ReconDifference | None:
    """Close the payment ticket with ``remark`` and mark its difference written off (a re-run
    leaves it so); the difference, None for a payment ticket without one."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise WriteOffRefused(f"找不到工单 #{ticket_id}")
    if ticket.kind != Kind.PAYMENT:
        raise WriteOffRefused(f"工单 #{ticket_id} 不是付款差异工单, 请用「完成」关闭")
    if ticket.status != "open" or not await actions.resolve_by_hand(
        session, ticket, remark, actor, now
    ):
        raise WriteOffRefused(f"工单 #{ticket_id} 已关闭。发送「对账」查看当天差异")
    difference = await db.difference_by_ticket(session, ticket_id)
    if difference is not None:
        await db.update_differences(
            session,
            [{"difference_id": difference.id, "status": "written_off", "closed_at": now}],
        )
        difference.status = "written_off"
    return difference
