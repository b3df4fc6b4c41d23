"""The texts job: each tick sends the due texts (services.sms.sender says how)."""

from __future__ import annotations

import logging

from services.sms.sender import SmsSender, SmsTickResult

logger = logging.getLogger(__name__)


async def run(sender: SmsSender) -> SmsTickResult:
    result = await sender.tick()
    if result.sent or result.refused or result.ended:
        logger.info(
            "短信: 发送 %d, 暂缓 %d, 被拒 %d, 结束 %d",
            result.sent,
            result.held,
            result.refused,
            result.ended,
        )
    return result
