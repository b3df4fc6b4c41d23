"""The ``orderbot`` command line, run as a real subprocess: exit codes, messages, the database.

``python -m bot`` is exactly the ``orderbot`` console script. Each command runs with a timeout,
so a hang fails its test instead of blocking the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import Result
from sqlalchemy import func, inspect, make_url, select

from storage import migrate
from storage.db import make_engine, make_sessionmaker
from storage.models import Order, OrderEvent
from tests.support import T0, config_data, shop_order
from tests.test_config import AES_KEY, EXAMPLE, EXAMPLE_ENV

TIMEOUT = 30  # seconds per command
SUMMARY = re.compile(r"新增 (\d+), 更新 (\d+), 无变化 (\d+), 拒绝 (\d+), 地址无法解析 (\d+)")
REJECTED = re.compile(r"^第 (\d+) 行被拒: (.+)$", re.MULTILINE)
CSV_HEADER = (
    "order_no,status,created_at,paid_at,total_fen,"
    "receiver.province,receiver.city,receiver.district,receiver.mobile"
)


# --- running the command -----------------------------------------------------------------------


def orderbot(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``orderbot ARGS`` in ``cwd`` (so no stray ``orderbot.toml`` is picked up)."""
    environment = {k: v for k, v in os.environ.items() if k != "ORDERBOT_CONFIG"}
    # UTF-8 pipes whatever the locale; a wide terminal so typer's error panels don't wrap.
    environment |= {"PYTHONIOENCODING": "utf-8", "COLUMNS": "200"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=False,
    )


def orderbot_here(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``orderbot ARGS`` run by the same typer app in this process, in ``cwd``: for tests of
    what a command does, where a new interpreter only adds its ~1 s start-up. Each command
    keeps tests through :func:`orderbot`, the real process, as the end-to-end proof. It runs in
    a thread of its own, so that its ``asyncio.run`` works from async tests too (blocking them
    as the process did); an exception it lets out is on stderr as the process would print it."""
    from typer.testing import CliRunner

    from bot.cli import app

    environment: dict[str, str | None] = {"ORDERBOT_CONFIG": None, "COLUMNS": "200"}

    def invoke() -> Result:
        with contextlib.chdir(cwd):
            return CliRunner().invoke(app, list(map(str, args)), env=environment | (env or {}))

    with ThreadPoolExecutor(1) as thread:
        ran = thread.submit(invoke).result()
    stderr = ran.stderr
    if ran.exc_info is not None and not isinstance(ran.exc_info[1], SystemExit):
        stderr += "".join(traceback.format_exception(*ran.exc_info))
    return subprocess.CompletedProcess(
        ["orderbot", *map(str, args)], ran.exit_code, ran.stdout, stderr
    )


def no_crash(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr


def summary(result: subprocess.CompletedProcess[str]) -> tuple[int, ...]:
    """(created, updated, unchanged, rejected, address_unparsed) from the import's last line."""
    match = SUMMARY.search(result.stdout)
    assert match, f"no summary in stdout: {result.stdout!r}"
    return tuple(int(n) for n in match.groups())


def rejections(result: subprocess.CompletedProcess[str]) -> dict[int, str]:
    """Line number → reason, as the import reports them on stderr."""
    return {int(line): reason for line, reason in REJECTED.findall(result.stderr)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    """One line per item: dicts and lists as JSON, strings verbatim (broken or blank lines)."""
    text = [
        line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines
    ]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def config_file(tmp_path: Path, database_url: str) -> Path:
    """The test config, pointing at a fresh migrated database of the selected backend."""
    return write_config(tmp_path / "orderbot.toml", config_data(database_url))


# --- reading the database -----------------------------------------------------------------------


async def _orders(url: str) -> dict[str, Order]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return {o.channel_order_id: o for o in await session.scalars(select(Order))}
    finally:
        await engine.dispose()


def orders_in(url: str) -> dict[str, Order]:
    return asyncio.run(_orders(url))


async def _event_count(url: str) -> int:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await session.scalar(select(func.count(OrderEvent.id))) or 0
    finally:
        await engine.dispose()


async def _schema(url: str) -> tuple[set[str], str | None]:
    """The table names and the Alembic revision of the database at ``url``."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        return tables, await migrate.current_revision(engine)
    finally:
        await engine.dispose()


def schema(url: str) -> tuple[set[str], str | None]:
    return asyncio.run(_schema(url))


def snapshot(url: str) -> dict[str, tuple[Any, ...]]:
    """Everything an import may change about an order, to prove a re-import changed nothing."""
    return {
        no: (
            o.id,
            o.amount_fen,
            o.stage,
            o.stage_entered_at,
            o.province,
            o.updated_at,
            o.deadline_at,
            o.next_check_at,
        )
        for no, o in orders_in(url).items()
    }


# --- check-config --------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["option", "env"], ids=["-c", "ORDERBOT_CONFIG"])
def test_check_config_accepts_a_good_config_and_prints_a_summary(tmp_path: Path, via: str) -> None:
    database = tmp_path / "never-opened.db"
    path = write_config(tmp_path / "good.toml", config_data(sqlite_url(database)))
    if via == "option":
        result = orderbot("check-config", "-c", path, cwd=tmp_path)
    else:
        result = orderbot("check-config", cwd=tmp_path, env={"ORDERBOT_CONFIG": str(path)})

    assert result.returncode == 0, result.stderr
    assert "配置有效: 4 条时限规则, 2 条分单规则, 3 个处理组, 3 个数据来源" in result.stdout
    assert re.search(r"覆盖至 \d{4} 年", result.stdout)
    assert result.stderr == ""
    assert not database.exists()  # checking the config does not touch the database


def _set(section: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data.setdefault(section, {})[key] = value

    return change


def _bad_duration(data: dict[str, Any]) -> None:
    data["sla"][0]["limit"] = "2x"


def _unknown_route_group(data: dict[str, Any]) -> None:
    data["routing"]["rules"][1]["group"] = "nowhere"


@pytest.mark.parametrize(
    ("spoil", "key", "detail"),
    [
        (_bad_duration, "sla[0].limit", "'2x'"),
        (_unknown_route_group, "routing.rules[1].group", "'nowhere'"),
        (_set("routing", "default_group", "nobody"), "routing.default_group", "'nobody'"),
        (_set("server", "prot", 8080), "server.prot", ""),
    ],
    ids=["bad-duration", "unknown-route-group", "unknown-default-group", "unknown-key"],
)
def test_check_config_rejects_a_bad_config_naming_the_key(
    tmp_path: Path, spoil: Callable[[dict[str, Any]], None], key: str, detail: str
) -> None:
    data = config_data(sqlite_url(tmp_path / "orderbot.db"))
    spoil(data)
    result = orderbot_here(
        "check-config", "-c", write_config(tmp_path / "bad.toml", data), cwd=tmp_path
    )

    assert result.returncode == 2
    assert "配置有误" in result.stderr
    assert key in result.stderr
    assert detail in result.stderr
    assert "配置有效" not in result.stdout
    no_crash(result)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "找不到配置文件"), ("[database\nurl = ", "不是合法的 TOML")],
    ids=["missing-file", "not-toml"],
)
def test_check_config_without_a_readable_config_exits_2(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "orderbot.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = orderbot_here("check-config", "-c", path, cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr
    assert str(path) in result.stderr
    no_crash(result)


def test_check_config_prints_the_rules_as_parsed(tmp_path: Path) -> None:
    data = config_data(sqlite_url(tmp_path / "orderbot.db"))
    data["sla"][3]["channels"] = ["jd", "douyin"]
    data["routing"]["rules"][0]["max_yuan"] = "20000"

    result = orderbot_here(
        "check-config", "-c", write_config(tmp_path / "c.toml", data), cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1:12] == [
        "时限规则 (按环节, 先匹配者生效):",
        "  普通待拣货: 已付款待拣货 · 类型 normal · 所有渠道 → 时限 2小时",
        "  预售待拣货: 已付款待拣货 · 类型 presale · 所有渠道 → 时限 4小时",
        "  定制待拣货: 已付款待拣货 · 类型 custom · 所有渠道 → 时限 8小时 (只计工作时间)"
        " · ⚠️ 升级时间 (4小时) 早于时限, 将与首次告警同时发出; 可为此规则设 escalation",
        "  拣货超时: 仓库拣货中 · 所有类型 · 渠道 京东、抖店 → 时限 3小时",
        "升级 (从进入环节起计): 1. 到时限 → 通知处理组群; 2. 进入环节 4小时 后 → 私信处理组主管",
        "分单规则 (先匹配者生效):",
        "  1. 大额: 金额 ≥ ¥5,000.00 且 金额 ≤ ¥20,000.00 → 大额组 (vip)",
        "  2. 华东: 省份 上海市、浙江省、江苏省 → 华东组 (east)",
        "  其余 → 综合组 (general)",
        "企业微信发送: 未开启 (没有 [wecom] 节, 通知只留在 outbox 中)",
    ]


def test_check_config_refuses_a_duration_without_its_unit(tmp_path: Path) -> None:
    data = config_data(sqlite_url(tmp_path / "orderbot.db"))
    data["sla"][0]["limit"] = 2  # two seconds to pydantic; two hours to whoever wrote it

    result = orderbot_here(
        "check-config", "-c", write_config(tmp_path / "c.toml", data), cwd=tmp_path
    )

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "配置有误:",
        '  sla[0].limit: 时长须带单位, 例如 "2h"、"90m"、"30s" (而不是 2)',
    ]
    no_crash(result)


CALLBACK_KEYS = {"callback_token": "tok", "callback_aes_key": AES_KEY}


@pytest.mark.parametrize(
    ("wecom", "sending", "commands"),
    [
        (
            None,
            "未开启 (没有 [wecom] 节",
            "未开启 (缺少 [wecom] 节; /wecom/app 与 /wecom/aibot 不可用)",
        ),
        (
            {},
            "已开启 (https://qyapi.weixin.qq.com/cgi-bin/)",
            "未开启 (缺少 callback_token (或 callback_token_env)、"
            "callback_aes_key (或 callback_aes_key_env); /wecom/app 与 /wecom/aibot 不可用)",
        ),
        (
            {"callback_token": "tok"},
            "已开启",
            "未开启 (缺少 callback_aes_key (或 callback_aes_key_env);",
        ),
        (CALLBACK_KEYS, "已开启", "已开启 (/wecom/app、/wecom/aibot)"),
    ],
    ids=["no-wecom", "no-callback-keys", "no-aes-key", "on"],
)
def test_check_config_says_whether_wecom_sending_and_chat_commands_are_on(
    tmp_path: Path, wecom: dict[str, str] | None, sending: str, commands: str
) -> None:
    data = config_data(sqlite_url(tmp_path / "orderbot.db"))
    if wecom is not None:
        data["wecom"] = wecom

    result = orderbot_here(
        "check-config", "-c", write_config(tmp_path / "c.toml", data), cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert f"企业微信发送: {sending}" in result.stdout
    assert f"聊天指令: {commands}" in result.stdout


def test_check_config_of_the_example_turns_chat_commands_on(tmp_path: Path) -> None:
    result = orderbot_here("check-config", "-c", EXAMPLE, cwd=tmp_path, env=EXAMPLE_ENV)

    assert result.returncode == 0, result.stderr
    assert "聊天指令: 已开启 (/wecom/app、/wecom/aibot)" in result.stdout
    assert (
        "运营控制台: 已开启 (/console/, 企业微信登录 https://login.work.weixin.qq.com/; "
        "仅查看 2 人, 编辑草稿 1 人, 发布 1 人)"
    ) in result.stdout


# --- db upgrade ----------------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_on_an_empty_file_and_is_idempotent(tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    database.touch()  # an empty file is an empty SQLite database
    url = sqlite_url(database)
    path = write_config(tmp_path / "orderbot.toml", config_data(url))
    head = migrate.head_revision(url)

    first = orderbot("db", "upgrade", "-c", path, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"已在空数据库中建好全部表, 升级到 {head}"
    tables, revision = schema(url)
    assert {"orders", "order_events", "tickets", "ticket_events", "outbox"} <= tables
    assert revision == head

    second = orderbot("db", "upgrade", "-c", path, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == f"数据库已是最新版本 ({head}), 未做改动"
    assert schema(url) == (tables, head)
    no_crash(second)


def test_db_upgrade_of_a_migrated_database_changes_nothing(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    before = schema(database_url)
    assert before[1] == migrate.head_revision(database_url)

    result = orderbot_here("db", "upgrade", "-c", config_file, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "数据库已是最新版本" in result.stdout
    assert schema(database_url) == before


def test_db_upgrade_from_an_older_revision_says_from_which(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.db")
    migrate.upgrade(url, "0005")
    path = write_config(tmp_path / "orderbot.toml", config_data(url))

    result = orderbot_here("db", "upgrade", "-c", path, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"已从 0005 升级到 {migrate.head_revision(url)}"


# --- refusing an unmigrated database ---------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [("serve",), ("import", "orders.jsonl", "--channel", "shop")],
    ids=["serve", "import"],
)
def test_commands_refuse_an_unmigrated_database(tmp_path: Path, command: tuple[str, ...]) -> None:
    database = tmp_path / "empty.db"
    database.touch()
    url = sqlite_url(database)
    data = config_data(url) | {"server": {"host": "127.0.0.1", "port": free_port()}}
    path = write_config(tmp_path / "orderbot.toml", data)
    write_jsonl(tmp_path / "orders.jsonl", [shop_order("SH1")])

    # serve as a process of its own: had it started, it must not serve from this one.
    run = orderbot if command == ("serve",) else orderbot_here
    result = run(*command, "-c", path, cwd=tmp_path)

    assert result.returncode != 0
    assert "orderbot db upgrade" in result.stderr
    no_crash(result)
    assert schema(url) == (set(), None)  # nothing was created behind the operator's back


@pytest.mark.parametrize(
    "command",
    [("serve",), ("import", "orders.jsonl", "--channel", "shop"), ("report",)],
    ids=["serve", "import", "report"],
)
def test_commands_before_db_upgrade_leave_no_database_file_behind(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    database = tmp_path / "never-upgraded.db"
    data = config_data(sqlite_url(database)) | {
        "server": {"host": "127.0.0.1", "port": free_port()}
    }
    path = write_config(tmp_path / "orderbot.toml", data)
    write_jsonl(tmp_path / "orders.jsonl", [shop_order("SH1")])

    run = orderbot if command == ("serve",) else orderbot_here
    result = run(*command, "-c", path, cwd=tmp_path)

    assert result.returncode == 3
    assert f"数据库文件不存在: {database}" in result.stderr
    assert "orderbot db upgrade" in result.stderr
    no_crash(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orderbot.toml", "orders.jsonl"]


# --- import --------------------------------------------------------------------------------------


def test_import_jsonl_lands_good_orders_and_reports_bad_lines(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    source = write_jsonl(
        tmp_path / "orders.jsonl",
        [
            shop_order("SH1"),  # line 1
            shop_order("SH2", total_fen=500000, province="浙江省"),
            '{"order_no": "SH9", "status": ',  # line 3: cut off, not JSON
            "",  # line 4: blank lines are skipped but still counted
            shop_order("SH3") | {"total_fen": "12.5"},  # line 5: fen must be an integer
            shop_order("SH4", status="PICKING", total_fen=1),
            ["not", "an", "object"],  # line 7
            shop_order("SH1", total_fen=99),  # line 8: the same order twice in one file
        ],
    )

    first = orderbot("import", source, "--channel", "shop", "-c", config_file, cwd=tmp_path)

    assert first.returncode == 1
    no_crash(first)
    assert summary(first) == (3, 0, 0, 4, 0)
    reasons = rejections(first)
    assert sorted(reasons) == [3, 5, 7, 8]
    assert "JSON" in reasons[3]
    assert "total_fen" in reasons[5]
    assert "'12.5'" in reasons[5]
    assert "JSON 对象" in reasons[7]
    assert "重复" in reasons[8]
    stored = orders_in(database_url)
    assert {no: (o.amount_fen, o.province, o.stage) for no, o in stored.items()} == {
        "SH1": (12900, "上海市", "paid"),
        "SH2": (500000, "浙江省", "paid"),
        "SH4": (1, "上海市", "picking"),
    }
    assert all(o.channel == "shop" for o in stored.values())
    before, events = snapshot(database_url), asyncio.run(_event_count(database_url))

    again = orderbot_here("import", source, "--channel", "shop", "-c", config_file, cwd=tmp_path)

    assert again.returncode == 1
    assert summary(again) == (0, 0, 3, 4, 0)
    assert sorted(rejections(again)) == [3, 5, 7, 8]
    assert snapshot(database_url) == before
    assert asyncio.run(_event_count(database_url)) == events


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"], ids=["utf8", "utf8-bom-excel"])
def test_import_csv_with_dotted_headers(
    tmp_path: Path, database_url: str, config_file: Path, encoding: str
) -> None:
    rows = [
        CSV_HEADER,
        "CSV1,PAID,2026-03-02T09:00:00+08:00,2026-03-02T09:05:00+08:00,19990,"
        "浙江省,杭州市,西湖区,13800000000",
        "CSV2,PICKING,2026-03-02T09:00:00+08:00,2026-03-02T09:05:00+08:00,123456789,"
        "广东省,深圳市,南山区,13900000000",
        "CSV3,PENDING_PAYMENT,2026-03-02T08:00:00+08:00,,5,北京市,北京市,东城区,",
    ]
    source = tmp_path / "orders.csv"
    source.write_text("\n".join(rows) + "\n", encoding=encoding)

    result = orderbot_here("import", source, "--channel", "shop", "-c", config_file, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    no_crash(result)
    assert summary(result) == (3, 0, 0, 0, 0)
    assert rejections(result) == {}
    stored = orders_in(database_url)
    assert {
        no: (o.amount_fen, o.province, o.city, o.district, o.receiver_phone, o.address_source)
        for no, o in stored.items()
    } == {
        "CSV1": (19990, "浙江省", "杭州市", "西湖区", "13800000000", "channel"),
        "CSV2": (123456789, "广东省", "深圳市", "南山区", "13900000000", "channel"),
        "CSV3": (5, "北京市", "北京市", "东城区", None, "channel"),
    }
    paid = T0 + timedelta(minutes=5)
    assert (stored["CSV1"].stage, stored["CSV1"].paid_at, stored["CSV1"].stage_entered_at) == (
        "paid",
        paid,
        paid,
    )
    # An empty cell is an absent field: not paid yet, in stage since it was created.
    assert (stored["CSV3"].stage, stored["CSV3"].paid_at, stored["CSV3"].stage_entered_at) == (
        "pending_payment",
        None,
        T0 - timedelta(hours=1),
    )


def test_import_csv_reports_bad_rows_by_file_line(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(
        "\n".join(
            [
                CSV_HEADER,  # line 1
                "OK1,PAID,2026-03-02T09:00:00+08:00,,100,上海市,上海市,浦东新区,",
                "BAD1,PAID,2026-03-02T09:00:00+08:00,,12.50,上海市,上海市,浦东新区,",
                "BAD2,SHIPPED_TO_MARS,2026-03-02T09:00:00+08:00,,100,上海市,上海市,浦东新区,",
                "OK2,PAID,2026-03-02T09:00:00+08:00,,200,上海市,上海市,浦东新区,",
            ]
        )
        + "\n",
        encoding="utf-8",
    )

    result = orderbot_here("import", source, "--channel", "shop", "-c", config_file, cwd=tmp_path)

    assert result.returncode == 1
    no_crash(result)
    assert summary(result) == (2, 0, 0, 2, 0)
    reasons = rejections(result)
    assert sorted(reasons) == [3, 4]
    assert "total_fen" in reasons[3]
    assert "status" in reasons[4]
    assert {no: o.amount_fen for no, o in orders_in(database_url).items()} == {
        "OK1": 100,
        "OK2": 200,
    }


@pytest.mark.parametrize(
    ("channel_args", "message"),
    [
        (("--channel", "amazon"), "'amazon'"),
        (("--channel", "tmall"), "'tmall'"),
        ((), "Missing option"),
    ],
    ids=["amazon", "tmall", "no-channel"],
)
def test_import_needs_a_known_channel(
    tmp_path: Path,
    database_url: str,
    config_file: Path,
    channel_args: tuple[str, ...],
    message: str,
) -> None:
    source = write_jsonl(tmp_path / "orders.jsonl", [shop_order("SH1")])

    result = orderbot_here("import", source, *channel_args, "-c", config_file, cwd=tmp_path)

    assert result.returncode == 2
    assert "--channel" in result.stderr
    assert message in result.stderr
    no_crash(result)
    assert orders_in(database_url) == {}


def test_import_of_a_missing_file_says_so_in_chinese(tmp_path: Path, config_file: Path) -> None:
    result = orderbot_here(
        "import", "no-such.jsonl", "--channel", "shop", "-c", config_file, cwd=tmp_path
    )

    assert result.returncode == 2
    assert result.stderr.strip() == "找不到要导入的文件: no-such.jsonl"


def test_import_csv_row_with_surplus_cells_is_rejected_not_a_crash(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(
        "order_no,status,created_at,total_fen,receiver.province\n"
        "X1,PAID,2026-03-02T09:00:00+08:00,100,上海市,浦东新区\n"
        "X2,PAID,2026-03-02T09:00:00+08:00,100,上海市\n",
        encoding="utf-8",
    )

    result = orderbot_here("import", source, "--channel", "shop", "-c", config_file, cwd=tmp_path)

    no_crash(result)
    assert result.returncode == 1
    assert sorted(rejections(result)) == [2]
    assert set(orders_in(database_url)) == {"X2"}


def test_import_duplicate_reason_names_the_earlier_line(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    source = write_jsonl(
        tmp_path / "orders.jsonl",
        ["", shop_order("D1"), shop_order("D2"), shop_order("D1", total_fen=1)],
    )

    result = orderbot_here("import", source, "--channel", "shop", "-c", config_file, cwd=tmp_path)

    assert result.returncode == 1
    reasons = rejections(result)
    assert sorted(reasons) == [4]
    assert "第 2 行" in reasons[4], reasons[4]


def test_import_of_a_file_that_is_not_utf8_says_so(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    source = tmp_path / "gbk.csv"
    source.write_bytes("order_no,status\n订单1,PAID\n".encode("gbk"))

    result = orderbot_here("import", source, "--channel", "shop", "-c", config_file, cwd=tmp_path)

    no_crash(result)
    assert result.returncode == 2
    assert "UTF-8" in result.stderr
    assert orders_in(database_url) == {}


# --- serve and demo: ports, start-up, logs -----------------------------------------------------


@contextlib.contextmanager
def held_port() -> Iterator[int]:
    """A port another program is listening on, for as long as the block runs."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_serve_on_a_taken_port_says_so_in_one_line(tmp_path: Path, database_url: str) -> None:
    with held_port() as port:
        data = config_data(database_url) | {"server": {"host": "127.0.0.1", "port": port}}
        path = write_config(tmp_path / "orderbot.toml", data)

        result = orderbot("serve", "-c", path, cwd=tmp_path)

    assert result.returncode == 1
    no_crash(result)
    said = result.stderr.splitlines()[-1]
    assert said.startswith(
        f"端口 {port} 已被占用 (127.0.0.1:{port} 上已有程序在监听); "
        "在配置 [server] port 中换一个端口 (如 port = "
    )
    assert_free(suggested(said), port)
    assert len(result.stderr.splitlines()) <= 3, result.stderr  # no traceback, no noise


@pytest.mark.parametrize("taken", ["--port", "--sandbox-port"])
def test_demo_on_a_taken_port_says_so_in_one_line(tmp_path: Path, taken: str) -> None:
    with held_port() as busy:
        ports = {"--port": free_port(), "--sandbox-port": free_port()} | {taken: busy}
        options = [str(x) for pair in ports.items() for x in pair]

        result = orderbot("demo", *options, "--seconds", "5", "--data-dir", tmp_path, cwd=tmp_path)

    assert result.returncode == 1
    no_crash(result)
    said = result.stderr.strip()
    assert said.startswith(
        f"端口 {busy} 已被占用 (127.0.0.1:{busy} 上已有程序在监听); "
        f"用 {taken} 换一个端口 (如 {taken} "
    )
    assert_free(suggested(said), *ports.values())


def suggested(said: str) -> int:
    """The port a one-line refusal suggests instead."""
    found = re.search(r"\(如 (?:port = |--[a-z-]+ )(\d+)\)$", said)
    assert found, said
    return int(found[1])


def assert_free(port: int, *asked: int) -> None:
    """A suggestion must be a port the user did not ask for and nothing listens on."""
    assert port not in asked
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def _wait_until_listening(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert server.poll() is None, "serve exited before listening"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("serve did not answer /healthz in time")


def serve_log(tmp_path: Path, config: Path, port: int, run_for: float) -> str:
    """Run ``orderbot serve`` until it answers, ``run_for`` seconds more, then Ctrl-C: its log."""
    log = tmp_path / "serve.log"
    environment = {k: v for k, v in os.environ.items() if k != "ORDERBOT_CONFIG"}
    with log.open("w", encoding="utf-8") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "-c", str(config)],
            cwd=tmp_path,
            env=environment | {"PYTHONIOENCODING": "utf-8"},
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            _wait_until_listening(port, server)
            time.sleep(run_for)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=TIMEOUT)
    return log.read_text(encoding="utf-8")


def test_serve_logs_one_start_up_line_and_no_scheduler_chatter(
    tmp_path: Path, database_url: str
) -> None:
    url = database_url
    if url.startswith("postgresql"):  # trust auth ignores the password; the log must hide it
        url = url.replace("postgres@", "postgres:s3cret-pw@")
    port = free_port()
    data = config_data(url) | {"server": {"host": "127.0.0.1", "port": port}}
    data["wecom"] = {"api_base": "http://127.0.0.1:9/cgi-bin/"}  # sending on, nothing to send
    path = write_config(tmp_path / "orderbot.toml", data)

    log = serve_log(tmp_path, path, port, run_for=2.5)  # the watch and sender tick each second

    assert "Traceback" not in log
    assert "Running job" not in log and "executed successfully" not in log, log
    [start] = [line for line in log.splitlines() if "orderbot 已启动" in line]
    shown = make_url(url).render_as_string(hide_password=True)
    assert f"orderbot 已启动: 监听 http://127.0.0.1:{port} · 数据库 {shown} · " in start
    assert "s3cret-pw" not in log
    assert "定时任务 巡检每 1秒、健康检查每 1分、日报 09:00、发送每 1秒" in start
    assert "企业微信发送: 已开启 (http://127.0.0.1:9/cgi-bin/)" in start
    assert "聊天指令: 未开启 (缺少 callback_token" in start
    requests = " aiohttp.access "  # /healthz, asked above
    # On a busy machine APScheduler may warn of a run it had to skip (its WARNINGs are kept).
    late = " WARNING apscheduler."
    said = [line for line in log.splitlines() if requests not in line and late not in line]
    assert said == [start], log


# --- help and version --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [(), ("report",), ("db",), ("db", "upgrade")], ids=["root", "report", "db", "up"]
)
def test_dash_h_is_help(tmp_path: Path, command: tuple[str, ...]) -> None:
    short, long = (orderbot_here(*command, flag, cwd=tmp_path) for flag in ("-h", "--help"))

    assert short.returncode == 0, short.stderr
    assert short.stdout == long.stdout
    assert "Usage" in short.stdout


# Loaded by running commands only: ~1.5 s of CPU on every start-up that imports them.
HEAVY = {"sqlalchemy", "alembic", "aiohttp", "uvloop", "polars", "holidays", "storage", "services"}
# check-config reads the config (which names channels, whose limits come from the table
# definitions) but neither migrates nor serves.
NOT_FOR_CHECK_CONFIG = {"alembic", "aiohttp", "uvloop"}


def imported(result: subprocess.CompletedProcess[str]) -> set[str]:
    """The top-level packages a run imported, from PYTHONPROFILEIMPORTTIME's lines on stderr."""
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \| +([\w.]+)$", result.stderr, re.M)
    assert names, result.stderr
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize(
    ("command", "unwanted"),
    [
        (("--help",), HEAVY),
        (("--version",), HEAVY),
        (("import", "--help"), HEAVY),
        (("rules", "--help"), HEAVY),
        (("check-config", "-c", EXAMPLE), NOT_FOR_CHECK_CONFIG),
    ],
    ids=["help", "version", "import-help", "rules-help", "check-config"],
)
def test_a_command_loads_only_what_it_needs(
    tmp_path: Path, command: tuple[str, ...], unwanted: set[str]
) -> None:
    result = orderbot(*command, cwd=tmp_path, env=EXAMPLE_ENV | {"PYTHONPROFILEIMPORTTIME": "1"})

    assert result.returncode == 0, result.stderr
    assert imported(result) & unwanted == set()
    assert "typer" in imported(result)


def test_import_help_points_to_the_channel_reference(tmp_path: Path) -> None:
    result = orderbot_here("import", "-h", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "docs/channels.md" in result.stdout


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(tmp_path: Path, flag: str) -> None:
    result = orderbot(flag, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"orderbot {version('orderbot')}"
