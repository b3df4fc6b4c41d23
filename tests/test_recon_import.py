"""``orderbot recon import`` (the first test as a real subprocess, the others in this process)
against SQLite or PostgreSQL: a bill is stored whole with its lines, refused whole with the
reason, and a second import changes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from storage.db import make_engine, make_sessionmaker
from storage.models import PaymentStatement
from storage.recon import LINES, bill_lines
from tests.statement_files import (
    PID,
    UNIONPAY_NAME,
    AlipayLine,
    UnionpayLine,
    WechatLine,
    alipay_zip,
    gzipped,
    unionpay_zm,
    wechat_trade,
)
from tests.stored_lines import stored_statements
from tests.support import config_data
from tests.test_cli import no_crash, orderbot, orderbot_here, sqlite_url, write_config

BILL = [
    WechatLine("SH1001D", "99.00", "0.59400", attach="SH1001"),
    WechatLine("SH1001F", "201.00", "1.20600", transaction_id="4200002024030100000002"),
    WechatLine("SH1001D", "99.00", "-0.06000", refund="10.00", refund_no="RF1"),
]


@pytest.fixture
def config_file(tmp_path: Path, database_url: str) -> Path:
    return write_config(tmp_path / "orderbot.toml", config_data(database_url))


def stored(url: str) -> tuple[list[PaymentStatement], list[SimpleNamespace]]:
    return asyncio.run(stored_statements(url))


def bill_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_wechat_bill_is_stored_with_its_lines_and_reported_in_yuan(
    tmp_path: Path, config_file: Path, database_url: str
) -> None:
    path = bill_file(tmp_path, "tradebill_20240301.csv", wechat_trade(BILL))

    result = orderbot("recon", "import", path, "-c", config_file, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "识别为: 微信支付交易账单 (ALL), 账单日期 2024-03-01, 商户 1900000109" in result.stdout
    assert (
        "已导入第 1 号账单: 3 行; 收款 2 笔 ¥300.00, 退款 1 笔 ¥10.00, 手续费 ¥1.74000"
        in result.stdout
    )
    [statement], lines = stored(database_url)
    assert (statement.gateway, statement.kind, statement.bill_date) == (
        "wechat",
        "trade",
        date(2024, 3, 1),
    )
    assert (statement.line_count, statement.payment_count, statement.refund_count) == (3, 2, 1)
    assert (statement.payment_fen, statement.refund_fen, statement.fee_milli) == (
        30000,
        1000,
        174000,
    )
    assert statement.file_name == "tradebill_20240301.csv"
    assert [(s.line_no, s.kind, s.merchant_order_no, s.amount_fen) for s in lines] == [
        (2, "payment", "SH1001D", 9900),
        (3, "payment", "SH1001F", 20100),
        (4, "refund", "SH1001D", -1000),
    ]
    assert [(s.fee_milli, s.fee_fen) for s in lines] == [(59400, 59), (120600, 121), (-6000, -6)]
    assert lines[0].trade_at == datetime(2024, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 Beijing
    assert (lines[0].attach, lines[2].refund_no, lines[2].refund_fen) == ("SH1001", "RF1", 1000)


async def _read_back(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return (await bill_lines(session, "wechat", date(2024, 3, 1))).to_dicts()
    finally:
        await engine.dispose()


def test_the_day_read_back_for_matching_is_the_lines_as_stored(
    tmp_path: Path, config_file: Path, database_url: str
) -> None:
    """The frame the matching gets (read column-wise from either database) keeps an empty
    number empty and a missing one null, and the times in UTC."""
    lines = [*BILL, WechatLine("", "5.00", "0.03000", transaction_id="4200002024030100000003")]
    path = bill_file(tmp_path, "tradebill_20240301.csv", wechat_trade(lines))
    assert orderbot("recon", "import", path, "-c", config_file, cwd=tmp_path).returncode == 0

    frame = asyncio.run(_read_back(database_url))
    _, stored_lines = stored(database_url)

    assert frame == [{name: getattr(line, name) for name in LINES} for line in stored_lines]
    assert [(row["merchant_order_no"], row["refund_no"]) for row in frame] == [
        ("SH1001D", None),
        ("SH1001F", None),
        ("SH1001D", "RF1"),
        ("", None),
    ]
    assert frame[0]["trade_at"] == datetime(2024, 3, 1, 2, 0, tzinfo=UTC)


def test_importing_the_same_bill_again_changes_nothing(
    tmp_path: Path, config_file: Path, database_url: str
) -> None:
    data = wechat_trade(BILL)
    path = bill_file(tmp_path, "tradebill_20240301.csv", data)
    orderbot_here("recon", "import", path, "-c", config_file, cwd=tmp_path)
    before = stored(database_url)
    again = bill_file(tmp_path, "tradebill_20240301.csv.gz", gzipped(data))

    for repeat in (path, again):
        result = orderbot_here("recon", "import", repeat, "-c", config_file, cwd=tmp_path)

        assert result.returncode == 0, result.stderr
        assert "此账单已导入过 (第 1 号), 未做改动" in result.stdout
    after = stored(database_url)
    assert [s.id for s in after[0]] == [s.id for s in before[0]]
    assert [(line.statement_id, line.line_no, line.amount_fen) for line in after[1]] == [
        (line.statement_id, line.line_no, line.amount_fen) for line in before[1]
    ]


def test_a_different_bill_for_a_day_already_imported_is_refused(
    tmp_path: Path, config_file: Path, database_url: str
) -> None:
    first = bill_file(tmp_path, "tradebill_20240301.csv", wechat_trade(BILL))
    orderbot_here("recon", "import", first, "-c", config_file, cwd=tmp_path)
    other = bill_file(tmp_path, "again_20240301.csv", wechat_trade(BILL[:2]))

    result = orderbot_here("recon", "import", other, "-c", config_file, cwd=tmp_path)

    assert result.returncode == 2
    assert "已于" in result.stderr and "从 tradebill_20240301.csv 导入 (第 1 号)" in result.stderr
    assert "同一天只保留一份账单" in result.stderr
    statements, lines = stored(database_url)
    assert (len(statements), len(lines)) == (1, 3)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        (
            "tradebill_20240301.csv",
            wechat_trade(BILL).replace(b"`1.74000,", b"`1.75000,"),
            "「手续费总金额」为 1.75000 元, 明细合计 1.74000 元",
        ),
        ("tradebill_20240301.csv", wechat_trade(BILL)[:-200], "不完整"),
        ("tradebill_20240301.csv", wechat_trade(BILL).decode().encode("gbk"), "GBK"),
        (f"{PID}_20240301.csv.zip", alipay_zip([])[:-30], "不完整或损坏的 zip"),
        (
            "tradebill_20240301.csv",
            wechat_trade([WechatLine("S" * 65, "1.00", "0.00600")]),
            "第 2 行的 merchant_order_no 长 65 个字符, 超过 64",
        ),
    ],
    ids=["totals-off", "truncated", "wrong-encoding", "broken-zip", "overlong"],
)
def test_a_refused_bill_leaves_nothing_behind_and_says_why(
    tmp_path: Path, config_file: Path, database_url: str, name: str, data: bytes, reason: str
) -> None:
    path = bill_file(tmp_path, name, data)

    result = orderbot_here("recon", "import", path, "-c", config_file, cwd=tmp_path)

    assert result.returncode == 2
    assert f"{name} 被拒绝: " in result.stderr and reason in result.stderr
    no_crash(result)
    assert stored(database_url) == ([], [])


@pytest.mark.parametrize(
    ("name", "data", "detected", "summary"),
    [
        (
            f"{PID}_20240301.csv.zip",
            alipay_zip(
                [
                    AlipayLine("2024030122001458860515315453", "SH2001", "128.00", "0.77"),
                    AlipayLine(
                        "2024030122001458860515315453", "SH2001", "28.00", "0.17", refund_no="R"
                    ),
                ]
            ),
            f"识别为: 支付宝交易账单 (业务明细), 账单日期 2024-03-01, 商户 {PID}",
            "2 行; 收款 1 笔 ¥128.00, 退款 1 笔 ¥28.00, 手续费 ¥0.60000",
        ),
        (
            UNIONPAY_NAME,
            unionpay_zm([UnionpayLine("SH3001", "512403011000000000001", 25800, 13)]),
            "识别为: 银联交易账单 (ZM 交易流水), 账单日期 2024-03-01, 商户 777290058110097",
            "1 行; 收款 1 笔 ¥258.00, 退款 0 笔 ¥0.00, 手续费 ¥0.13000",
        ),
    ],
    ids=["alipay", "unionpay"],
)
def test_alipay_and_unionpay_bills_are_detected_and_stored(
    tmp_path: Path,
    config_file: Path,
    database_url: str,
    name: str,
    data: bytes,
    detected: str,
    summary: str,
) -> None:
    path = bill_file(tmp_path, name, data)

    result = orderbot_here("recon", "import", path, "-c", config_file, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert detected in result.stdout and summary in result.stdout
    [statement], lines = stored(database_url)
    assert len(lines) == statement.line_count


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--gateway", "alipay"), "指定的是支付宝交易账单, 但文件内容是微信支付交易账单"),
        (("--kind", "fundflow"), "指定的是微信支付资金账单, 但文件内容是微信支付交易账单"),
        (("--gateway", "paypal"), "--gateway: 未知的 'paypal', 可选 wechat, alipay, unionpay"),
    ],
)
def test_options_that_do_not_fit_the_file_are_refused(
    tmp_path: Path, config_file: Path, database_url: str, options: tuple[str, ...], message: str
) -> None:
    path = bill_file(tmp_path, "tradebill_20240301.csv", wechat_trade(BILL))

    result = orderbot_here("recon", "import", path, *options, "-c", config_file, cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr
    assert stored(database_url) == ([], [])


def test_a_missing_file_and_an_unmigrated_database_are_told_apart(tmp_path: Path) -> None:
    database = tmp_path / "empty.db"
    database.touch()
    config: dict[str, Any] = config_data(sqlite_url(database))
    path = write_config(tmp_path / "orderbot.toml", config)
    bill = bill_file(tmp_path, "tradebill_20240301.csv", wechat_trade(BILL))

    missing = orderbot_here("recon", "import", tmp_path / "nope.csv", "-c", path, cwd=tmp_path)
    unmigrated = orderbot_here("recon", "import", bill, "-c", path, cwd=tmp_path)

    assert (missing.returncode, unmigrated.returncode) == (2, 3)
    assert "找不到账单文件" in missing.stderr
    assert "orderbot db upgrade" in unmigrated.stderr
    no_crash(unmigrated)
