"""What the order pool can store, read from the table definitions (storage.models) so the
adapters refuse a value the database would: PostgreSQL raises on a string longer than its column
while SQLite stores it silently, and neither takes an integer past 64 bits.

Times are bounded too: before :data:`EARLIEST` or later than :data:`FUTURE_SLACK` after now is
a wrong clock or a placeholder, and would overflow the deadline arithmetic near year 1 or 9999.
A platform's ship-by deadline lies ahead by nature (days for an ordinary order, weeks or months
for a presale), so it has a bound of its own, :data:`DEADLINE_AHEAD`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Column, Integer, String
from sqlalchemy.types import TypeEngine

from storage.models import Order, OrderEvent, OrderItem, OrderPayment, OrderWaybill


def _length(column: Column[str]) -> int:
    kind = column.type
    assert isinstance(kind, String) and kind.length is not None, column
    return kind.length


_BITS: dict[type[TypeEngine[int]], int] = {BigInteger: 64, Integer: 32}


def _largest(column: Column[int]) -> int:
    return (1 << (_BITS[type(column.type)] - 1)) - 1


_ORDERS = Order.__table__.c
ORDER_ID = _length(_ORDERS.channel_order_id)
SHOP = _length(_ORDERS.shop)
CATEGORY = _length(_ORDERS.category)
REGION = min(_length(_ORDERS.province), _length(_ORDERS.city), _length(_ORDERS.district))
PHONE = _length(_ORDERS.receiver_phone)
MASKED_PHONE = _length(_ORDERS.receiver_phone_masked)
HOLD_REASON = _length(_ORDERS.hold_reason)
MESSAGE = min(_length(_ORDERS.buyer_message), _length(_ORDERS.seller_memo))
MAX_FEN = _largest(_ORDERS.amount_fen)
EVENT_ID = _length(OrderEvent.__table__.c.event_id)

_ITEMS = OrderItem.__table__.c
TITLE = _length(_ITEMS.title)
SKU = _length(_ITEMS.sku)
ITEM_CATEGORY = _length(_ITEMS.category_id)
REFUND_STATUS = _length(_ITEMS.refund_status)
MAX_QUANTITY = _largest(_ITEMS.quantity)
SERIAL = _length(OrderPayment.__table__.c.serial)
PAY_METHOD = _length(OrderPayment.__table__.c.method)
TRACKING_NO = _length(OrderWaybill.__table__.c.tracking_no)
CARRIER = _length(OrderWaybill.__table__.c.carrier)
# Handles sit in a JSON column, which has no length: this is ours, several times the longest
# the platforms issue (Douyin's encrypted phone is about 100 characters).
HANDLE = 512

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
DEADLINE_AHEAD = timedelta(days=366)
