"""Ingest: channel records and stage events into the order pool, idempotently.

A batch is validated record by record: bad records are reported by index with a reason, the
good ones land in one transaction. Re-sending a batch changes nothing. Ingest reads, checks
and places the records (regions, details, health counts); what a stage entry does (deadline,
events, tickets closing) is the lifecycle's (services.lifecycle.stages).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels import limits
from channels.address import Region, RegionParser
from channels.base import NormalizedOrder, RecordError
from channels.reader import RecordReader
from channels.regions import LazyRegionNames
from channels.regions import Region as OfficialRegion
from channels.registry import ADAPTERS
from channels.suggest import nearest
from channels.timeparse import shown
from rules.details import Waybill
from rules.freshness import is_news, tally
from rules.logistics import BY_LABEL, Logistics
from rules.stages import Stage
from services.backfill import Backfill
from services.lifecycle.stages import (
    Sighting,
    StageReport,
    apply_stage_events,
    record_orders,
)
from services.policy import Policy, Rules
from services.tracking.parcels import follow_shipped, parcel_row
from services.tracking.scans import FUTURE_SKEW, Scan, apply_scans
from storage.details import OrderDetails, store_details
from storage.events import seen_event_ids
from storage.health import IngestCounts, count_ingest, count_lags
from storage.orders import OrderRow, orders_by_channel_id, orders_by_keys
from storage.parcels import insert_parcels

_FACT_FIELDS = (
    "shop",
    "order_type",
    "amount_fen",
    "category",
    "province",
    "city",
    "district",
    "address_text",
    "address_source",
    "receiver_phone",
    "created_at",
    "paid_at",
    "raw",
    "ship_by_at",
    "hold_reason",
    "buyer_message",
    "seller_memo",
    "receiver_phone_masked",
    "buyer_handles",
    "categories",
)
SCAN_TEXT = 500  # characters of a carrier's words in a scan event
SCAN_PLACE = 128  # parcel_scans.place
_ATTEMPTS = 3  # a concurrent writer inserting the same new order makes us retry the batch
_OFFICIAL_NAMES = LazyRegionNames()  # one table per process, however many ingestors


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    reason: str
    duplicate_of: int | None = None  # the earlier record with the same order number


@dataclass(frozen=True, slots=True)
class NotApplied:
    """A valid event that moves nothing: the order is past that stage, or has ended."""

    index: int
    reason: str


@dataclass
class IngestReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # already so: a re-sent record or event, or a stage the order is in
    rejected: list[Rejection] = field(default_factory=list)
    address_unparsed: int = 0
    tickets_resolved: int = 0
    not_applied: list[NotApplied] = field(default_factory=list)  # events only

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StageEvent:
    channel: str
    channel_order_id: str
    event_id: str
    stage: Stage
    occurred_at: datetime
    waybill: Waybill | None = None  # a TMS's "shipped" may say which parcel left


@dataclass(frozen=True, slots=True)
class ScanEvent:
    """A carrier scan a TMS reports: where the order's parcel is."""

    channel: str
    channel_order_id: str
    event_id: str
    waybill: Waybill
    state: Logistics
    occurred_at: datetime
    text: str
    place: str | None


_STAGE_NAMES = {stage.value: stage for stage in Stage}
_STATE_NAMES = {state.value: state for state in Logistics} | BY_LABEL
_STATES_SHOWN = ", ".join(f"{state.value} ({state.label})" for state in Logistics)


def parse_stage_event(record: Any, now: datetime) -> StageEvent | ScanEvent:
    """Validate one posted event (from a WMS, TMS or other source), with every problem named
    at once; ``now`` bounds ``occurred_at`` (channels.limits). ``"type": "scan"`` makes it a
    carrier scan; otherwise it is a stage event."""
    if not isinstance(record, dict):
        raise RecordError("事件必须是 JSON 对象")
    r = RecordReader(record, now)
    kind = record.get("type", "stage")
    if kind not in ("stage", "scan"):
        r.note(f"type: 未知事件类型 {shown(kind)}; 可选值: stage, scan")
    channel = r.required(r.text("channel", limit=None), "channel")
    if channel is not None and channel not in ADAPTERS:
        guess = nearest(channel, list(ADAPTERS))
        hint = f", 是否想写 {guess}?" if guess else ""
        r.note(f"channel: 未知渠道 {shown(channel)}{hint}; 可选值: {', '.join(ADAPTERS)}")
    order_id = r.required(r.text("order_id", limits.ORDER_ID), "order_id")
    event_id = r.required(r.text("event_id", limits.EVENT_ID), "event_id")
    occurred_at = r.required(r.iso_time("occurred_at"), "occurred_at")
    tracking_no = r.text("tracking_no", limits.TRACKING_NO)
    carrier = r.text("carrier", limits.CARRIER)
    if kind == "scan":
        return _scan_event(r, now, channel, order_id, event_id, occurred_at, tracking_no, carrier)
    stage = r.required(r.stage(_STAGE_NAMES, "stage"), "stage")
    if tracking_no is None and carrier is not None:
        r.note("carrier: 需与 tracking_no 一起上报")
    if tracking_no is not None and stage is not None and stage != Stage.SHIPPED:
        r.note(f"tracking_no: 只有 shipped 事件可带运单号, 本事件为 {stage}")
    r.check()
    waybill = Waybill(tracking_no, carrier, occurred_at) if tracking_no else None
    return StageEvent(channel, order_id, event_id, stage, occurred_at, waybill)


def _scan_event(
    r: RecordReader,
    now: datetime,
    channel: str,
    order_id: str,
    event_id: str,
    occurred_at: datetime,
    tracking_no: str | None,
    carrier: str | None,
) -> ScanEvent:
    r.required(tracking_no, "tracking_no")
    sent_state = r.value("state")
    state = _STATE_NAMES.get(sent_state) if isinstance(sent_state, str) else None
    if sent_state is None:
        r.note("state: 缺少字段")
    elif state is None:
        r.note(f"state: 未知物流状态 {shown(sent_state)}; 可选值: {_STATES_SHOWN}")
    text = r.required(r.text("text", SCAN_TEXT), "text")
    place = r.text("place", SCAN_PLACE)
    if occurred_at is not None and occurred_at > now + FUTURE_SKEW:
        minutes = int(FUTURE_SKEW.total_seconds() // 60)
        r.note(f"occurred_at: 扫描时间晚于当前时间超过 {minutes} 分钟, 不予接收")
    r.check()
    assert tracking_no is not None and state is not None
    waybill = Waybill(tracking_no, carrier, None)
    return ScanEvent(channel, order_id, event_id, waybill, state, occurred_at, text, place)


def order_columns(order: NormalizedOrder, order_type: str) -> OrderRow:
    """The order table's values for a normalised order, before scheduling."""
    return {
        "channel_order_id": order.channel_order_id,
        "stage": order.stage.value,
        "stage_entered_at": order.stage_entered_at,
        "shop": order.shop,
        "order_type": order_type,
        "amount_fen": order.amount_fen,
        "category": order.category,
        "province": order.province,
        "city": order.city,
        "district": order.district,
        "address_text": order.address_text or None,
        "address_source": "channel" if order.province else None,
        "receiver_phone": order.receiver_phone,
        "created_at": order.created_at,
        "paid_at": order.paid_at,
        "raw": order.raw,
        "ship_by_at": order.ship_by_at,
        "shipped_at": order.shipped_at,
        "hold_reason": order.hold_reason,
        "buyer_message": order.buyer_message,
        "seller_memo": order.seller_memo,
        "receiver_phone_masked": order.receiver_phone_masked,
        "buyer_handles": order.buyer_handles,
        "categories": list(order.categories),
    }


def _health_counts(channel: str, rows: list[OrderRow], report: IngestReport) -> IngestCounts:
    """What the health guard counts of a batch (see storage.health)."""
    return {
        "channel": channel,
        "accepted": len(rows),
        "rejected": len(report.rejected),
        "address_parsed": sum(r["address_source"] == "parsed" for r in rows),
        "address_failed": report.address_unparsed,
    }


class Ingestor:
    """Writes orders and events; shared by the HTTP API and ``orderbot import``."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], rules: Rules, regions: RegionParser
    ) -> None:
        self._sessions = sessions
        self._rules = rules
        self._regions = regions

    async def orders(
        self,
        channel: str,
        records: Sequence[Any],
        now: datetime,
        backfill: Backfill | None = None,
        *,
        source: str,
    ) -> IngestReport:
        """Store a batch of channel records from ``source`` (an API client, a file import, a
        table), timing how late its news is. With ``backfill`` (importing history), an order
        whose deadline has already passed is recorded without a ticket and counted there, and
        no lag is timed: history is not news."""
        report = IngestReport()
        policy = self._rules.current()
        normalized = self._normalize(policy, channel, records, now, report)
        rows = await self._with_addresses(policy, normalized, report)
        details = {
            o.channel_order_id: OrderDetails(o.items, o.payments, o.waybills, o.refunds)
            for o in normalized
        }
        raw_texts = {o.channel_order_id: o.raw_json for o in normalized if o.raw_json is not None}
        for attempt in range(_ATTEMPTS):
            held: list[OrderRow] | None = None if backfill is None else []
            news: list[tuple[Stage, datetime]] = []
            try:
                async with self._sessions.begin() as session:
                    counts = await self._upsert(
                        session, policy, channel, rows, details, raw_texts, now, held, news
                    )
                    minute = now.replace(second=0, microsecond=0)
                    await count_ingest(session, minute, [_health_counts(channel, rows, report)])
                    if backfill is None:
                        await count_lags(session, minute, tally(source, news, now))
                break
            except IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise
        if backfill is not None and held:
            backfill.add(held)
        report.created, report.updated, report.unchanged, report.tickets_resolved = counts
        return report

    async def events(self, source: str, records: Sequence[Any], now: datetime) -> IngestReport:
        report = IngestReport()
        parsed: list[tuple[int, StageEvent]] = []
        scans: list[tuple[int, ScanEvent]] = []
        for index, record in enumerate(records):
            try:
                event = parse_stage_event(record, now)
            except RecordError as error:
                report.rejected.append(Rejection(index, str(error)))
                continue
            if isinstance(event, ScanEvent):
                scans.append((index, event))
            else:
                parsed.append((index, event))
        policy = self._rules.current()
        async with self._sessions.begin() as session:
            news = await self._apply_events(session, policy, source, parsed, now, report)
            await self._apply_scans(session, policy, source, scans, now, report)
            minute = now.replace(second=0, microsecond=0)
            await count_lags(session, minute, tally(source, news, now))
        report.rejected.sort(key=lambda r: r.index)
        return report

    def _normalize(
        self,
        policy: Policy,
        channel: str,
        records: Sequence[Any],
        now: datetime,
        report: IngestReport,
    ) -> list[NormalizedOrder]:
        adapter = ADAPTERS[channel]
        first_index: dict[str, int] = {}
        good: list[NormalizedOrder] = []
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                report.rejected.append(Rejection(index, "订单必须是 JSON 对象"))
                continue
            try:
                order = adapter(record, now)
            except RecordError as error:
                report.rejected.append(Rejection(index, str(error)))
                continue
            known = policy.config.order_types.known
            if order.order_type not in known:
                report.rejected.append(
                    Rejection(index, f"order_type: 未知订单类型 {order.order_type!r}")
                )
                continue
            if order.channel_order_id in first_index:
                earlier = first_index[order.channel_order_id]
                report.rejected.append(Rejection(index, "订单号在本批中重复", earlier))
                continue
            first_index[order.channel_order_id] = index
            good.append(order)
        return good

    async def _with_addresses(
        self, policy: Policy, orders: list[NormalizedOrder], report: IngestReport
    ) -> list[OrderRow]:
        """Column values per order, with the regions a channel sent under their official names
        (上海 → 上海市, 市辖区 → the municipality; what was sent stays in ``raw``) and free-text
        addresses parsed, both off the event loop. A blank address is counted as not parsed,
        like one the parser cannot place: the health guard's address signal must see it."""
        needs_parsing = [o for o in orders if o.province is None and o.address_text]
        structured = [o for o in orders if o.province is not None]
        parsed: dict[str, Region | None] = {}
        official: dict[str, OfficialRegion] = {}
        if needs_parsing or structured:
            texts = [o.address_text or "" for o in needs_parsing]
            sent = [(o.province, o.city, o.district) for o in structured]
            regions, names = await asyncio.to_thread(self._look_up, texts, sent)
            parsed = {o.channel_order_id: r for o, r in zip(needs_parsing, regions, strict=True)}
            official = {o.channel_order_id: n for o, n in zip(structured, names, strict=True)}
        rows = []
        for order in orders:
            kind = policy.order_type(
                order.order_type, order.channel, (order.category, *order.categories)
            )
            row = order_columns(order, kind)
            if (official_names := official.get(order.channel_order_id)) is not None:
                row["province"] = official_names.province
                row["city"] = official_names.city
                row["district"] = official_names.district
            elif order.address_text is not None:
                region = parsed.get(order.channel_order_id)
                if region is None:
                    row["address_source"] = "failed"
                    report.address_unparsed += 1
                else:
                    row["province"] = region.province
                    row["city"] = region.city
                    row["district"] = region.district
                    row["address_source"] = "parsed"
            rows.append(row)
        return rows

    def _look_up(
        self, texts: list[str], sent: list[tuple[str | None, str | None, str | None]]
    ) -> tuple[list[Region | None], list[OfficialRegion]]:
        """The regions of free-text addresses, and the official names of sent ones (blocking:
        the first call of each loads a table). A batch's orders share their regions: each
        distinct one is looked up once."""
        parsed = [self._regions.parse(text) for text in texts]
        official = {levels: _OFFICIAL_NAMES.normalize(*levels) for levels in set(sent)}
        return parsed, [official[levels] for levels in sent]

    async def _upsert(
        self,
        session: AsyncSession,
        policy: Policy,
        channel: str,
        rows: list[OrderRow],
        details: dict[str, OrderDetails],
        raw_texts: dict[str, bytes],
        now: datetime,
        held: list[OrderRow] | None,
        news: list[tuple[Stage, datetime]],
    ) -> tuple[int, int, int, int]:
        """Merge the records' facts into the orders they name and hand them to the lifecycle,
        which stores them with their stage entries; then their details. A new order's raw
        column is the text the record's check made (``raw_texts``, by order number) where
        there is one, rather than the record serialised again. In a backfill
        (``held`` is a list) overdue orders are not watched but collected in ``held``. The
        stage entries that are fresh news (rules.freshness.is_news) go to ``news``."""
        existing = await orders_by_channel_id(
            session, channel, [r["channel_order_id"] for r in rows]
        )
        new: list[OrderRow] = []
        seen: list[Sighting] = []
        for row in rows:
            order = existing.get(row["channel_order_id"])
            stage, entered = Stage(row["stage"]), row["stage_entered_at"]
            current = None if order is None else (Stage(order["stage"]), order["stage_entered_at"])
            if is_news(current, stage, entered):
                news.append((stage, entered))
            if order is None:
                new.append(row | {"channel": channel, "received_at": now, "updated_at": now})
                if (text := raw_texts.get(row["channel_order_id"])) is not None:
                    new[-1]["raw"] = orjson.Fragment(text)  # type: ignore[typeddict-item]
                continue
            ship_by = order["ship_by_at"]
            facts_changed = _merge_facts(order, row)
            moved_ship_by = order["ship_by_at"] != ship_by
            seen.append(
                Sighting(order, row["stage"], row["stage_entered_at"], facts_changed, moved_ship_by)
            )
        recorded = await record_orders(session, policy, channel, new, seen, now, held)
        await store_details(
            session,
            {o["id"]: details[o["channel_order_id"]] for o in recorded.new},
            {o["id"]: details[o["channel_order_id"]] for o in recorded.changed},
        )
        await follow_shipped(
            session,
            policy.config.tracking,
            (
                (o, details[o["channel_order_id"]].waybills)
                for o in (*recorded.new, *recorded.changed)
            ),
            now,
        )
        created, updated = len(recorded.new), len(recorded.changed)
        return created, updated, len(rows) - created - updated, recorded.resolved

    async def _apply_events(
        self,
        session: AsyncSession,
        policy: Policy,
        source: str,
        events: list[tuple[int, StageEvent]],
        now: datetime,
        report: IngestReport,
    ) -> list[tuple[Stage, datetime]]:
        """Apply stage events; returns the stage entries among them that are fresh news."""
        orders = await orders_by_keys(session, {(e.channel, e.channel_order_id) for _, e in events})
        seen = await seen_event_ids(session, source, [e.event_id for _, e in events])
        reports: list[StageReport] = []
        indexes: list[int] = []
        for index, event in events:
            order = orders.get((event.channel, event.channel_order_id))
            if order is None:
                report.rejected.append(
                    Rejection(index, f"订单不存在: {event.channel}:{event.channel_order_id}")
                )
                continue
            if event.event_id in seen:
                report.unchanged += 1
                continue
            seen.add(event.event_id)
            reports.append(StageReport(order, event.event_id, event.stage, event.occurred_at))
            indexes.append(index)
        outcomes, report.tickets_resolved = await apply_stage_events(
            session, policy, source, reports, now
        )
        await follow_shipped(
            session,
            policy.config.tracking,
            (
                (orders[(e.channel, e.channel_order_id)], [e.waybill])
                for _, e in events
                if e.waybill is not None and (e.channel, e.channel_order_id) in orders
            ),
            now,
        )
        for index, outcome in zip(indexes, outcomes, strict=True):
            if outcome.applied:
                report.updated += 1
            elif outcome.refusal is not None:
                report.not_applied.append(NotApplied(index, outcome.refusal))
            else:
                report.unchanged += 1
        return [
            (r.stage, r.occurred_at)
            for r, outcome in zip(reports, outcomes, strict=True)
            if outcome.applied and is_news(outcome.came_from, r.stage, r.occurred_at)
        ]

    async def _apply_scans(
        self,
        session: AsyncSession,
        policy: Policy,
        source: str,
        events: list[tuple[int, ScanEvent]],
        now: datetime,
        report: IngestReport,
    ) -> None:
        """Carrier scans from a TMS: the parcel is followed from its first scan (so a 揽收
        reported before the order shipped ships it), then the scans are taken like a
        provider's push. A scan stored before counts as unchanged."""
        if not events:
            return
        tracking = policy.config.tracking
        if tracking is None:
            for index, _ in events:
                report.rejected.append(Rejection(index, "未配置 [tracking]: 不接收物流扫描"))
            return
        orders = await orders_by_keys(session, {(e.channel, e.channel_order_id) for _, e in events})
        found: list[tuple[int, ScanEvent]] = []
        for index, event in events:
            order = orders.get((event.channel, event.channel_order_id))
            if order is None:
                why = f"订单不存在: {event.channel}:{event.channel_order_id}"
                report.rejected.append(Rejection(index, why))
            else:
                found.append((index, event))
        await insert_parcels(
            session,
            [
                parcel_row(tracking, orders[(e.channel, e.channel_order_id)], e.waybill, now)
                for _, e in found
            ],
        )
        scans = [
            Scan(e.waybill.tracking_no, e.occurred_at, e.text, e.place, None, e.state)
            for _, e in found
        ]
        result = await apply_scans(session, policy, scans, source=source, now=now)
        report.tickets_resolved += result.stalls_closed
        report.updated += len(result.stored_from)
        report.unchanged += len(found) - len(result.stored_from)


def _merge_facts(order: OrderRow, row: OrderRow) -> bool:
    """Take a record's facts into the stored order; whether any changed. When the parcel left
    is kept once known."""
    is_changed = any(order[name] != row[name] for name in _FACT_FIELDS)  # type: ignore[literal-required]
    order.update((name, row[name]) for name in _FACT_FIELDS)  # type: ignore[literal-required, typeddict-item]
    if row["shipped_at"] not in (None, order["shipped_at"]):
        order["shipped_at"] = row["shipped_at"]
        is_changed = True
    return is_changed
