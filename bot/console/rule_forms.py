"""The console's rule forms: one SLA or routing rule from a form's fields into a draft's
document, and the whole-draft validation's errors put back beside the fields they are about."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SPLIT = re.compile(r"[,，、\s]+")

# Per kind: where its rules are in the document, the fields its form has, which of them are
# lists (typed as "a, b"), which are check boxes, which may be left empty.
KINDS: dict[str, dict[str, Any]] = {
    "sla": {
        "title": "时限规则",
        "path": ("sla",),
        "fields": (
            "name", "stage", "limit", "deadline", "before", "order_types", "channels",
            "business_hours", "stop_escalation_on_claim",
        ),
        "lists": ("order_types", "channels"),
        "checks": ("business_hours", "stop_escalation_on_claim"),
        "optional": ("before",),
    },
    "routing": {
        "title": "分单规则",
        "path": ("routing", "rules"),
        "fields": (
            "name", "group", "provinces", "cities", "categories", "channels", "order_types",
            "min_yuan", "max_yuan", "kinds", "logistics_states", "carriers",
        ),
        "lists": (
            "provinces", "cities", "categories", "channels", "order_types", "kinds",
            "logistics_states", "carriers",
        ),
        "checks": (),
        "optional": ("min_yuan", "max_yuan"),
    },
}  # fmt: skip


def rules_of(document: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    found: Any = document
    for part in KINDS[kind]["path"]:
        found = found.get(part, {} if part != KINDS[kind]["path"][-1] else [])
    return list(found)


def with_rules(document: dict[str, Any], kind: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of ``document`` with the kind's rules replaced."""
    *parents, last = KINDS[kind]["path"]
    changed = dict(document)
    target = changed
    for part in parents:
        target[part] = dict(target.get(part, {}))
        target = target[part]
    target[last] = rules
    return changed


def rule_from_form(kind: str, form: Mapping[str, str], before: Mapping[str, Any]) -> dict[str, Any]:
    """The rule the form describes; keys the form does not show (an SLA rule's own escalation)
    stay as they were."""
    spec = KINDS[kind]
    rule = dict(before)
    for name in spec["fields"]:
        text = str(form.get(name, "")).strip()
        if name in spec["checks"]:
            rule[name] = name in form
        elif name in spec["lists"]:
            rule[name] = [part for part in SPLIT.split(text) if part]
        elif name in spec["optional"] and not text:
            rule.pop(name, None)
        else:
            rule[name] = text
    return rule


def form_values(kind: str, rule: Mapping[str, Any]) -> dict[str, Any]:
    """A rule's values as its form shows them (lists as "a, b")."""
    spec = KINDS[kind]
    values: dict[str, Any] = {}
    for name in spec["fields"]:
        value = rule.get(name)
        if name in spec["lists"]:
            values[name] = ", ".join(str(v) for v in value or ())
        elif name in spec["checks"]:
            values[name] = bool(value)
        else:
            values[name] = "" if value is None else str(value)
    return values


def errors_by_field(problems: str, kind: str, index: int) -> tuple[dict[str, str], list[str]]:
    """check-config's lines split into those about a field of the rule at ``index`` (by field)
    and the rest."""
    key = ".".join(KINDS[kind]["path"]) + f"[{index}]"
    mine: dict[str, str] = {}
    others: list[str] = []
    for line in problems.splitlines()[1:]:  # after "配置有误:"
        line = line.strip()
        where, _, words = line.partition(": ")
        if where.startswith(key + "."):
            mine.setdefault(where.removeprefix(key + ".").split(".")[0].split("[")[0], words)
        elif where == key:
            mine.setdefault("", words)
        else:
            others.append(line)
    return mine, others
