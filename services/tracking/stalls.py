"""The stall check: a parcel without a new scan for its carrier's limit (calendar time:
parcels move on Sundays) opens a stall ticket for the group routing picks (the logistics
group, by its rules), and its customer gets one text per silence when [tracking] says so.

Which silence: since the last scan; a parcel never scanned since it shipped (or, not knowing
when it shipped, since it was first followed), so a waybill that was never picked up is a stall
too. A parcel signed for, back with the sender, refused or on its way back is not checked (the
return ticket covers the last three), nor one whose order is no longer in "shipped". A parcel
whose ticket is open is not due again: its next check is cleared here and set anew by the scan
intake on the next scan (services.tracking.scans), which also closes the ticket.

The caller (jobs.stalls) claims the batch and owns its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import Kind, parcel_episode
from rules.logistics import Logistics, carrier_of
from rules.parcel_words import silence_words, stall_place, stall_summary
from rules.routing import TicketFacts
from rules.stages import Stage
from services.config import TrackingConfig
from services.lifecycle.stall_tickets import Stall, open_stall_tickets
from services.policy import Policy
from services.sms.links import order_link
from services.sms.notify import CustomerText, notify_customers
from storage.stalls import DueParcel, set_stall_checks


@dataclass
class StallCounts:
    checked: int = 0
    opened: int = 0
    texted: int = 0


def _not_checked(parcel: DueParcel) -> bool:
    """Whether the parcel's silence is no stall: it arrived, went back, or its order moved."""
    if parcel.stage != Stage.SHIPPED:
        return True
    state = Logistics(parcel.state) if parcel.state else None
    return state is not None and (state.is_final or state.is_return)


def _silent_since(parcel: DueParcel) -> datetime:
    return parcel.last_scan_at or parcel.shipped_at or parcel.created_at


def _parcel_name(parcel: DueParcel) -> str:
    carrier = carrier_of(parcel.carrier)
    return f"{carrier.name if carrier else '快递'} {parcel.tracking_no}"


async def check_stalls(
    session: AsyncSession,
    policy: Policy,
    tracking: TrackingConfig,
    due: Sequence[DueParcel],
    now: datetime,
    paused: str | None,
) -> StallCounts:
    """Act on parcels whose stall check is due by ``now`` under ``tracking`` (the policy's);
    while routing is paused (``paused`` says why) the tickets go to the triage group."""
    counts = StallCounts(checked=len(due))
    tz = policy.timezone
    next_checks: list[tuple[int, datetime | None]] = []
    stalls: list[Stall] = []
    for parcel in due:
        since = _silent_since(parcel)
        limit = tracking.stall_limit(parcel.carrier)
        limit_at = since + limit
        if _not_checked(parcel):
            next_checks.append((parcel.id, None))
        elif limit_at > now:  # the limit grew since it was scheduled
            next_checks.append((parcel.id, limit_at))
        else:
            next_checks.append((parcel.id, None))
            scanned = parcel.last_scan_at is not None
            summary = stall_summary(
                _parcel_name(parcel), parcel.last_scan_place, since, limit, scanned=scanned, tz=tz
            )
            state = Logistics(parcel.state) if parcel.state else None
            facts = TicketFacts(Kind.STALL, state, parcel.carrier)
            stalls.append(Stall(parcel, parcel_episode(parcel.id, since), summary, facts))
    opened = await open_stall_tickets(session, policy, stalls, now, paused)
    counts.opened = len(opened)
    if "stall" in tracking.notify_customer:
        texts = [_text(policy, tracking, s, now) for s in stalls if s.parcel.id in opened]
        counts.texted = len(await notify_customers(session, policy, texts, now))
    await set_stall_checks(session, next_checks)
    return counts


def _text(policy: Policy, tracking: TrackingConfig, stall: Stall, now: datetime) -> CustomerText:
    """The customer's one text about this silence."""
    parcel = stall.parcel
    params = {
        "place": stall_place(parcel.last_scan_place, parcel.last_scan_at is not None),
        "silence": silence_words(tracking.stall_limit(parcel.carrier)),
        "link": order_link(policy, parcel.order_id, now) or "",
    }
    return CustomerText(
        parcel.order_id, parcel.receiver_phone, "stall", params, f"stall:{stall.episode}"
    )
