"""What to do when the provider stops following a waybill (快递100's ``abort`` push).

"3天查询无记录": the carrier had no record yet (a label printed before the parcel was handed
over). If the code and number are right, 快递100 asks to subscribe again after 30 minutes, and
takes at most 4 subscriptions of a number a month. So the parcel goes back to pending, due in
30 minutes, for the subscribe job, while its subscriptions so far (``subscribe_attempts``:
every request sent, counted by the subscribe job) stay below that limit. Counting every
request, failed ones too, keeps within the limit whatever the month; a parcel whose first
subscription needed retries gets fewer new tries. Past the limit, the subscription fails with
the reason and ops are told once (as for a refused subscription). "60天无变化", or any other
reason, ends it for good: the waybill will not move again.

Only a parcel still followed (``active``) changes: the same abort pushed again, after the
parcel went back to pending or failed, changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.policy import Policy
from services.tracking.subscribe import failure_notices
from storage.outbox import OutboxRow, queue_messages
from storage.parcels import SubscriptionChange, change_subscriptions, followed_by_tracking_no

log = logging.getLogger(__name__)

RESUBSCRIBE_AFTER = timedelta(minutes=30)
SUBSCRIPTIONS_A_MONTH = 4  # 快递100's limit per waybill
NO_RECORD = "无记录"  # in "3天查询无记录"


def resubscribes(message: str) -> bool:
    """Whether an abort with this message is worth subscribing again (the carrier had no
    record yet), rather than final (no change for 60 days, or a reason we do not know)."""
    return NO_RECORD in message


async def take_aborts(
    session: AsyncSession,
    policy: Policy,
    provider_name: str,
    aborts: Sequence[tuple[str, str]],
    now: datetime,
) -> None:
    """Take ``(waybill, message)`` aborts: pending again in 30 minutes, failed past the
    limit (ops told), or ended."""
    messages = dict(aborts)
    changes: list[SubscriptionChange] = []
    notices: list[OutboxRow] = []
    for parcel in await followed_by_tracking_no(session, messages):
        if parcel.subscription != "active":
            continue
        message = messages[parcel.tracking_no] or "未说明原因"
        reason = f"{provider_name} 停止跟踪: {message}"
        attempts = parcel.subscribe_attempts
        if not resubscribes(message):
            log.warning("单号 %s %s, 不再跟踪", parcel.tracking_no, reason)
            changes.append(SubscriptionChange(parcel.id, "ended", attempts, None, reason))
        elif attempts < SUBSCRIPTIONS_A_MONTH:
            next_at = now + RESUBSCRIBE_AFTER
            log.warning(
                "单号 %s %s; %s 重新订阅 (已订阅 %d 次)",
                parcel.tracking_no,
                reason,
                next_at.isoformat(timespec="seconds"),
                attempts,
            )
            changes.append(SubscriptionChange(parcel.id, "pending", attempts, next_at, reason))
        else:
            reason += (
                f"; 已订阅{attempts}次 (快递100每月最多{SUBSCRIPTIONS_A_MONTH}次), 不再重新订阅"
            )
            log.error("单号 %s %s", parcel.tracking_no, reason)
            changes.append(SubscriptionChange(parcel.id, "failed", attempts, None, reason))
            notices += failure_notices(
                policy, parcel.id, parcel.order_no, parcel.carrier, parcel.tracking_no, reason, now
            )
    await change_subscriptions(session, changes, now)
    await queue_messages(session, notices)
