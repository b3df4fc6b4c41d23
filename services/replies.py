"""A chat command's reply: sent at once through WeCom, or through the outbox when WeCom does not
take it, so that an outage delays the answer and never loses it."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.wecom.client import WeComClient
from adapters.wecom.errors import WeComError
from adapters.wecom.inbound import Inbound
from adapters.wecom.messages import (
    APP_MARKDOWN_MAX_BYTES,
    APP_TEXT_MAX_BYTES,
    WEBHOOK_MARKDOWN_MAX_BYTES,
    markdown,
    text,
)
from rules.text_split import shorten, split_text
from storage.outbox import notice_row, queue_messages

logger = logging.getLogger(__name__)

TOO_LONG_FOR_GROUP = "…(内容过长, 私聊订单助手可看全部)"
FROM_THE_GROUP = "您在群里发的命令未能在群内答复, 结果如下:"


async def send_reply(
    wecom: WeComClient,
    sessions: async_sessionmaker[AsyncSession],
    inbound: Inbound,
    reply: str,
    now: datetime,
) -> None:
    """A group gets the reply through the robot's one-shot response_url, cut to one message
    (the rest is a 1:1 question away); a person gets it through the app, in as many messages
    as it takes."""
    if inbound.response_url:
        short = shorten(reply, WEBHOOK_MARKDOWN_MAX_BYTES, TOO_LONG_FOR_GROUP)
        try:
            await wecom.respond_aibot(inbound.response_url, markdown(short))
        except WeComError as error:
            await _send_later(sessions, inbound, f"{FROM_THE_GROUP}\n{reply}", now, error)
        return
    parts = split_text(reply, APP_TEXT_MAX_BYTES)
    for sent, part in enumerate(parts):
        try:
            await wecom.send_app_message([inbound.user], text(part))
        except WeComError as error:
            await _send_later(sessions, inbound, "\n".join(parts[sent:]), now, error)
            return


async def _send_later(
    sessions: async_sessionmaker[AsyncSession],
    inbound: Inbound,
    reply: str,
    now: datetime,
    error: WeComError,
) -> None:
    """Queue the reply for the person, 1:1: the outbox retries until WeCom takes it, and
    dead-letters it (telling ops) if WeCom never will."""
    logger.warning("WeCom did not take the reply to %s (%s): queued", inbound.user, error)
    key = f"reply:{inbound.source}:{inbound.msg_id}"
    rows = [
        notice_row(f"{key}:{n}", "reply", ("user", inbound.user), part, now)
        for n, part in enumerate(split_text(reply, APP_MARKDOWN_MAX_BYTES))
    ]
    async with sessions.begin() as session:
        await queue_messages(session, rows)
