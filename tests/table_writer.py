"""A stand-in ERP for the table source's tests: several connections insert shop orders into a
PostgreSQL table in concurrent transactions, one of them holding each of its transactions open
while the others commit, so rows land late with smaller ids. Every seventh order of a writer
has a status the shop channel does not know. Prints each committed row's id, in commit order.

    python -m tests.table_writer <asyncpg dsn> <rows per writer> <writers>
"""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import UTC, datetime

import asyncpg

INSERT = """
INSERT INTO shop_orders (order_no, status, created_at, paid_at, total_fen, province, mobile)
VALUES ($1, $2, $4, $4, $3, '上海市', '13812345678') RETURNING id
"""
PAID_AT = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)  # half an hour before the tests' clock starts


def order_no(writer: int, n: int) -> str:
    return f"W{writer}-{n}"


def is_bad(n: int) -> bool:
    return n % 7 == 3


async def write(dsn: str, writer: int, rows: int, committed: list[int]) -> None:
    connection = await asyncpg.connect(dsn)
    slow = writer == 0  # holds its transaction while the others commit
    try:
        for n in range(rows):
            async with connection.transaction():
                status = "TELEPORTED" if is_bad(n) else "PAID"
                row_id = await connection.fetchval(
                    INSERT, order_no(writer, n), status, 100 + n, PAID_AT
                )
                await asyncio.sleep(random.uniform(0.1, 0.3) if slow else random.uniform(0, 0.02))
            committed.append(row_id)
    finally:
        await connection.close()


async def main(dsn: str, rows: int, writers: int) -> None:
    committed: list[int] = []
    await asyncio.gather(*(write(dsn, w, rows, committed) for w in range(writers)))
    print("\n".join(map(str, committed)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
