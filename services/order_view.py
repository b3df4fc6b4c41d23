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
from rules.phones import mask_phone
from rules.render import OrderNotes, masked_text, stage_in_words
from rules.stages import Stage
from services.notices import order_notes
from services.policy import Policy
from storage import lookups as db
from storage.details import details_of
from storage.models import Order, Ticket


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
class TimelineEntry:
    """One moment of the order's history.

    ``kind`` is "stage" (the order entered the stage in ``detail``, reported by ``actor``),
    "opened" (the ticket opened, ``detail`` why it went to its group) or the kind of a ticket
    event (alerted, claimed, assigned, snoozed, noted, escalated, resolved) with its actor and
    detail in people's words. ``internal`` entries are for staff only: every ticket entry is,
    since they name staff and groups and carry their notes; stage entries are not.
    """

    at: datetime
    kind: str
    actor: str | None
    detail: str | None
    internal: bool


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
    stage_in_words: str  # ``仓库拣货中(预计2小时内完成拣货)``, as of the view's moment
    deadline_at: datetime | None  # the SLA deadline of the current stage, if it has one
    eta: datetime | None = None  # when the parcel is expected (filled by tracking, later)
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


def summary_of(policy: Policy, order: Order, ticket: Ticket | None, now: datetime) -> OrderSummary:
    """The order and its ticket (which may be None) as of ``now``."""
    return OrderSummary(
        order_no=order.channel_order_id,
        channel=order.channel,
        channel_label=channel_label(order.channel),
        amount_fen=order.amount_fen,
        paid_at=order.paid_at,
        stage=order.stage,
        stage_label=Stage(order.stage).label,
        stage_in_words=stage_in_words(order.stage, order.deadline_at, now),
        deadline_at=order.deadline_at,
        phone=masked_phone(order),
        ticket=None if ticket is None else ticket_view(policy, ticket),
    )


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


async def view_of(
    session: AsyncSession, policy: Policy, order: Order, ticket: Ticket | None, now: datetime
) -> OrderView:
    """The whole view of an order found with its ticket (which may be None): its details and
    its history are read here (one statement each kind of detail, one for the history)."""
    details = (await details_of(session, [order.id]))[order.id]
    rows = await db.history(session, order.id, None if ticket is None else ticket.id)
    summary = summary_of(policy, order, ticket, now)
    return OrderView(
        **{f.name: getattr(summary, f.name) for f in fields(OrderSummary)},
        notes=_masked_notes(order_notes(order, details)),
        timeline=_timeline(policy, ticket, rows),
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
    first, at most ``limit``, each with its open ticket: one statement."""
    rows = await db.orders_by_phone(session, phone, since, limit)
    return tuple(summary_of(policy, order, ticket, now) for order, ticket in rows)
