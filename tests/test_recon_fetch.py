"""``recon fetch`` against the sandbox's WeChat Pay and Alipay bill APIs over real HTTP:
signed requests, signed answers, the file's SHA1, bills not yet generated, a day fetched twice,
and refusals that store nothing (SQLite, and PostgreSQL with ORDERBOT_TEST_DB=postgresql)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.keys import SESSIONS
from rules.stages import Stage
from sandbox.paid import payments_of
from sandbox.samples import sample_record
from services.config import parse_config
from services.policy import Policy
from services.recon.run import reconcile
from storage.models import Order, OrderPayment
from tests.bills_side import (
    DAY,
    MCHID,
    PID,
    Gateways,
    beijing,
    gateways,
    keys,
    recon_section,
    stranger_keys,
)
from tests.support import auth, config_data
from tests.test_cli import orderbot, orderbot_here, write_config

ROOT = Path(__file__).resolve().parents[1]

NEXT_MORNING = beijing(DAY + timedelta(days=1), 11)  # the bills are out


def payments() -> list[dict[str, Any]]:
    """A day of payments: a WeChat presale's deposit (part refunded that afternoon) and balance,
    two Alipay payments (one at 23:59), and one on the next day."""
    return [
        {
            "gateway": "wechat",
            "order_no": "SH1001D",
            "amount_fen": 9900,
            "paid_at": beijing(DAY, 9).isoformat(),
            "attach": "SH1001",
            "refund_fen": 1000,
            "refund_no": "RF1",
            "refunded_at": beijing(DAY, 15).isoformat(),
        },
        {
            "gateway": "wechat",
            "order_no": "SH1001F",
            "amount_fen": 20100,
            "paid_at": beijing(DAY, 10).isoformat(),
            "attach": "SH1001",
        },
        {
            "gateway": "alipay",
            "order_no": "TB2001",
            "amount_fen": 12900,
            "paid_at": beijing(DAY, 11).isoformat(),
            "trade_no": "2026030122001458860515315453",
        },
        {
            "gateway": "alipay",
            "order_no": "TB2002",
            "amount_fen": 5000,
            "paid_at": beijing(DAY, 23, 59).isoformat(),
        },
        {  # the next day's: not in DAY's bills
            "gateway": "alipay",
            "order_no": "TB2003",
            "amount_fen": 7000,
            "paid_at": beijing(DAY + timedelta(days=1), 0, 1).isoformat(),
        },
    ]


@pytest.fixture
async def world(aiohttp_server: Any, database_url: str, tmp_path: Path) -> Gateways:
    found = await gateways(aiohttp_server, database_url, tmp_path, NEXT_MORNING)
    await found.pay(*payments())
    return found


def statuses(outcomes: list[Any]) -> list[tuple[str, str, str]]:
    return [(o.gateway, o.kind, o.status) for o in outcomes]


async def test_each_gateways_bills_are_downloaded_verified_and_stored(world: Gateways) -> None:
    outcomes = await world.fetch()

    assert statuses(outcomes) == [
        ("wechat", "trade", "imported"),
        ("wechat", "fundflow", "imported"),
        ("alipay", "trade", "imported"),
    ]
    statements, lines = await world.stored()
    statements.sort(key=lambda s: (s.gateway != "wechat", s.kind != "trade"))  # stored side by side
    assert [(s.gateway, s.kind, s.merchant_id, s.bill_date) for s in statements] == [
        ("wechat", "trade", MCHID, DAY),
        ("wechat", "fundflow", MCHID, DAY),
        ("alipay", "trade", PID, DAY),
    ]
    trade, flow, alipay = statements
    assert (trade.payment_count, trade.payment_fen, trade.refund_count, trade.refund_fen) == (
        2,
        30000,
        1,
        1000,
    )
    assert trade.fee_milli == (9900 + 20100 - 1000) * 6  # 0.60%, to 1/1000 fen
    assert (alipay.payment_count, alipay.payment_fen, alipay.fee_milli) == (2, 17900, 107000)
    by_statement = {s.id: [ln for ln in lines if ln.statement_id == s.id] for s in statements}
    assert [(ln.kind, ln.merchant_order_no, ln.amount_fen) for ln in by_statement[trade.id]] == [
        ("payment", "SH1001D", 9900),
        ("payment", "SH1001F", 20100),
        ("refund", "SH1001D", -1000),
    ]
    assert {ln.merchant_id for ln in by_statement[flow.id]} == {MCHID}
    assert [(ln.kind, ln.amount_fen, ln.fee_fen) for ln in by_statement[flow.id]][:2] == [
        ("payment", 9900, 0),
        ("fee", 0, 59),
    ]
    first, late = by_statement[alipay.id]
    assert (first.merchant_order_no, first.gateway_trade_no, first.trade_at) == (
        "TB2001",
        "2026030122001458860515315453",
        datetime(2026, 3, 1, 3, tzinfo=UTC),  # 11:00 Beijing
    )
    assert (late.merchant_order_no, late.trade_at) == (
        "TB2002",
        datetime(2026, 3, 1, 15, 59, tzinfo=UTC),
    )


async def test_the_same_day_fetched_again_changes_nothing(world: Gateways) -> None:
    await world.fetch()
    before = await world.stored()

    outcomes = await world.fetch()

    assert [o.status for o in outcomes] == ["unchanged"] * 3
    after = await world.stored()
    assert [s.id for s in after[0]] == [s.id for s in before[0]]
    assert [(ln.statement_id, ln.line_no) for ln in after[1]] == [
        (ln.statement_id, ln.line_no) for ln in before[1]
    ]


@pytest.mark.parametrize("gateway", ["wechat", "alipay"])
async def test_a_bill_not_yet_generated_is_asked_for_again_until_it_is(
    aiohttp_server: Any, database_url: str, tmp_path: Path, gateway: str
) -> None:
    early = beijing(DAY + timedelta(days=1), 9, 20)
    world = await gateways(aiohttp_server, database_url, tmp_path, early)
    await world.pay(*payments())

    [outcome, *_] = await world.fetch([gateway])

    # 09:20 not yet; again after 5, 10, 20 and 30 minutes (doubling, at most retry_max): 10:25.
    assert (outcome.status, outcome.attempts) == ("imported", 5)
    assert world.clock.now() == beijing(DAY + timedelta(days=1), 10, 25)
    statements, _ = await world.stored()
    assert [s.gateway for s in statements][:1] == [gateway]


async def test_giving_up_on_a_bill_still_not_generated_stores_nothing(
    aiohttp_server: Any, database_url: str, tmp_path: Path
) -> None:
    early = beijing(DAY + timedelta(days=1), 7)
    world = await gateways(aiohttp_server, database_url, tmp_path, early, give_up_after="1h")
    await world.pay(*payments())

    outcomes = await world.fetch(["wechat"])

    assert [o.status for o in outcomes] == ["pending", "pending"]
    assert "账单生成中 (微信支付 HTTP 400 STATEMENT_CREATING" in outcomes[0].reason
    # 07:00, 07:05, 07:15, 07:35; the next, 30 minutes on, would be past the hour.
    assert "已尝试 4 次, 放弃" in outcomes[0].reason
    assert await world.stored() == ([], [])


async def test_a_day_without_trades_is_an_empty_bill_not_an_error(world: Gateways) -> None:
    outcomes = await world.fetch(day=DAY - timedelta(days=1))

    assert [o.status for o in outcomes] == ["empty"] * 3
    assert "NO_STATEMENT_EXIST" in outcomes[0].reason
    assert "isp.bill_not_exist" in outcomes[2].reason
    assert await world.stored() == ([], [])


async def test_requests_signed_with_a_key_the_gateway_does_not_know_are_refused(
    world: Gateways, tmp_path: Path
) -> None:
    forged = tmp_path / "forged"
    forged.mkdir()
    base = str(world.sandbox.make_url("")).rstrip("/")
    section = recon_section(forged, base, stranger_keys())
    # The gateways' public keys are the right ones: only our requests are signed wrongly.
    (forged / "wechatpay_pub.pem").write_text(keys().wechat_public)
    (forged / "alipay_pub.pem").write_text(keys().alipay_public)
    config = parse_config(config_data(world.database_url) | {"recon": section})

    outcomes = await world.fetch(config=config)

    assert [o.status for o in outcomes] == ["refused"] * 3
    assert "拒绝了请求签名" in outcomes[0].reason and "SIGN_ERROR" in outcomes[0].reason
    assert "isv.invalid-signature" in outcomes[2].reason
    assert await world.stored() == ([], [])


async def test_answers_not_signed_by_the_gateways_key_are_refused(
    world: Gateways, tmp_path: Path
) -> None:
    forged = tmp_path / "forged"
    forged.mkdir()
    base = str(world.sandbox.make_url("")).rstrip("/")
    section = recon_section(forged, base)
    # Our keys are right; the public keys we trust are not the gateways'.
    stranger = stranger_keys()
    (forged / "wechatpay_pub.pem").write_text(stranger.wechat_public)
    (forged / "alipay_pub.pem").write_text(stranger.alipay_public)
    config = parse_config(config_data(world.database_url) | {"recon": section})

    outcomes = await world.fetch(config=config)

    assert [o.status for o in outcomes] == ["refused"] * 3
    assert all("应答签名验证失败" in o.reason for o in outcomes)
    assert await world.stored() == ([], [])


@pytest.mark.parametrize("gateway", ["wechat", "alipay"])
async def test_an_answer_altered_after_signing_is_refused(world: Gateways, gateway: str) -> None:
    await world.fault(gateway, "bad_signature")

    [outcome, *rest] = await world.fetch([gateway])

    assert outcome.status == "refused"
    assert "应答签名验证失败" in outcome.reason
    statements, _ = await world.stored()
    assert [s.kind for s in statements] == [o.kind for o in rest]  # WeChat's fund flow came whole


async def test_a_file_whose_sha1_does_not_match_is_refused_and_nothing_stored(
    world: Gateways,
) -> None:
    await world.fault("wechat", "bad_hash")

    [trade, flow] = await world.fetch(["wechat"])

    assert trade.status == "refused"
    assert "SHA1 与申请时给出的不符" in trade.reason and "未导入任何内容" in trade.reason
    assert flow.status == "imported"  # the next bill is whole
    statements, _ = await world.stored()
    assert [s.kind for s in statements] == ["fundflow"]

    [again, _] = await world.fetch(["wechat"])  # fetched again, the file comes whole

    assert again.status == "imported"


async def test_a_truncated_alipay_zip_is_refused_whole(world: Gateways) -> None:
    await world.fault("alipay", "truncated")

    [outcome] = await world.fetch(["alipay"])

    assert outcome.status == "refused"
    assert "不完整或损坏的 zip" in outcome.reason
    assert await world.stored() == ([], [])


async def test_injected_differences_are_in_the_bills(world: Gateways) -> None:
    await world.inject(SH1001F="duplicate", TB2001="amount", TB2002="missing")

    await world.fetch()

    _, lines = await world.stored()
    wechat = [(ln.kind, ln.merchant_order_no) for ln in lines if ln.gateway == "wechat"]
    assert wechat.count(("payment", "SH1001F")) == 4  # twice in the trade bill and the flow
    alipay = [(ln.merchant_order_no, ln.amount_fen) for ln in lines if ln.gateway == "alipay"]
    assert alipay == [("TB2001", 12800)]


async def test_today_cannot_be_fetched(world: Gateways) -> None:
    from services.recon.fetching import BadFetchDay

    with pytest.raises(BadFetchDay, match="还没有账单"):
        await world.fetch(day=DAY + timedelta(days=1))


async def test_the_command_fetches_says_what_it_stored_and_refuses_what_it_cannot(
    aiohttp_server: Any, database_url: str, tmp_path: Path
) -> None:
    # The command runs on the real clock, which decides whether Alipay's "no bill" means "not yet"
    # (before 10:00 the next day) or "none that day": the day is one whose bills are out by
    # then at any hour (at 01:00, yesterday's are not), and the sandbox's clock says so too.
    now = datetime.now(UTC).astimezone(beijing(DAY, 0).tzinfo)
    billed = (now - timedelta(hours=10)).date() - timedelta(days=1)
    world = await gateways(
        aiohttp_server, database_url, tmp_path, beijing(billed + timedelta(days=1), 12)
    )
    await world.pay(
        {
            "gateway": "wechat",
            "order_no": "SH3001",
            "amount_fen": 4200,
            "paid_at": beijing(billed, 12).isoformat(),
        }
    )
    base = str(world.sandbox.make_url("")).rstrip("/")
    data = config_data(database_url) | {"recon": recon_section(tmp_path, base)}
    config_file = write_config(tmp_path / "orderbot.toml", data)

    def run(*args: str, process: bool = False) -> Any:
        """The command in this process, or (``process``) as the real one."""
        command = ("recon", "fetch", *args, "-c", config_file)
        if not process:
            return asyncio.to_thread(orderbot_here, *command, cwd=tmp_path)
        # This checkout's code, wherever the shared environment's editable install points.
        return asyncio.to_thread(orderbot, *command, cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})

    first = await run("--date", billed.isoformat(), "--gateway", "wechat", process=True)
    both = await run("--date", billed.isoformat())
    unionpay = await run("--date", billed.isoformat(), "--gateway", "unionpay")

    assert first.returncode == 0, first.stderr
    assert f"微信支付交易账单 {billed}: 已下载并通过校验" in first.stdout
    assert "已导入第 1 号账单: 1 行; 收款 1 笔 ¥42.00" in first.stdout
    assert "已导入第 2 号账单" in first.stdout  # the fund flow
    assert both.returncode == 0, both.stderr
    assert "此账单已导入过 (第 1 号), 未做改动" in both.stdout
    assert f"支付宝交易账单 {billed}: 支付宝: 当日无账单" in both.stdout
    assert unionpay.returncode == 2 and "银联账单没有下载接口" in unionpay.stderr
    for result in (first, both, unionpay):
        assert "Traceback" not in result.stderr


def test_app_id_key_source_and_base_url_are_checked_in_chinese(database_url: str) -> None:
    from services.config import ConfigError

    section = {"app_id": "abc", "public_key_file": "a.pem", "base_url": "openapi.alipay.com"}
    with pytest.raises(ConfigError) as refused:
        parse_config(config_data(database_url) | {"recon": {"alipay": section}})

    assert "private_key_file 与 private_key_env 须给且只给一个" in str(refused.value)
    assert "app_id 应为支付宝开放平台应用的 APPID" in str(refused.value)
    assert "base_url 应以 https:// 或 http:// 开头, 而不是 'openapi.alipay.com'" in str(
        refused.value
    )


async def test_the_sandbox_bills_what_the_demo_feed_paid_under_the_orders_own_numbers(
    aiohttp_server: Any, aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    """Sample orders of every channel, ingested by the bot, their payments told to the gateways
    as the demo's feed does: each payment the bot stores for that day is in a fetched bill
    under its number (商户订单号 or the gateway's)."""
    world = await gateways(aiohttp_server, database_url, tmp_path, NEXT_MORNING)
    bot = await aiohttp_client(create_app(world.config, watch_timer=False))
    rng = random.Random(14)
    by_unionpay: set[str] = set()  # the shop's payments through UnionPay: its bills come by hand
    for channel in ("taobao", "douyin", "shop", "jd"):
        records = [
            sample_record(
                channel,
                rng,
                beijing(DAY, 12) + timedelta(minutes=n),
                order_no=f"{n + 1:06d}" if channel != "shop" else f"SH{n:04d}",
                stage=Stage.PAID,
                stage_age=timedelta(0),
            )
            for n in range(12)
        ]
        if channel == "shop":
            records[0]["pay_channel"] = "UNIONPAY"  # one paid through UnionPay, surely
        # Taobao's step_pay_details give a presale's two trades no time, so the pool cannot
        # place them on a day and matching would call them 长款: left billed here.
        records = [r for r in records if r.get("type") != "step"]
        response = await bot.post(f"/api/v1/orders/{channel}", json=records, headers=auth("all"))
        assert response.status == 200, await response.text()
        await world.pay(*[p for r in records for p in payments_of(channel, r)])
        by_unionpay |= {
            p["out_trade_no"]
            for r in records
            if r.get("pay_channel") == "UNIONPAY"
            for p in r["payments"]
        }

    outcomes = await world.fetch()

    assert {o.status for o in outcomes} == {"imported"}
    async with bot.app[SESSIONS]() as session:
        paid = (
            await session.execute(
                select(OrderPayment.serial, Order.channel)
                .join(Order)
                .where(
                    OrderPayment.paid_at >= beijing(DAY, 0),
                    OrderPayment.paid_at < beijing(DAY + timedelta(days=1), 0),
                )
            )
        ).all()
    _, lines = await world.stored()
    billed = {ln.merchant_order_no for ln in lines} | {ln.gateway_trade_no for ln in lines}
    expected = {serial for serial, channel in paid if channel != "jd"}  # JD collects itself
    assert len(expected) > 20 and by_unionpay
    assert expected - billed == by_unionpay & expected
    policy = Policy.from_config(world.config)
    for gateway in ("wechat", "alipay"):  # and nothing billed that the orders do not explain
        run, found = await reconcile(bot.app[SESSIONS], policy, gateway, DAY, NEXT_MORNING)
        assert found is not None
        assert (run.status, run.differences) == ("done", 0), found.differences.to_dicts()


async def test_differences_configured_by_share_are_drawn_for_every_payment_they_cover(
    aiohttp_server: Any, database_url: str, tmp_path: Path
) -> None:
    pay = keys().sandbox_config(differences={"amount": 1.0})  # every payment 1 yuan short
    world = await gateways(aiohttp_server, database_url, tmp_path, NEXT_MORNING, pay=pay)
    await world.pay(*payments())

    await world.fetch(["alipay"])

    _, lines = await world.stored()
    assert [(ln.merchant_order_no, ln.amount_fen) for ln in lines] == [
        ("TB2001", 12800),
        ("TB2002", 4900),
    ]


async def test_a_wrong_base_url_is_refused_at_once_not_waited_for(
    world: Gateways, tmp_path: Path
) -> None:
    base = str(world.sandbox.make_url("/elsewhere")).rstrip("/")
    config = parse_config(
        config_data(world.database_url) | {"recon": recon_section(tmp_path, base)}
    )

    outcomes = await world.fetch(config=config)

    assert [(o.status, o.attempts) for o in outcomes] == [("refused", 1)] * 3
    assert "微信支付 HTTP 404" in outcomes[0].reason
    assert "请检查 [recon.alipay] base_url" in outcomes[2].reason


async def test_a_gateway_without_a_download_api_or_config_is_refused_by_name(
    world: Gateways,
) -> None:
    without_alipay = world.config.model_copy(
        update={"recon": world.config.recon.model_copy(update={"alipay": None})}
    )

    outcomes = await world.fetch(["unionpay", "alipay"], config=without_alipay)

    assert [(o.status, o.attempts) for o in outcomes] == [("refused", 0)] * 2
    assert "银联没有账单下载接口, 请用 recon import 导入文件" in outcomes[0].reason
    assert "配置中没有 [recon.alipay]" in outcomes[1].reason


async def test_a_missing_or_unreadable_key_file_is_named_and_nothing_is_asked(
    world: Gateways, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    section = recon_section(folder, str(world.sandbox.make_url("")).rstrip("/"))
    (folder / "merchant.pem").unlink()
    (folder / "alipay_pub.pem").write_text("not a key", encoding="ascii")
    config = parse_config(config_data(world.database_url) | {"recon": section})

    outcomes = await world.fetch(config=config)

    assert [(o.status, o.attempts) for o in outcomes] == [("refused", 0)] * 3
    assert f"private_key_file: 找不到文件 {folder / 'merchant.pem'}" in outcomes[0].reason
    assert "支付宝公钥不是可读的 RSA 公钥 (PEM)" in outcomes[2].reason
