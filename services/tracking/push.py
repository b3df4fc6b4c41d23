"""A provider's verified push, taken in one transaction: its scans onto the parcels following
the waybill, and what it says of the subscription (still followed, ended, given up)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.tracking.base import Push, PushStatus, TrackingProvider
from services.policy import Policy
from services.tracking.scans import ScanResult, apply_scans, provider_scan
from storage.parcels import set_subscription

log = logging.getLogger(__name__)

_SUBSCRIPTION = {
    PushStatus.POLLING: "active",
    PushStatus.ENDED: "ended",
    PushStatus.ABORTED: "ended",
}


async def take_push(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    provider: TrackingProvider,
    push: Push,
    now: datetime,
) -> ScanResult:
    """Store the push's scans (idempotently) before it is answered."""
    scans = [
        provider_scan(push.tracking_no, s.at, s.text, s.place, s.code, provider.state_of)
        for s in push.scans
    ]
    async with sessions.begin() as session:
        result = await apply_scans(session, policy, scans, source=provider.name, now=now)
        await _follow_status(session, provider, push)
    if push.scans and len(result.unknown_waybill) == len(push.scans):
        log.warning(
            "%s 推送了未跟踪的单号 %s (%d 条扫描): 已应答成功, 未记录",
            provider.name,
            push.tracking_no,
            len(push.scans),
        )
    return result


async def _follow_status(session: AsyncSession, provider: TrackingProvider, push: Push) -> None:
    reason = None
    if push.status == PushStatus.ABORTED:
        reason = f"{provider.name} 停止跟踪: {push.message or '未说明原因'}"
        log.warning("单号 %s %s", push.tracking_no, reason)
    await set_subscription(session, push.tracking_no, _SUBSCRIPTION[push.status], reason)
