"""The text of outbox notifications, rendered at delivery from the ticket and order as they are
then, so that "overdue by", the owner and the time to escalation are true when people read them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from channels.registry import channel_label
from rules.details import Item, Waybill
from rules.digest import Facts
from rules.render import (
    AlertFacts,
    OrderNotes,
    ResolutionFacts,
    masked_text,
    region_of,
    render_alert,
    render_resolution,
)
from rules.routing import PAUSED_RULE
from services.policy import Policy
from storage.details import OrderDetails, details_of
from storage.models import OutboxMessage
from storage.ticket_rows import TicketWithOrder, tickets_with_orders

TITLE_LIMIT = 30  # characters of an item's title where it is listed with others


def _next_escalation(policy: Policy, row: TicketWithOrder, level: int) -> datetime | None:
    if row.stage is None or row.stage_entered_at is None:  # about no stage entry: no schedule
        return None
    rule = policy.sla_for(order_type=row.order_type, stage=row.stage, channel=row.channel)
    if rule is None:
        return None
    upcoming = policy.schedule(rule, row.stage_entered_at, row.ship_by_at).next_after(level)
    return upcoming.at if upcoming else None


def _item(item: Item) -> str:
    return f"{masked_text(item.title or item.sku or '商品', TITLE_LIMIT)} ×{item.quantity}"


def _waybill(waybill: Waybill) -> str:
    return f"{waybill.carrier} {waybill.tracking_no}" if waybill.carrier else waybill.tracking_no


def order_notes(order: Any, details: OrderDetails) -> OrderNotes:
    """The notes of an order (an ``Order`` or a row with its columns) and its details."""
    return OrderNotes(
        items=tuple(_item(item) for item in details.items),
        buyer_message=order.buyer_message,
        seller_memo=order.seller_memo,
        waybills=tuple(_waybill(waybill) for waybill in details.waybills),
        ship_by_at=order.ship_by_at,
        hold_reason=order.hold_reason,
    )


def alert_facts(
    policy: Policy,
    row: TicketWithOrder,
    *,
    level: int,
    reminder: bool = False,
    details: OrderDetails | None = None,
) -> AlertFacts:
    """What an alert about this ticket (a row of ``tickets_with_orders``) says now; with the
    order's ``details`` it also carries the order's notes (items, messages, waybills)."""
    return AlertFacts(
        ticket_id=row.id,
        order_no=row.channel_order_id,
        channel_label=channel_label(row.channel),
        # The stage entry it is about; a ticket about none (a payment) shows the order's stage.
        stage=row.stage or row.order_stage,
        amount_fen=row.amount_fen,
        region=region_of(row.province, row.city, row.district),
        group_name=policy.group(row.group_key).name,
        route_reason=row.route_reason,
        deadline_at=row.deadline_at,
        level=level,
        owner=row.owner,
        next_escalation_at=_next_escalation(policy, row, level),
        reminder=reminder,
        routing_paused=row.route_rule == PAUSED_RULE,
        notes=None if details is None else order_notes(row, details),
        kind=row.kind,
        summary=row.summary,
    )


def _facts(
    policy: Policy, message: OutboxMessage, row: TicketWithOrder, details: OrderDetails | None
) -> Facts:
    if message.kind == "resolution":
        return ResolutionFacts(
            row.id,
            row.channel_order_id,
            row.order_stage,
            row.deadline_at,
            row.resolved_at,
            kind=row.kind,
        )
    if message.kind == "reminder":
        return alert_facts(policy, row, level=row.level, reminder=True, details=details)
    return alert_facts(policy, row, level=message.level or 1, details=details)


async def load_facts(
    session: AsyncSession, policy: Policy, messages: Sequence[OutboxMessage], *, alone: bool = False
) -> dict[int, Facts]:
    """What each ticket notification is to say, by outbox id, from the current ticket and order.

    The order's notes (items, messages, waybills) are loaded only for alerts shown on their
    own: when ``alone`` (each message rendered by itself), or when the messages are about one
    ticket; a digest of several shows one line per ticket.
    """
    about = [(m, m.ticket_id) for m in messages if m.ticket_id is not None and m.detail is None]
    rows = await tickets_with_orders(session, (ticket_id for _, ticket_id in about))
    details: dict[int, OrderDetails] = {}
    if alone or len(rows) == 1:
        details = await details_of(session, (row.order_id for row in rows.values()))
    facts: dict[int, Facts] = {}
    for message, ticket_id in about:
        row = rows[ticket_id]
        facts[message.id] = _facts(policy, message, row, details.get(row.order_id))
    return facts


async def render_messages(
    session: AsyncSession, policy: Policy, messages: Sequence[OutboxMessage], now: datetime
) -> dict[int, str]:
    """The text of each message as one notice on its own, by outbox id."""
    tz = policy.timezone
    texts = {m.id: m.detail for m in messages if m.detail is not None}
    for message_id, facts in (await load_facts(session, policy, messages, alone=True)).items():
        if isinstance(facts, ResolutionFacts):
            texts[message_id] = render_resolution(facts)
        else:
            texts[message_id] = render_alert(facts, now, tz)
    return texts
