"""The normalised order every channel adapter produces, and the error for a record it refuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rules.stages import Stage


class RecordError(ValueError):
    """A source record we cannot accept: every problem found, each ``<field>: <what is wrong>``
    in words a sender can act on."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(slots=True)  # not frozen: a frozen init costs ~4 µs an order on the ingest path
class NormalizedOrder:
    channel: str
    channel_order_id: str
    stage: Stage
    stage_entered_at: datetime  # aware, UTC
    amount_fen: int
    order_type: str = "normal"
    shop: str | None = None
    category: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    address_text: str | None = None  # free text, only where the channel gives no structure
    receiver_phone: str | None = None
    created_at: datetime | None = None
    paid_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)
