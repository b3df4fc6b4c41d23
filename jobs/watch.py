"""The overdue watch: open tickets for missed deadlines and fire each escalation level once.

A tick reads only orders whose ``next_check_at`` has passed (an indexed range scan), so its
cost follows the work due, not the size of the pool. Rows are claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several instances split the work; the unique keys
on tickets and outbox rows are the backstop against duplicates. What a batch does to its
tickets is the lifecycle's (services.lifecycle.watch).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.lifecycle.watch import handle_due
from services.policy import Policy
from storage.health import routing_paused_reason
from storage.orders import claim_due_orders


@dataclass
class WatchResult:
    checked: int = 0
    opened: int = 0
    escalated: int = 0
    reminded: int = 0


async def run(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, now: datetime
) -> WatchResult:
    """One tick: handle every order due by ``now``, a batch per transaction."""
    result = WatchResult()
    while True:
        async with sessions.begin() as session:
            due = await claim_due_orders(session, now, policy.config.watch.batch_size)
            if not due:
                return result
            paused = await routing_paused_reason(session)
            counts = await handle_due(session, policy, due, now, paused)
        result.checked += len(due)
        result.opened += counts.opened
        result.escalated += counts.escalated
        result.reminded += counts.reminded
