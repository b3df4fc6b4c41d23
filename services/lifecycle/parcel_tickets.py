"""Tickets about parcels that carrier scans settle or open: a new scan closes the open stall
ticket of its parcel (each silence is its own episode, ``parcel:<id>@<last scan>``), and a
refusal or return opens a return ticket at once (one per parcel, ``parcel:<id>``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rules.kinds import Kind, parcel_episode
from rules.logistics import Logistics
from rules.routing import TicketFacts
from services.lifecycle.signals import open_ticket
from services.policy import Policy
from storage.models import Order
from storage.tickets import close_by_themselves, open_tickets_for


async def close_stalls(
    session: AsyncSession, moved: Mapping[int, tuple[int, str]], now: datetime
) -> int:
    """Close the open stall tickets of the parcels that moved: ``moved`` maps a parcel id to
    (its order id, what the new scan said). Returns how many closed."""
    if not moved:
        return 0
    orders = {order_id for order_id, _ in moved.values()}
    parcels = {parcel_episode(parcel_id): parcel_id for parcel_id in moved}
    closures = []
    for ticket in await open_tickets_for(session, orders, (Kind.STALL.value,)):
        parcel_id = parcels.get(ticket["episode"].split("@", 1)[0])
        if parcel_id is not None:
            closures.append((ticket, now, f"包裹有新的扫描: {moved[parcel_id][1]}"))
    await close_by_themselves(session, closures, now)
    return len(closures)


async def open_return(
    session: AsyncSession,
    policy: Policy,
    *,
    order_id: int,
    parcel_id: int,
    state: Logistics,
    carrier: str | None,
    summary: str,
    now: datetime,
) -> int | None:
    """Open the return ticket of a parcel that was refused or is going back, routed by its
    state and carrier; None when that parcel has one already (or its order is gone)."""
    order = await session.get(Order, order_id)
    if order is None:
        return None
    return await open_ticket(
        session,
        policy,
        order,
        kind=Kind.RETURN,
        episode=parcel_episode(parcel_id),
        summary=summary,
        now=now,
        facts=TicketFacts(Kind.RETURN, state, carrier),
    )
