"""APScheduler as the trigger only: a table of jobs (on intervals or at times of day), one
wrapper for logging and timing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import astuple, dataclass, is_dataclass
from datetime import time as clock_time
from datetime import timedelta
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    id: str
    run: Callable[[], Awaitable[Any]]
    trigger: BaseTrigger


def every(interval: timedelta) -> IntervalTrigger:
    return IntervalTrigger(seconds=interval.total_seconds())


def daily(at: clock_time, timezone: str, day_of_week: str | None = None) -> CronTrigger:
    """At a local time of day, every day or on one weekday (``mon`` … ``sun``)."""
    return CronTrigger(hour=at.hour, minute=at.minute, day_of_week=day_of_week, timezone=timezone)


class JobObserver(Protocol):
    """Told of every job run, e.g. to export metrics."""

    def job_finished(self, job: str, seconds: float, *, failed: bool) -> None: ...


async def run_job(spec: JobSpec, observer: JobObserver) -> None:
    """Run one job, logging its outcome and duration; an exception never kills the scheduler."""
    started = time.perf_counter()
    try:
        result = await spec.run()
    except Exception:
        observer.job_finished(spec.id, time.perf_counter() - started, failed=True)
        logger.exception("job %s failed", spec.id)
        return
    elapsed = time.perf_counter() - started
    observer.job_finished(spec.id, elapsed, failed=False)
    # Ticks that did something are worth a line in the log; the idle ones every few seconds not.
    did_work = is_dataclass(result) and any(astuple(result))  # type: ignore[arg-type]
    level = logging.INFO if did_work else logging.DEBUG
    logger.log(level, "job %s done in %.1f ms: %s", spec.id, elapsed * 1000, result)


class Timers:
    """The jobs on their intervals, and the runs under way, so that stopping can wait for them.

    APScheduler's own shutdown cancels a running job mid-transaction and returns at once, so the
    engine is disposed under it; an aiosqlite connection cut off that way may never finish
    closing, and then the process cannot exit.
    """

    def __init__(self, specs: Sequence[JobSpec], timezone: str, observer: JobObserver) -> None:
        self.scheduler = AsyncIOScheduler(
            timezone=timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        self._observer = observer
        self._running: set[asyncio.Task[Any]] = set()
        for spec in specs:
            self.scheduler.add_job(
                self._run,
                spec.trigger,
                args=(spec,),
                id=spec.id,
                replace_existing=True,
            )

    async def _run(self, spec: JobSpec) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await run_job(spec, self._observer)
        finally:
            self._running.discard(task)

    def start(self) -> None:
        self.scheduler.start()

    async def stop(self, grace: timedelta) -> None:
        """Start no new runs, give those under way ``grace`` to finish, then shut down."""
        self.scheduler.pause()
        if self._running:
            await asyncio.wait(self._running, timeout=grace.total_seconds())
        self.scheduler.shutdown(wait=False)
