"""An order's items, payments and waybills: replaced as a whole when a record brings new ones,
read back for what people see. Bulk statements: a batch is a handful of round trips."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, TypeVar

from sqlalchemy import Select, Table, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from rules.details import Item, Payment, Refund, Waybill
from storage.bulk import insert_rows
from storage.models import Base, OrderItem, OrderPayment, OrderRefund, OrderWaybill

Detail = Item | Payment | Waybill | Refund
D = TypeVar("D", Item, Payment, Waybill, Refund)


def _columns(detail: type[Detail]) -> tuple[str, ...]:
    """The names of the dataclass's fields, which are its table's columns (items also keep
    their position)."""
    return tuple(f.name for f in fields(detail))


# Each kind: its model, the OrderDetails field holding it, and its columns.
_KINDS: tuple[tuple[type[Base], str, tuple[str, ...]], ...] = tuple(
    (model, kind, _columns(detail))
    for model, kind, detail in (
        (OrderItem, "items", Item),
        (OrderPayment, "payments", Payment),
        (OrderWaybill, "waybills", Waybill),
        (OrderRefund, "refunds", Refund),
    )
)


@dataclass(frozen=True, slots=True)
class OrderDetails:
    """What one record says an order holds; an empty kind means the record did not say (the
    platform returns only the fields asked for), so the stored rows of that kind stay."""

    items: Sequence[Item] = ()
    payments: Sequence[Payment] = ()
    waybills: Sequence[Waybill] = ()
    refunds: Sequence[Refund] = ()


def _rows(
    table: Table, names: tuple[str, ...], details: dict[int, Sequence[Detail]]
) -> list[dict[str, Any]]:
    values = attrgetter(*names)  # the fields at once: half the cost of a getattr each
    if "position" in table.c:
        return [
            dict(zip(names, values(detail), strict=True), order_id=order_id, position=n)
            for order_id, lines in details.items()
            for n, detail in enumerate(lines)
        ]
    return [
        dict(zip(names, values(detail), strict=True), order_id=order_id)
        for order_id, lines in details.items()
        for detail in lines
    ]


async def store_details(
    session: AsyncSession, new: dict[int, OrderDetails], changed: dict[int, OrderDetails]
) -> None:
    """Store the details of new orders, and of changed ones in place of what they had, kind by
    kind (by order id): at most two statements per kind, however many orders."""
    for model, kind, names in _KINDS:
        table = model.__table__
        replaced = [i for i, d in changed.items() if getattr(d, kind)]
        given = {i: getattr(d, kind) for i, d in (new | changed).items() if getattr(d, kind)}
        if replaced:
            await session.execute(delete(table).where(table.c.order_id.in_(replaced)))
        if given:
            await insert_rows(session, model, _rows(table, names, given))


async def details_of(
    session: AsyncSession,
    order_ids: Iterable[int],
    kinds: Collection[str] = ("items", "payments", "waybills"),
) -> dict[int, OrderDetails]:
    """The stored details of each order: items in item order, payments and waybills in the
    order they arrived (an order without any has empty ones). Only ``kinds`` are read, a
    statement each; the others are left empty."""
    ids = list(set(order_ids))
    items = await _read(session, OrderItem.__table__, Item, ids) if "items" in kinds else {}
    payments = (
        await _read(session, OrderPayment.__table__, Payment, ids) if "payments" in kinds else {}
    )
    waybills = (
        await _read(session, OrderWaybill.__table__, Waybill, ids) if "waybills" in kinds else {}
    )
    return {
        i: OrderDetails(items.get(i, []), payments.get(i, []), waybills.get(i, [])) for i in ids
    }


async def items_of(session: AsyncSession, order_ids: Iterable[int]) -> dict[int, list[Item]]:
    """The items of each order that has some, in item order: one statement."""
    return await _read(session, OrderItem.__table__, Item, list(set(order_ids)))


def _read_statement(table: Table) -> Select[*tuple[Any, ...]]:
    order = table.c.position if "position" in table.c else table.c.id
    ids = table.c.order_id.in_(bindparam("order_ids", expanding=True))
    return select(table).where(ids).order_by(order)


# Built once: building them cost more than running them (the 状态 command reads all three).
_READS = {model.__table__: _read_statement(model.__table__) for model, _, _ in _KINDS}


async def _read(
    session: AsyncSession, table: Table, detail: type[D], ids: list[int]
) -> dict[int, list[D]]:
    """The stored details of one kind, by order id (only orders that have some)."""
    names = _columns(detail)
    found: dict[int, list[D]] = {}
    for row in await session.execute(_READS[table], {"order_ids": ids}):
        found.setdefault(row.order_id, []).append(detail(**{n: getattr(row, n) for n in names}))
    return found
