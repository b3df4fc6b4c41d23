"""What an order carries besides its stage: items, payments, waybills.

Adapters fill these from the platforms' records; ingest stores them as rows of their own, so
reconciliation can match payment serials, tracking can follow waybills, and a handler sees what
was bought.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

PaymentPhase = Literal["full", "deposit", "final"]


@dataclass(frozen=True, slots=True)
class Item:
    """One sub-order / SKU line."""

    title: str | None
    quantity: int
    sku: str | None = None  # the platform's SKU id (or the seller's own code where that is all)
    amount_fen: int | None = None  # what the buyer paid for the line, where the platform says
    category_id: str | None = None  # the platform's category id (Taobao cid, Douyin first_cid)
    refund_status: str | None = None  # the platform's refund status while a refund is open


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment as the gateway knows it: the serial is what its statement lists."""

    serial: str
    phase: PaymentPhase = "full"
    amount_fen: int | None = None
    paid_at: datetime | None = None  # aware, UTC
    method: str | None = None  # alipay, wechat, unionpay, …, as far as the channel says
    voucher_fen: int = 0  # vouchers / discounts the merchant funds: the gateway settles less


@dataclass(frozen=True, slots=True)
class Refund:
    """One refund of a payment: ``refund_no`` is our refund number, which the statement lists."""

    refund_no: str
    serial: str | None  # the payment it returns
    amount_fen: int
    refunded_at: datetime | None = None  # aware, UTC
    method: str | None = None


@dataclass(frozen=True, slots=True)
class Waybill:
    tracking_no: str
    carrier: str | None = None  # the carrier's name or code, as the channel sends it
    shipped_at: datetime | None = None  # aware, UTC


def categories_of(items: Iterable[Item]) -> tuple[str, ...]:
    """Every item's category id, in item order, each once."""
    return tuple(dict.fromkeys(item.category_id for item in items if item.category_id))


def distinct_waybills(waybills: Iterable[Waybill]) -> list[Waybill]:
    """One waybill per tracking number (sub-orders shipped in one parcel share it), the first."""
    first: dict[str, Waybill] = {}
    for waybill in waybills:
        first.setdefault(waybill.tracking_no, waybill)
    return list(first.values())


def first_shipped(waybills: Iterable[Waybill]) -> datetime | None:
    """When the first parcel left, if any says."""
    return min((w.shipped_at for w in waybills if w.shipped_at is not None), default=None)
