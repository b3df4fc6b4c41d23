"""The service's Prometheus metrics, on a registry of their own per application.

Business code does not touch these: the scheduler reports every job run to
:meth:`Metrics.job_finished`, and the call sites of ingest and delivery count from the result
objects those return.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from channels.registry import ADAPTERS
from jobs.deliver import DeliveryResult
from rules.freshness import StageLag
from rules.health import Reading
from services.ingest import IngestReport

# From an idle tick (milliseconds) to a storm of overdue orders on a big pool (minutes).
JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TARGET_KINDS = ("group", "user")
DELIVERY_OUTCOMES = ("sent", "retry", "deferred", "dead")  # as jobs.deliver counts them


@dataclass(frozen=True)
class HealthView:
    """The health guard's signals judged at scrape time, the routing pause, and each source's
    lag per stage over the window."""

    readings: Sequence[Reading]
    paused: bool
    lags: Mapping[str, Sequence[StageLag]]


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int
    oldest_age_seconds: float  # 0 when nothing is pending


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # What the default registry would have: memory, CPU, file descriptors, GC, version.
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.job_duration = Histogram(
            "orderbot_job_duration_seconds",
            "Duration of timer job runs, failed ones included",
            ["job"],
            buckets=JOB_BUCKETS,
            registry=registry,
        )
        self.job_failures = Counter(
            "orderbot_job_failures",
            "Timer job runs that raised",
            ["job"],
            registry=registry,
        )
        self.job_last_success = Gauge(
            "orderbot_job_last_success_timestamp_seconds",
            "Unix time the job last finished without raising",
            ["job"],
            registry=registry,
        )
        self.ingested = Counter(
            "orderbot_ingested_records",
            "Records posted to the ingest API, by kind (orders|events), channel and outcome "
            "(accepted|rejected, as answered to the source)",
            ["kind", "channel", "outcome"],
            registry=registry,
        )
        self.deliveries = Counter(
            "orderbot_wecom_deliveries",
            "Notifications handled by the outbox sender, by target kind (group|user) and "
            "outcome: sent, retry (a failure that may pass), deferred (the chat's rate budget "
            "is spent), dead (dead-lettered)",
            ["target_kind", "outcome"],
            registry=registry,
        )
        # Exported as 0 from the start: Prometheus's increase() cannot see a series' first
        # value, so a first dead letter would otherwise never count.
        for target_kind in TARGET_KINDS:
            for outcome in DELIVERY_OUTCOMES:
                self.deliveries.labels(target_kind, outcome)
        self.outbox_pending = Gauge(
            "orderbot_outbox_pending",
            "Notifications waiting in the outbox, read at scrape time (NaN: database down)",
            registry=registry,
        )
        self.outbox_oldest_age = Gauge(
            "orderbot_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending notification, read at scrape time (NaN: database down)",
            registry=registry,
        )
        self._signals: set[str] = set()  # health signals exported so far
        self.health_failing = Gauge(
            "orderbot_health_failing",
            "Health guard signals judged at scrape time: 1 failing, 0 ok, NaN too little data "
            "(or the database down)",
            ["signal"],
            registry=registry,
        )
        self.source_lag = Gauge(
            "orderbot_source_lag_seconds",
            "How late each source's news is: the lag between a stage's own time in a record or "
            "event and its arrival, by source, stage and quantile (0.5, 0.95) over [health] "
            "window, read at scrape time from log-scale bucket counts (within 9%); absent without "
            "records in the window",
            ["source", "stage", "quantile"],
            registry=registry,
        )
        self.routing_paused = Gauge(
            "orderbot_routing_paused",
            "Auto-routing paused (1) by the health guard or by ops; NaN: database down",
            registry=registry,
        )
        self.database_up = Gauge(
            "orderbot_database_up",
            "Whether the database answered the scrape's outbox query in time (1) or not (0)",
            registry=registry,
        )

    def job_finished(self, job: str, seconds: float, *, failed: bool) -> None:
        self.job_duration.labels(job).observe(seconds)
        failures = self.job_failures.labels(job)  # exported as 0 before the first failure
        if failed:
            failures.inc()
        else:
            self.job_last_success.labels(job).set(time.time())

    def orders_ingested(self, channel: str, count: int, report: IngestReport) -> None:
        self._count_ingested("orders", [channel] * count, report)

    def events_ingested(self, records: Sequence[Any], report: IngestReport) -> None:
        # Each event names its channel; a bad one may name anything, which must not become a
        # label value of its own.
        channels = [
            record["channel"]
            if isinstance(record, dict) and record.get("channel") in ADAPTERS
            else "unknown"
            for record in records
        ]
        self._count_ingested("events", channels, report)

    def _count_ingested(self, kind: str, channels: list[str], report: IngestReport) -> None:
        rejected = {rejection.index for rejection in report.rejected}
        tally = collections.Counter(
            (channel, "rejected" if index in rejected else "accepted")
            for index, channel in enumerate(channels)
        )
        for (channel, outcome), count in tally.items():
            self.ingested.labels(kind, channel, outcome).inc(count)

    def deliveries_done(self, result: DeliveryResult) -> None:
        for (target_kind, outcome), count in result.notifications.items():
            self.deliveries.labels(target_kind, outcome).inc(count)

    def health_read(self, health: HealthView | None) -> None:
        """Set the health gauges from readings taken now; ``None``: the database did not answer
        (signals already known read NaN, lags are left out)."""
        self.source_lag.clear()  # a source quiet for the window has no lag to show
        if health is None:
            self.routing_paused.set(math.nan)
            for signal in self._signals:
                self.health_failing.labels(signal).set(math.nan)
            return
        self.routing_paused.set(int(health.paused))
        for reading in health.readings:
            value = math.nan if reading.failing is None else int(reading.failing)
            self.health_failing.labels(reading.signal).set(value)
            self._signals.add(reading.signal)
        for source, lags in health.lags.items():
            for lag in lags:
                stage = lag.stage.value
                self.source_lag.labels(source, stage, "0.5").set(lag.p50.total_seconds())
                self.source_lag.labels(source, stage, "0.95").set(lag.p95.total_seconds())

    def outbox_read(self, backlog: OutboxBacklog | None) -> None:
        """Set the scrape-time gauges; ``None``: the database did not answer."""
        if backlog is None:
            self.database_up.set(0)
            self.outbox_pending.set(math.nan)
            self.outbox_oldest_age.set(math.nan)
            return
        self.database_up.set(1)
        self.outbox_pending.set(backlog.pending)
        self.outbox_oldest_age.set(backlog.oldest_age_seconds)
