"""The payments the sandbox's gateways took (the demo's feed and the tests post them, as a
buyer paying would), and the day's bill lines made from them, with the differences injected:
a payment ``missing`` from the bill, an ``extra`` one for no order, an ``amount`` off, a
``duplicate``, a ``refund`` the order never had, a ``fee`` above the contracted rate."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sandbox.bills import BillLine
from sandbox.pay_config import DIFFERENCES, PaySandboxConfig

BEIJING = timezone(timedelta(hours=8))
GATEWAYS = ("wechat", "alipay")
OFF_RATE_BP = 100  # the "fee" difference charges 1.00%


@dataclass(frozen=True)
class Payment:
    """One payment a buyer made through a gateway, and its refund if there was one."""

    gateway: str
    order_no: str  # 商户订单号 (out_trade_no)
    amount_fen: int
    paid_at: datetime
    trade_no: str = ""  # the gateway's number; "" → one is made up from order_no
    attach: str = ""
    refund_fen: int = 0
    refund_no: str = ""
    refunded_at: datetime | None = None

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Payment:
        """A payment as POSTed to /sandbox/api/payments; ValueError/KeyError/TypeError if bad."""
        gateway = str(item["gateway"])
        if gateway not in GATEWAYS:
            raise ValueError(f"gateway must be one of {GATEWAYS}")
        refunded = item.get("refunded_at")
        payment = cls(
            gateway=gateway,
            order_no=str(item["order_no"]),
            amount_fen=int(item["amount_fen"]),
            paid_at=_aware(datetime.fromisoformat(str(item["paid_at"]))),
            trade_no=str(item.get("trade_no") or ""),
            attach=str(item.get("attach") or ""),
            refund_fen=int(item.get("refund_fen") or 0),
            refund_no=str(item.get("refund_no") or ""),
            refunded_at=_aware(datetime.fromisoformat(str(refunded))) if refunded else None,
        )
        if payment.amount_fen <= 0 or not payment.order_no:
            raise ValueError("a payment needs an order_no and a positive amount_fen")
        return payment


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=BEIJING)


def _digits(seed: str, count: int) -> str:
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:count].rjust(count, "0")


def trade_no(gateway: str, order_no: str, at: datetime, salt: str = "") -> str:
    """A made-up gateway number of the documented shape, the same for the same payment."""
    day = f"{at.astimezone(BEIJING):%Y%m%d}"
    if gateway == "wechat":
        return f"4200{_digits(order_no + salt, 6)}{day}{_digits(salt + order_no, 10)}"
    return f"{day}22{_digits(order_no + salt, 18)}"


def _fee_milli(gateway: str, fen: int, rate_bp: int) -> int:
    """The fee in 1/1000 fen, rounded half up: WeChat Pay states it to 5 decimals of a yuan,
    Alipay to the fen."""
    if gateway == "wechat":
        return (fen * rate_bp + 5) // 10
    return (fen * rate_bp + 5_000) // 10_000 * 1000


@dataclass
class PayState:
    config: PaySandboxConfig
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    payments: list[Payment] = field(default_factory=list)
    injected: dict[str, str] = field(default_factory=dict)  # order_no → difference
    faults: dict[str, list[str]] = field(default_factory=dict)  # gateway → next faults
    downloads: dict[str, tuple[float, bytes, str]] = field(default_factory=dict)
    nonces: set[str] = field(default_factory=set)

    def now(self) -> datetime:
        """The gateways' time (Beijing), ``days_ahead`` of the sandbox's clock."""
        ahead = timedelta(days=self.config.days_ahead)
        return datetime.fromtimestamp(self.clock(), BEIJING) + ahead

    def ready(self, day: date) -> bool:
        """Whether day's bills are out: from ready_hour on the next day (Beijing)."""
        out = datetime(day.year, day.month, day.day, self.config.ready_hour, tzinfo=BEIJING)
        return self.now() >= out + timedelta(days=1)

    def next_fault(self, gateway: str) -> str | None:
        queued = self.faults.get(gateway) or []
        return queued.pop(0) if queued else None

    def difference(self, payment: Payment) -> str | None:
        """The difference injected into this payment's bill lines: asked for by its number,
        else drawn by the configured shares (from the number: stable)."""
        if payment.order_no in self.injected:
            return self.injected[payment.order_no]
        digest = hashlib.sha256(f"difference{payment.order_no}".encode()).hexdigest()
        draw = int(digest[:12], 16) / 16**12  # uniform in [0, 1)
        for kind in DIFFERENCES:
            share = self.config.differences.get(kind, 0.0)
            if draw < share:
                return kind
            draw -= share
        return None

    def bill_lines(self, gateway: str, day: date) -> list[BillLine]:
        """The day's lines of the gateway's bill (Beijing day of payment or refund)."""
        rate = self.config.wechat_rate_bp if gateway == "wechat" else self.config.alipay_rate_bp
        lines: list[BillLine] = []
        for payment in self.payments:
            if payment.gateway != gateway:
                continue
            if payment.paid_at.astimezone(BEIJING).date() == day:
                lines += _lines(payment, self.difference(payment), rate)
            refunded = payment.refunded_at
            if payment.refund_fen and refunded and refunded.astimezone(BEIJING).date() == day:
                lines.append(
                    _refund(payment, payment.refund_fen, payment.refund_no, refunded, rate)
                )
        return sorted(lines, key=lambda line: (line.at, line.order_no, line.refund_fen))

    def omitted(self, gateway: str, day: date) -> list[Payment]:
        """The day's payments left out of the gateway's bill (the ``missing`` difference)."""
        return [
            p
            for p in self.payments
            if p.gateway == gateway
            and p.paid_at.astimezone(BEIJING).date() == day
            and self.difference(p) == "missing"
        ]


def _line(payment: Payment, rate_bp: int) -> BillLine:
    number = payment.trade_no or trade_no(payment.gateway, payment.order_no, payment.paid_at)
    fee = _fee_milli(payment.gateway, payment.amount_fen, rate_bp)
    return BillLine(
        payment.paid_at, payment.order_no, number, payment.amount_fen, fee, attach=payment.attach
    )


def _refund(payment: Payment, fen: int, number: str, at: datetime, rate_bp: int) -> BillLine:
    paid = _line(payment, rate_bp)
    return replace(
        paid,
        at=at,
        amount_fen=-fen,
        fee_milli=-_fee_milli(payment.gateway, fen, rate_bp),
        refund_fen=fen,
        refund_no=number or f"RF{payment.order_no}",
        refund_trade_no=f"5030{_digits('refund' + payment.order_no, 25)}",
    )


def _lines(payment: Payment, difference: str | None, rate_bp: int) -> list[BillLine]:
    true = _line(payment, rate_bp)
    gateway, fen = payment.gateway, payment.amount_fen
    if difference is None:
        return [true]
    if difference == "missing":
        return []
    if difference == "amount":
        off = fen - (100 if fen > 100 else 1)
        wrong = replace(true, amount_fen=off, fee_milli=_fee_milli(gateway, off, rate_bp))
        return [replace(wrong, difference=difference)]
    if difference == "fee":
        fee = _fee_milli(gateway, fen, OFF_RATE_BP)
        return [replace(true, fee_milli=fee, difference=difference)]
    if difference == "duplicate":
        again = trade_no(gateway, payment.order_no, payment.paid_at, salt="again")
        twice = replace(true, at=true.at + timedelta(minutes=1), trade_no=again)
        return [true, replace(twice, difference=difference)]
    if difference == "refund":
        refund_fen = max(1, fen // 10)
        at = true.at + timedelta(minutes=5)
        made_up = _refund(payment, refund_fen, f"RFX{payment.order_no}", at, rate_bp)
        return [true, replace(made_up, difference=difference)]
    # "extra": a payment for an order the shop never had
    stranger = f"X{_digits('extra' + payment.order_no, 12)}"
    extra_fen = 8800
    extra = BillLine(
        true.at + timedelta(minutes=2),
        stranger,
        trade_no(gateway, stranger, payment.paid_at),
        extra_fen,
        _fee_milli(gateway, extra_fen, rate_bp),
        difference=difference,
    )
    return [true, extra]
