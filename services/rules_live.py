"""Following the rules in force: each instance reads the version pointer every
``[watch].rules_poll`` (one primary-key read) and, when it moved or a promotion starts or ends,
swaps the Policy that ``Rules.current()`` hands out. The hot paths keep doing an attribute
read; nothing waits on this."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.clock import Clock
from services.config import Config, ConfigError
from services.policy import Policy, Rules, active_promotions
from services.rule_document import with_document
from services.rule_effects import reschedule
from storage.db import begin_reading
from storage.outbox import notice_row, queue_messages
from storage.rule_versions import claim_switch, get_version, in_force_id

logger = logging.getLogger(__name__)
_UNREAD = -1  # no version read yet (None: none in force, the file's own rules run)


class RulesFollower:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        base: Config,
        rules: Rules,
        clock: Clock,
    ) -> None:
        self._sessions, self._base, self._rules, self._clock = sessions, base, rules, clock
        self.version_id: int | None = _UNREAD
        self._config = base
        self._running: tuple[str, ...] | None = None  # the promotions in force, once known

    async def refresh(self) -> bool:
        """Look once; whether the rules in force changed here."""
        async with self._sessions() as session:
            await begin_reading(session)
            current = await in_force_id(session)
            version = None
            if current != self.version_id and current is not None:
                version = await get_version(session, current)
        first_read = self.version_id is _UNREAD
        moved = current != self.version_id
        if moved:
            if version is not None:
                try:
                    self._config = with_document(self._base, version.document)
                except ConfigError as error:  # e.g. a variable this host lacks
                    logger.error("第 %s 版规则在本实例无法使用, 仍按原规则运行: %s", current, error)
                    self.version_id = current
                    return False
            self.version_id = current
        now = self._clock.now()
        running = active_promotions(self._config, now)
        switched = self._running is not None and running != self._running and not moved
        before = self._rules.current()
        if moved or running != self._running:
            self._rules.swap(Policy.at(self._config, now))
            if moved and not first_read:  # the first read is start-up, not a switch
                logger.info("规则已切换到第 %s 版", current)
        if switched and self._running is not None:
            await self._switch(before, self._running, running, now)
        self._running = running
        return moved or switched

    async def _switch(
        self, before: Policy, was: tuple[str, ...], now_running: tuple[str, ...], now: datetime
    ) -> None:
        """A promotion started or ended: the first instance to see it reschedules open orders
        and tells ops; the others find it done."""
        started = [name for name in now_running if name not in was]
        ended = [name for name in was if name not in now_running]
        keys = [f"{self.version_id}:{n}:start" for n in started]
        keys += [f"{self.version_id}:{n}:end" for n in ended]
        async with self._sessions.begin() as session:
            claimed = [await claim_switch(session, key, now) for key in keys]
            if not any(claimed):
                return
            moved = await reschedule(session, before, self._rules.current(), now)
            words = [f"促销规则「{n}」已开始" for n in started]
            words += [f"促销规则「{n}」已结束" for n in ended]
            text = (
                "; ".join(words)
                + f"。{moved.new_deadlines} 个未结订单的时限已重算, "
                + f"其中 {moved.overdue_at_once} 个立即超时"
            )
            key = "|".join(keys)
            await queue_messages(
                session,
                [
                    notice_row(f"ops:promotion:{key}:{u}"[:160], "ops", ("user", u), text, now)
                    for u in self._base.roles.ops
                ],
            )
