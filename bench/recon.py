"""Reconciling a large shop's day: 1,000,000 orders against a 1,000,000-line WeChat Pay bill,
1% of them differences.

    .venv/bin/python -m bench.recon                    # 1,000,000 on SQLite
    .venv/bin/python -m bench.recon --orders 100000    # quicker

Writes the day's ALL bill (WeChat Pay's layout, backticks, summary lines) and the same orders'
payments as a CSV (order number, payment serial, amount), and fills a fresh SQLite database
with the orders and their payments (setup, not timed). Per 1,000 orders: 4 bill lines carry a
serial no order has instead of their own (4 长款 + 4 漏账) and 2 are a fen short (金额不符): 1%.
Then, in fresh processes one after the other, the set-up's writes flushed first (os.sync: its
write-back would slow whichever ran first): the reference, polars reading both files and
joining them on the payment serial (nothing checked, nothing stored), run before orderbot and
again after it, the faster of the two taken; and orderbot, reading and checking the bill,
storing it (services.recon.importing), and reconciling the day (services.recon.run: the
day's payments and lines read back, matched, differences stored with their payment tickets,
the digest with its XLSX queued). Prints each step's seconds, the
ratio to the reference, each side's peak resident memory (getrusage: its process or a process
it started, such as orderbot's reader of a large SQLite day) and the CPU seconds each side
spent (all threads and started processes: polars reads and joins on every core, so on a
loaded machine its wall time gains least).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sqlite3
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from bench.recon_parse import HEADER, SUMMARY
from rules.statements.money import MILLI_DECIMALS, yuan
from services.config import parse_config
from services.policy import Policy
from services.recon.importing import read_statement, store_statement
from services.recon.run import reconcile
from storage import migrate
from storage.db import make_engine, make_sessionmaker

DAY = date(2024, 3, 1)
START = datetime(2024, 2, 29, 16, tzinfo=UTC)  # 2024-03-01 00:00 Beijing
_PAYEE = "`wx2421b1c4370ec43b,`1900000109,`0,`"
_PAYER = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def amount_of(n: int) -> int:
    return 100 + n * 7919 % 99_900


def second_of(n: int, orders: int) -> int:
    return n * 85_000 // orders  # none in the last 10 minutes: no payment waits for tomorrow


def write_files(bill: Path, payments: Path, orders: int) -> int:
    """The bill and the orders' payments CSV; how many differences were injected."""
    settled = fees = injected = 0
    with bill.open("w", encoding="utf-8", newline="") as out, payments.open("w") as csv:
        out.write(HEADER + "\r\n")
        csv.write("order_no,serial,amount_fen\n")
        for n in range(orders):
            amount, second = amount_of(n), second_of(n, orders)
            serial = f"SH{n:010d}"
            csv.write(f"{serial},{serial},{amount}\n")
            kind = n % 1000
            if kind < 4:  # a line no order claims, in place of this order's
                serial, injected = f"GH{n:010d}", injected + 2
            elif kind < 6:  # a fen short
                amount, injected = amount - 1, injected + 1
            at = START + timedelta(seconds=second) + timedelta(hours=8)
            fee = amount * 6
            out.write(
                f"`{at:%Y-%m-%d %H:%M:%S},{_PAYEE},`42000020240301{n:010d},`{serial},`{_PAYER},"
                f"`JSAPI,`SUCCESS,`CMB_CREDIT,`CNY,`{yuan(amount)},`0.00,`0,`0,`0.00,`0.00,`,`,"
                f"`商品,`,`{yuan(fee, MILLI_DECIMALS)},`0.60%,`{yuan(amount)},`0.00,`\r\n"
            )
            settled, fees = settled + amount, fees + fee
        out.write(SUMMARY + "\r\n")
        totals = [str(orders), yuan(settled), "0.00", "0.00", yuan(fees, MILLI_DECIMALS)]
        totals += [yuan(settled), "0.00"]
        out.write(",".join("`" + t for t in totals) + "\r\n")
    return injected


def fill_orders(database: Path, orders: int) -> None:
    """The orders and their payments, straight into the tables (setup, not timed)."""
    now = "2024-03-02 02:00:00.000000"
    with sqlite3.connect(database) as db:
        for low in range(0, orders, 100_000):
            span = range(low, min(orders, low + 100_000))
            times = {n: _utc_text(START + timedelta(seconds=second_of(n, orders))) for n in span}
            db.executemany(
                "INSERT INTO orders (id, channel, channel_order_id, shop, order_type, stage, "
                "stage_entered_at, amount_fen, paid_at, received_at, updated_at, raw) "
                "VALUES (?, 'shop', ?, '自营旗舰店', 'normal', 'paid', ?, ?, ?, ?, ?, '{}')",
                ((n + 1, f"SH{n:010d}", times[n], amount_of(n), times[n], now, now) for n in span),
            )
            db.executemany(
                "INSERT INTO order_payments (order_id, serial, phase, amount_fen, paid_at, "
                "method, voucher_fen) VALUES (?, ?, 'full', ?, ?, 'wechat', 0)",
                ((n + 1, f"SH{n:010d}", amount_of(n), times[n]) for n in span),
            )


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]


def _peak_mib() -> float:
    """The largest resident size of this process or any process it waited for (orderbot's
    reader of a large SQLite day, storage.arrow_snapshot)."""
    peaks = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, _CHILDREN))
    return max(peaks) / 1024  # KiB on Linux


_CHILDREN = resource.RUSAGE_CHILDREN


def _cpu() -> float:
    """CPU seconds of this process (every thread) and of the processes it waited for."""
    children = resource.getrusage(_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def bare_join(bill: Path, payments: Path) -> tuple[float, float, float, int]:
    """The reference: both files read by polars and joined on the serial; (s, CPU s, peak MiB,
    rows)."""
    start, cpu = time.perf_counter(), _cpu()
    lines = pl.read_csv(bill, infer_schema=False, quote_char=None, truncate_ragged_lines=True)
    orders = pl.read_csv(payments, schema_overrides={"serial": pl.String})
    billed = lines.select(pl.col("商户订单号").str.strip_prefix("`").alias("serial"))
    joined = orders.join(billed, on="serial", how="full", coalesce=True)
    return time.perf_counter() - start, _cpu() - cpu, _peak_mib(), joined.height


def orderbot(bill: Path, url: str) -> tuple[float, float, float, float, float, int]:
    """(read s, store s, reconcile s, CPU s, peak MiB, differences)."""
    start, cpu = time.perf_counter(), _cpu()
    statement = read_statement(bill, "wechat", "trade")
    read = time.perf_counter()
    config = parse_config(
        {
            "database": {"url": url},
            "groups": {"fin": {"name": "财务组"}},
            "routing": {"default_group": "fin"},
            "roles": {"finance": ["caiwu"]},
            "recon": {"fee_rates": {"wechat": "0.6%"}, "group": "fin"},
        }
    )

    async def store_and_match() -> tuple[float, float, int]:
        engine = make_engine(url)
        try:
            sessions = make_sessionmaker(engine)
            began = time.perf_counter()
            await store_statement(sessions, statement, bill.name, datetime.now(UTC))
            stored = time.perf_counter()
            outcome, _ = await reconcile(
                sessions, Policy.from_config(config), "wechat", DAY, datetime.now(UTC)
            )
            return stored - began, time.perf_counter() - stored, outcome.differences
        finally:
            await engine.dispose()

    store_s, match_s, found = asyncio.run(store_and_match())
    return read - start, store_s, match_s, _cpu() - cpu, _peak_mib(), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bill, payments = Path(folder) / "tradebill_20240301.csv", Path(folder) / "payments.csv"
        began = time.perf_counter()
        injected = write_files(bill, payments, options.orders)
        database = Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{database}"
        migrate.upgrade(url)
        fill_orders(database, options.orders)
        print(
            f"{options.orders:,} orders and bill lines ({bill.stat().st_size / 2**20:,.0f} MiB "
            f"bill), {injected:,} differences injected; set up in "
            f"{time.perf_counter() - began:.0f} s"
        )
        os.sync()
        processes = multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1)
        with processes:
            first = processes.apply(bare_join, (bill, payments))
            read_s, store_s, match_s, cpu, peak, found = processes.apply(orderbot, (bill, url))
            again = processes.apply(bare_join, (bill, payments))
    ref_s, ref_cpu, ref_peak, rows = min(first, again)
    total = read_s + store_s + match_s
    print(
        f"reference: polars read_csv ×2 + join: {ref_s:6.2f} s (CPU {ref_cpu:.2f} s), "
        f"peak {ref_peak:,.0f} MiB ({rows:,} rows); before and after orderbot: "
        f"{first[0]:.2f} s, {again[0]:.2f} s"
    )
    print(
        f"orderbot read + checks:        {read_s:6.2f} s\n"
        f"orderbot store the bill:       {store_s:6.2f} s\n"
        f"orderbot reconcile the day:    {match_s:6.2f} s "
        f"({found:,} differences stored, each a ticket)\n"
        f"orderbot total:                {total:6.2f} s = {total / ref_s:.1f}× the reference "
        f"(read + reconcile, the bill already stored: {(read_s + match_s) / ref_s:.1f}×), "
        f"peak {peak:,.0f} MiB\n"
        f"CPU seconds, every thread and child process (steadier than wall time on a busy "
        f"machine): orderbot "
        f"{cpu:.2f} s = {cpu / ref_cpu:.1f}× the reference's"
    )


if __name__ == "__main__":
    main()
