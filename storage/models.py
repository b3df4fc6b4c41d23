"""SQLAlchemy 2 models of the order pool, tickets and the outbox.

All times are stored as naive UTC (the same on SQLite and PostgreSQL) and come back aware.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine


def utc_text(value: datetime) -> str:
    """An aware moment as the SQLite column holds it: naive UTC text, fixed width."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(sep=" ", timespec="microseconds")[:26]  # up to the "+00:00"


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, naive UTC in the column, aware UTC out.

    On SQLite the column holds the same ``YYYY-MM-DD HH:MM:SS.ffffff`` text SQLAlchemy's own
    DATETIME would, but written and read with the C-level ``isoformat``/``fromisoformat``:
    the generic converters cost ~10x more, which shows in bulk ticks and ingest. The fixed width
    keeps text order equal to time order, so range queries stay correct.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(26))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return utc_text(value)
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC)


Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only auto-increments INTEGER keys


class Base(DeclarativeBase):
    if TYPE_CHECKING:  # every model maps a plain Table; SQLAlchemy types it as a FromClause
        __table__: ClassVar[Table]

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel", "channel_order_id"),
        # Chat commands name an order by its number alone, without the channel.
        Index("ix_orders_channel_order_id", "channel_order_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    channel_order_id: Mapped[str] = mapped_column(String(64))
    shop: Mapped[str | None] = mapped_column(String(128))
    order_type: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(32))
    stage_entered_at: Mapped[datetime]
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    category: Mapped[str | None] = mapped_column(String(64))
    province: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str | None] = mapped_column(String(32))
    district: Mapped[str | None] = mapped_column(String(32))
    address_text: Mapped[str | None] = mapped_column(Text)
    # "channel": structured by the source; "parsed": from free text; "failed": text not parseable
    address_source: Mapped[str | None] = mapped_column(String(16))
    receiver_phone: Mapped[str | None] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The channel's own record, as received: for audits. Loaded only when asked for, since
    # decoding it costs more than the rest of the row.
    raw: Mapped[dict[str, Any]] = mapped_column(deferred=True)
    # The SLA deadline of the current stage entry, and the next moment the watch must look at
    # this order (deadline, then each escalation); NULL when nothing is pending.
    deadline_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    # What the platform says besides the stage (see rules.details): its own ship-by deadline
    # (an SLA rule may count to it), when the parcel actually left (kept once known), why the
    # order is on hold, what the buyer and the seller wrote, a phone the platform sent masked
    # (not searchable), the handles its decryption/matching APIs take, and every item's
    # category id in item order. Items, payments and waybills have tables of their own.
    ship_by_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    hold_reason: Mapped[str | None] = mapped_column(String(512))
    buyer_message: Mapped[str | None] = mapped_column(String(1000))
    seller_memo: Mapped[str | None] = mapped_column(String(1000))
    receiver_phone_masked: Mapped[str | None] = mapped_column(String(32))
    buyer_handles: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'"))
    categories: Mapped[list[str]] = mapped_column(JSON, server_default=text("'[]'"))


class OrderItem(Base):
    """One sub-order / SKU line of an order, in the platform's order (``position``)."""

    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(256))
    quantity: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str | None] = mapped_column(String(64))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    category_id: Mapped[str | None] = mapped_column(String(64))
    refund_status: Mapped[str | None] = mapped_column(String(64))


class OrderPayment(Base):
    """A payment of an order; reconciliation matches ``serial`` against the gateway's statement."""

    __tablename__ = "order_payments"
    __table_args__ = (Index("ix_order_payments_method_paid_at", "method", "paid_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    serial: Mapped[str] = mapped_column(String(64), index=True)
    phase: Mapped[str] = mapped_column(String(16))  # full | deposit | final
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    paid_at: Mapped[datetime | None]
    method: Mapped[str | None] = mapped_column(String(32))
    # Vouchers / merchant discounts the merchant funds on this payment: what the gateway settles
    # is the amount less these (应收, reconciliation).
    voucher_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class OrderRefund(Base):
    """A refund of an order's payment, as the channel reports it; reconciliation matches
    ``refund_no`` (our refund number) against the refund lines of the gateway's statement."""

    __tablename__ = "order_refunds"
    __table_args__ = (Index("ix_order_refunds_method_refunded_at", "method", "refunded_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    refund_no: Mapped[str] = mapped_column(String(64), index=True)
    serial: Mapped[str | None] = mapped_column(String(64))  # the payment it returns
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_at: Mapped[datetime | None]
    method: Mapped[str | None] = mapped_column(String(32))


class OrderWaybill(Base):
    """A parcel of an order; a carrier's push finds it by ``tracking_no``."""

    __tablename__ = "order_waybills"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    tracking_no: Mapped[str] = mapped_column(String(64), index=True)
    carrier: Mapped[str | None] = mapped_column(String(64))
    shipped_at: Mapped[datetime | None]


class Parcel(Base):
    """A waybill orderbot follows to the door: its subscription with the tracking provider
    (an outbox of its own: pending until the provider took it, retried with backoff) and where
    the parcel is. Kept apart from ``order_waybills``, which a record replaces as a whole.

    Merged shipments share a waybill, so the number is unique per order, not overall.
    """

    __tablename__ = "parcels"
    __table_args__ = (
        UniqueConstraint("tracking_no", "order_id", name="uq_parcels_tracking_no_order_id"),
        Index("ix_parcels_subscribe_due", "subscription", "subscribe_next_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    tracking_no: Mapped[str] = mapped_column(String(64), index=True)
    carrier: Mapped[str | None] = mapped_column(String(16))  # rules.logistics code, if known
    carrier_text: Mapped[str | None] = mapped_column(String(64))  # as the channel sent it
    # rules.logistics.Logistics; None until a scan says where the parcel is
    state: Mapped[str | None] = mapped_column(String(16))
    state_code: Mapped[str | None] = mapped_column(String(16))  # the provider's own code
    state_at: Mapped[datetime | None]
    last_scan_at: Mapped[datetime | None]
    last_scan_place: Mapped[str | None] = mapped_column(String(128))
    last_scan_text: Mapped[str | None] = mapped_column(Text)
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    origin_province: Mapped[str | None] = mapped_column(String(32))
    destination_province: Mapped[str | None] = mapped_column(String(32))
    # The next moment the stall check must look at it (last scan + the carrier's limit);
    # None while a stall ticket is open for this silence, or when the parcel arrived.
    stall_check_at: Mapped[datetime | None] = mapped_column(index=True)
    subscription: Mapped[str] = mapped_column(String(16))  # pending | active | ended | failed
    subscribe_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    subscribe_next_at: Mapped[datetime | None]
    subscribe_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ParcelScan(Base):
    """One carrier scan, as the provider or a TMS reported it; ``digest`` (of its time and
    words) makes the same scan pushed again a no-op."""

    __tablename__ = "parcel_scans"
    __table_args__ = (UniqueConstraint("parcel_id", "digest", name="uq_parcel_scans_digest"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    at: Mapped[datetime]
    state: Mapped[str | None] = mapped_column(String(16))  # rules.logistics.Logistics
    code: Mapped[str | None] = mapped_column(String(16))  # the provider's own code
    place: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))  # kuaidi100, or the events API's source
    digest: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]


class SmsMessage(Base):
    """A text to a customer: an outbox of its own. ``dedup_key`` (e.g. one per stall episode)
    makes a second text for the same thing impossible; ``not_before`` holds it through quiet
    hours and backoff. The full number is kept only here, for the provider's request."""

    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_status_not_before", "status", "not_before"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(160), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # stall | rejected | returning | …
    params: Mapped[dict[str, Any]] = mapped_column()
    # pending | sent | delivered | undelivered | refused | opted_out | dead
    status: Mapped[str] = mapped_column(String(16))
    not_before: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    provider: Mapped[str | None] = mapped_column(String(16))
    serial: Mapped[str | None] = mapped_column(String(64), index=True)  # the provider's id
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    receipt_at: Mapped[datetime | None]


class SmsOptOut(Base):
    """A number that asked for no more texts."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))


class EtaLane(Base):
    """Transit time of one lane (carrier, origin province → destination province; "" for any)
    from the order pool's own deliveries over the rolling window: the configured percentile."""

    __tablename__ = "eta_lanes"

    carrier: Mapped[str] = mapped_column(String(16), primary_key=True)
    origin: Mapped[str] = mapped_column(String(32), primary_key=True)
    destination: Mapped[str] = mapped_column(String(32), primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)
    hours: Mapped[float]
    computed_at: Mapped[datetime]


class OrderEvent(Base):
    """A stage change reported by a source; (source, event_id) makes re-delivery harmless."""

    __tablename__ = "order_events"
    __table_args__ = (UniqueConstraint("source", "event_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(128))
    stage: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    applied: Mapped[bool]


class Ticket(Base):
    """Something about an order that needs a person: one of the kinds of ``rules.kinds``.

    (kind, subject, episode) makes a second ticket for the same thing impossible: for an
    overdue ticket the subject is the order and the episode its stage entry (see rules.kinds).
    """

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("kind", "subject", "episode", name="uq_tickets_kind_subject_episode"),
        Index("ix_tickets_order_status", "order_id", "status"),
        Index("ix_tickets_status_group", "status", "group_key"),  # 待办
        Index("ix_tickets_owner_status", "owner", "status"),  # 我的
        Index("ix_tickets_opened_at", "opened_at"),  # reports and the health window
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # rules.kinds.Kind
    subject: Mapped[str] = mapped_column(String(64))
    episode: Mapped[str] = mapped_column(String(64))
    # NULL only for a payment ticket about money in a statement that no order claims (长款);
    # typed as int since every other kind has one and only payment code meets such a ticket
    # (the lists and notices join orders, so they never see it).
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), nullable=True)
    # The stage entry an overdue or stall ticket is about; None for one that is not.
    stage: Mapped[str | None] = mapped_column(String(32))
    stage_entered_at: Mapped[datetime | None]
    # What a ticket other than an overdue one says happened (its alert shows it).
    summary: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # open | resolved
    group_key: Mapped[str] = mapped_column(String(64))
    route_rule: Mapped[str] = mapped_column(String(128))
    route_reason: Mapped[str] = mapped_column(Text)
    sla_rule: Mapped[str] = mapped_column(String(128))
    deadline_at: Mapped[datetime]
    opened_at: Mapped[datetime]
    level: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(16))  # auto | manual
    # Reminders repeat the alert every [watch].remind_every until the ticket closes; a snooze
    # holds them (never the escalation) until snoozed_until.
    reminded_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]


class TicketEvent(Base):
    """The ticket timeline after its opening (which is the ticket row itself): alerted,
    claimed, assigned, snoozed, noted, escalated, resolved."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]
    detail: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    """A notification waiting to be delivered; dedup_key makes each one exist once.

    It names what to announce, not the text: the text is rendered at delivery from the ticket
    and order as they are then (see services.notices)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(160), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # alert | escalation | reminder | resolution (rendered from the ticket);
    # claimed | assigned | ops (their own detail)
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[int | None] = mapped_column(Integer)  # the escalation level it announces
    target_kind: Mapped[str] = mapped_column(String(16))  # group | user
    target: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | moot | dead
    sent_at: Mapped[datetime | None]
    dead_reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)  # a notice's own text (claims, ops)
    image: Mapped[bytes | None] = mapped_column(LargeBinary)  # a PNG to send after it (robots)
    # A file to send after it (a reconciliation's XLSX), by this name.
    attachment_name: Mapped[str | None] = mapped_column(String(128))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)


class DeliveryTarget(Base):
    """Delivery state of one chat or person: the lease that lets one instance send to it at a
    time, when it was last sent to (for digest intervals), and retry backoff after failures."""

    __tablename__ = "delivery_targets"

    target_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    target: Mapped[str] = mapped_column(String(64), primary_key=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    last_sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """One message WeCom accepted: the audit trail, and the window its rate limits are kept in."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_rate_key_sent_at", "rate_key", "sent_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    rate_key: Mapped[str] = mapped_column(String(80))  # robot key hash, or app:<userid>
    target_kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64))
    msgtype: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime]


class InboundMessage(Base):
    """A callback message already acted on: WeCom retries unanswered callbacks with the same id."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("source", "msg_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # app | aibot
    msg_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime]


class IngestCount(Base):
    """What each channel sent per minute: the health guard's window over ingest (accepted and
    rejected records, free-text addresses parsed or not), kept across restarts."""

    __tablename__ = "ingest_counts"

    minute: Mapped[datetime] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    address_parsed: Mapped[int] = mapped_column(Integer, default=0)
    address_failed: Mapped[int] = mapped_column(Integer, default=0)


class SourceLagCount(Base):
    """How late each source's news was, per minute: records counted per lag bucket (rules.freshness)
    by source and stage, so p50 and p95 over the window come from a few rows however many orders
    arrive."""

    __tablename__ = "source_lag_counts"

    minute: Mapped[datetime] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    records: Mapped[int] = mapped_column(Integer)


class JobHeartbeat(Base):
    """The last successful run of each timer job, from whichever instance ran it."""

    __tablename__ = "job_heartbeats"

    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance: Mapped[str] = mapped_column(String(64))
    succeeded_at: Mapped[datetime]


class HealthState(Base):
    """One health signal's standing: ok or failing since when; an incident is announced once
    when it starts and once when it ends."""

    __tablename__ = "health_state"

    signal: Mapped[str] = mapped_column(String(64), primary_key=True)
    failing: Mapped[bool]
    since: Mapped[datetime]
    value: Mapped[str | None] = mapped_column(String(64))


class RoutingPause(Base):
    """Auto-routing paused (one row, id 1) by the health guard ("auto") or by ops ("manual"):
    new tickets go to the triage group meanwhile."""

    __tablename__ = "routing_pause"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[str] = mapped_column(String(8))  # auto | manual
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(64))
    since: Mapped[datetime]


class HealthReading(Base):
    """What each signal read at each check of the health guard, for the board's recent values;
    kept a day."""

    __tablename__ = "health_readings"
    __table_args__ = (Index("ix_health_readings_at", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime]
    signal: Mapped[str] = mapped_column(String(64))
    failing: Mapped[bool | None]  # None: too little data to judge
    value: Mapped[str] = mapped_column(String(64))


class RoutingChange(Base):
    """Auto-routing paused or resumed: by whom ("auto" the guard), when and why; the board's
    history of the pause."""

    __tablename__ = "routing_changes"
    __table_args__ = (Index("ix_routing_changes_at", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime]
    change: Mapped[str] = mapped_column(String(8))  # paused | resumed
    mode: Mapped[str] = mapped_column(String(8))  # auto | manual
    actor: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)


class SlaMet(Base):
    """Stage entries that moved on within their deadline, counted per local day of the deadline
    and per stage, channel, province and the group routing would pick. With the tickets (the
    entries that missed) they give SLA attainment."""

    __tablename__ = "sla_met"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, local
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    province: Mapped[str] = mapped_column(String(32), primary_key=True)  # "" when unknown
    group_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    met: Mapped[int] = mapped_column(Integer)


# --- Payment statements (issue 14): the gateways' bills, as imported (docs/reconciliation.md) ---


class PaymentStatement(Base):
    """One bill file imported whole: a gateway's statement of one merchant's day. The same
    content (``digest``) or a second bill for the same day is never stored twice."""

    __tablename__ = "statements"
    __table_args__ = (
        UniqueConstraint("digest", name="uq_statements_digest"),
        UniqueConstraint("gateway", "kind", "merchant_id", "bill_date", name="uq_statements_day"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    gateway: Mapped[str] = mapped_column(String(16))  # wechat | alipay | unionpay
    kind: Mapped[str] = mapped_column(String(16))  # trade | fundflow
    layout: Mapped[str] = mapped_column(String(32))
    bill_date: Mapped[date] = mapped_column(Date)  # the gateway's day (Beijing)
    merchant_id: Mapped[str] = mapped_column(String(255))  # "" when the bill names none
    file_name: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the bill (unpacked)
    line_count: Mapped[int] = mapped_column(Integer)
    payment_count: Mapped[int] = mapped_column(Integer)
    refund_count: Mapped[int] = mapped_column(Integer)
    payment_fen: Mapped[int] = mapped_column(BigInteger)
    refund_fen: Mapped[int] = mapped_column(BigInteger)
    fee_milli: Mapped[int] = mapped_column(BigInteger)
    imported_at: Mapped[datetime]
    # The lines in rules.statements.LINE_SCHEMA as one Parquet file (storage.statements.pack):
    # a large shop's day is a million lines, which as rows cost SQLite seconds to write and to
    # read back. Deferred: loaded only when asked for.
    lines: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class ReconRun(Base):
    """One reconciliation of a gateway's bill day: what was matched, when (re-runs update it)."""

    __tablename__ = "recon_runs"
    __table_args__ = (UniqueConstraint("gateway", "bill_date", name="uq_recon_runs_day"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    gateway: Mapped[str] = mapped_column(String(16))
    bill_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # done | no_bill
    payments: Mapped[int] = mapped_column(Integer)  # payments and refunds looked at
    matched: Mapped[int] = mapped_column(Integer)
    pending: Mapped[int] = mapped_column(Integer)  # near midnight: wait for the next bill
    differences: Mapped[int] = mapped_column(Integer)
    at_stake_fen: Mapped[int] = mapped_column(BigInteger)
    runs: Mapped[int] = mapped_column(Integer)  # how many times the day was run
    first_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime]


class ReconDifference(Base):
    """A difference found by a run, one per (gateway, class, key); a re-run of the day updates
    it, or closes it when it is gone (``status`` closed, ``closed_at``)."""

    __tablename__ = "recon_differences"
    __table_args__ = (
        UniqueConstraint("gateway", "bill_date", "cls", "key", name="uq_recon_differences_key"),
        Index("ix_recon_differences_day", "bill_date", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("recon_runs.id"), index=True)
    gateway: Mapped[str] = mapped_column(String(16))
    bill_date: Mapped[date] = mapped_column(Date)
    cls: Mapped[str] = mapped_column(String(24))  # rules.recon.Difference
    key: Mapped[str] = mapped_column(String(160))  # payment serial or refund number
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    order_no: Mapped[str | None] = mapped_column(String(64))
    shop: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(16))
    serial: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(16))  # full | deposit | final | refund
    expected_fen: Mapped[int] = mapped_column(BigInteger)
    actual_fen: Mapped[int] = mapped_column(BigInteger)
    fee_milli: Mapped[int] = mapped_column(BigInteger)
    at_stake_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # open | closed
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    found_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


# --- the customer's page -------------------------------------------------------------------


class CustomerCode(Base):
    """A one-time code texted to a number for the customer's page: only its keyed hash is
    kept, and the number only as a keyed hash too (``phone_key``)."""

    __tablename__ = "customer_codes"
    __table_args__ = (Index("ix_customer_codes_phone_key_id", "phone_key", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    phone_key: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    used_at: Mapped[datetime | None]


class CustomerSession(Base):
    """A confirmed number's session on the customer's page; the cookie holds the token, the
    row its hash."""

    __tablename__ = "customer_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class CustomerHit(Base):
    """One counted request for the page's rate limits (``scope`` e.g. ``code-ip``, ``key`` the
    IP or the number's keyed hash): in the database, so that every instance counts alike."""

    __tablename__ = "customer_hits"
    __table_args__ = (Index("ix_customer_hits_scope_key_at", "scope", "key", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


# --- table sources (kind = "table") ------------------------------------------------------


class TableSourceLease(Base):
    """Which instance polls a table source (``kind = "table"``) until when: one at a time."""

    __tablename__ = "table_source_leases"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64))
    until: Mapped[datetime | None]


class TableSourceMark(Base):
    """A table source's cursor as it stood at a moment: every row up to it had been read by
    then. The newest is where reading goes on; the newest older than the look-back is where
    each poll starts reading again (services.table_source)."""

    __tablename__ = "table_source_marks"
    __table_args__ = (Index("ix_table_source_marks_source", "source", "marked_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    marked_at: Mapped[datetime]
    cursor_time: Mapped[str | None] = mapped_column(String(40))  # updated_at, ISO, as read
    cursor_id: Mapped[int] = mapped_column(BigInteger)


class TableSourceRejection(Base):
    """A row of a table source the ingest refused, by its key, with why; gone once a newer
    version of the row is accepted."""

    __tablename__ = "table_source_rejections"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    rejected_at: Mapped[datetime]


# --- rule versions (services.rulebook) -----------------------------------------------------


class RuleVersion(Base):
    """One version of the business rules (order types, SLA, routing, escalation, groups,
    calendar, health thresholds, promotions) as a whole document, validated against the
    config's model before it may be published; never changed once published (a rollback is a
    new version)."""

    __tablename__ = "rule_versions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    document: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical document
    status: Mapped[str] = mapped_column(String(16))  # draft | published | superseded
    source: Mapped[str] = mapped_column(String(16))  # file | cli | console | rollback
    author: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    based_on: Mapped[int | None]  # the version it was drafted from (its diff is against it)
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]


class RulesInForce(Base):
    """A single row: the version every instance runs. Instances poll it (one primary-key read)
    and publishing changes it in the transaction that marks the versions."""

    __tablename__ = "rules_in_force"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # always 1
    version_id: Mapped[int | None] = mapped_column(ForeignKey("rule_versions.id"))
    changed_at: Mapped[datetime | None]


class RuleSwitch(Base):
    """A promotion's start or end that was acted on (open orders rescheduled), by key: the
    first instance to insert it does the work, the others see it taken."""

    __tablename__ = "rule_switches"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    at: Mapped[datetime]
