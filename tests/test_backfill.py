"""``orderbot import --backfill``: history is recorded without paging anyone. Orders already past
their deadline get no ticket and no alert; ops get one summary per import. Without the flag an
import behaves as before: every overdue order opens a ticket at the next watch tick."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobs import watch
from services.config import parse_config
from services.policy import Policy
from storage.db import make_engine, make_sessionmaker
from storage.models import Order, OutboxMessage, Ticket
from tests.support import all_rows, config_data
from tests.test_cli import no_crash, orderbot_here, summary, write_config, write_jsonl
from tests.test_routing import taobao_trade


@pytest.fixture
def config_file(tmp_path: Path, database_url: str) -> Path:
    """The test config, importing one record per batch: a summary is per import, not batch."""
    data = config_data(database_url) | {"server": {"max_batch": 1}}
    return write_config(tmp_path / "orderbot.toml", data)


def history(tmp_path: Path) -> Path:
    """Two trades paid in 2017 and never shipped, and one paid a moment ago."""
    trades = [
        taobao_trade("201701", "50010788", paid_at=datetime(2017, 3, 2, 1, 0, tzinfo=UTC)),
        taobao_trade("201702", "50010788", paid_at=datetime(2017, 5, 2, 1, 0, tzinfo=UTC)),
        taobao_trade("300001", "50010788", paid_at=datetime.now(UTC) - timedelta(minutes=10)),
    ]
    return write_jsonl(tmp_path / "trades.jsonl", trades)


async def watch_now(database_url: str) -> tuple[list[Ticket], list[OutboxMessage], list[Order]]:
    """One watch tick now, then the tickets, the outbox and the orders."""
    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        policy = Policy.from_config(parse_config(config_data(database_url)))
        await watch.run(sessions, policy, datetime.now(UTC))
        tickets = await all_rows(sessions, Ticket)
        return tickets, await all_rows(sessions, OutboxMessage), await all_rows(sessions, Order)
    finally:
        await engine.dispose()


async def test_a_backfill_records_old_overdue_orders_without_tickets_and_tells_ops_once(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    args = ("import", history(tmp_path), "--channel", "taobao", "--backfill", "-c", config_file)
    result = orderbot_here(*args, cwd=tmp_path)
    no_crash(result)
    assert result.returncode == 0, result.stderr
    assert summary(result)[:4] == (3, 0, 0, 0)
    assert "历史订单: 2 单早已超出时限, 只记录, 未开工单; 汇总已发给运维 ops-liu" in result.stdout

    tickets, outbox, orders = await watch_now(database_url)
    assert tickets == []
    [notice] = outbox
    assert (notice.kind, notice.target_kind, notice.target) == ("ops", "user", "ops-liu")
    assert notice.detail == (
        "📦 历史订单导入: 2 单早已超出时限, 只记录, 未开工单、未逐单告警\n"
        "- 已付款待拣货 · 淘宝/天猫: 2 单, 最早 201701 (截止 2017-03-02 11:00)"
    )
    # Recorded with their stage and deadline, just not watched; the recent one is.
    old = {o.channel_order_id: o for o in orders}
    assert (old["201701"].stage, old["201701"].next_check_at) == ("paid", None)
    assert old["201701"].deadline_at == datetime(2017, 3, 2, 3, 0, tzinfo=UTC)
    assert old["300001"].next_check_at is not None


async def test_without_backfill_every_old_order_opens_a_ticket_and_escalates(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    result = orderbot_here(
        "import", history(tmp_path), "--channel", "taobao", "-c", config_file, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "历史订单" not in result.stdout

    tickets, outbox, _ = await watch_now(database_url)
    assert len(tickets) == 2
    assert Counter(m.kind for m in outbox) == {"alert": 2, "escalation": 2}
