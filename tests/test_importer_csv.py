"""``orderbot import`` of a CSV file whose header row the channel does not know: nothing is
imported (a column would otherwise vanish without a word) and each bad header is named with the
known one nearest to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import config_data
from tests.test_cli import no_crash, orderbot_here, orders_in, summary, write_config

ROW = "S1,PAID,2026-03-02T09:00:00+08:00,100,上海市,上海市,13800000000"


@pytest.fixture
def config_file(tmp_path: Path, database_url: str) -> Path:
    return write_config(tmp_path / "orderbot.toml", config_data(database_url))


def run_import(tmp_path: Path, config_file: Path, header: str, channel: str = "shop") -> str:
    """Import a one-row CSV with ``header``; the refusal on stderr (exit 2, nothing imported)."""
    source = tmp_path / "orders.csv"
    source.write_text(f"{header}\n{ROW}\n", encoding="utf-8")
    result = orderbot_here("import", source, "--channel", channel, "-c", config_file, cwd=tmp_path)
    no_crash(result)
    assert result.returncode == 2, (result.stdout, result.stderr)
    return result.stderr


def test_unknown_headers_are_named_with_the_nearest_known_one(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    stderr = run_import(
        tmp_path, config_file, "order_no,status,created_at,total_fen,province,city,mobile"
    )
    assert "未导入任何订单" in stderr
    for header in ("province", "city", "mobile"):
        assert f"未知表头 '{header}', 是否想写 receiver.{header}?" in stderr, stderr
    assert "docs/channels.md" in stderr
    assert orders_in(database_url) == {}


def test_a_misspelt_header_is_named_with_its_correction(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    stderr = run_import(
        tmp_path,
        config_file,
        "order_no,stauts,created_at,total_fen,receiver.provnce,receiver.city,receiver.mobile",
    )
    assert "未知表头 'stauts', 是否想写 status?" in stderr
    assert "未知表头 'receiver.provnce', 是否想写 receiver.province?" in stderr
    assert orders_in(database_url) == {}


def test_a_blank_or_repeated_header_refuses_the_file(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    stderr = run_import(
        tmp_path, config_file, "order_no,status,created_at,total_fen,,status,receiver.mobile"
    )
    assert "第 5 列没有表头" in stderr
    assert "表头 'status' 出现了两次" in stderr
    assert orders_in(database_url) == {}


def test_headers_of_another_channel_are_unknown_to_this_one(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    stderr = run_import(
        tmp_path,
        config_file,
        "order_no,status,created_at,total_fen,receiver.province,receiver.city,receiver.mobile",
        channel="taobao",
    )
    assert "未知表头 'order_no'" in stderr
    assert "taobao 渠道可用的表头" in stderr


def test_spaces_around_known_headers_are_forgiven(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    source = tmp_path / "orders.csv"
    header = (
        "order_no, status ,created_at,total_fen,receiver.province,receiver.city,receiver.mobile"
    )
    source.write_text(f"{header}\n{ROW}\n", encoding="utf-8")
    result = orderbot_here("import", source, "--channel", "shop", "-c", config_file, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert summary(result) == (1, 0, 0, 0, 0)
    [order] = orders_in(database_url).values()
    assert (order.province, order.receiver_phone) == ("上海市", "13800000000")


def test_a_nul_byte_in_a_cell_costs_its_row_only(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(
        "order_no,status,created_at,total_fen,shop_name\n"
        "S1,PAID,2026-03-02T09:00:00+08:00,1,自营\x00店\n"
        "S2,PAID,2026-03-02T09:00:00+08:00,2,自营店\n",
        encoding="utf-8",
    )
    result = orderbot_here("import", source, "--channel", "shop", "-c", config_file, cwd=tmp_path)
    no_crash(result)
    assert result.returncode == 1
    assert "第 2 行被拒: shop_name: 含有 NUL 字符" in result.stderr
    assert set(orders_in(database_url)) == {"S2"}


def test_a_cell_past_the_csv_size_limit_refuses_the_file_not_a_crash(
    tmp_path: Path, database_url: str, config_file: Path
) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(
        f'order_no,status,created_at,total_fen,shop_name\nS1,PAID,,1,"{"店" * 200_000}"\n',
        encoding="utf-8",
    )
    result = orderbot_here("import", source, "--channel", "shop", "-c", config_file, cwd=tmp_path)
    no_crash(result)
    assert result.returncode == 2
    assert "不是合法的 CSV" in result.stderr
    assert orders_in(database_url) == {}
