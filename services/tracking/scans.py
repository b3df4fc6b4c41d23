"""Carrier scans in: stored once, each on its parcel's record, moving the parcel and its order.

A scan is stored by a digest of its time and words, so the same push again changes nothing.
Only scans newer than the parcel's last one move it (scans arrive out of order: an older one is
kept, never moving the state back). An unknown code keeps the scan with its words and the state
as it was; a scan from the future (beyond a small skew) and a scan for a waybill nobody follows
are refused and reported, nothing else. A new scan closes the open stall ticket of its parcel
and sets the next stall check; 揽收 ships an order not shipped yet, 签收 delivers it, and a
refusal or return opens a return ticket at once (and texts the customer where configured).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from rules.logistics import Logistics, UnknownCode, carrier_of
from rules.render import masked_text
from rules.stages import Stage, accepts_transition
from services.lifecycle.parcel_tickets import close_stalls, open_return
from services.lifecycle.stages import StageReport, apply_stage_events
from services.policy import Policy
from services.sms.links import order_link
from services.sms.notify import notify_customer
from services.tracking.places import province_of
from storage.parcels import (
    OrderGlance,
    ParcelState,
    ScanRow,
    insert_scans,
    orders_by_id,
    parcels_by_tracking_no,
    update_parcels,
)

log = logging.getLogger(__name__)

FUTURE_SKEW = timedelta(minutes=10)  # carriers' clocks differ a little; more is a wrong time
TEXT_SHOWN = 200  # characters of a carrier's words in a ticket or a log line
StateOf = Callable[[str], Logistics | None]  # a provider's code table (rules.logistics)
StallLimit = Callable[[str | None], timedelta]  # TrackingConfig.stall_limit
_MOVING = (Logistics.PICKED_UP, Logistics.IN_TRANSIT, Logistics.OUT_FOR_DELIVERY)


@dataclass(frozen=True, slots=True)
class Scan:
    """One scan of a waybill, its code already read: ``state`` None when the code says nothing
    of where the parcel is, or is unknown (``unknown_code``)."""

    tracking_no: str
    at: datetime  # aware
    text: str
    place: str | None = None
    code: str | None = None  # the provider's own code
    state: Logistics | None = None
    unknown_code: bool = False

    @property
    def digest(self) -> str:
        """The same scan pushed again has the same digest: its moment and its words."""
        key = f"{self.at.timestamp():.0f}|{self.text}"
        return hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()


def provider_scan(
    tracking_no: str,
    at: datetime,
    text: str,
    place: str | None,
    code: str | None,
    state_of: StateOf,
) -> Scan:
    """A provider's scan with its code read through its table (rules.logistics)."""
    if code is None:
        return Scan(tracking_no, at, text, place)
    try:
        return Scan(tracking_no, at, text, place, code, state_of(code))
    except UnknownCode:
        return Scan(tracking_no, at, text, place, code, None, unknown_code=True)


@dataclass
class ScanResult:
    """What a batch of scans did; the lists hold the indexes of the scans given."""

    stored: int = 0  # new scans kept (one per parcel following the waybill)
    stored_from: set[int] = field(default_factory=set)  # the scans given that were new
    moved: int = 0  # parcels whose last scan changed
    out_of_order: int = 0  # new but older than the parcel's last scan: kept, state unchanged
    unknown_code: list[int] = field(default_factory=list)  # new scans with a code not known
    future: list[int] = field(default_factory=list)
    unknown_waybill: list[int] = field(default_factory=list)
    # the subscriptions of the parcels following each waybill given, as read
    subscriptions: dict[str, set[str]] = field(default_factory=dict)
    stalls_closed: int = 0
    returns_opened: int = 0


@dataclass(slots=True)
class _Change:
    parcel: ParcelState
    scans: list[Scan] = field(default_factory=list)
    transitions: list[Scan] = field(default_factory=list)  # scans that changed the state


async def apply_scans(
    session: AsyncSession,
    policy: Policy,
    scans: Sequence[Scan],
    *,
    source: str,
    now: datetime,
) -> ScanResult:
    """Store ``scans`` (of any waybills) and move their parcels and orders; idempotent."""
    result = ScanResult()
    parcels: dict[str, list[ParcelState]] = defaultdict(list)
    glances: dict[int, OrderGlance] = {}
    stall_open: set[int] = set()  # orders with an open stall ticket
    for parcel, glance, stalled in await parcels_by_tracking_no(
        session, {s.tracking_no for s in scans}
    ):
        parcels[parcel["tracking_no"]].append(parcel)
        result.subscriptions.setdefault(parcel["tracking_no"], set()).add(parcel["subscription"])
        glances[parcel["order_id"]] = glance
        if stalled:
            stall_open.add(parcel["order_id"])
    rows: list[ScanRow] = []
    given: dict[tuple[int, str], tuple[ParcelState, Scan, int]] = {}
    for index, scan in enumerate(scans):
        if scan.at > now + FUTURE_SKEW:
            result.future.append(index)
            continue
        followed = parcels.get(scan.tracking_no)
        if not followed:
            result.unknown_waybill.append(index)
            continue
        digest = scan.digest
        for parcel in followed:
            given[parcel["id"], digest] = (parcel, scan, index)
            rows.append(_scan_row(parcel, scan, digest, source, now))
    inserted = await insert_scans(session, rows)
    result.stored = len(inserted)
    changes: dict[int, _Change] = {}
    for key in inserted:
        parcel, scan, index = given[key]
        result.stored_from.add(index)
        changes.setdefault(parcel["id"], _Change(parcel)).scans.append(scan)
    result.unknown_code = sorted(i for i in result.stored_from if scans[i].unknown_code)
    _report(result, scans, source)
    tracking = policy.config.tracking
    stall_after = tracking.stall_limit if tracking is not None else None
    moved = [c for c in changes.values() if _move(c, now, stall_after, result)]
    result.moved = len(moved)
    await update_parcels(session, [c.parcel for c in moved])
    result.stalls_closed = await close_stalls(
        session,
        {
            c.parcel["id"]: (c.parcel["order_id"], _said(policy, c.scans[-1]))
            for c in moved
            if c.parcel["order_id"] in stall_open
        },
        now,
    )
    await _follow_orders(session, policy, source, moved, glances, now, result)
    return result


def _scan_row(parcel: ParcelState, scan: Scan, digest: str, source: str, now: datetime) -> ScanRow:
    return {
        "parcel_id": parcel["id"],
        "order_id": parcel["order_id"],
        "at": scan.at,
        "state": scan.state.value if scan.state else None,
        "code": scan.code,
        "place": scan.place,
        "text": scan.text,
        "source": source,
        "digest": digest,
        "received_at": now,
    }


def _report(result: ScanResult, scans: Sequence[Scan], source: str) -> None:
    """A log line for each kind of scan that could not be taken as it came."""
    for label, indexes in (
        ("时间在未来, 已拒收", result.future),
        ("单号未跟踪, 已忽略", result.unknown_waybill),
        ("状态码未知, 已保留原文, 状态不变", result.unknown_code),
    ):
        for index in indexes:
            scan = scans[index]
            log.warning(
                "%s 扫描%s: 单号 %s, 时间 %s, 状态码 %r, 内容 %r",
                source,
                label,
                scan.tracking_no,
                scan.at.isoformat(),
                scan.code,
                masked_text(scan.text, TEXT_SHOWN),
            )


def _move(
    change: _Change,
    now: datetime,
    stall_after: StallLimit | None,
    result: ScanResult,
) -> bool:
    """Take the new scans into the parcel, oldest first; whether its last scan changed."""
    parcel, moved = change.parcel, False
    for scan in sorted(change.scans, key=lambda s: s.at):
        last = parcel["last_scan_at"]
        if last is not None and scan.at < last:
            result.out_of_order += 1
            continue
        moved = True
        parcel["last_scan_at"], parcel["last_scan_place"] = scan.at, scan.place
        parcel["last_scan_text"] = scan.text
        if scan.state == Logistics.PICKED_UP and (province := province_of(scan.place)):
            parcel["origin_province"] = province
        if scan.state is not None and scan.state != parcel["state"]:
            parcel["state"], parcel["state_code"], parcel["state_at"] = (
                scan.state,
                scan.code,
                scan.at,
            )
            change.transitions.append(scan)
        if scan.state == Logistics.DELIVERED and parcel["delivered_at"] is None:
            parcel["delivered_at"] = scan.at
    if not moved:
        return False
    state = Logistics(parcel["state"]) if parcel["state"] else None
    last_at = parcel["last_scan_at"]
    if (state is not None and state.is_final) or stall_after is None or last_at is None:
        parcel["stall_check_at"] = None
    else:
        parcel["stall_check_at"] = last_at + stall_after(parcel["carrier"])
    parcel["updated_at"] = now
    return True


def _said(policy: Policy, scan: Scan) -> str:
    """What a scan said, for people: words, place and local time."""
    local = scan.at.astimezone(policy.timezone).strftime("%m-%d %H:%M")
    place = f" ({scan.place})" if scan.place else ""
    return f"{masked_text(scan.text, TEXT_SHOWN)}{place} {local}"


async def _follow_orders(
    session: AsyncSession,
    policy: Policy,
    source: str,
    moved: list[_Change],
    glances: Mapping[int, OrderGlance],
    now: datetime,
    result: ScanResult,
) -> None:
    """What the parcels' new states mean for their orders (``glances``: as read with the
    parcels): shipped, delivered, a return."""
    changed = [c for c in moved if c.transitions]
    if not changed:
        return
    moves: list[tuple[int, str, Stage, datetime]] = []
    stages = {order_id: Stage(glance.stage) for order_id, glance in glances.items()}
    for change in changed:
        order_id = change.parcel["order_id"]
        for scan in change.transitions:
            stage = _stage_of(scan.state)
            if order_id in stages and stage and accepts_transition(stages[order_id], stage):
                moves.append(
                    (order_id, f"parcel:{change.parcel['id']}:{scan.digest}", stage, scan.at)
                )
                stages[order_id] = stage
    if moves:  # the whole rows only of the orders that move
        orders = await orders_by_id(session, {order_id for order_id, *_ in moves})
        reports = [StageReport(orders[o], event, stage, at) for o, event, stage, at in moves]
        await apply_stage_events(session, policy, source, reports, now)
    for change in changed:
        returned = [s for s in change.transitions if s.state is not None and s.state.is_return]
        glance = glances.get(change.parcel["order_id"])
        if returned and glance is not None:
            phone = glance.receiver_phone
            opened = await _open_return(session, policy, change.parcel, returned[-1], phone, now)
            result.returns_opened += opened


def _stage_of(state: Logistics | None) -> Stage | None:
    if state in _MOVING:
        return Stage.SHIPPED
    if state == Logistics.DELIVERED:
        return Stage.DELIVERED
    return None


async def _open_return(
    session: AsyncSession,
    policy: Policy,
    parcel: ParcelState,
    scan: Scan,
    phone: str | None,
    now: datetime,
) -> int:
    """Open the parcel's return ticket with the carrier's words, and text the customer when
    [tracking].notify_customer names this state. 1 when a ticket opened."""
    assert scan.state is not None
    carrier = carrier_of(parcel["carrier"])
    name = carrier.name if carrier else "快递"
    summary = f"{name} {parcel['tracking_no']} {scan.state.label}: {_said(policy, scan)}"
    opened = await open_return(
        session,
        policy,
        order_id=parcel["order_id"],
        parcel_id=parcel["id"],
        state=scan.state,
        carrier=parcel["carrier"],
        summary=summary,
        now=now,
    )
    tracking = policy.config.tracking
    if tracking is not None and scan.state.value in tracking.notify_customer:
        await notify_customer(
            session,
            policy,
            order_id=parcel["order_id"],
            phone=phone,
            purpose=scan.state.value,
            params={
                "carrier": name,
                "tracking_no": parcel["tracking_no"],
                "link": order_link(policy, parcel["order_id"], now) or "",
            },
            dedup_key=f"{scan.state.value}:parcel:{parcel['id']}",
            now=now,
        )
    return 0 if opened is None else 1
