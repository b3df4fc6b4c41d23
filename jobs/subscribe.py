"""The subscribe job: send the tracking provider the parcels waiting to be followed.

A batch is leased in one transaction (``SKIP LOCKED``: instances take different ones), sent
outside any, and its answers recorded in another, so a slow provider holds no lock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.tracking.base import TrackingProvider
from services.policy import Policy
from services.tracking.subscribe import SubscribeResult, record_answers, send_all
from storage.parcels import claim_due_subscriptions

BATCH = 50  # subscriptions per lease


async def run(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    provider: TrackingProvider,
    now: datetime,
) -> SubscribeResult:
    """One tick: send every pending subscription due by ``now``."""
    result = SubscribeResult()
    tracking = policy.config.tracking
    if tracking is None:
        return result
    lease = timedelta(seconds=tracking.timeout.total_seconds() * 3)  # past the last request
    while True:
        async with sessions.begin() as session:
            due = await claim_due_subscriptions(session, now, BATCH, now + lease)
        if not due:
            return result
        answers = await send_all(provider, due)
        async with sessions.begin() as session:
            await record_answers(session, policy, list(zip(due, answers, strict=True)), now, result)
        if len(due) < BATCH:
            return result
