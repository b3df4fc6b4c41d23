"""What changed between two rule documents (plain dicts and lists, as stored), key by key.

Lists of rules are matched by their ``name`` rather than their position, so that adding or
moving one rule shows as that rule, not as every rule after it changing; the order of the
names is a change of its own (routing rules: first match wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MISSING = object()


@dataclass(frozen=True, slots=True)
class Change:
    key: str  # e.g. "sla[普通待拣货].limit", "routing.rules"
    old: Any  # MISSING when the key is new
    new: Any  # MISSING when the key is gone

    def text(self) -> str:
        """``key: old → new`` in words people read."""
        if self.old is MISSING:
            return f"{self.key}: 新增 {_shown(self.new)}"
        if self.new is MISSING:
            return f"{self.key}: 删除 (原为 {_shown(self.old)})"
        return f"{self.key}: {_shown(self.old)} → {_shown(self.new)}"


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _named(items: list[Any]) -> list[str] | None:
    """The names of a list of rules, when each is a table with a name of its own."""
    names = [item.get("name") for item in items if isinstance(item, dict)]
    if len(names) != len(items) or not all(isinstance(n, str) for n in names):
        return None
    return names if len(set(names)) == len(names) else None  # type: ignore[return-value]


def flatten(value: Any, prefix: str = "", units: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every leaf of a document by its key path; each named rule also goes into ``units``
    (by ``key[name]``), so that a rule added or removed is one change."""
    if isinstance(value, Mapping):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat |= flatten(item, f"{prefix}.{key}" if prefix else str(key), units)
        return flat
    if isinstance(value, list) and value and (names := _named(value)) is not None:
        flat = {prefix: names}  # the order: the first matching rule wins
        for name, item in zip(names, value, strict=True):
            rest = {k: v for k, v in item.items() if k != "name"}
            if units is not None:
                units[f"{prefix}[{name}]"] = rest
            flat |= flatten(rest, f"{prefix}[{name}]", units)
        return flat
    return {prefix: value}


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The changes from ``old`` to ``new``, in the order of the keys of ``new`` (then those of
    ``old`` that are gone)."""
    units_before: dict[str, Any] = {}
    units_after: dict[str, Any] = {}
    before, after = flatten(old, "", units_before), flatten(new, "", units_after)
    whole = {
        unit
        for unit in (*units_before, *units_after)
        if (unit in units_before) != (unit in units_after)
    }

    def within(key: str) -> str | None:
        return next((unit for unit in whole if key.startswith(f"{unit}.")), None)

    changes: list[Change] = []
    for key, value in after.items():
        if (unit := within(key)) is not None:
            if unit in units_after and not any(c.key == unit for c in changes):
                changes.append(Change(unit, MISSING, units_after[unit]))
        elif before.get(key, MISSING) != value:
            changes.append(Change(key, before.get(key, MISSING), value))
    for key, value in before.items():
        if key in after:
            continue
        if (unit := within(key)) is not None:
            if unit in units_before and not any(c.key == unit for c in changes):
                changes.append(Change(unit, units_before[unit], MISSING))
        else:
            changes.append(Change(key, value, MISSING))
    return changes
