"""Importing history (a first import, or after an outage) without paging anyone: orders already
past their deadline are recorded with their stage and deadline but get no ticket; they are
counted here, and ops hear of them once, in one summary per import."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.registry import channel_label
from rules.stages import Stage
from services.policy import Policy
from storage.outbox import notice_row, queue_messages

Kind = tuple[str, str]  # (stage, channel)


@dataclass
class Backfill:
    """The overdue orders an import recorded without a ticket, by stage and channel, with the
    oldest deadline of each."""

    counts: Counter[Kind] = field(default_factory=Counter)
    oldest: dict[Kind, tuple[datetime, str]] = field(default_factory=dict)  # deadline, order no
    told: tuple[str, ...] = ()  # the ops people the summary went to

    def add(self, orders: Iterable[Mapping[str, Any]]) -> None:
        for order in orders:
            kind = (order["stage"], order["channel"])
            self.counts[kind] += 1
            candidate = (order["deadline_at"], order["channel_order_id"])
            self.oldest[kind] = min(self.oldest.get(kind, candidate), candidate)

    @property
    def total(self) -> int:
        return self.counts.total()

    def summary(self, tz: ZoneInfo) -> str:
        """One message: how many per stage and channel, most first, each with its oldest."""
        lines = [f"📦 历史订单导入: {self.total} 单早已超出时限, 只记录, 未开工单、未逐单告警"]
        for (stage, channel), count in self.counts.most_common():
            deadline, order_no = self.oldest[stage, channel]
            lines.append(
                f"- {Stage(stage).label} · {channel_label(channel)}: {count} 单, 最早 {order_no}"
                f" (截止 {deadline.astimezone(tz):%Y-%m-%d %H:%M})"
            )
        return "\n".join(lines)


async def tell_ops(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, backfill: Backfill, now: datetime
) -> tuple[str, ...]:
    """Queue the summary for each ``[roles] ops`` person; who it went to (none when nothing
    was held back or nobody is in ops)."""
    ops = policy.config.roles.ops
    if not backfill.total or not ops:
        return ()
    text = backfill.summary(policy.timezone)
    notices = [
        notice_row(f"ops:backfill:{now.isoformat()}:{user}", "ops", ("user", user), text, now)
        for user in ops
    ]
    async with sessions.begin() as session:
        await queue_messages(session, notices)
    return ops
