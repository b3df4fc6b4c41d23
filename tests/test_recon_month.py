"""A labelled synthetic month: a few shops' WeChat Pay orders every day of February 2026 with
noise that must not count (vouchers, refunds, presale pairs, payments near midnight that land
in the next day's bill, fees off by less than the tolerance), and every class of difference
injected at random; beside them Taobao presale trades paid through Alipay (定金 and 尾款, whose
records give the payments no time of their own; some sent again later, shipped). Each day's
WeChat Pay bill is written as WeChat Pay writes it, the Alipay bills as the sandbox's gateway
does from what the trades paid, imported and run in order; the differences found must be
exactly the ones injected: precision and recall 100%."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.keys import SESSIONS
from rules.recon import Difference
from services.config import parse_config
from storage.models import ReconDifference
from tests.recon_side import (
    Pay,
    Refunded,
    ShopOrder,
    TaobaoPresale,
    import_alipay_bills,
    import_bill,
    ingest,
    local,
    paid_line,
    recon_config,
    refund_line,
    run_day,
)
from tests.statement_files import WechatLine
from tests.support import T0, FakeClock, all_rows

FIRST, DAYS = date(2026, 2, 1), 28
SHOPS = ("自营旗舰店", "官方直营店", "折扣店")
Label = tuple[date, str, str]


@pytest.fixture
async def app(aiohttp_client: Any, database_url: str) -> TestClient:
    config = parse_config(recon_config(database_url))
    client: TestClient = await aiohttp_client(
        create_app(config, clock=FakeClock(T0), watch_timer=False)
    )
    return client


class Month:
    """The orders, each day's bill lines and the labels, built from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.orders: list[ShopOrder] = []
        self.trades: list[TaobaoPresale] = []
        self.bills: dict[date, list[WechatLine]] = {
            FIRST + timedelta(days=n): [] for n in range(DAYS)
        }
        self.labels: set[Label] = set()
        self.n = 0

    def number(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n:05d}"

    def clock(self) -> str:
        """A time of day away from midnight (the boundary is tested on its own)."""
        seconds = self.rng.randrange(3600, 23 * 3600)
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def order(self, day: date, *, voucher: int = 0) -> tuple[ShopOrder, Pay]:
        no = self.number("M")
        pay = Pay(no, self.rng.randrange(500, 90000), local(day, self.clock()), voucher_fen=voucher)
        order = ShopOrder(no, [pay], shop=self.rng.choice(SHOPS))
        self.orders.append(order)
        return order, pay

    def billed(self, day: date, pay: Pay, fee: str | None = None, fen: int | None = None) -> None:
        amount = pay.fen - pay.voucher_fen if fen is None else fen
        self.bills[day].append(paid_line(pay.serial, amount, pay.at, fee))

    def build(self) -> None:
        days = list(self.bills)
        for day in days:
            for _ in range(self.rng.randrange(25, 40)):
                self.noise(day)
            for _ in range(self.rng.randrange(2, 5)):
                self.taobao_presale(day)
            for inject in self.rng.sample(INJECTIONS, 4):
                inject(self, day)
        for inject in INJECTIONS:  # every class at least once, whatever the draw
            inject(self, days[self.rng.randrange(len(days) - 1)])

    def noise(self, day: date) -> None:
        kind = self.rng.random()
        if kind < 0.6:
            _, pay = self.order(day)
            self.billed(day, pay)
        elif kind < 0.7:
            _, pay = self.order(day, voucher=self.rng.randrange(100, 400))
            self.billed(day, pay)
        elif kind < 0.8:  # a refund, in the bill
            order, pay = self.order(day)
            self.billed(day, pay)
            self.refund(order, pay, day, billed=True)
        elif kind < 0.88:  # fee off by less than the tolerance (1 fen)
            _, pay = self.order(day)
            milli = pay.fen * 6 + self.rng.choice((-400, 400))
            self.billed(day, pay, fee=f"{milli // 100000}.{milli % 100000:05d}")
        elif kind < 0.95 and day + timedelta(days=1) in self.bills:  # near midnight, next bill
            order, pay = self.order(day)
            pay.at = local(day, f"23:5{self.rng.randrange(1, 10)}:00")
            self.bills[day + timedelta(days=1)].append(
                paid_line(pay.serial, pay.fen, local(day + timedelta(days=1), "00:00:05"))
            )
        else:  # presale: deposit and balance, each billed on its day
            later = min(day + timedelta(days=self.rng.randrange(0, 4)), max(self.bills))
            no = self.number("P")
            deposit = Pay(
                no + "D", self.rng.randrange(1000, 5000), local(day, self.clock()), "DEPOSIT"
            )
            final = Pay(
                no + "F", self.rng.randrange(5000, 20000), local(later, self.clock()), "FINAL"
            )
            if later == day and final.at < deposit.at:
                deposit.at, final.at = final.at, deposit.at
            self.orders.append(ShopOrder(no, [deposit, final], shop=self.rng.choice(SHOPS)))
            self.billed(day, deposit)
            self.billed(later, final)

    def taobao_presale(self, day: date) -> None:
        """定金 on the day, 尾款 up to three days later (both Alipay trades, billed on their
        days); a third of the trades sent again once shipped, a day or two after the balance."""
        later = min(day + timedelta(days=self.rng.randrange(0, 4)), max(self.bills))
        tid = str(3_000_000_000_000 + self.n)
        deposit, final = (
            Pay(
                f"20260{self.number('1')}", self.rng.randrange(1000, 5000), local(day, self.clock())
            ),
            Pay(
                f"20260{self.number('2')}",
                self.rng.randrange(5000, 20000),
                local(later, self.clock()),
            ),
        )
        if final.at < deposit.at:
            deposit.at, final.at = final.at, deposit.at
        shipped = (
            final.at + timedelta(days=self.rng.choice((1, 2))) if self.rng.random() < 0.34 else None
        )
        self.trades.append(TaobaoPresale(tid, deposit, final, shipped_at=shipped))

    def refund(
        self, order: ShopOrder, pay: Pay, day: date, *, billed: bool, fen: int | None = None
    ) -> str:
        refund_no = self.number("R")
        amount = min(pay.fen, self.rng.randrange(100, 2000))
        at = local(day, "23:00:00") if pay.at < local(day, "23:00:00") else pay.at
        order.refunds.append(Refunded(refund_no, pay.serial, amount, at))
        if billed:
            self.bills[day].append(
                refund_line(pay.serial, refund_no, amount if fen is None else fen, at)
            )
        return refund_no


def _unrecorded(m: Month, day: date) -> None:
    serial = m.number("X")
    m.bills[day].append(paid_line(serial, m.rng.randrange(500, 9000), local(day, m.clock())))
    m.labels.add((day, Difference.UNRECORDED, serial))


def _missing(m: Month, day: date) -> None:
    _, pay = m.order(day)
    m.labels.add((day, Difference.MISSING, pay.serial))


def _missing_after_a_night(m: Month, day: date) -> None:
    """Paid just before midnight, in neither bill: missing in the next day's run."""
    _, pay = m.order(day)
    pay.at = local(day, "23:57:00")
    m.labels.add((day + timedelta(days=1), Difference.MISSING, pay.serial))


def _amount(m: Month, day: date) -> None:
    _, pay = m.order(day)
    m.billed(day, pay, fen=pay.fen - m.rng.randrange(1, 500))
    m.labels.add((day, Difference.AMOUNT, pay.serial))


def _duplicate(m: Month, day: date) -> None:
    _, pay = m.order(day)
    m.billed(day, pay)
    m.billed(day, pay)
    m.labels.add((day, Difference.DUPLICATE, pay.serial))


def _fee(m: Month, day: date) -> None:
    _, pay = m.order(day)
    milli = pay.fen * 6 + m.rng.choice((-1, 1)) * m.rng.randrange(1001, 50000)
    m.billed(day, pay, fee=f"{max(milli, 0) // 100000}.{max(milli, 0) % 100000:05d}")
    m.labels.add((day, Difference.FEE, pay.serial))


def _refund_missing(m: Month, day: date) -> None:
    order, pay = m.order(day)
    m.billed(day, pay)
    refund_no = m.refund(order, pay, day, billed=False)
    m.labels.add((day, Difference.REFUND_MISSING, f"refund:{refund_no}"))


def _refund_unrecorded(m: Month, day: date) -> None:
    _, pay = m.order(day)
    m.billed(day, pay)
    refund_no = m.number("RX")
    m.bills[day].append(refund_line(pay.serial, refund_no, 100, local(day, "22:00:00")))
    m.labels.add((day, Difference.REFUND_UNRECORDED, f"refund:{refund_no}"))


def _refund_amount(m: Month, day: date) -> None:
    order, pay = m.order(day)
    m.billed(day, pay)
    refund_no = m.refund(order, pay, day, billed=True, fen=50)  # the order's is ≥ ¥1
    m.labels.add((day, Difference.REFUND_AMOUNT, f"refund:{refund_no}"))


def _balance_unpaid(m: Month, day: date) -> None:
    no = m.number("B")
    deposit = Pay(
        no + "D", m.rng.randrange(1000, 5000), local(day - timedelta(days=30), m.clock()), "DEPOSIT"
    )
    m.orders.append(ShopOrder(no, [deposit], shop=m.rng.choice(SHOPS)))
    m.labels.add((day, Difference.BALANCE_UNPAID, f"balance:{deposit.serial}"))


INJECTIONS = [
    _unrecorded, _missing, _missing_after_a_night, _amount, _duplicate, _fee,
    _refund_missing, _refund_unrecorded, _refund_amount, _balance_unpaid,
]  # fmt: skip


async def test_a_labelled_month_is_found_with_full_precision_and_recall(app: TestClient) -> None:
    month = Month(seed=14)
    month.build()
    await ingest(app, month.orders, month.trades)
    for day, lines in month.bills.items():
        await import_bill(app, day, lines)
    alipay_days = await import_alipay_bills(app, month.trades)
    for day in month.bills:
        await run_day(app, day)
        await run_day(app, day, gateway="alipay")

    stored = await all_rows(app.app[SESSIONS], ReconDifference)
    found = {(d.bill_date, d.cls, d.key) for d in stored}
    right = found & month.labels
    precision, recall = len(right) / len(found), len(right) / len(month.labels)
    assert (found - month.labels, month.labels - found) == (set(), set())
    assert (precision, recall) == (1.0, 1.0)
    assert {cls for _, cls, _ in month.labels} == set(Difference)
    assert len(month.orders) > 900
    assert len(month.trades) > 60 and len(alipay_days) == DAYS
    assert any(t.shipped_at for t in month.trades)
