"""The rules of a config as one document (plain TOML-able values), and back.

The rule sections (order types, categories, SLA rules, promotions, routing, groups, calendar,
the escalation levels of ``[watch]`` and the thresholds of ``[health]``) are data: versions
of them live in the database (services.rulebook). Everything else (database, listeners,
WeCom and other credentials, timers, ``[roles]``) stays in the config file. A document is
checked by putting it into the file's config and validating the whole, so its errors are
exactly ``check-config``'s, key by key.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import tomli_w

from rules.durations import duration_key
from services.config import Config, ConfigError, parse_config

# The whole sections that are rules, and the parts of two sections that are.
SECTIONS = ("order_types", "categories", "sla", "promotions", "routing", "groups", "calendar")
WATCH_RULES = ("escalation",)  # the rest of [watch] are timers
HEALTH_TIMERS = ("check_interval",)  # the rest of [health] are thresholds


def _plain(value: Any) -> Any:
    """A validated value as the config file writes it."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, timedelta):
        return duration_key(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    return value


def _yuan(fen: int) -> int | float:
    return fen // 100 if fen % 100 == 0 else float(Decimal(fen) / 100)


def document_of(config: Config) -> dict[str, Any]:
    """The rules of ``config``, every key spelled out (defaults too), so that two configs with
    the same rules give the same document whatever their files left to the defaults."""
    dumped = config.model_dump(mode="python", by_alias=True)
    document = {section: _plain(dumped[section]) for section in SECTIONS}
    for rule in document["routing"]["rules"]:
        for key in ("min_yuan", "max_yuan"):  # the model holds fen under the yuan alias
            if key in rule:
                rule[key] = _yuan(rule[key])
    document["watch"] = {key: _plain(dumped["watch"][key]) for key in WATCH_RULES}
    health = {k: v for k, v in dumped["health"].items() if k not in HEALTH_TIMERS}
    document["health"] = _plain(health)
    return document


def with_document(config: Config, document: dict[str, Any]) -> Config:
    """``config`` with its rules replaced by ``document``'s, validated as a whole; raises
    ConfigError with check-config's messages when the result is not a valid config."""
    if not isinstance(document, dict):
        raise ConfigError("配置有误:\n  规则应为一个表 (TOML 的 [节])")
    base = config.model_dump(mode="python", by_alias=True, exclude_unset=True)
    data = {k: v for k, v in base.items() if k not in (*SECTIONS, "watch", "health")}
    data |= {k: v for k, v in document.items() if k not in ("watch", "health")}
    watch = {k: v for k, v in base.get("watch", {}).items() if k not in WATCH_RULES}
    data["watch"] = _merged(watch, document.get("watch", {}))
    health = {k: v for k, v in base.get("health", {}).items() if k in HEALTH_TIMERS}
    data["health"] = _merged(health, document.get("health", {}))
    return parse_config(data)


def _merged(infrastructure: dict[str, Any], rules: Any) -> Any:
    """A section of both kinds: the file's keys and the document's; a document's section that
    is not a table reaches the model as it is, to be refused with the model's message."""
    return infrastructure | rules if isinstance(rules, dict) else rules


def digest(document: dict[str, Any]) -> str:
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def to_toml(document: dict[str, Any]) -> str:
    """The document as the rule sections of a config file (``orderbot rules export``)."""
    head = "# orderbot 规则 (orderbot rules export); 可合并进配置文件, 或 orderbot rules import\n"
    return head + tomli_w.dumps(document)


def from_toml(text: str) -> dict[str, Any]:
    """The rule sections of a TOML text (a whole config file or only its rules); the other
    sections are left out. Raises ConfigError when it is not TOML."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"不是合法的 TOML: {error}") from None
    document = {k: v for k, v in data.items() if k in SECTIONS}
    if "watch" in data:
        document["watch"] = {k: v for k, v in data["watch"].items() if k in WATCH_RULES}
    if "health" in data:
        document["health"] = {k: v for k, v in data["health"].items() if k not in HEALTH_TIMERS}
    return document
