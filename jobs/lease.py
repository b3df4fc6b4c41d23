"""A chat's delivery lease, kept short and renewed while the chat is served: a crashed instance
holds a chat for at most ``LEASE``, a busy one for as long as it needs."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from types import TracebackType

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.clock import Clock
from storage.delivery import Target, renew_lease

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=10)
RENEW_EVERY = LEASE / 4  # three renewals may fail (a database hiccup) before the lease lapses


class Heartbeat:
    """Renews a lease this instance holds every ``RENEW_EVERY`` while the block runs.

    ``lost`` turns true once a renewal finds the lease taken by another instance (it lapsed,
    say while this process was stalled): the holder must then stop sending to the chat.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        target: Target,
        owner: str,
        clock: Clock,
    ) -> None:
        self._sessions, self._target, self._owner, self._clock = sessions, target, owner, clock
        self._task: asyncio.Task[None] | None = None
        self.lost = False

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._beat(), name=f"lease {self._target}")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _beat(self) -> None:
        while not self.lost:
            await asyncio.sleep(RENEW_EVERY.total_seconds())
            try:
                async with self._sessions.begin() as session:
                    held = await renew_lease(
                        session, self._target, self._owner, self._clock.now() + LEASE
                    )
            except (SQLAlchemyError, OSError) as error:
                logger.warning("cannot renew the lease on %s:%s: %s", *self._target, error)
                continue
            self.note(held)

    def note(self, held: bool) -> None:
        """What a renewal (here or along with a recorded message) found."""
        if not held and not self.lost:
            logger.warning("lost the lease on %s:%s to another instance", *self._target)
            self.lost = True
