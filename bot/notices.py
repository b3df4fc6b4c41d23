"""The text of outbox notifications, rendered at delivery from the ticket and order as they are
then, so that "overdue by", the owner and the time to escalation are true when people read them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from bot.policy import Policy
from rules.digest import Facts
from rules.render import (
    AlertFacts,
    ResolutionFacts,
    region_of,
    render_alert,
    render_resolution,
)
from rules.routing import PAUSED_RULE
from storage.models import OutboxMessage
from storage.tickets import tickets_with_orders


def _next_escalation(policy: Policy, row: Row[Any], level: int) -> datetime | None:
    rule = policy.sla_for(order_type=row.order_type, stage=row.stage, channel=row.channel)
    if rule is None:
        return None
    upcoming = policy.schedule(rule, row.stage_entered_at).next_after(level)
    return upcoming.at if upcoming else None


def alert_facts(policy: Policy, row: Row[Any], *, level: int, reminder: bool = False) -> AlertFacts:
    """What an alert about this ticket (a row of ``tickets_with_orders``) says now."""
    return AlertFacts(
        ticket_id=row.id,
        order_no=row.channel_order_id,
        channel=row.channel,
        stage=row.stage,
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
    )


def _facts(policy: Policy, message: OutboxMessage, row: Row[Any]) -> Facts:
    if message.kind == "resolution":
        return ResolutionFacts(
            row.id, row.channel_order_id, row.order_stage, row.deadline_at, row.resolved_at
        )
    if message.kind == "reminder":
        return alert_facts(policy, row, level=row.level, reminder=True)
    return alert_facts(policy, row, level=message.level or 1)


async def load_facts(
    session: AsyncSession, policy: Policy, messages: Sequence[OutboxMessage]
) -> dict[int, Facts]:
    """What each ticket notification is to say, by outbox id, from the current ticket and order."""
    about = [m for m in messages if m.ticket_id is not None and m.detail is None]
    rows = await tickets_with_orders(session, (m.ticket_id for m in about if m.ticket_id))
    return {m.id: _facts(policy, m, rows[m.ticket_id]) for m in about if m.ticket_id}


async def render_messages(
    session: AsyncSession, policy: Policy, messages: Sequence[OutboxMessage], now: datetime
) -> dict[int, str]:
    """The text of each message as one notice on its own, by outbox id."""
    tz = ZoneInfo(policy.config.watch.timezone)
    texts = {m.id: m.detail for m in messages if m.detail is not None}
    for message_id, facts in (await load_facts(session, policy, messages)).items():
        if isinstance(facts, ResolutionFacts):
            texts[message_id] = render_resolution(facts)
        else:
            texts[message_id] = render_alert(facts, now, tz)
    return texts
