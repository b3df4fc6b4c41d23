"""Ticket kinds: what a ticket is about, how people call it, and whether the order's next stage
settles it.

A ticket is unique by (kind, subject, episode): an overdue ticket's subject is its order and its
episode the stage entry that missed its deadline, so a stall or payment ticket on the same order
can be open beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class Kind(StrEnum):
    OVERDUE = "overdue"  # a stage entry missed its SLA deadline
    STALL = "stall"  # the parcel stopped moving
    PAYMENT = "payment"  # what was paid differs from the gateway's statement
    RETURN = "return"  # the parcel was refused or is going back to the sender


@dataclass(frozen=True, slots=True)
class KindInfo:
    label: str  # as people call it: 超时
    closes_on_move: bool  # the order entering its next stage settles it
    headline: str  # the first words of its alert


KINDS = {
    Kind.OVERDUE: KindInfo("超时", closes_on_move=True, headline="⏰ 订单超时"),
    Kind.STALL: KindInfo("物流停滞", closes_on_move=True, headline="🚚 物流停滞"),
    Kind.PAYMENT: KindInfo("付款差异", closes_on_move=False, headline="💰 付款差异"),
    Kind.RETURN: KindInfo("拒签退回", closes_on_move=False, headline="↩️ 拒签/退回"),
}
CLOSING_ON_MOVE = tuple(kind.value for kind, info in KINDS.items() if info.closes_on_move)


def order_subject(order_id: int) -> str:
    """The subject of a ticket about an order."""
    return f"order:{order_id}"


def stage_episode(stage: str, entered_at: datetime) -> str:
    """The episode of a ticket about one stage entry: ``paid@2026-12-02 10:00:00.000000`` (UTC,
    the text migration 0010 writes in SQL for the tickets before it)."""
    return f"{stage}@{_utc_text(entered_at)}"


def parcel_episode(parcel_id: int, since: datetime | None = None) -> str:
    """The episode of a ticket about a parcel: ``parcel:7`` for one per parcel (a return),
    ``parcel:7@2026-12-02 10:00:00.000000`` for one per silence since its last scan (a stall)."""
    if since is None:
        return f"parcel:{parcel_id}"
    return f"parcel:{parcel_id}@{_utc_text(since)}"


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]
