"""The stall check's tick: every ``[tracking].stall_check_interval``, the parcels whose silence
reached their carrier's limit (an indexed range scan on ``stall_check_at``, so a tick costs
what is due, not the number of parcels followed), a batch per transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.policy import Policy
from services.tracking.stalls import check_stalls
from storage.health import routing_pause
from storage.stalls import claim_due_parcels

BATCH = 2000  # parcels per transaction


@dataclass
class StallResult:
    checked: int = 0
    opened: int = 0
    texted: int = 0


async def run(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, now: datetime
) -> StallResult:
    """One tick: every parcel due by ``now``."""
    result = StallResult()
    tracking = policy.config.tracking
    if tracking is None:  # removed by a reload: the checks wait for it to come back
        return result
    while True:
        async with sessions.begin() as session:
            due = await claim_due_parcels(session, now, BATCH)
            if not due:
                return result
            pause = await routing_pause(session)
            paused = pause.reason if pause is not None else None
            counts = await check_stalls(session, policy, tracking, due, now, paused)
        result.checked += counts.checked
        result.opened += counts.opened
        result.texted += counts.texted
