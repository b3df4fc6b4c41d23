"""Delivery receipts: each recorded on its text (matched by the provider's serial), delivered
or not with the carrier's code. A receipt for a text still marked in flight (we died before
recording the provider's acceptance) is matched by our reference (Aliyun's OutId): the text
counts as sent then, so it is not sent again."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sms import Receipt
from rules.phones import mask_phone
from services.sms.sender import text_id_of
from storage.models import SmsMessage
from storage.sms import SENT_STATUSES, text_by_id, text_by_serial, update_text

logger = logging.getLogger(__name__)


@dataclass
class ReceiptsResult:
    recorded: int = 0
    unknown: int = 0  # not a text of ours (or of another provider): kept in the log only


async def _text_of(session: AsyncSession, provider: str, receipt: Receipt) -> SmsMessage | None:
    text = await text_by_serial(session, provider, receipt.serial)
    if text is not None:
        return text
    text_id = text_id_of(receipt.reference)
    text = await text_by_id(session, text_id) if text_id is not None else None
    if text is not None and text.status == "pending" and text.serial is None:
        return text  # in flight when we stopped: the provider did accept it
    return None


async def record_receipts(
    session: AsyncSession, provider: str, receipts: Sequence[Receipt], now: datetime
) -> ReceiptsResult:
    result = ReceiptsResult()
    for receipt in receipts:
        text = await _text_of(session, provider, receipt)
        if text is None or (text.status not in SENT_STATUSES and text.status != "pending"):
            result.unknown += 1
            logger.warning("未知短信回执: %s 流水号 %s", provider, receipt.serial)
            continue
        words = f"{receipt.code} {receipt.description}".strip()
        values: dict[str, object] = {
            "status": "delivered" if receipt.delivered else "undelivered",
            "receipt_at": receipt.at or now,
            "error": None if receipt.delivered else f"未送达: {words}",
        }
        if text.status == "pending":
            values |= {"serial": receipt.serial, "sent_at": receipt.at or now}
        await update_text(session, text.id, **values)
        result.recorded += 1
        logger.info("短信回执 #%s → %s: %s", text.id, mask_phone(text.phone), values["status"])
    return result
