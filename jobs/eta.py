"""The ETA job: every ``[eta].recompute_every``, the lanes' transit times from the deliveries
of the rolling window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.config import EtaConfig
from services.tracking.eta import recompute_lanes


@dataclass
class EtaResult:
    deliveries: int = 0


async def run(
    sessions: async_sessionmaker[AsyncSession], config: EtaConfig, now: datetime
) -> EtaResult:
    """One run, in one transaction: readers see the old lanes or the new ones, never none."""
    async with sessions.begin() as session:
        return EtaResult(await recompute_lanes(session, config, now))
