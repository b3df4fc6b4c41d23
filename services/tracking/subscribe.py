"""Subscriptions as an outbox: each pending parcel is sent to the tracking provider when due
(the subscribe job leases a batch, sends it here, and records the answers here).

A provider that cannot take it now (down, timing out, an error of its own) is asked again with
exponential backoff and jitter, without end: nothing is lost however long the outage. A
provider that refuses for good (a bad key, a waybill it will not follow) marks the parcel
failed with its reason, and ops are told once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.tracking.base import Outcome, SubscribeAnswer, Subscription, TrackingProvider
from rules.logistics import carrier_of
from services.policy import Policy
from storage.outbox import OutboxRow, notice_row, queue_messages
from storage.parcels import DueSubscription, SubscriptionChange, record_subscriptions

log = logging.getLogger(__name__)

CONCURRENCY = 8  # requests to the provider at a time
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(minutes=30)  # an outage's end is noticed within this


@dataclass
class SubscribeResult:
    sent: int = 0
    accepted: int = 0
    retrying: int = 0
    failed: int = 0


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """How long to wait after the ``attempts``-th failure: doubling from FIRST_RETRY up to
    LONGEST_WAIT, each drawn between half and all of it so that retries spread out."""
    ceiling = min(FIRST_RETRY * (1 << min(max(attempts - 1, 0), 16)), LONGEST_WAIT)
    return ceiling * (0.5 + 0.5 * (rng or random).random())


def subscription(due: DueSubscription) -> Subscription:
    """What the provider is told of a parcel: the waybill, its carrier, from and to."""
    to = "".join(
        dict.fromkeys(part for part in (due.destination_province, due.city, due.district) if part)
    )
    return Subscription(
        tracking_no=due.tracking_no,
        carrier=due.carrier,
        origin=due.origin_province,
        destination=to or None,
        phone=due.receiver_phone,
    )


async def send_all(provider: TrackingProvider, due: list[DueSubscription]) -> list[SubscribeAnswer]:
    """Send these subscriptions to the provider, a few at a time; outside any transaction."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def send(parcel: DueSubscription) -> SubscribeAnswer:
        async with limit:
            return await provider.subscribe(subscription(parcel))

    return list(await asyncio.gather(*(send(parcel) for parcel in due)))


async def record_answers(
    session: AsyncSession,
    policy: Policy,
    answered: list[tuple[DueSubscription, SubscribeAnswer]],
    now: datetime,
    result: SubscribeResult,
) -> None:
    """Take the provider's answers: active, pending again after a backoff, or failed (ops
    told once); counted in ``result``."""
    changes: list[SubscriptionChange] = []
    notices: list[OutboxRow] = []
    for due, answer in answered:
        attempts = due.subscribe_attempts + 1
        result.sent += 1
        if answer.outcome == Outcome.ACCEPTED:
            result.accepted += 1
            changes.append(SubscriptionChange(due.id, "active", attempts, None, None))
        elif answer.outcome == Outcome.RETRY:
            result.retrying += 1
            next_at = now + retry_delay(attempts)
            log.warning(
                "订阅单号 %s 暂未成功 (第 %d 次): %s; %s 后重试",
                due.tracking_no,
                attempts,
                answer.reason,
                next_at.isoformat(timespec="seconds"),
            )
            changes.append(SubscriptionChange(due.id, "pending", attempts, next_at, answer.reason))
        else:
            result.failed += 1
            log.error("订阅单号 %s 被拒绝: %s", due.tracking_no, answer.reason)
            changes.append(SubscriptionChange(due.id, "failed", attempts, None, answer.reason))
            notices += failure_notices(
                policy, due.id, due.order_no, due.carrier, due.tracking_no, answer.reason, now
            )
    await record_subscriptions(session, changes, now)
    await queue_messages(session, notices)


def failure_notices(
    policy: Policy,
    parcel_id: int,
    order_no: str,
    carrier_code: str | None,
    tracking_no: str,
    reason: str,
    now: datetime,
) -> list[OutboxRow]:
    """One notice per ops member for a subscription failed for good (refused, or given up
    after 快递100 stopped following it); its key makes it once per parcel."""
    carrier = carrier_of(carrier_code)
    name = carrier.name if carrier else "未知快递公司"
    text = (
        f"⚠️ 物流跟踪订阅失败: 订单 {order_no} 的{name}运单 {tracking_no}\n"
        f"快递100答复: {reason}\n该包裹不会收到轨迹推送, 请核对单号与快递公司。"
    )
    return [
        notice_row(f"ops:tracking:refused:{parcel_id}:{user}", "ops", ("user", user), text, now)
        for user in policy.config.roles.ops
    ]
