"""A reconciliation day's reads (storage.recon.one_snapshot): on a SQLite file they come from
one snapshot, by a reading process of their own, though a writer commits between them; on
PostgreSQL they stay in the session's transaction, as before."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

from rules.statements import parse_statement
from services.recon.importing import store_statement
from storage.db import make_engine, make_sessionmaker
from storage.recon import LARGE_DAY, bill_days, bill_lines, one_snapshot, payments_between
from tests.statement_files import WechatLine, wechat_trade

DAY = date(2024, 3, 1)
NOW = datetime(2024, 3, 2, 1, tzinfo=UTC)
FIRST = [WechatLine("SH1001D", "99.00", "0.59400"), WechatLine("SH1002D", "1.00", "0.00600")]
SECOND = [WechatLine("SH2001D", "50.00", "0.30000")]


async def test_a_days_reads_agree_though_a_bill_is_stored_between_them(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    first = parse_statement(wechat_trade(FIRST), "tradebill_20240301.csv", None, None)
    second = dataclasses.replace(
        parse_statement(wechat_trade(SECOND), "tradebill_20240301.csv", None, None),
        merchant_id="1900000110",  # another merchant's bill of the same day
    )
    try:
        await store_statement(sessions, first, "first.csv", NOW)
        async with sessions() as session, one_snapshot(session, LARGE_DAY):
            assert await bill_days(session, "wechat", DAY) == 1
            await store_statement(sessions, second, "second.csv", NOW)
            lines = await bill_lines(session, "wechat", DAY, ("merchant_order_no",))
            counted = await bill_days(session, "wechat", DAY)
            start = datetime(2024, 2, 29, 16, tzinfo=UTC)
            payments = await payments_between(session, "wechat", start, NOW)
        async with sessions() as session:
            assert await bill_days(session, "wechat", DAY) == 2
    finally:
        await engine.dispose()
    assert payments.height == 0
    if database_url.startswith("sqlite"):
        assert counted == 1
        assert sorted(lines["merchant_order_no"]) == ["SH1001D", "SH1002D"]
    else:  # read committed: each read sees what was committed before it
        assert counted == 2
        assert sorted(lines["merchant_order_no"]) == ["SH1001D", "SH1002D", "SH2001D"]
