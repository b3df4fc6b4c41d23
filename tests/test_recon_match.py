"""Reconciliation: shop orders paid by WeChat Pay come in through the ingest API, the day's
ALL bill through the import service, and the matching service finds every class of
difference, carries payments near midnight over to the next day's bill, re-runs without
duplicates, closes what vanished, and tells finance (tickets, digest with XLSX, chat)."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import create_app
from bot.keys import RULES, SESSIONS
from jobs import recon as recon_job
from rules.recon import Difference
from rules.recon.export import REPORT_COLUMNS, SUMMARY_COLUMNS
from rules.recon.matching import Match
from rules.statements import parse_statement
from services.config import parse_config
from services.policy import Policy
from services.recon.export import export_day
from services.recon.importing import store_statement
from services.recon.run import DayInputs, RunOutcome, load_inputs, match, reconcile
from services.recon.run import store as store_run
from storage.db import make_engine, make_sessionmaker
from storage.models import OutboxMessage, ReconDifference, ReconRun, Ticket, TicketEvent
from tests.chat import say
from tests.recon_side import (
    FINANCE_GROUP,
    Pay,
    Refunded,
    ShopOrder,
    import_bill,
    ingest,
    local,
    paid_line,
    recon_config,
    refund_line,
    run_day,
)
from tests.statement_files import (
    UNIONPAY_NAME,
    AlipayLine,
    UnionpayLine,
    WechatLine,
    alipay_zip,
    unionpay_zm,
)
from tests.support import T0, FakeClock, all_rows, auth
from tests.test_cli import no_crash, orderbot, orderbot_here, write_config

ROOT = Path(__file__).resolve().parent.parent

D = date(2026, 3, 1)  # the bill day; the clock (T0) is 2026-03-02 09:00 Beijing
NEXT = D + timedelta(days=1)


@pytest.fixture
async def app(aiohttp_client: Any, database_url: str) -> TestClient:
    config = parse_config(recon_config(database_url))
    client: TestClient = await aiohttp_client(
        create_app(config, clock=FakeClock(T0), watch_timer=False)
    )
    return client


def at(clock: str, day: date = D) -> datetime:
    return local(day, clock)


# One order per class, and the ones that must match; every amount in fen.
ORDERS = [
    ShopOrder(
        "OK1", [Pay("OK1", 10000, at("10:00:00"))], [Refunded("R1", "OK1", 1000, at("12:00:00"))]
    ),
    ShopOrder("VOUCHER", [Pay("VOUCHER", 10000, at("10:05:00"), voucher_fen=1000)]),
    ShopOrder("AMOUNT", [Pay("AMOUNT", 10000, at("10:10:00"))]),
    ShopOrder("MISSING", [Pay("MISSING", 5000, at("11:00:00"))]),
    ShopOrder("LATE", [Pay("LATE", 3000, at("23:55:00"))]),
    ShopOrder("LATE2", [Pay("LATE2", 3100, at("23:58:00"))]),
    ShopOrder("DUP", [Pay("DUP", 2000, at("13:00:00"))]),
    ShopOrder("FEE", [Pay("FEE", 10000, at("14:00:00"))]),
    ShopOrder(
        "NOREFUND",
        [Pay("NOREFUND", 4000, at("09:00:00"))],
        [Refunded("R2", "NOREFUND", 4000, at("15:00:00"))],
    ),
    ShopOrder(
        "PRE",
        [Pay("PRED", 3000, at("09:30:00"), "DEPOSIT"), Pay("PREF", 7000, at("16:00:00"), "FINAL")],
    ),
    ShopOrder("BAL", [Pay("BALD", 2500, at("10:00:00", D - timedelta(days=30)), "DEPOSIT")]),
]
BILL = [
    paid_line("OK1", 10000, at("10:00:03")),
    refund_line("OK1", "R1", 1000, at("12:00:09")),
    paid_line("VOUCHER", 9000, at("10:05:02")),
    paid_line("AMOUNT", 9000, at("10:10:02")),
    paid_line("DUP", 2000, at("13:00:01")),
    paid_line("DUP", 2000, at("13:00:02")),
    paid_line("FEE", 10000, at("14:00:01"), fee="1.00000"),
    paid_line("NOREFUND", 4000, at("09:00:01")),
    paid_line("PRED", 3000, at("09:30:01")),
    paid_line("PREF", 7000, at("16:00:01")),
    paid_line("GHOST", 2000, at("17:00:00")),
    refund_line("OK1", "RX", 500, at("18:00:00")),
]
FOUND = {
    (Difference.AMOUNT, "AMOUNT"),
    (Difference.MISSING, "MISSING"),
    (Difference.DUPLICATE, "DUP"),
    (Difference.FEE, "FEE"),
    (Difference.REFUND_MISSING, "refund:R2"),
    (Difference.UNRECORDED, "GHOST"),
    (Difference.REFUND_UNRECORDED, "refund:RX"),
    (Difference.BALANCE_UNPAID, "balance:BALD"),
}


async def differences(app: TestClient, status: str | None = "open") -> set[tuple[str, str]]:
    rows = await all_rows(app.app[SESSIONS], ReconDifference)
    return {(d.cls, d.key) for d in rows if status is None or d.status == status}


async def test_every_class_of_difference_is_found_and_nothing_else(app: TestClient) -> None:
    await ingest(app, ORDERS)
    await import_bill(app, D, BILL)
    outcome = await run_day(app, D)

    assert await differences(app) == FOUND
    # Matched: OK1, VOUCHER (expected less the voucher), NOREFUND's payment, PRED, PREF
    # (settled) and R1; LATE and LATE2 wait for tomorrow's bill.
    assert (outcome.matched, outcome.pending, outcome.differences) == (6, 2, len(FOUND))
    stored = {(d.cls, d.key): d for d in await all_rows(app.app[SESSIONS], ReconDifference)}
    amount = stored[Difference.AMOUNT, "AMOUNT"]
    assert (amount.expected_fen, amount.actual_fen, amount.at_stake_fen) == (10000, 9000, 1000)
    assert (
        amount.reason
        == "金额不符: 订单 AMOUNT 全款应收 ¥100.00, 微信支付账单实收 ¥90.00, 相差 ¥-10.00"
    )
    assert stored[Difference.UNRECORDED, "GHOST"].reason.startswith("长款: 微信支付账单收款 ¥20.00")
    fee = stored[Difference.FEE, "FEE"]
    assert "手续费 ¥1.00000, 按签约费率应为 ¥0.60000" in fee.reason
    assert fee.at_stake_fen == 40
    assert stored[Difference.DUPLICATE, "DUP"].at_stake_fen == 2000
    assert stored[Difference.BALANCE_UNPAID, "balance:BALD"].expected_fen == 5000


async def test_each_difference_is_a_payment_ticket_for_finance_and_one_digest(
    app: TestClient,
) -> None:
    await ingest(app, ORDERS)
    await import_bill(app, D, BILL)
    await run_day(app, D)

    tickets = await all_rows(app.app[SESSIONS], Ticket)
    stored = await all_rows(app.app[SESSIONS], ReconDifference)
    assert sorted(t.id for t in tickets) == sorted(d.ticket_id for d in stored)
    assert {(t.kind, t.group_key, t.status) for t in tickets} == {
        ("payment", FINANCE_GROUP, "open")
    }
    ghost = next(d for d in stored if d.key == "GHOST")
    assert next(t for t in tickets if t.id == ghost.ticket_id).order_id is None  # 长款: no order
    [digest] = [m for m in await all_rows(app.app[SESSIONS], OutboxMessage) if m.kind == "recon"]
    assert (digest.target_kind, digest.target) == ("user", "caiwu")
    assert digest.detail is not None
    assert f"差异 {len(FOUND)} 笔" in digest.detail and "· 长款 1 笔" in digest.detail
    assert digest.attachment_name == "对账差异_wechat_2026-03-01.xlsx"
    assert digest.attachment is not None
    sheet = load_workbook(io.BytesIO(digest.attachment)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("工单", "类别", "原因")
    assert sorted(r[0] for r in rows[1:]) == sorted(t.id for t in tickets)


async def test_a_payment_near_midnight_waits_for_the_next_bill(app: TestClient) -> None:
    await ingest(app, ORDERS)
    await import_bill(app, D, BILL)
    await run_day(app, D)
    assert not {key for _, key in await differences(app)} & {"LATE", "LATE2"}

    await ingest(app, [ShopOrder("N1", [Pay("N1", 1500, at("08:00:00", NEXT))])])
    await import_bill(
        app,
        NEXT,
        [
            paid_line("LATE", 3000, at("00:00:02", NEXT)),
            paid_line("N1", 1500, at("08:00:01", NEXT)),
        ],
    )
    outcome = await run_day(app, NEXT)

    found = {
        (d.cls, d.key): d
        for d in await all_rows(app.app[SESSIONS], ReconDifference)
        if d.bill_date == NEXT
    }
    assert set(found) == {(Difference.MISSING, "LATE2")}  # LATE matched in the next bill
    assert "已多等一晚仍未入账" in found[Difference.MISSING, "LATE2"].reason
    assert (outcome.matched, outcome.pending) == (2, 0)


async def test_a_rerun_updates_without_duplicates_and_closes_what_vanished(
    app: TestClient,
) -> None:
    await ingest(app, ORDERS)
    await import_bill(app, D, BILL)
    await run_day(app, D)
    first = {d.key: d.ticket_id for d in await all_rows(app.app[SESSIONS], ReconDifference)}

    again = await run_day(app, D)
    assert (again.new, again.closed, again.runs) == (0, 0, 2)
    assert {d.key: d.ticket_id for d in await all_rows(app.app[SESSIONS], ReconDifference)} == first
    assert len(await all_rows(app.app[SESSIONS], Ticket)) == len(FOUND)

    # The order behind the 长款 turns up: the difference and its ticket close by themselves.
    await ingest(app, [ShopOrder("GHOST", [Pay("GHOST", 2000, at("16:59:58"))])])
    third = await run_day(app, D)
    assert (third.new, third.closed) == (0, 1)
    assert await differences(app) == FOUND - {(Difference.UNRECORDED, "GHOST")}
    ticket = next(t for t in await all_rows(app.app[SESSIONS], Ticket) if t.id == first["GHOST"])
    assert (ticket.status, ticket.resolution) == ("resolved", "auto")
    events = await all_rows(app.app[SESSIONS], TicketEvent)
    assert [(e.ticket_id, e.detail) for e in events] == [
        (ticket.id, "重新对账: 差异已消失, 自动关闭")
    ]
    [run] = await all_rows(app.app[SESSIONS], ReconRun)
    assert (run.runs, run.differences) == (3, len(FOUND) - 1)
    digests = [m for m in await all_rows(app.app[SESSIONS], OutboxMessage) if m.kind == "recon"]
    assert len(digests) == 3  # one per run


async def test_a_day_without_a_bill_is_recorded_not_matched(app: TestClient) -> None:
    await ingest(app, ORDERS)
    outcome = await run_day(app, D)
    assert outcome.status == "no_bill"
    assert await differences(app, None) == set()
    [digest] = [m for m in await all_rows(app.app[SESSIONS], OutboxMessage) if m.kind == "recon"]
    assert digest.detail is not None and "未找到当天的微信支付交易账单" in digest.detail


async def test_finance_looks_up_and_writes_off_in_chat(app: TestClient) -> None:
    await ingest(app, ORDERS)
    await import_bill(app, D, BILL)
    await run_day(app, D)
    now = at("11:00:00", NEXT)
    stored = {d.key: d for d in await all_rows(app.app[SESSIONS], ReconDifference)}

    listing = await say(app, "caiwu", "对账 2026-03-01 微信", now=now, chat="direct")
    assert listing.startswith(
        "对账 2026-03-01 微信支付\n· 微信支付: 核对 15 笔, 匹配 6, 待次日 2, 差异 8 笔"
    )
    assert f"#{stored['GHOST'].ticket_id} 长款" in listing
    other_shop = await say(app, "caiwu", "对账 03-01 别的店", now=now, chat="direct")
    assert other_shop.endswith("\n没有符合条件的差异")

    ticket = stored["AMOUNT"].ticket_id
    refused = await say(app, "wang", f"核销 {ticket} 已查", now=now)
    assert "仅限财务使用" in refused
    assert (await say(app, "caiwu", f"核销 {ticket}", now=now)).startswith(
        "用法: 核销 <工单号> <备注...>"
    )
    done = await say(app, "caiwu", f"writeoff #{ticket} 渠道补款 10 元", now=now)
    assert done == f"已核销工单 #{ticket} (金额不符 ¥10.00): 渠道补款 10 元"
    assert "已关闭" in await say(app, "caiwu", f"核销 {ticket} 再来", now=now)

    await run_day(app, D)  # a re-run leaves it written off
    amount = next(
        d for d in await all_rows(app.app[SESSIONS], ReconDifference) if d.key == "AMOUNT"
    )
    assert amount.status == "written_off"
    closed = next(t for t in await all_rows(app.app[SESSIONS], Ticket) if t.id == ticket)
    assert (closed.status, closed.resolution) == ("resolved", "manual")
    events = await all_rows(app.app[SESSIONS], TicketEvent)
    assert ("resolved", "caiwu", "渠道补款 10 元") in [(e.kind, e.actor, e.detail) for e in events]
    everything = await say(app, "caiwu", "对账 2026-03-01 全部", now=now, chat="direct")
    assert "[已核销]" in everything


async def test_the_export_has_a_row_per_order_and_payment_and_a_summary(
    app: TestClient, database_url: str
) -> None:
    await ingest(app, ORDERS)
    await import_bill(app, D, BILL)
    await run_day(app, D)
    config = parse_config(recon_config(database_url))

    text = (await export_day(config, D, "csv", None)).decode("utf-8-sig")
    report, summary = text.split("\n\n")
    lines = report.strip().split("\n")
    assert tuple(lines[0].split(",")) == REPORT_COLUMNS
    named = [dict(zip(REPORT_COLUMNS, line.split(","), strict=True)) for line in lines[1:]]
    rows = {
        r["payment_no"] + ("/" + r["order_no"] if r["stage"] == "refund" else ""): r for r in named
    }
    assert rows["PREF"]["status"] == "settled" and rows["PREF"]["stage"] == "final"
    assert (rows["VOUCHER"]["expected"], rows["VOUCHER"]["actual"], rows["VOUCHER"]["status"]) == (
        "90.00",
        "90.00",
        "matched",
    )
    assert (rows["AMOUNT"]["difference"], rows["AMOUNT"]["class"]) == ("-10.00", "amount")
    assert rows["LATE"]["status"] == "pending"
    assert rows["GHOST"]["order_no"] == "" and rows["GHOST"]["class"] == "unrecorded"
    assert rows["OK1"]["fee"] == "0.60000"
    assert (rows["OK1/OK1"]["refund"], rows["OK1/OK1"]["status"]) == ("10.00", "matched")
    summary_lines = summary.strip().split("\n")
    assert tuple(summary_lines[0].split(",")) == SUMMARY_COLUMNS
    assert len(summary_lines) == 3  # the shop, and the bill's keys no order claims (no shop)

    book = load_workbook(io.BytesIO(await export_day(config, D, "xlsx", "wechat")))
    assert book.sheetnames == ["对账明细", "每日汇总"]
    assert tuple(c.value for c in book["对账明细"][1]) == REPORT_COLUMNS


async def test_alipay_and_unionpay_days_match_by_trade_number_and_refund_number(
    aiohttp_client: Any, database_url: str
) -> None:
    """An Alipay payment known by the gateway's trade number (as Taobao's ``alipay_no``), a
    UnionPay one by our order number; refunds by our refund number (UnionPay's names the
    payment only by its query id); fees in fen within the tolerance of the contracted rate."""
    rates = {"wechat": "0.6%", "alipay": "0.6%", "unionpay": "0.5%"}
    config = parse_config(recon_config(database_url, fee_rates=rates))
    app: TestClient = await aiohttp_client(
        create_app(config, clock=FakeClock(T0), watch_timer=False)
    )
    day, when = date(2024, 3, 1), local(date(2024, 3, 1), "10:00:00")
    alipay, unionpay = [
        ShopOrder(
            "TB1",
            [Pay("2024030122001400000001", 5000, when)],
            [Refunded("RF1", "2024030122001400000001", 1000, when)],
        ),
        ShopOrder("TB2", [Pay("2024030122001400000002", 2000, when)]),
    ], [
        ShopOrder("U1", [Pay("U1", 12345, when)], [Refunded("U1R1", "U1", 2000, when)]),
    ]  # fmt: skip
    records = [o.record() | {"pay_channel": "ALIPAY_APP"} for o in alipay]
    records += [o.record() | {"pay_channel": "UNIONPAY"} for o in unionpay]
    response = await app.post("/api/v1/orders/shop", json={"orders": records}, headers=auth("all"))
    assert response.status == 200, await response.text()
    sessions = app.app[SESSIONS]
    for name, data in (
        ("2088102177340156_20240301.csv.zip", alipay_zip([
            AlipayLine("2024030122001400000001", "T-TB1", "50.00", "0.30"),
            AlipayLine("2024030122001400000002", "T-TB2", "19.00", "0.11"),
            AlipayLine("2024030122001400000001", "T-TB1", "10.00", "0.06", refund_no="RF1"),
        ])),
        (UNIONPAY_NAME, unionpay_zm([
            UnionpayLine("U1", "Q1", 12345, 62),
            UnionpayLine("U1R1", "Q2", 2000, 0, txn_type="04", orig_query_id="Q1"),
        ])),
    ):  # fmt: skip
        await store_statement(sessions, parse_statement(data, name, None, None), name, T0)
    policy = app.app[RULES].current()
    for gateway in ("alipay", "unionpay"):
        await reconcile(sessions, policy, gateway, day, T0)

    found = {(d.gateway, d.cls, d.key) for d in await all_rows(sessions, ReconDifference)}
    assert found == {("alipay", Difference.AMOUNT, "2024030122001400000002")}
    runs = {r.gateway: (r.matched, r.differences) for r in await all_rows(sessions, ReconRun)}
    assert runs == {"alipay": (2, 1), "unionpay": (2, 0)}


async def test_the_nightly_job_reconciles_yesterday_for_every_gateway(app: TestClient) -> None:
    await ingest(app, ORDERS)
    await import_bill(app, D, BILL)
    result = await recon_job.run(app.app[SESSIONS], app.app[RULES].current(), at("10:30:00", NEXT))

    assert (result.differences, result.without_bill) == (len(FOUND), ["alipay", "unionpay"])
    runs = {r.gateway: (r.bill_date, r.status) for r in await all_rows(app.app[SESSIONS], ReconRun)}
    assert runs == {"wechat": (D, "done"), "alipay": (D, "no_bill"), "unionpay": (D, "no_bill")}


async def test_recon_run_and_export_from_the_command_line(
    app: TestClient, database_url: str, tmp_path: Path
) -> None:
    await ingest(app, ORDERS)
    await import_bill(app, D, BILL)
    config_file = write_config(tmp_path / "orderbot.toml", recon_config(database_url))
    cli = partial(orderbot, cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    here = partial(orderbot_here, cwd=tmp_path)  # the refusals: the commands ran as processes

    ran = cli("recon", "run", "--date", "2026-03-01", "--gateway", "wechat", "-c", config_file)
    no_crash(ran)
    assert ran.returncode == 0, ran.stderr
    assert "💰 对账 微信支付 2026-03-01 (第 1 次)" in ran.stdout and "差异 8 笔" in ran.stdout

    out = tmp_path / "recon.xlsx"
    exported = cli(
        "recon", "export", "--date", "2026-03-01", "-f", "xlsx", "-o", out, "-c", config_file
    )
    assert exported.returncode == 0, exported.stderr
    assert load_workbook(out).sheetnames == ["对账明细", "每日汇总"]
    wrong = here("recon", "export", "--date", "2026-13-01", "-c", config_file)
    no_crash(wrong)
    assert wrong.returncode == 2 and "--date" in wrong.stderr
    assert here("recon", "run", "--gateway", "paypal", "-c", config_file).returncode == 2


@contextlib.asynccontextmanager
async def two_instances(database_url: str) -> AsyncIterator[list[async_sessionmaker[AsyncSession]]]:
    """Two instances' database connections (each its own engine) to the test's database."""
    engines = [make_engine(database_url) for _ in range(2)]
    try:
        yield [make_sessionmaker(engine) for engine in engines]
    finally:
        for engine in engines:
            await engine.dispose()


async def _the_day_in(app: TestClient) -> Policy:
    """The orders and the day's bill stored; the rules in force."""
    await ingest(app, ORDERS)
    await import_bill(app, D, BILL)
    return app.app[RULES].current()


async def _stored_once(app: TestClient) -> None:
    """Each gateway's day stored once (one run, one digest), each difference once with one
    ticket."""
    sessions = app.app[SESSIONS]
    runs = await all_rows(sessions, ReconRun)
    assert {(r.gateway, r.runs) for r in runs} == {(g, 1) for g in ("wechat", "alipay", "unionpay")}
    digests = [m for m in await all_rows(sessions, OutboxMessage) if m.kind == "recon"]
    assert len(digests) == len(runs)
    assert await differences(app) == FOUND
    tickets = await all_rows(sessions, Ticket)
    assert sorted(t.episode for t in tickets) == sorted({t.episode for t in tickets})
    assert len(tickets) == len(FOUND)


async def test_two_instances_nightly_jobs_reconcile_the_day_once(
    app: TestClient, database_url: str
) -> None:
    policy = await _the_day_in(app)
    fired = at("10:30:00", NEXT)
    async with two_instances(database_url) as instances:
        results = await asyncio.gather(*(recon_job.run(s, policy, fired) for s in instances))
        # Another instance whose job fires a little late, after the day was stored.
        late = await recon_job.run(instances[1], policy, fired + timedelta(seconds=5))
    assert sorted(r.differences for r in results) == [0, len(FOUND)]
    assert late.differences == 0
    await _stored_once(app)


async def test_two_runs_that_read_the_day_before_either_stored_store_it_once(
    app: TestClient, database_url: str
) -> None:
    """The worst interleaving: both read and match, then both store at once."""
    policy = await _the_day_in(app)
    now = at("10:30:00", NEXT)

    async def store(sessions: async_sessionmaker[AsyncSession], inputs: DayInputs) -> str:
        outcome = RunOutcome("wechat", D, "done")
        async with sessions.begin() as session:
            return (
                "stored"
                if await store_run(session, policy, outcome, match(inputs), now, 0) is not None
                else "taken"
            )

    async with two_instances(database_url) as instances:
        read = []
        for sessions in instances:
            async with sessions() as session:
                read.append(await load_inputs(session, policy, "wechat", D))
        stored = await asyncio.gather(*(store(s, i) for s, i in zip(instances, read, strict=True)))
    assert sorted(stored) == ["stored", "taken"]
    [run] = await all_rows(app.app[SESSIONS], ReconRun)
    assert run.runs == 1
    assert await differences(app) == FOUND
    assert len(await all_rows(app.app[SESSIONS], Ticket)) == len(FOUND)


async def test_a_difference_back_reopens_its_ticket_and_the_digest_lists_what_is_open(
    app: TestClient,
) -> None:
    """A difference gone on one run and found again on the next is opened again with its own
    ticket; one written off stays so and is not in the list for the digest, which carries each
    open difference as stored, with its ticket."""
    policy = await _the_day_in(app)
    sessions = app.app[SESSIONS]
    async with sessions() as session:
        found = match(await load_inputs(session, policy, "wechat", D))
    without_ghost = Match(found.rows, found.differences.filter(pl.col("key") != "GHOST"))
    now = at("10:30:00", NEXT)

    async def store(found: Match, runs: int) -> tuple[RunOutcome, pl.DataFrame | None]:
        outcome = RunOutcome("wechat", D, "done")
        async with sessions.begin() as session:
            return outcome, await store_run(session, policy, outcome, found, now, runs)

    await store(found, 0)
    first = {d.key: d.ticket_id for d in await all_rows(sessions, ReconDifference)}
    await say(app, "caiwu", f"核销 {first['AMOUNT']} 已查", now=now)
    gone, _ = await store(without_ghost, 1)
    back, open_now = await store(found, 2)

    assert (gone.closed, back.new, back.closed, back.reopened) == (1, 0, 0, 1)
    stored = sorted(await all_rows(sessions, ReconDifference), key=lambda d: d.id)
    assert {d.key: d.ticket_id for d in stored} == first
    assert {d.key: d.status for d in stored if d.status != "open"} == {"AMOUNT": "written_off"}
    tickets = await all_rows(sessions, Ticket)
    assert len(tickets) == len(FOUND)
    assert next(t for t in tickets if t.id == first["GHOST"]).status == "open"
    events = await all_rows(sessions, TicketEvent)
    assert [(e.kind, e.detail) for e in events if e.ticket_id == first["GHOST"]] == [
        ("resolved", "重新对账: 差异已消失, 自动关闭"),
        ("noted", "重新对账: 差异再次出现, 重新打开"),
    ]
    assert open_now is not None
    assert open_now.rows() == [
        tuple(getattr(d, name) for name in open_now.columns) for d in stored if d.status == "open"
    ]


def _taobao_trade(
    tid: str, alipay_no: str, paid: str, sub_orders: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "tid_str": tid,
        "type": "fixed",
        "status": "WAIT_BUYER_CONFIRM_GOODS",
        "created": "2024-03-01 09:58:00",
        "pay_time": "2024-03-01 10:00:00",
        "modified": "2024-03-01 18:00:00",
        "payment": paid,
        "alipay_no": alipay_no,
        "seller_nick": "天猫旗舰店",
        "orders": {"order": sub_orders},
    }


def _douyin_order(order_id: str, payment_no: str, skus: list[dict[str, Any]]) -> dict[str, Any]:
    paid = int(local(date(2024, 3, 1), "09:00:00").timestamp())
    return {
        "order_id": order_id,
        "order_status": 3,
        "create_time": paid - 60,
        "pay_time": paid,
        "update_time": int(local(date(2024, 3, 1), "14:00:00").timestamp()),
        "pay_amount": sum(sku["pay_amount"] for sku in skus),
        "pay_type": 1,
        "channel_payment_no": payment_no,
        "shop_name": "抖店旗舰店",
        "sku_order_list": skus,
    }


async def test_taobao_and_douyin_refunds_are_matched_with_the_bills_refund_lines(
    app: TestClient,
) -> None:
    """A sub-order refunded on Taobao (refund_status SUCCESS, its refund_id, the sub-order's
    divide_order_fee) and a Douyin sku whose after-sale refund succeeded (refund_status 3, the
    sku's order_id and pay_amount) are the orders' refunds: matched with the Alipay and WeChat
    Pay bills' refund lines, and missing from them a difference."""
    refunded = {"refund_status": "SUCCESS", "end_time": "2024-03-01 15:00:00"}
    kept = {"oid": 1, "payment": "50.00", "divide_order_fee": "50.00", "refund_status": "NO_REFUND"}
    trades = [
        _taobao_trade("3900000000000001", "2024030122001400000011", "80.00", [
            kept,
            {"oid": 2, "payment": "30.00", "divide_order_fee": "28.50", "refund_id": "TBR1"}
            | refunded,
        ]),
        _taobao_trade("3900000000000002", "2024030122001400000012", "40.00", [
            {"oid": 3, "payment": "40.00", "refund_id": "TBR2"} | refunded,
        ]) | {"status": "TRADE_CLOSED", "end_time": "2024-03-01 16:00:00"},
    ]  # fmt: skip
    success = {"after_sale_status": 12, "after_sale_type": 1, "refund_status": 3}
    orders = [
        _douyin_order("6919000000000001", "4200002024030100000101", [
            {"order_id": "6919000000000011", "pay_amount": 5900, "after_sale_info": success},
            {"order_id": "6919000000000012", "pay_amount": 4000},
        ]),
        _douyin_order("6919000000000002", "4200002024030100000102", [
            {"order_id": "6919000000000021", "pay_amount": 3000, "after_sale_info": success},
        ]),
    ]  # fmt: skip
    for channel, records in (("taobao", trades), ("douyin", orders)):
        response = await app.post(
            f"/api/v1/orders/{channel}", json={"orders": records}, headers=auth("all")
        )
        assert response.status == 200, await response.text()
    day = date(2024, 3, 1)
    name = "2088102177340156_20240301.csv.zip"
    alipay = alipay_zip([
        AlipayLine("2024030122001400000011", "T1", "80.00", "0.48"),
        AlipayLine("2024030122001400000011", "T1", "28.50", "0.17", refund_no="TBR1"),
        AlipayLine("2024030122001400000012", "T2", "40.00", "0.24"),
    ])  # fmt: skip
    sessions = app.app[SESSIONS]
    await store_statement(sessions, parse_statement(alipay, name, None, None), name, T0)
    await import_bill(app, day, [
        WechatLine("DY1", "99.00", "0.59400", "2024-03-01 09:00:05", "4200002024030100000101"),
        WechatLine("DY1", "0.00", "0.00000", "2024-03-01 14:00:09", "4200002024030100000101",
                   refund="59.00", refund_no="6919000000000011"),
        WechatLine("DY2", "30.00", "0.18000", "2024-03-01 09:00:05", "4200002024030100000102"),
    ])  # fmt: skip
    for gateway in ("alipay", "wechat"):
        await run_day(app, day, gateway=gateway)

    found = {(d.gateway, d.cls, d.key) for d in await all_rows(sessions, ReconDifference)}
    assert found == {
        ("alipay", Difference.REFUND_MISSING, "refund:TBR2"),
        ("wechat", Difference.REFUND_MISSING, "refund:6919000000000021"),
    }
    runs = {r.gateway: (r.matched, r.differences) for r in await all_rows(sessions, ReconRun)}
    assert runs == {"alipay": (3, 1), "wechat": (3, 1)}  # two payments and one refund each

    # The first Douyin order sent again the next day, shipped: its refund's time (update_time)
    # moves to that day. It is neither missing there (the day before's bill had it) nor, when
    # the first day is run again, unclaimed there (matched by its number).
    later = int(local(day + timedelta(days=1), "10:00:00").timestamp())
    response = await app.post(
        "/api/v1/orders/douyin",
        json={"orders": [orders[0] | {"update_time": later, "ship_time": later}]},
        headers=auth("all"),
    )
    assert response.status == 200, await response.text()
    await import_bill(app, day + timedelta(days=1), [
        WechatLine("DY2", "0.00", "0.00000", "2024-03-02 09:00:00", "4200002024030100000102",
                   refund="30.00", refund_no="6919000000000021"),
    ])  # fmt: skip
    await run_day(app, day + timedelta(days=1))
    await run_day(app, day)
    found = {
        (d.bill_date, d.cls, d.key, d.status) for d in await all_rows(sessions, ReconDifference)
    }
    assert found == {
        (day, Difference.REFUND_MISSING, "refund:TBR2", "open"),
        (day, Difference.REFUND_MISSING, "refund:6919000000000021", "open"),
    }
