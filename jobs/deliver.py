"""The outbox sender: every pending notification reaches its chat, within WeCom's limits.

Per chat (a handler group's robot, or a person through the app) it waits ``group_wait`` after
the first pending notification so a burst becomes one digest, then sends at most every
``group_interval`` (jobs.deliver_chat says how one chat is served). Chats are served
concurrently, each by its own task, at most ``CONCURRENCY`` at a time and chats that share a
rate limit one after the other: a slow chat (WeCom's latency, a robot backing off) holds back
no other, and the timer job only starts the chats that are due, it never waits on WeCom.

A short lease in the database, renewed while a chat is served, lets one instance at a time
send to it; after a crash another instance takes over within seconds (jobs.lease). Each message
is recorded as WeCom accepts it, with the notifications it delivers, so a crash repeats at most
the message in flight and never loses one. Rate limits are kept from the delivery log before
WeCom has to refuse: a robot gets ``robot_per_minute`` messages, a person ``member_per_minute``
and ``member_per_hour``. Retryable failures back off exponentially with jitter; permanent ones
dead-letter the messages with their reason and tell ops once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs.deliver_chat import (
    Delivering,
    DeliveryResult,
    WeComSender,
    channel_of,
    serve_chat,
)
from jobs.lease import LEASE
from services.clock import Clock
from services.policy import Policy, Rules
from storage.db import begin_reading
from storage.delivery import Target, due_targets

__all__ = ["CONCURRENCY", "LEASE", "DeliveryResult", "Sender", "run"]

logger = logging.getLogger(__name__)

CONCURRENCY = 8  # chats served at once: each holds one database connection at a time


class Sender:
    """The outbox sender of one instance, across timer ticks."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rules: Rules,
        wecom: WeComSender,
        clock: Clock,
        instance: str,
        *,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._ctx = Delivering(sessions, rules, wecom, clock, instance)
        self._serving: dict[Target, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._rate_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._finished = DeliveryResult()
        self._errors: list[Exception] = []

    async def tick(self) -> DeliveryResult:
        """Start serving every chat that is due now and not being served already; return what
        the chats finished since the last tick. Raises what a chat failed with since then."""
        ctx = self._ctx
        config = ctx.policy.config.wecom
        assert config is not None
        now = ctx.clock.now()
        async with ctx.sessions() as session:
            await begin_reading(session)  # on SQLite, no waiting behind a watch tick's writes
            targets = await due_targets(
                session, now, now - config.group_wait, now - config.group_interval
            )
        for target in targets:
            if target not in self._serving:
                task = asyncio.create_task(self._serve(target), name=f"deliver {target}")
                self._serving[target] = task
        return self._collect()

    async def drain(self) -> DeliveryResult:
        """Wait for every chat under way (cancelled, they are cut off too); what they did
        since the last tick."""
        await asyncio.gather(*self._serving.values())
        return self._collect()

    async def stop(self, grace: timedelta) -> None:
        """Give the chats under way ``grace`` to finish, then cut them off as a crash would:
        their leases lapse within seconds and at most the messages in flight repeat."""
        serving = list(self._serving.values())
        if serving:
            await asyncio.wait(serving, timeout=grace.total_seconds())
        for task in serving:
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)

    def _collect(self) -> DeliveryResult:
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error
        finished, self._finished = self._finished, DeliveryResult()
        return finished

    async def _serve(self, target: Target) -> None:
        channel = channel_of(self._ctx.policy, target)
        rate_key = ":".join(target) if isinstance(channel, str) else channel.rate_key
        result = DeliveryResult()
        try:
            async with self._slots, self._rate_locks[rate_key]:
                await serve_chat(self._ctx, target, result)
        except Exception as error:  # kept for the next tick, which fails the job with it
            logger.exception("delivery to %s:%s failed", *target)
            self._errors.append(error)
        finally:
            self._finished.add(result)
            del self._serving[target]


async def run(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    wecom: WeComSender,
    clock: Clock,
    instance: str,
) -> DeliveryResult:
    """Send to every chat that is due now, and wait until that is done."""
    sender = Sender(sessions, Rules(policy), wecom, clock, instance)
    await sender.tick()
    return await sender.drain()
