"""Providers' verified pushes, stored before they are answered: their scans onto the parcels
following each waybill, and what each says of its subscription (still followed, ended, given
up: see services.tracking.aborts).

Pushes arriving together are stored together (group commit): while one transaction runs, the
pushes that arrive wait, and the next transaction takes them all. Each push's sender is
answered only once its transaction committed; a batch that fails is retried push by push, so
one bad push fails only itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.tracking.base import Push, PushStatus, TrackingProvider
from services.clock import Clock
from services.policy import Policy
from services.tracking.aborts import take_aborts
from services.tracking.scans import Scan, ScanResult, apply_scans, provider_scan
from storage.parcels import set_subscription

log = logging.getLogger(__name__)

MAX_BATCH = 200  # pushes per transaction
_SUBSCRIPTION = {PushStatus.POLLING: "active", PushStatus.ENDED: "ended"}


async def take_pushes(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    provider: TrackingProvider,
    pushes: Sequence[Push],
    now: datetime,
) -> ScanResult:
    """Store the pushes' scans (idempotently) in one transaction."""
    scans: list[Scan] = []
    spans: list[tuple[Push, range]] = []
    for push in pushes:
        start = len(scans)
        scans += [
            provider_scan(push.tracking_no, s.at, s.text, s.place, s.code, provider.state_of)
            for s in push.scans
        ]
        spans.append((push, range(start, len(scans))))
    async with sessions.begin() as session:
        result = await apply_scans(session, policy, scans, source=provider.name, now=now)
        await _follow_status(session, policy, provider, pushes, result.subscriptions, now)
    unknown = set(result.unknown_waybill)
    for push, span in spans:
        if span and all(index in unknown for index in span):
            log.warning(
                "%s 推送了未跟踪的单号 %s (%d 条扫描): 已应答成功, 未记录",
                provider.name,
                push.tracking_no,
                len(span),
            )
    return result


async def _follow_status(
    session: AsyncSession,
    policy: Policy,
    provider: TrackingProvider,
    pushes: Sequence[Push],
    known: Mapping[str, set[str]],
    now: datetime,
) -> None:
    """What the pushes say of their subscriptions: one statement per status, for the waybills
    whose parcels (``known``: read with the scans) are not there already; aborts apart."""
    by_status: dict[str, set[str]] = defaultdict(set)
    aborts: list[tuple[str, str]] = []
    for push in pushes:
        if push.status == PushStatus.ABORTED:
            aborts.append((push.tracking_no, push.message))
            continue
        subscription = _SUBSCRIPTION[push.status]
        if known.get(push.tracking_no) != {subscription}:
            by_status[subscription].add(push.tracking_no)
    for subscription, numbers in by_status.items():
        await set_subscription(session, sorted(numbers), subscription, None)
    if aborts:
        await take_aborts(session, policy, provider.name, aborts, now)


class PushWriter:
    """Stores pushes as they arrive, those arriving together in one transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: Callable[[], Policy],
        provider: TrackingProvider,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._provider = provider
        self._clock = clock
        self._waiting: list[tuple[Push, asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def take(self, push: Push) -> None:
        """Return once ``push`` is stored; raises what storing it raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((push, done))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write())
        await done

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                await self._store([push for push, _ in batch])
            except Exception as error:  # handed to the senders waiting on it
                if len(batch) == 1:
                    _settle(batch, error)
                    continue
                for one in batch:
                    try:
                        await self._store([one[0]])
                    except Exception as alone:
                        _settle([one], alone)
                    else:
                        _settle([one], None)
            else:
                _settle(batch, None)

    async def _store(self, pushes: list[Push]) -> None:
        await take_pushes(self._sessions, self._policy(), self._provider, pushes, self._clock.now())


def _settle(batch: list[tuple[Push, asyncio.Future[None]]], error: Exception | None) -> None:
    for _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
