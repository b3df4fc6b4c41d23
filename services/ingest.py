"""Ingest: channel records and stage events into the order pool, idempotently.

A batch is validated record by record: bad records are reported by index with a reason, the
good ones land in one transaction. Re-sending a batch changes nothing. A stage change
recomputes the order's deadline and closes its open ticket, queueing a resolution notice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

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
from rules.kinds import CLOSING_ON_MOVE
from rules.stages import Stage, accepts_transition, refusal
from services.backfill import Backfill
from services.policy import Policy, Rules
from storage.details import OrderDetails, store_details
from storage.events import insert_events, seen_event_ids
from storage.health import count_ingest
from storage.orders import insert_orders, orders_by_channel_id, orders_by_keys, update_orders
from storage.reports import MetKey, count_met
from storage.tickets import (
    add_timeline,
    open_tickets_for,
    outbox_row,
    queue_messages,
    resolve,
    timeline_row,
)

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


_STAGE_NAMES = {stage.value: stage for stage in Stage}


def parse_stage_event(record: Any, now: datetime) -> StageEvent:
    """Validate one posted stage event (from a WMS, TMS or other source), with every problem
    named at once; ``now`` bounds ``occurred_at`` (channels.limits)."""
    if not isinstance(record, dict):
        raise RecordError("事件必须是 JSON 对象")
    r = RecordReader(record, now)
    channel = r.required(r.text("channel", limit=None), "channel")
    if channel is not None and channel not in ADAPTERS:
        guess = nearest(channel, list(ADAPTERS))
        hint = f", 是否想写 {guess}?" if guess else ""
        r.note(f"channel: 未知渠道 {shown(channel)}{hint}; 可选值: {', '.join(ADAPTERS)}")
    order_id = r.required(r.text("order_id", limits.ORDER_ID), "order_id")
    event_id = r.required(r.text("event_id", limits.EVENT_ID), "event_id")
    stage = r.required(r.stage(_STAGE_NAMES, "stage"), "stage")
    occurred_at = r.required(r.iso_time("occurred_at"), "occurred_at")
    r.check()
    return StageEvent(channel, order_id, event_id, stage, occurred_at)


def order_columns(order: NormalizedOrder, order_type: str) -> dict[str, Any]:
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


def _health_counts(
    channel: str, rows: list[dict[str, Any]], report: IngestReport
) -> dict[str, Any]:
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
    ) -> IngestReport:
        """Store a batch of channel records. With ``backfill`` (importing history), an order
        whose deadline has already passed is recorded without a ticket and counted there."""
        report = IngestReport()
        policy = self._rules.current()
        normalized = self._normalize(policy, channel, records, now, report)
        rows = await self._with_addresses(policy, normalized, report)
        details = {
            o.channel_order_id: OrderDetails(o.items, o.payments, o.waybills) for o in normalized
        }
        for attempt in range(_ATTEMPTS):
            held: list[dict[str, Any]] | None = None if backfill is None else []
            try:
                async with self._sessions.begin() as session:
                    counts = await self._upsert(session, policy, channel, rows, details, now, held)
                    minute = now.replace(second=0, microsecond=0)
                    await count_ingest(session, minute, [_health_counts(channel, rows, report)])
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
        for index, record in enumerate(records):
            try:
                parsed.append((index, parse_stage_event(record, now)))
            except RecordError as error:
                report.rejected.append(Rejection(index, str(error)))
        policy = self._rules.current()
        async with self._sessions.begin() as session:
            await self._apply_events(session, policy, source, parsed, now, report)
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
    ) -> list[dict[str, Any]]:
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
            if (names := official.get(order.channel_order_id)) is not None:
                row.update(province=names.province, city=names.city, district=names.district)
            elif order.address_text is not None:
                region = parsed.get(order.channel_order_id)
                if region is None:
                    row["address_source"] = "failed"
                    report.address_unparsed += 1
                else:
                    row.update(
                        province=region.province,
                        city=region.city,
                        district=region.district,
                        address_source="parsed",
                    )
            rows.append(row)
        return rows

    def _look_up(
        self, texts: list[str], sent: list[tuple[str | None, str | None, str | None]]
    ) -> tuple[list[Region | None], list[OfficialRegion]]:
        """The regions of free-text addresses, and the official names of sent ones (blocking:
        the first call of each loads a table)."""
        parsed = [self._regions.parse(text) for text in texts]
        return parsed, [_OFFICIAL_NAMES.normalize(*levels) for levels in sent]

    def _met(self, policy: Policy, order: dict[str, Any], left_at: datetime) -> list[MetKey]:
        """The report key of the stage entry the order leaves at ``left_at``, if that is
        within its deadline (the entries that missed are the tickets)."""
        deadline = order["deadline_at"]
        if deadline is None or left_at > deadline:
            return []
        day = deadline.astimezone(policy.timezone).date().isoformat()
        group = policy.route(SimpleNamespace(**order)).group
        return [(day, order["stage"], order["channel"], order["province"] or "", group)]

    def _enter_stage(
        self, policy: Policy, order: dict[str, Any], stage: str, entered_at: datetime
    ) -> None:
        order["stage"], order["stage_entered_at"] = stage, entered_at
        order["deadline_at"], order["next_check_at"] = policy.first_check(
            order_type=order["order_type"],
            stage=stage,
            channel=order["channel"],
            entered_at=entered_at,
            ship_by=order["ship_by_at"],
        )
        _follow_stage(order)

    async def _upsert(
        self,
        session: AsyncSession,
        policy: Policy,
        channel: str,
        rows: list[dict[str, Any]],
        details: dict[str, OrderDetails],
        now: datetime,
        held: list[dict[str, Any]] | None,
    ) -> tuple[int, int, int, int]:
        """Insert new orders and update changed ones with their details; in a backfill
        (``held`` is a list) overdue orders are not watched but collected in ``held``."""
        existing = await orders_by_channel_id(
            session, channel, [r["channel_order_id"] for r in rows]
        )
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []
        met: Counter[MetKey] = Counter()
        for row in rows:
            order = existing.get(row["channel_order_id"])
            if order is None:
                order = row | {"channel": channel, "received_at": now, "updated_at": now}
                self._enter_stage(policy, order, row["stage"], row["stage_entered_at"])
                _hold_back(order, now, held)
                new.append(order)
                continue
            is_changed = any(order[name] != row[name] for name in _FACT_FIELDS)
            ship_by = order["ship_by_at"]
            order.update((name, row[name]) for name in _FACT_FIELDS)
            if row["shipped_at"] not in (None, order["shipped_at"]):  # kept once known
                order["shipped_at"] = row["shipped_at"]
                is_changed = True
            if accepts_transition(Stage(order["stage"]), Stage(row["stage"])):
                met.update(self._met(policy, order, row["stage_entered_at"]))
                self._enter_stage(policy, order, row["stage"], row["stage_entered_at"])
                _hold_back(order, now, held)
                moved.append(order)
                is_changed = True
            elif order["ship_by_at"] != ship_by:  # the platform moved its ship-by
                self._enter_stage(policy, order, order["stage"], order["stage_entered_at"])
                _hold_back(order, now, held)
            else:
                _follow_stage(order)
            if is_changed:
                order["updated_at"] = now
                changed.append(order)
        await insert_orders(session, new)
        await update_orders(session, changed)
        await store_details(
            session,
            {o["id"]: details[o["channel_order_id"]] for o in new},
            {o["id"]: details[o["channel_order_id"]] for o in changed},
        )
        await insert_events(session, [_stage_event(channel, o, now) for o in moved])
        await count_met(session, met)
        resolved = await self._resolve_tickets(session, moved, now)
        unchanged = len(rows) - len(new) - len(changed)
        return len(new), len(changed), unchanged, resolved

    async def _apply_events(
        self,
        session: AsyncSession,
        policy: Policy,
        source: str,
        events: list[tuple[int, StageEvent]],
        now: datetime,
        report: IngestReport,
    ) -> None:
        orders = await orders_by_keys(session, {(e.channel, e.channel_order_id) for _, e in events})
        seen = await seen_event_ids(session, source, [e.event_id for _, e in events])
        moved: dict[int, dict[str, Any]] = {}
        event_rows: list[dict[str, Any]] = []
        met: Counter[MetKey] = Counter()
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
            current = Stage(order["stage"])
            applied = accepts_transition(current, event.stage)
            if applied:
                met.update(self._met(policy, order, event.occurred_at))
                self._enter_stage(policy, order, event.stage.value, event.occurred_at)
                order["updated_at"] = now
                moved[order["id"]] = order
                report.updated += 1
            elif reason := refusal(current, event.stage):
                report.not_applied.append(NotApplied(index, reason))
            else:
                report.unchanged += 1
            event_rows.append(
                {
                    "order_id": order["id"],
                    "source": source,
                    "event_id": event.event_id,
                    "stage": event.stage.value,
                    "occurred_at": event.occurred_at,
                    "received_at": now,
                    "applied": applied,
                }
            )
        await update_orders(session, list(moved.values()))
        await insert_events(session, event_rows)
        await count_met(session, met)
        report.tickets_resolved = await self._resolve_tickets(session, list(moved.values()), now)

    async def _resolve_tickets(
        self, session: AsyncSession, moved: list[dict[str, Any]], now: datetime
    ) -> int:
        """Close the open tickets of orders that moved on, and queue a notice for each group."""
        by_id = {order["id"]: order for order in moved}
        tickets = await open_tickets_for(session, by_id, CLOSING_ON_MOVE)
        closed = [(t.id, by_id[t.order_id]["stage_entered_at"]) for t in tickets]
        await resolve(session, closed, "auto")
        timeline, messages = [], []
        for ticket in tickets:
            stage = by_id[ticket.order_id]["stage"]
            detail = f"订单进入「{Stage(stage).label}」"
            timeline.append(timeline_row(ticket.id, "resolved", now, detail))
            messages.append(
                outbox_row(
                    ticket_id=ticket.id,
                    kind="resolution",
                    level=None,
                    target_kind="group",
                    target=ticket.group_key,
                    now=now,
                )
            )
        await add_timeline(session, timeline)
        await queue_messages(session, messages)
        return len(tickets)


def _follow_stage(order: dict[str, Any]) -> None:
    """What the stage says about the order's other facts: it left when it entered ``shipped``
    (unless the platform said when), and a hold reason holds only while it is on hold."""
    if order["stage"] == Stage.SHIPPED and order["shipped_at"] is None:
        order["shipped_at"] = order["stage_entered_at"]
    if order["stage"] != Stage.ON_HOLD:
        order["hold_reason"] = None


def _hold_back(order: dict[str, Any], now: datetime, held: list[dict[str, Any]] | None) -> None:
    """In a backfill (``held`` is a list), an order already past its deadline is recorded but
    not watched: no ticket, no alert; it is collected for the import's one summary."""
    if held is not None and order["deadline_at"] is not None and order["deadline_at"] <= now:
        order["next_check_at"] = None
        held.append(order)


def _stage_event(source: str, order: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A stage change an order record reported, kept as an event for the order's history.

    A new order's first stage is on the order itself (stage, stage_entered_at)."""
    entered = order["stage_entered_at"]
    return {
        "order_id": order["id"],
        "source": source,
        "event_id": f"{order['channel_order_id']}:{order['stage']}:{int(entered.timestamp())}",
        "stage": order["stage"],
        "occurred_at": entered,
        "received_at": now,
        "applied": True,
    }
