"""Config loading: good configs load, bad ones fail naming the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, parse_config
from tests.support import config_data

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERBOT_ERP_TOKEN", "erp-secret")
    monkeypatch.setenv("ORDERBOT_WMS_TOKEN", "wms-secret")
    for name in ("WECOM_SECRET", "HOOK_GENERAL", "HOOK_EAST", "HOOK_VIP", "HOOK_CUSTOM"):
        monkeypatch.setenv(f"ORDERBOT_{name}", "x")
    config = load_config(ROOT / "config.example.toml")
    assert config.sla[0].limit == timedelta(hours=2)
    assert config.routing.rules[0].min_fen == 500000
    assert config.sources["erp"].secret == "erp-secret"
    assert "erp-secret" not in repr(config.sources["erp"])


def _broken(path: str, value: object) -> dict[str, object]:
    data = config_data("sqlite+aiosqlite:///x.db")
    *parents, leaf = path.split(".")
    target: object = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]  # type: ignore[index]
    target[leaf] = value  # type: ignore[index]
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("sla.0.limit", "2x", "sla[0].limit: 不是合法的时长"),
        ("sla.0.stage", "teleported", "sla[0].stage"),
        ("watch.scan_interval", "soon", "watch.scan_interval"),
        ("routing.default_group", "nobody", "routing.default_group: 未定义的组 'nobody'"),
        ("routing.rules.0.group", "ghost", "routing.rules[0].group: 未定义的组 'ghost'"),
        ("routing.rules.0.min_yuan", "12.345", "routing.rules[0].min_yuan"),
        ("database.url", "mysql://x", "database.url"),
        ("watch.scna_interval", "1s", "watch.scna_interval: Extra inputs are not permitted"),
        ("sla.0.order_types", ["bulk"], "sla[0].order_types: 未知订单类型 'bulk'"),
    ],
    ids=[
        "bad-duration",
        "bad-stage",
        "bad-interval",
        "unknown-default-group",
        "unknown-rule-group",
        "three-decimal-yuan",
        "unsupported-database",
        "typo-key",
        "unknown-order-type",
    ],
)
def test_bad_config_names_the_key(path: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(_broken(path, value))
    assert expected in str(error.value)


def test_token_from_missing_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERBOT_NOT_SET", raising=False)
    data = config_data("sqlite+aiosqlite:///x.db")
    data["sources"]["erp"] = {"token_env": "ORDERBOT_NOT_SET", "channels": ["jd"]}
    with pytest.raises(ConfigError, match=r"sources\.erp: .*ORDERBOT_NOT_SET"):
        parse_config(data)


def test_missing_file_and_bad_toml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="找不到配置文件"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[watch\nscan_interval = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="不是合法的 TOML"):
        load_config(broken)
