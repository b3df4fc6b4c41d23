"""One view of an order, typed: what 状态 and 查询 show in the chat and what the customer page
will show, each rendering it in its own words.

Nothing in a view reveals a phone number: the receiver's is masked (or shown as the platform
masked it), and free text people wrote (messages, memos, hold reasons) has numbers in it masked.
What only staff may read is marked: a timeline entry's ``internal``, the ticket's fields.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from channels.registry import channel_label
from rules.kinds import KINDS, Kind
from rules.logistics import Logistics, carrier_of
from rules.parcel_words import parcel_in_words, text_event_words
from rules.phones import mask_phone
from rules.render import OrderNotes, local_time, masked_text, stage_in_words
from rules.stages import Stage
from services.notices import order_notes
from services.policy import Policy
from services.tracking.eta import etas_of
from storage import lookups as db
from storage.details import details_of
from storage.models import Order, Parcel, ParcelScan, SmsMessage, Ticket


@dataclass(frozen=True, slots=True)
class TicketView:
    """The order's ticket as staff see it (group, owner and route name people inside)."""

    id: int
    kind: str  # rules.kinds.Kind: overdue, stall, payment
    kind_label: str  # 超时, 物流停滞, 付款差异
    stage: str | None  # the stage entry an overdue or stall ticket is about
    status: str  # open | resolved
    group_key: str
    group_name: str
    owner: str | None
    snoozed_until: datetime | None
    opened_at: datetime
    route_reason: str

    @property
    def open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class ParcelView:
    """A parcel of the order as everyone may see it: who carries it, where it is in words
    (``运输中, 预计12月4日送达``), when it is expected, its last scan."""

    tracking_no: str
    carrier: str | None  # rules.logistics code
    carrier_name: str  # 中通, or as the channel wrote it
    state: str | None  # rules.logistics.Logistics; None before its first scan
    in_words: str
    eta: datetime | None
    last_scan_at: datetime | None
    last_scan_place: str | None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One moment of the order's history.

    ``kind`` is "stage" (the order entered the stage in ``detail``, reported by ``actor``),
    "scan" (a carrier scan: ``actor`` the carrier, ``detail`` its words, ``place`` where),
    "text" (a text to the customer queued, sent, refused or its receipt, ``detail`` in words),
    "opened" (the ticket opened, ``detail`` why it went to its group) or the kind of a ticket
    event (alerted, claimed, assigned, snoozed, noted, escalated, resolved) with its actor and
    detail in people's words. ``internal`` entries are for staff only: every ticket and text
    entry is, since they name staff and groups, carry their notes or the customer's number;
    stage and scan entries are not.
    """

    at: datetime
    kind: str
    actor: str | None
    detail: str | None
    internal: bool
    place: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSummary:
    """An order as a list of a customer's orders shows it."""

    order_no: str
    channel: str
    channel_label: str
    amount_fen: int
    paid_at: datetime | None
    stage: str
    stage_label: str
    # ``仓库拣货中(预计2小时内完成拣货)``; once shipped, where the parcel is:
    # ``运输中, 预计12月4日送达``; as of the view's moment
    stage_in_words: str
    deadline_at: datetime | None  # the SLA deadline of the current stage, if it has one
    eta: datetime | None = None  # when the parcel still on its way is expected
    logistics: str | None = None  # that parcel's rules.logistics state
    parcels: tuple[ParcelView, ...] = ()
    phone: str | None  # masked; None when the order has none
    ticket: TicketView | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderView(OrderSummary):
    """An order on its own: its notes and its history besides.

    ``notes`` are for staff (the seller's memo and the hold reason among them); the items,
    waybills and ship-by are what a customer may also see.
    """

    notes: OrderNotes
    timeline: tuple[TimelineEntry, ...]


def masked_phone(order: Order) -> str | None:
    """The receiver's phone masked, or as the platform sent it masked when that is all."""
    if order.receiver_phone:
        return mask_phone(order.receiver_phone)
    return order.receiver_phone_masked or None


def ticket_view(policy: Policy, ticket: Ticket) -> TicketView:
    return TicketView(
        id=ticket.id,
        kind=ticket.kind,
        kind_label=KINDS[Kind(ticket.kind)].label,
        stage=ticket.stage,
        status=ticket.status,
        group_key=ticket.group_key,
        group_name=policy.group(ticket.group_key).name,
        owner=ticket.owner,
        snoozed_until=ticket.snoozed_until,
        opened_at=ticket.opened_at,
        route_reason=ticket.route_reason,
    )


def _carrier_name(parcel: Parcel) -> str:
    carrier = carrier_of(parcel.carrier)
    return carrier.name if carrier else (parcel.carrier_text or "快递")


def parcel_view(policy: Policy, parcel: Parcel, eta: datetime | None, now: datetime) -> ParcelView:
    state = Logistics(parcel.state) if parcel.state else None
    return ParcelView(
        tracking_no=parcel.tracking_no,
        carrier=parcel.carrier,
        carrier_name=_carrier_name(parcel),
        state=parcel.state,
        in_words=parcel_in_words(state, eta, now, policy.timezone),
        eta=eta,
        last_scan_at=parcel.last_scan_at,
        last_scan_place=parcel.last_scan_place,
    )


async def parcel_views(
    session: AsyncSession, policy: Policy, order_ids: Sequence[int], now: datetime
) -> dict[int, tuple[ParcelView, ...]]:
    """The parcels of these orders, each with its ETA: two statements however many."""
    parcels = await db.parcels_of_orders(session, order_ids)
    etas = await etas_of(session, policy.config.eta, parcels)
    views: dict[int, list[ParcelView]] = {}
    for parcel in parcels:
        views.setdefault(parcel.order_id, []).append(
            parcel_view(policy, parcel, etas[parcel.id], now)
        )
    return {order_id: tuple(found) for order_id, found in views.items()}


def _on_its_way(parcels: Sequence[ParcelView]) -> ParcelView | None:
    """The parcel the customer waits for: the first not yet at its end, else the last."""
    for parcel in parcels:
        if parcel.state is None or not Logistics(parcel.state).is_final:
            return parcel
    return parcels[-1] if parcels else None


def _in_words(order: Order, parcels: Sequence[ParcelView], now: datetime) -> str:
    """The order's state in plain words: where its parcel is once it shipped (each parcel's
    when there are several), else its stage and the promise of its SLA deadline."""
    if order.stage != Stage.SHIPPED or not parcels:
        return stage_in_words(order.stage, order.deadline_at, now)
    if len(parcels) == 1:
        return parcels[0].in_words
    return "; ".join(f"包裹{n} {p.in_words}" for n, p in enumerate(parcels, start=1))


def summary_of(
    policy: Policy,
    order: Order,
    ticket: Ticket | None,
    now: datetime,
    parcels: Sequence[ParcelView] = (),
) -> OrderSummary:
    """The order, its ticket (which may be None) and its parcels as of ``now``."""
    waited_for = _on_its_way(parcels)
    return OrderSummary(
        order_no=order.channel_order_id,
        channel=order.channel,
        channel_label=channel_label(order.channel),
        amount_fen=order.amount_fen,
        paid_at=order.paid_at,
        stage=order.stage,
        stage_label=Stage(order.stage).label,
        stage_in_words=_in_words(order, parcels, now),
        deadline_at=order.deadline_at,
        eta=waited_for.eta if waited_for else None,
        logistics=waited_for.state if waited_for else None,
        parcels=tuple(parcels),
        phone=masked_phone(order),
        ticket=None if ticket is None else ticket_view(policy, ticket),
    )


async def order_summary(
    session: AsyncSession, policy: Policy, order: Order, ticket: Ticket | None, now: datetime
) -> OrderSummary:
    """summary_of with the order's parcels read."""
    parcels = await parcel_views(session, policy, [order.id], now)
    return summary_of(policy, order, ticket, now, parcels.get(order.id, ()))


def _masked(text: str | None) -> str | None:
    """Free text with phone numbers masked, on one line, never cut (masking never lengthens
    it): cutting is the renderer's business."""
    return None if text is None else masked_text(text, len(text))


def _masked_notes(notes: OrderNotes) -> OrderNotes:
    return replace(
        notes,
        buyer_message=_masked(notes.buyer_message),
        seller_memo=_masked(notes.seller_memo),
        hold_reason=_masked(notes.hold_reason),
    )


NOTED_DETAILS = ("items", "waybills")  # what order_notes shows of an order's details
_LEVEL = re.compile(r"第(\d+)级")  # how escalations were once written: level 2 was the first


def _detail(policy: Policy, kind: str, detail: str | None) -> str | None:
    """A ticket event's detail as people read it, also for entries written in older words:
    ``已送达 general`` names the group (综合处理组), ``第2级`` is the first escalation."""
    if detail is None:
        return None
    delivered, _, group = detail.partition(" ")
    if kind == "alerted" and group in policy.config.groups:
        return f"{delivered} {policy.group(group).name}"
    if kind == "escalated" and (level := _LEVEL.fullmatch(detail)):
        return f"第{int(level[1]) - 1}次"
    return detail


def _entry(policy: Policy, row: db.HistoryRow) -> TimelineEntry:
    if row.kind == "stage":
        return TimelineEntry(row.at, row.kind, row.actor, row.detail, internal=False)
    detail = _masked(_detail(policy, row.kind, row.detail))
    return TimelineEntry(row.at, row.kind, row.actor, detail, internal=True)


def _timeline(
    policy: Policy, ticket: Ticket | None, rows: Sequence[db.HistoryRow]
) -> tuple[TimelineEntry, ...]:
    """The history rows (oldest first) with the ticket's opening among them."""
    entries = [_entry(policy, row) for row in rows]
    if ticket is not None:
        opened = TimelineEntry(ticket.opened_at, "opened", None, ticket.route_reason, internal=True)
        # After the stages entered by then (the one it is about), before its own events.
        at = next(
            (i for i, e in enumerate(entries) if e.at > ticket.opened_at or e.internal),
            len(entries),
        )
        entries.insert(at, opened)
    return tuple(entries)


def _scan_entry(scan: ParcelScan, carriers: dict[int, str]) -> TimelineEntry:
    actor = carriers.get(scan.parcel_id)
    return TimelineEntry(
        scan.at, "scan", actor, _masked(scan.text), internal=False, place=scan.place
    )


def _text_entries(policy: Policy, text: SmsMessage) -> list[TimelineEntry]:
    """The moments of one text: queued (and when it may go), sent, its receipt, or how it
    ended unsent (at the moment it was last due: the row keeps no other)."""
    phone = mask_phone(text.phone)

    def entry(at: datetime, event: str, error: str | None = None) -> TimelineEntry:
        words = text_event_words(text.purpose, event, phone, _masked(error))
        return TimelineEntry(at, "text", None, words, internal=True)

    waiting = None
    if text.status == "pending":
        waiting = text.error
        if text.not_before > text.created_at:
            waiting = f"{local_time(text.not_before, policy.timezone)} 后发送"
    entries = [entry(text.created_at, "queued", waiting)]
    if text.sent_at is not None:
        entries.append(entry(text.sent_at, "sent"))
    if text.status in ("delivered", "undelivered"):
        at = text.receipt_at or text.sent_at or text.not_before
        entries.append(entry(at, text.status, text.error if text.status == "undelivered" else None))
    elif text.status in ("refused", "opted_out", "dead"):
        at = text.receipt_at or text.sent_at or text.not_before
        entries.append(entry(at, text.status, text.error if text.status != "opted_out" else None))
    return entries


def _by_time(*parts: Sequence[TimelineEntry]) -> tuple[TimelineEntry, ...]:
    """The entries of all parts by time; of one moment, in the parts' order (stable sort)."""
    return tuple(sorted((e for part in parts for e in part), key=lambda e: e.at))


async def view_of(
    session: AsyncSession, policy: Policy, order: Order, ticket: Ticket | None, now: datetime
) -> OrderView:
    """The whole view of an order found with its ticket (which may be None): its details,
    parcels and history are read here (one statement each for the items and the waybills, one
    for the stages and ticket events, which also says whether the order has parcels and texts;
    then, only where it has them, two for the parcels and their ETA, one each for the scans and
    the texts). Payments are not read (the view shows none): each statement costs a command
    more than its SQL does."""
    details = (await details_of(session, [order.id], kinds=NOTED_DETAILS))[order.id]
    history = await db.history(session, order.id, None if ticket is None else ticket.id)
    parcels = await db.parcels_of_orders(session, [order.id]) if history.parcels else []
    etas = await etas_of(session, policy.config.eta, parcels)
    carriers = {p.id: _carrier_name(p) for p in parcels}
    found = await db.scans_of_order(session, order.id) if parcels else []
    scans = [_scan_entry(scan, carriers) for scan in found]
    sent = await db.texts_of_order(session, order.id) if history.texts else []
    texts = [e for text in sent for e in _text_entries(policy, text)]
    views = [parcel_view(policy, p, etas[p.id], now) for p in parcels]
    summary = summary_of(policy, order, ticket, now, views)
    return OrderView(
        **{f.name: getattr(summary, f.name) for f in fields(OrderSummary)},
        notes=_masked_notes(order_notes(order, details)),
        timeline=_by_time(_timeline(policy, ticket, history.rows), scans, texts),
    )


async def order_view(
    session: AsyncSession, policy: Policy, channel: str, order_no: str, now: datetime
) -> OrderView | None:
    """The view of the channel's order with this number and its newest ticket; None when
    there is no such order."""
    rows = await db.by_order_number(session, order_no, channel, open_only=False)
    if not rows:
        return None
    order, ticket = rows[0]
    return await view_of(session, policy, order, ticket, now)


async def customer_orders(
    session: AsyncSession, policy: Policy, phone: str, since: datetime, limit: int, now: datetime
) -> tuple[OrderSummary, ...]:
    """The orders received since ``since`` for this (full, canonical) phone number, newest
    first, at most ``limit``, each with its open ticket and its parcels: three statements."""
    rows = await db.orders_by_phone(session, phone, since, limit)
    parcels = await parcel_views(session, policy, [order.id for order, _ in rows], now)
    return tuple(
        summary_of(policy, order, ticket, now, parcels.get(order.id, ())) for order, ticket in rows
    )
