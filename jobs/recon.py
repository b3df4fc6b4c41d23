"""The nightly reconciliation: at ``[recon] daily_at`` (after the gateways' bills for the day
before are out, ~10:00 Beijing on T+1) each gateway's yesterday is fetched (where its bill API
is configured), then
matched, stored and announced (services.recon.run). A gateway without a bill is recorded as
such and announced; its day can be run again by hand (``orderbot recon run``).

Every instance fires the job: a day one of them reconciled at or after today's slot is left
alone by the others, and two at the same moment store it once (services.recon.run)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.policy import Policy
from services.recon.fetching import configured, fetch_day
from services.recon.run import reconcile
from services.reports import day_of

logger = logging.getLogger(__name__)


@dataclass
class ReconResult:
    differences: int = 0
    without_bill: list[str] = field(default_factory=list)


async def fetch_bills(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, gateway: str, bill_date: date
) -> None:
    """Download the gateway's bills of the day first when its bill API is configured
    (``[recon.wechat]``, ``[recon.alipay]``: services.recon.fetching, which waits while the
    bill is still being generated); otherwise the bills come in by ``orderbot recon import``.
    A bill refused or never generated is logged; the day is matched with what is stored."""
    if gateway not in configured(policy.config):
        return
    outcomes = await fetch_day(
        policy.config, sessions, bill_date, [gateway], clock=lambda: datetime.now(UTC)
    )
    for outcome in outcomes:
        if outcome.status in ("refused", "pending"):
            logger.warning("recon fetch %s: %s %s", outcome.title, outcome.status, outcome.reason)


async def run(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, now: datetime
) -> ReconResult:
    """Reconcile yesterday (local) for every gateway of ``[recon] gateways``."""
    today = day_of(policy, now)
    bill_date = today - timedelta(days=1)
    slot = datetime.combine(today, policy.config.recon.daily_at or time(), policy.timezone)
    result = ReconResult()
    for gateway in policy.config.recon.gateways:
        await fetch_bills(sessions, policy, gateway, bill_date)
        outcome, _ = await reconcile(
            sessions, policy, gateway, bill_date, now, unless_run_since=min(slot, now)
        )
        if outcome.status == "taken":
            continue
        result.differences += outcome.differences
        if outcome.status == "no_bill":
            result.without_bill.append(gateway)
    return result
