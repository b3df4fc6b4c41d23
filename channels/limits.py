"""What the order pool can store, read from the table definitions (storage.models) so the
adapters refuse a value the database would: PostgreSQL raises on a string longer than its column
while SQLite stores it silently, and neither takes an integer past 64 bits.

Times are bounded too: before :data:`EARLIEST` or later than :data:`FUTURE_SLACK` after now is
a wrong clock or a placeholder, and would overflow the deadline arithmetic near year 1 or 9999.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Column, Integer, String

from storage.models import Order, OrderEvent


def _length(column: Column[str]) -> int:
    kind = column.type
    assert isinstance(kind, String) and kind.length is not None, column
    return kind.length


def _largest(column: Column[int]) -> int:
    bits = {BigInteger: 64, Integer: 32}[type(column.type)]
    return 2 ** (bits - 1) - 1


_ORDERS = Order.__table__.c
ORDER_ID = _length(_ORDERS.channel_order_id)
SHOP = _length(_ORDERS.shop)
CATEGORY = _length(_ORDERS.category)
REGION = min(_length(_ORDERS.province), _length(_ORDERS.city), _length(_ORDERS.district))
PHONE = _length(_ORDERS.receiver_phone)
MAX_FEN = _largest(_ORDERS.amount_fen)
EVENT_ID = _length(OrderEvent.__table__.c.event_id)

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
