"""Config loading: good configs load, bad ones fail naming the key."""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterator
from datetime import timedelta
from fnmatch import fnmatch
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from services.config import Config, ConfigError, load_config, parse_config
from tests.support import config_data

ROOT = Path(__file__).resolve().parent.parent


EXAMPLE = ROOT / "config.example.toml"
AES_KEY = "b3JkZXJib3Qtc2FuZGJveC1hZXMta2V5LTMyYnl0ZXM"  # 43 letters and digits
EXAMPLE_ENV = {
    "ORDERBOT_ERP_TOKEN": "erp-secret",
    "ORDERBOT_WMS_TOKEN": "wms-secret",
    "ORDERBOT_WECOM_CALLBACK_TOKEN": "callback-token",
    "ORDERBOT_WECOM_CALLBACK_AES_KEY": AES_KEY,
    "ORDERBOT_ERP_DB_URL": "postgresql+asyncpg://erp@127.0.0.1/erp",
} | {
    f"ORDERBOT_{name}": "x"
    for name in (
        "WECOM_SECRET",
        "HOOK_GENERAL",
        "HOOK_EAST",
        "HOOK_VIP",
        "HOOK_CUSTOM",
        "HOOK_LOGISTICS",
        "KUAIDI100_KEY",
        "KUAIDI100_SALT",
        "SMS_SECRET_ID",
        "SMS_SECRET_KEY",
        "LINK_SECRET",
        "PAGE_SECRET",
        "CONSOLE_SECRET",
    )
}


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    config = load_config(EXAMPLE)
    assert config.sla[0].limit == timedelta(hours=2)
    assert [r.min_fen for r in config.routing.rules if r.name == "大额订单"] == [500000]
    assert config.sources["erp"].secret == "erp-secret"
    assert "erp-secret" not in repr(config.sources["erp"])
    assert config.wecom is not None  # chat commands are on with the example as it stands
    assert (config.wecom.token, config.wecom.aes_key) == ("callback-token", AES_KEY)


def test_the_example_without_its_variables_names_every_one_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in EXAMPLE_ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as refused:
        load_config(EXAMPLE)
    assert [name for name in EXAMPLE_ENV if name not in str(refused.value)] == []


def _table(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The section model inside a field's type, and whether it is a map of named tables
    (``[groups.<name>]``); None for a plain value."""
    while get_origin(annotation) in (Annotated, Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) in (tuple, dict):
        inner = _table(get_args(annotation)[-2 if get_origin(annotation) is tuple else 1])
        return None if inner is None else (inner[0], get_origin(annotation) is dict)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None


def _keys(model: type[BaseModel], table: str = "") -> Iterator[tuple[str, str]]:
    """Every (table, key) a config may hold, e.g. ("wecom", "callback_token"), tables of a
    map written with ``*`` ("groups.*", "webhook_key")."""
    for name, info in model.model_fields.items():
        key = info.alias or name
        yield table, key
        if (inner := _table(info.annotation)) is not None:
            section, named = inner
            path = f"{table}.{key}".lstrip(".")
            yield from _keys(section, f"{path}.*" if named else path)


def _tables(text: str) -> list[tuple[str, str]]:
    """The example's tables as (header, the lines under it); the lines above any header are
    the root table ("")."""
    parts = re.split(r"^\[\[?([\w.-]+)\]\]?[ \t]*(?:#.*)?$", text, flags=re.MULTILINE)
    return [("", parts[0]), *zip(parts[1::2], parts[2::2], strict=True)]


def _documented(tables: list[tuple[str, str]], table: str, key: str) -> bool:
    """Set or commented out (``# key =``) under its table; a table of its own; or written inline
    (``{ key = ... }``) under a table that holds it (``escalation = [{ after = ... }]``)."""
    assigned = re.compile(rf"^[ \t]*#?[ \t]*{key}[ \t]*=", re.MULTILINE)
    inline = re.compile(rf"[{{,][ \t]*{key}[ \t]*=")
    sub = f"{table}.{key}".lstrip(".")
    outer = [table.rsplit(".", n)[0] for n in range(1, table.count(".") + 1)]
    return any(
        (fnmatch(header, table) and assigned.search(lines))
        or fnmatch(header, sub)
        or fnmatch(header, f"{sub}.*")
        or (any(fnmatch(header, t) for t in outer) and inline.search(lines))
        for header, lines in tables
    )


def test_every_config_key_is_documented_in_the_example() -> None:
    tables = _tables(EXAMPLE.read_text(encoding="utf-8"))
    undocumented = [
        f"[{table}] {key}" if table else key
        for table, key in _keys(Config)
        if not _documented(tables, table, key)
    ]
    assert undocumented == []


def _broken(path: str, value: object) -> dict[str, object]:
    data = config_data("sqlite+aiosqlite:///x.db")
    *parents, leaf = path.split(".")
    target: object = data
    for part in parents:
        is_list = isinstance(target, list)
        target = target[int(part)] if is_list else target.setdefault(part, {})  # type: ignore
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
        ("watch.scan_intervl", "1s", "watch.scan_intervl: 未知配置项, 是否想写 scan_interval?"),
        ("sla.0.order_types", ["bulk"], "sla[0].order_types: 未知订单类型 'bulk'"),
        # A bare number as a duration would be seconds: refused, with an example.
        ("sla.0.limit", 2, 'sla[0].limit: 时长须带单位, 例如 "2h"、"90m"、"30s"'),
        ("sla.0.limit", 1.5, "sla[0].limit: 时长须带单位"),
        ("sla.0.limit", "2", "sla[0].limit: 时长须带单位"),
        ("watch.remind_every", 30, "watch.remind_every: 时长须带单位"),
        ("watch.escalation", [{"after": 14400}], "watch.escalation[0].after: 时长须带单位"),
        ("watch.escalation", [{"after": ["4h"]}], 'watch.escalation[0].after: 应为 "deadline" 或'),
        # pydantic's other complaints, in Chinese and naming the key.
        ("sla.0.nmae", "x", "sla[0].nmae: 未知配置项, 是否想写 name?"),
        ("groups.east.supervsior", "x", "groups.east.supervsior: 未知配置项, 是否想写 supervisor?"),
        ("routing.rules.0.max_yaun", 1, "rules[0].max_yaun: 未知配置项, 是否想写 max_yuan?"),
        ("watch.zzz", 1, "watch.zzz: 未知配置项, 可用的有: scan_interval, batch_size"),
        ("server.port", 70000, "server.port: 不能大于 65535, 而不是 70000"),
        ("watch.batch_size", 0, "watch.batch_size: 不能小于 1, 而不是 0"),
        ("server.port", "http", "server.port: 应为整数, 而不是 'http'"),
        ("sla.0.business_hours", "sometimes", "sla[0].business_hours: 应为 true 或 false"),
        ("groups.east.members", "zhang", 'groups.east.members: 应为列表, 例如 ["a", "b"]'),
        ("watch.escalation", [{"notify": "boss"}], "watch.escalation[0].notify: 应为 'group'"),
        ("sla.0.stage", "teleported", "sla[0].stage: 应为 'pending_payment', 'deposit_paid'"),
        ("calendar.workday_start", "9点", 'calendar.workday_start: 应为时刻, 例如 "09:00"'),
        ("groups.east", "east", "groups.east: 应为一个表"),
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
        "bare-int-limit",
        "bare-float-limit",
        "bare-number-string-limit",
        "bare-remind-every",
        "bare-escalation-after",
        "escalation-after-of-wrong-type",
        "typo-in-a-list-of-tables",
        "typo-in-a-named-table",
        "typo-of-an-aliased-key",
        "unknown-key-nothing-near",
        "int-too-large",
        "int-too-small",
        "not-an-int",
        "not-a-bool",
        "not-a-list",
        "bad-literal",
        "bad-enum",
        "bad-time",
        "not-a-table",
    ],
)
def test_bad_config_names_the_key(path: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(_broken(path, value))
    assert expected in str(error.value)
    english = ("Input should", "Field required", "Extra inputs", "Value error", "valid")
    assert not any(word in str(error.value) for word in english), str(error.value)


def _missing_keys(data: dict[str, Any]) -> None:
    del data["routing"]
    del data["sla"][1]["name"]


def _bad_references(data: dict[str, Any]) -> None:
    data["routing"]["default_group"] = "nobody"
    data["sla"][0]["order_types"] = ["bulk"]


@pytest.mark.parametrize(
    ("spoil", "lines"),
    [
        (_missing_keys, ["  sla[1].name: 缺少必填项", "  routing: 缺少必填项"]),
        (
            _bad_references,  # checked across sections, after each section is valid
            [
                "  routing.default_group: 未定义的组 'nobody'",
                "  sla[0].order_types: 未知订单类型 'bulk'",
            ],
        ),
    ],
    ids=["missing-keys", "bad-references"],
)
def test_every_problem_is_one_line_naming_its_key(
    spoil: Callable[[dict[str, Any]], None], lines: list[str]
) -> None:
    data = config_data("sqlite+aiosqlite:///x.db")
    spoil(data)
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value).splitlines() == ["配置有误:", *lines]


def test_durations_given_as_timedelta_by_code_are_taken_as_they_are() -> None:
    data = config_data("sqlite+aiosqlite:///x.db")
    data["watch"]["scan_interval"] = timedelta(milliseconds=100)
    data["watch"]["escalation"] = [{"after": timedelta(hours=1)}]
    watch = parse_config(data).watch
    assert watch.scan_interval == timedelta(milliseconds=100)
    assert watch.escalation[0].after == timedelta(hours=1)


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
