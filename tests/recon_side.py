"""Reconciliation test helpers: shop orders paid by WeChat Pay through the ingest API, WeChat
Pay ALL bills written as the gateway writes them (tests.statement_files) and stored through
the import service, and runs of the matching service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from bot.keys import RULES, SESSIONS
from rules.statements import parse_statement
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


async def ingest(client: TestClient, orders: list[ShopOrder]) -> None:
    for low in range(0, len(orders), 1000):
        batch = [o.record() for o in orders[low : low + 1000]]
        response = await client.post(
            "/api/v1/orders/shop", json={"orders": batch}, headers=auth("all")
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


async def run_day(client: TestClient, day: date, now: datetime | None = None) -> RunOutcome:
    now = now or local(day + timedelta(days=1), "10:30:00")
    outcome, _ = await reconcile(
        client.app[SESSIONS], client.app[RULES].current(), "wechat", day, now
    )
    return outcome
