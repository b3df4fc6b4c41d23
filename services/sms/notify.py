"""Queueing a text to a customer: one per episode (the dedup_key), held through quiet hours;
the sender (services.sms.sender) sends it when its time comes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rules.phones import canonical_phone, is_masked, mask_phone
from rules.sms import TEMPLATE_VARIABLES, release_time
from services.policy import Policy
from storage.sms import is_opted_out, queue_text

logger = logging.getLogger(__name__)
MAX_PHONE_LENGTH = 20  # sms_messages.phone


async def notify_customer(
    session: AsyncSession,
    policy: Policy,
    *,
    order_id: int,
    phone: str | None,
    purpose: str,
    params: Mapping[str, str],
    dedup_key: str,
    now: datetime,
) -> bool:
    """Queue one text about ``order_id`` for ``purpose`` ("stall", "rejected", "returning",
    "returned"). False when none is queued: no [sms], no usable phone (missing or masked by the
    platform), no template for the purpose, a param its template needs missing, the number
    opted out, or a text with this dedup_key exists already (no customer gets two texts for one
    episode). A text due in quiet hours waits until they end."""
    sms = policy.config.sms
    number = canonical_phone(phone)
    if sms is None or number is None or is_masked(number) or len(number) > MAX_PHONE_LENGTH:
        return False
    if purpose not in sms.templates or purpose not in TEMPLATE_VARIABLES:
        return False
    missing = [name for name in TEMPLATE_VARIABLES[purpose] if not params.get(name)]
    if missing:
        logger.warning("短信未排队: 订单 %s 的 %s 短信缺少参数 %s", order_id, purpose, missing)
        return False
    if await is_opted_out(session, number):
        logger.info("短信未排队: %s 已退订 (订单 %s)", mask_phone(number), order_id)
        return False
    not_before = release_time(now, sms.quiet_start, sms.quiet_end, policy.timezone)
    return await queue_text(
        session,
        dedup_key=dedup_key,
        order_id=order_id,
        phone=number,
        purpose=purpose,
        params={name: params[name] for name in TEMPLATE_VARIABLES[purpose]},
        not_before=not_before,
        now=now,
    )
