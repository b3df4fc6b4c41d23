"""Reconciliation test helpers: shop orders paid by WeChat Pay and Taobao presale trades paid
through Alipay, sent through the ingest API; WeChat Pay ALL bills written as the gateway
writes them (tests.statement_files) and Alipay's as the sandbox's gateway writes them from the
payments the trades made (sandbox.paid, sandbox.bills), stored through the import service;
and runs of the matching service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from bot.keys import RULES, SESSIONS
from rules.statements import parse_statement
from sandbox.bills import alipay_zip
from sandbox.paid import payments_of
from sandbox.pay_config import PaySandboxConfig
from sandbox.payments import Payment, PayState
from services.recon.importing import store_statement
from services.recon.run import RunOutcome, reconcile
from tests.statement_files import WechatLine, wechat_trade
from tests.support import BEIJING, auth, config_data, shop_order

FINANCE_GROUP = "fin"


def recon_config(database_url: str, **recon: Any) -> dict[str, Any]:
    """The test config with a finance group (caiwu, who holds the finance role) and the
    contracted WeChat Pay rate of 0.6%."""
    data = config_data(database_url)
    data["groups"][FINANCE_GROUP] = {"name": "财务组", "members": ["caiwu"]}
    data["recon"] = {"fee_rates": {"wechat": "0.6%"}, "group": FINANCE_GROUP} | recon
    return data


def local(day: date, clock: str) -> datetime:
    """``day`` at ``HH:MM:SS`` Beijing time, as aware UTC."""
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    moment = datetime(day.year, day.month, day.day, hours, minutes, seconds, tzinfo=BEIJING)
    return moment.astimezone(UTC)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@dataclass
class Pay:
    """A payment of an order: its serial (out_trade_no), stage, amount and when."""

    serial: str
    fen: int
    at: datetime
    stage: str | None = None  # DEPOSIT / FINAL for presale
    voucher_fen: int = 0


@dataclass
class Refunded:
    refund_no: str
    serial: str
    fen: int
    at: datetime


@dataclass
class ShopOrder:
    order_no: str
    payments: list[Pay]
    refunds: list[Refunded] = field(default_factory=list)
    shop: str = "自营旗舰店"

    def record(self) -> dict[str, Any]:
        first = min(p.at for p in self.payments)
        presale = any(p.stage for p in self.payments)
        paid_all = not presale or any(p.stage == "FINAL" for p in self.payments)
        total = sum(p.fen for p in self.payments) if paid_all else 3 * self.payments[0].fen
        record = shop_order(self.order_no, paid_at=first, total_fen=total)
        record["status"] = "PAID" if paid_all else "PARTIALLY_PAID"
        record["shop_name"] = self.shop
        record["pay_channel"] = "WECHAT_JSAPI"
        record["payments"] = [
            {
                "out_trade_no": p.serial,
                "amount_fen": p.fen,
                "paid_at": p.at.astimezone(BEIJING).isoformat(),
                "voucher_fen": p.voucher_fen,
            }
            | ({"stage": p.stage} if p.stage else {})
            for p in self.payments
        ]
        if self.refunds:
            record["refunds"] = [
                {
                    "out_refund_no": r.refund_no,
                    "out_trade_no": r.serial,
                    "amount_fen": r.fen,
                    "refunded_at": r.at.astimezone(BEIJING).isoformat(),
                }
                for r in self.refunds
            ]
        return record


def _taobao_time(at: datetime) -> str:
    return f"{at.astimezone(BEIJING):%Y-%m-%d %H:%M:%S}"


@dataclass
class TaobaoPresale:
    """A Taobao presale trade: 定金 and 尾款, each an Alipay trade (``Pay.serial`` is its
    ``step_channel_no``), the balance paid at ``final.at``; ``shipped_at``: the trade as
    later sent, shipped (its ``modified`` then)."""

    tid: str
    deposit: Pay
    final: Pay
    shop: str = "天猫旗舰店"
    shipped_at: datetime | None = None

    def record(self, *, as_paid: bool = False) -> dict[str, Any]:
        """The trade as TOP returns it: shipped if it was, or (``as_paid``) as it was when
        the balance was paid."""
        shipped = None if as_paid else self.shipped_at
        steps = [(1, self.deposit), (2, self.final)]
        record: dict[str, Any] = {
            "tid_str": self.tid,
            "type": "step",
            "status": "WAIT_BUYER_CONFIRM_GOODS" if shipped else "WAIT_SELLER_SEND_GOODS",
            "step_trade_status": "FRONT_PAID_FINAL_PAID",
            "created": _taobao_time(self.deposit.at - timedelta(minutes=3)),
            "pay_time": _taobao_time(self.deposit.at),
            "modified": _taobao_time(shipped or self.final.at),
            "payment": yuan(self.deposit.fen + self.final.fen),
            "step_paid_fee": yuan(self.deposit.fen + self.final.fen),
            "seller_nick": self.shop,
            "step_pay_details": {
                "step_pay_detail": [
                    {
                        "step_no": no,
                        "step_actual_pay_fee": yuan(pay.fen),
                        "pay_status": 2,
                        "step_channel_no": pay.serial,
                    }
                    for no, pay in steps
                ]
            },
            "orders": {
                "order": [
                    {"oid": int(self.tid), "payment": yuan(self.deposit.fen + self.final.fen)}
                ]
            },
        }
        if shipped:
            record["consign_time"] = _taobao_time(shipped)
        return record


async def ingest(
    client: TestClient, orders: Sequence[ShopOrder], trades: Sequence[TaobaoPresale] = ()
) -> None:
    for channel, records in (
        ("shop", [o.record() for o in orders]),
        ("taobao", [t.record() for t in trades]),
    ):
        for low in range(0, len(records), 1000):
            response = await client.post(
                f"/api/v1/orders/{channel}",
                json={"orders": records[low : low + 1000]},
                headers=auth("all"),
            )
            assert response.status == 200, await response.text()


_TRADE_NO = iter(range(4200000000000000000000, 4300000000000000000000))


def paid_line(serial: str, fen: int, at: datetime, fee: str | None = None) -> WechatLine:
    """A payment line of the bill; the fee the contracted 0.6% (5 decimals) unless given."""
    return WechatLine(
        serial,
        yuan(fen),
        fee or _fee(fen),
        time=_bill_time(at),
        transaction_id=str(next(_TRADE_NO)),
    )


def _fee(fen: int) -> str:
    milli = fen * 6000 // 1000  # 0.6% in 1/1000 fen
    return f"{milli // 100000}.{milli % 100000:05d}"


def refund_line(serial: str, refund_no: str, fen: int, at: datetime) -> WechatLine:
    return WechatLine(
        serial,
        "0.00",
        "0.00000",
        time=_bill_time(at),
        transaction_id=str(next(_TRADE_NO)),
        refund=yuan(fen),
        refund_no=refund_no,
    )


def _bill_time(at: datetime) -> str:
    return f"{at.astimezone(BEIJING):%Y-%m-%d %H:%M:%S}"


async def import_bill(client: TestClient, day: date, lines: list[WechatLine]) -> None:
    name = f"tradebill_{day:%Y%m%d}.csv"
    statement = parse_statement(wechat_trade(lines), name, None, None)
    assert statement.bill_date == day
    await store_statement(client.app[SESSIONS], statement, name, datetime.now(UTC))


ALIPAY_PID = PaySandboxConfig().alipay_pid


async def import_alipay_bills(client: TestClient, trades: Sequence[TaobaoPresale]) -> list[date]:
    """Each day's Alipay business bill of the trades' payments, as the sandbox's gateway
    writes it from what the trades paid when they were paid (sandbox.paid), imported; the
    days billed."""
    state = PayState(PaySandboxConfig(), clock=lambda: 0.0, wall_clock=lambda: 0.0)
    state.payments = [
        Payment.from_json(paid)
        for trade in trades
        for paid in payments_of("taobao", trade.record(as_paid=True))
    ]
    days = sorted({p.paid_at.astimezone(BEIJING).date() for p in state.payments})
    for day in days:
        name = f"{ALIPAY_PID}_{day:%Y%m%d}.csv.zip"
        data = alipay_zip(ALIPAY_PID, day, state.bill_lines("alipay", day), datetime.now(UTC))
        statement = parse_statement(data, name, None, None)
        await store_statement(client.app[SESSIONS], statement, name, datetime.now(UTC))
    return days


async def run_day(
    client: TestClient, day: date, now: datetime | None = None, gateway: str = "wechat"
) -> RunOutcome:
    now = now or local(day + timedelta(days=1), "10:30:00")
    outcome, _ = await reconcile(
        client.app[SESSIONS], client.app[RULES].current(), gateway, day, now
    )
    return outcome
