"""Queueing texts to customers: one per episode (the dedup_key), held through quiet hours;
the sender (services.sms.sender) sends each when its time comes. A batch (the stall check's
10,000 silent parcels) is two statements, not two per text."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rules.phones import canonical_phone, is_masked, mask_phone
from rules.sms import ASKED_FOR, TEMPLATE_VARIABLES, release_time
from services.policy import Policy
from storage.sms import TextRow, opted_out, queue_texts

logger = logging.getLogger(__name__)
MAX_PHONE_LENGTH = 20  # sms_messages.phone


@dataclass(frozen=True, slots=True)
class CustomerText:
    """A text about ``order_id`` for ``purpose`` ("stall", "rejected", "returning",
    "returned"; "code" about none) to ``phone`` (as the order has it), ``dedup_key`` naming
    its episode."""

    order_id: int | None
    phone: str | None
    purpose: str
    params: Mapping[str, str]
    dedup_key: str


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
    """Queue one text (see ``notify_customers``); whether it was queued."""
    text = CustomerText(order_id, phone, purpose, params, dedup_key)
    return bool(await notify_customers(session, policy, [text], now))


async def notify_customers(
    session: AsyncSession, policy: Policy, texts: Sequence[CustomerText], now: datetime
) -> set[str]:
    """Queue texts; the dedup_keys of those queued. None is queued without [sms], for a text
    without a usable phone (missing or masked by the platform), without a template for its
    purpose or a param its template needs, to a number that opted out, or with a dedup_key that
    exists already (no customer gets two texts for one episode). A text due in quiet hours
    waits until they end, but for one the customer asked for (rules.sms.ASKED_FOR)."""
    sms = policy.config.sms
    if sms is None:
        return set()
    rows: list[TextRow] = []
    not_before = release_time(now, sms.quiet_start, sms.quiet_end, policy.timezone)
    for text in texts:
        number = canonical_phone(text.phone)
        if number is None or is_masked(number) or len(number) > MAX_PHONE_LENGTH:
            continue
        if text.purpose not in sms.templates or text.purpose not in TEMPLATE_VARIABLES:
            continue
        names = TEMPLATE_VARIABLES[text.purpose]
        missing = [name for name in names if not text.params.get(name)]
        if missing:
            logger.warning(
                "短信未排队: 订单 %s 的 %s 短信缺少参数 %s", text.order_id, text.purpose, missing
            )
            continue
        rows.append(
            {
                "dedup_key": text.dedup_key,
                "order_id": text.order_id,
                "phone": number,
                "purpose": text.purpose,
                "params": {name: text.params[name] for name in names},
                "not_before": now if text.purpose in ASKED_FOR else not_before,
            }
        )
    refused = await opted_out(session, (row["phone"] for row in rows))
    for row in rows:
        if row["phone"] in refused:
            logger.info(
                "短信未排队: %s 已退订 (订单 %s)", mask_phone(row["phone"]), row["order_id"]
            )
    return await queue_texts(session, [r for r in rows if r["phone"] not in refused], now)
