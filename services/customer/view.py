"""What a customer sees of their orders: the channel, what was bought and paid, the state in
the chat's own words (services.order_view), the ETA, a masked address and number, and a
timeline of what the customer cares about (paid, picked, shipped, each scan and where,
delivered). Nothing internal: no ticket, handler, note, memo or routing reason is read here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rules.customer_page import masked_address, stage_step
from rules.eta import date_words, eta_words
from rules.logistics import Logistics
from rules.money import format_fen
from rules.render import masked_text
from rules.stages import Stage
from services.customer.sessions import session_orders_of
from services.notices import order_notes
from services.order_view import ParcelView, parcel_views, summary_of
from services.policy import Policy
from storage import customer_page as db
from storage.db import begin_reading
from storage.details import OrderDetails, items_of
from storage.models import Order

SCAN_TEXT_LIMIT = 120


@dataclass(frozen=True, slots=True)
class Step:
    """One moment of the order as the customer reads it (Beijing time)."""

    when: str  # 12月3日 14:05
    words: str
    place: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerOrder:
    order_no: str
    channel_label: str
    amount: str  # ¥1,234.56
    items: tuple[str, ...]
    state: str  # the chat's words: 仓库拣货中(预计2小时内完成拣货), 运输中, 预计12月4日送达
    eta: str | None  # 预计12月4日送达, while a parcel is on its way (unless state says it)
    parcels: tuple[str, ...]  # 中通 YT123
    address: str  # masked
    phone: str | None  # masked
    steps: tuple[Step, ...]  # newest first


def _when(moment: datetime, tz: tzinfo) -> str:
    return f"{date_words(moment, tz)} {moment.astimezone(tz):%H:%M}"


def _eta(order: Order, parcel: ParcelView | None, now: datetime, tz: tzinfo) -> str | None:
    if order.stage != Stage.SHIPPED or parcel is None or parcel.eta is None:
        return None
    if parcel.state is not None and Logistics(parcel.state).is_final:
        return None
    return eta_words(parcel.eta, now, tz)


async def _views(
    session: AsyncSession, policy: Policy, orders: Sequence[Order], now: datetime
) -> list[CustomerOrder]:
    """The orders as the customer sees them: four statements however many orders."""
    ids = [order.id for order in orders]
    tz = policy.timezone
    parcels = await parcel_views(session, policy, ids, now)
    items = await items_of(session, ids)
    steps: dict[int, list[tuple[datetime, Step]]] = {order_id: [] for order_id in ids}
    for moment in await db.moments_of_orders(session, ids):
        if moment.stage is not None:
            words = stage_step(moment.stage)
        else:
            words = masked_text(moment.text or "", SCAN_TEXT_LIMIT)
        if words:
            step = Step(_when(moment.at, tz), words, moment.place)
            steps[moment.order_id].append((moment.at, step))
    views = []
    for order in orders:
        own = parcels.get(order.id, ())
        summary = summary_of(policy, order, None, now, own)
        timeline = steps[order.id]
        if order.paid_at is not None and not any(s.words == "已付款" for _, s in timeline):
            timeline.append((order.paid_at, Step(_when(order.paid_at, tz), "已付款")))
        timeline.sort(key=lambda entry: entry[0], reverse=True)
        waited_for = next((p for p in own if p.state == summary.logistics), None)
        eta = _eta(order, waited_for, now, tz)
        views.append(
            CustomerOrder(
                order_no=order.channel_order_id,
                channel_label=summary.channel_label,
                amount=format_fen(order.amount_fen),
                items=order_notes(order, OrderDetails(items.get(order.id, []), [], [])).items,
                state=summary.stage_in_words,
                eta=None if eta is None or eta in summary.stage_in_words else eta,
                parcels=tuple(f"{p.carrier_name} {p.tracking_no}" for p in own),
                address=masked_address(
                    order.province, order.city, order.district, order.address_text
                ),
                phone=summary.phone,
                steps=tuple(step for _, step in timeline),
            )
        )
    return views


async def session_orders(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    token: str | None,
    within: timedelta,
    most: int,
    now: datetime,
) -> tuple[str, list[CustomerOrder]] | None:
    """The number a live session (its cookie's ``token``) confirmed and its orders received
    within ``within`` before ``now``, newest first, at most ``most``; None without a live
    session. One read-only transaction (on SQLite it waits for no writer)."""
    async with sessions() as session:
        await begin_reading(session)
        found = await session_orders_of(session, token, now, now - within, most)
        if found is None:
            return None
        phone, orders = found
        return phone, await _views(session, policy, orders, now)


async def order_of_link(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, order_id: int, now: datetime
) -> CustomerOrder | None:
    """The one order a signed link opens (None: no longer there)."""
    async with sessions() as session:
        await begin_reading(session)
        order = await session.get(Order, order_id)
        if order is None:
            return None
        [view] = await _views(session, policy, [order], now)
        return view
