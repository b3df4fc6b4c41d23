"""The config keys for what platforms send: SLA rules counting to the platform's ship-by and the
category id → name table, as ``orderbot check-config`` says them back, or refuses them."""

from __future__ import annotations

from pathlib import Path

from tests.support import config_data
from tests.test_cli import no_crash, orderbot_here, sqlite_url, write_config


def check(tmp_path: Path, **changes: object) -> tuple[int, list[str], str]:
    """check-config of the test config with ``changes`` at its top level: (exit code, stdout
    lines, stderr)."""
    data = config_data(sqlite_url(tmp_path / "orderbot.db")) | changes
    result = orderbot_here(
        "check-config", "-c", write_config(tmp_path / "c.toml", data), cwd=tmp_path
    )
    no_crash(result)
    return result.returncode, result.stdout.splitlines(), result.stderr


def test_check_config_says_a_ship_by_rule_and_its_fallback(tmp_path: Path) -> None:
    rule = {
        "name": "平台发货时限",
        "stage": "paid",
        "channels": ["taobao", "douyin"],
        "deadline": "ship_by",
        "before": "2h",
        "limit": "24h",
    }
    sla = [rule, *config_data("sqlite+aiosqlite:///x.db")["sla"]]
    code, lines, stderr = check(tmp_path, sla=sla)
    assert code == 0, stderr
    assert lines[2] == (
        "  平台发货时限: 已付款待拣货 · 所有类型 · 渠道 淘宝/天猫、抖店 → 平台最晚发货时间前 2小时"
        " (升级从此时起计; 订单没有平台时限时: 时限 1天)"
    )


def test_check_config_lists_the_category_names(tmp_path: Path) -> None:
    categories = {"taobao": {"50008164": "定制家具", "50012345": "灯具"}, "jd": {"9855": "家具"}}
    code, lines, stderr = check(tmp_path, categories=categories)
    assert code == 0, stderr
    assert "类目名称 淘宝/天猫: 50008164=定制家具、50012345=灯具" in lines
    assert "类目名称 京东: 9855=家具" in lines


def test_before_without_a_ship_by_deadline_is_refused(tmp_path: Path) -> None:
    sla = config_data("sqlite+aiosqlite:///x.db")["sla"]
    sla[0]["before"] = "2h"
    code, _, stderr = check(tmp_path, sla=sla)
    assert code == 2
    assert 'sla[0]: before 只与 deadline = "ship_by" 一起使用' in stderr


def test_categories_of_an_unknown_channel_are_refused(tmp_path: Path) -> None:
    code, _, stderr = check(tmp_path, categories={"pdd": {"1": "家具"}})
    assert code == 2
    assert "categories.pdd: 未知渠道 'pdd'" in stderr
