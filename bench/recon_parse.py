"""Reading and storing a large shop's day of WeChat Pay: a 1,000,000-line ALL trade bill.

    .venv/bin/python -m bench.recon_parse                      # 1,000,000 lines on SQLite
    .venv/bin/python -m bench.recon_parse --lines 200000       # quicker
    .venv/bin/python -m bench.recon_parse --database postgresql+asyncpg://postgres@127.0.0.1/bench

Writes the bill (1% refunds, fees to 5 decimals, its two summary lines) to a temporary file,
then in fresh processes, one after the other: a bare ``polars.read_csv`` of that file (every
column as text, nothing checked: the reference), and orderbot reading it (rules.statements:
every check, the line shape) and storing the statement and its lines
(services.recon.importing.store_statement). Prints each one's seconds and the peak resident
memory of its process. The PostgreSQL database must exist and be empty of statements.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from rules.statements.money import MILLI_DECIMALS, yuan
from services.recon.importing import read_statement, store_statement
from storage import migrate
from storage.db import make_engine, make_sessionmaker

HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
_PAYEE = "`wx2421b1c4370ec43b,`1900000109,`0,`"  # app id, merchant, no sub-merchant, no device
_PAYER = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
SUMMARY = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)


def write_bill(path: Path, lines: int) -> None:
    """A day's ALL bill: payments of 1.00-999.99 yuan at 0.6%, every 100th line a refund."""
    settled = refunded = fees = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\r\n")
        for n in range(lines):
            second = n * 86_400 // lines
            time_text = f"2024-03-01 {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
            refund = n % 100 == 99  # the payment before it, refunded in full
            paid = n - 1 if refund else n
            amount = 100 + paid * 7919 % 99_900
            order, fee = f"SH{paid:010d}", -amount * 6 if refund else amount * 6
            head = f"`{time_text},{_PAYEE},`42000020240301{paid:010d},`{order},`{_PAYER},`JSAPI,"
            money, fee_text = yuan(amount), yuan(fee, MILLI_DECIMALS)
            if refund:
                cells = (
                    f"{head}`REFUND,`CFT,`CNY,`0.00,`0.00,`5030000{n:022d},`RF{n:010d},`{money},"
                    f"`0.00,`ORIGINAL,`SUCCESS,`商品,`{order},`{fee_text},`0.60%,`0.00,`{money},`"
                )
                refunded += amount
            else:
                cells = (
                    f"{head}`SUCCESS,`CMB_CREDIT,`CNY,`{money},`0.00,`0,`0,`0.00,`0.00,`,`,`商品,"
                    f"`{order},`{fee_text},`0.60%,`{money},`0.00,`"
                )
                settled += amount
            fees += fee
            out.write(cells + "\r\n")
        out.write(SUMMARY + "\r\n")
        totals = [
            str(lines), yuan(settled), yuan(refunded), "0.00", yuan(fees, MILLI_DECIMALS),
            yuan(settled), yuan(refunded),
        ]  # fmt: skip
        out.write(",".join("`" + t for t in totals) + "\r\n")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def bare_read(path: Path) -> tuple[float, float, int]:
    """The reference: polars' CSV reader on the same file, every column as text."""
    start = time.perf_counter()
    frame = pl.read_csv(path, infer_schema=False, quote_char=None, truncate_ragged_lines=True)
    return time.perf_counter() - start, _peak_mib(), frame.height


def orderbot_import(path: Path, url: str) -> tuple[float, float, float, int]:
    """orderbot: read and check the bill, then store it; (read s, store s, peak MiB, lines)."""
    start = time.perf_counter()
    statement = read_statement(path, "wechat", "trade")
    parsed = time.perf_counter()

    async def store() -> None:
        engine = make_engine(url)
        try:
            now = datetime.now(UTC)
            await store_statement(make_sessionmaker(engine), statement, path.name, now)
        finally:
            await engine.dispose()

    asyncio.run(store())
    return parsed - start, time.perf_counter() - parsed, _peak_mib(), statement.lines.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--database", help="SQLAlchemy URL; default a fresh SQLite file")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tradebill_20240301.csv"
        start = time.perf_counter()
        write_bill(path, options.lines)
        print(
            f"bill: {options.lines:,} lines, {path.stat().st_size / 2**20:,.0f} MiB "
            f"(written in {time.perf_counter() - start:.1f} s)"
        )
        url = options.database or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        migrate.upgrade(url)
        processes = multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1)
        with processes:
            raw_s, raw_peak, raw_rows = processes.apply(bare_read, (path,))
            read_s, store_s, peak, lines = processes.apply(orderbot_import, (path, url))
    print(
        f"polars.read_csv (reference): {raw_s:6.2f} s, peak {raw_peak:,.0f} MiB ({raw_rows:,} rows)"
    )
    print(
        f"orderbot read + checks:      {read_s:6.2f} s  ({read_s / raw_s:.1f}× the reference)\n"
        f"orderbot store ({url.split(':')[0]}):  {store_s:6.2f} s\n"
        f"orderbot total:              {read_s + store_s:6.2f} s, peak {peak:,.0f} MiB "
        f"({lines:,} lines, {lines / (read_s + store_s):,.0f} lines/s)"
    )


if __name__ == "__main__":
    main()
