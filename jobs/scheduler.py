"""APScheduler as the trigger only: a table of jobs, one wrapper for logging and timing."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import astuple, dataclass, is_dataclass
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    id: str
    run: Callable[[], Awaitable[Any]]
    every: timedelta


async def run_job(spec: JobSpec) -> None:
    """Run one job, logging its outcome and duration; an exception never kills the scheduler."""
    started = time.perf_counter()
    try:
        result = await spec.run()
    except Exception:
        logger.exception("job %s failed", spec.id)
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    # Ticks that did something are worth a line in the log; the idle ones every few seconds not.
    did_work = is_dataclass(result) and any(astuple(result))  # type: ignore[arg-type]
    level = logging.INFO if did_work else logging.DEBUG
    logger.log(level, "job %s done in %.1f ms: %s", spec.id, elapsed_ms, result)


def build_scheduler(specs: Sequence[JobSpec], timezone: str) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        timezone=timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    for spec in specs:
        scheduler.add_job(
            run_job,
            IntervalTrigger(seconds=spec.every.total_seconds()),
            args=(spec,),
            id=spec.id,
            replace_existing=True,
        )
    return scheduler
