"""The normalised order every channel adapter produces, the error for a record it refuses, and
what an adapter module declares to be registered as a sales channel."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rules.details import Item, Payment, Refund, Waybill
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
    # ``raw`` as orjson writes it, when the adapter has it already (RecordReader.record_json):
    # what a new order's raw column stores, without serialising the record again.
    raw_json: bytes | None = field(default=None, compare=False, repr=False)
    items: list[Item] = field(default_factory=list)  # every sub-order / SKU line
    payments: list[Payment] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    waybills: list[Waybill] = field(default_factory=list)
    ship_by_at: datetime | None = None  # the platform's own ship-by deadline (aware, UTC)
    shipped_at: datetime | None = None  # when the parcel actually left (aware, UTC)
    hold_reason: str | None = None  # why an ON_HOLD order is held, in Chinese
    buyer_message: str | None = None
    seller_memo: str | None = None
    # A phone the platform sent masked (``151********``): shown as is, never searched, since
    # it is not the number; ``receiver_phone`` is then None.
    receiver_phone_masked: str | None = None
    # The platform's handles for its own decryption / matching APIs (Taobao ``oaid``, …).
    buyer_handles: dict[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()  # every item's category id, in item order, once each


Adapter = Callable[[Mapping[str, Any], datetime], NormalizedOrder]


@dataclass(frozen=True, slots=True)
class Channel:
    """A sales channel as its adapter module declares it: the code used in URLs, config and
    ``jd:123``, the name people call it by, the adapter, and the flat fields a CSV may carry."""

    name: str
    label: str
    normalize: Adapter
    csv_headers: tuple[str, ...]
