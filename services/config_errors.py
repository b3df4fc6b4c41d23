"""pydantic's validation errors of a config, said in Chinese: each line names the key (as the
TOML spells it, e.g. ``sla[0].limit``), what is wrong, and for a mistyped key the nearest valid
one (``watch.scan_intervl: 未知配置项, 是否想写 scan_interval?``)."""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

Loc = tuple[int | str, ...]


def _unwrap(annotation: Any) -> Any:
    """The type under ``Annotated`` and ``X | None``; a union of several types stays a union."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """A model's keys as the config spells them (the alias where there is one) → their type."""
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def _is_table(annotation: Any) -> bool:
    """Whether keys or indexes lead inside values of this type (a section, a list, a map)."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return get_origin(annotation) in (tuple, dict)


def _child(annotation: Any, part: int | str) -> Any:
    """The type at ``part`` inside a table type; None for a key it does not have."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _fields(annotation).get(str(part))
    return get_args(annotation)[0 if get_origin(annotation) is tuple else 1]


def _key_path(model: type[BaseModel], loc: Loc) -> tuple[Loc, Any]:
    """The part of ``loc`` that names config keys (pydantic appends the names of a union's
    members after the key), and the type of the last one."""
    kept: list[int | str] = []
    annotation: Any = model
    for part in loc:
        if not _is_table(annotation):
            break
        kept.append(part)
        annotation = _child(annotation, part)
    return tuple(kept), annotation


def key_name(loc: Loc) -> str:
    """``("sla", 0, "limit")`` → ``sla[0].limit``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _choices(expected: str) -> str:
    return expected.replace(" or ", ", ")


def _typo(model: type[BaseModel], loc: Loc) -> str:
    _, parent = _key_path(model, loc[:-1])
    parent = _unwrap(parent)
    known = list(_fields(parent)) if isinstance(parent, type) else []
    nearest = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if nearest:
        return f"未知配置项, 是否想写 {nearest[0]}?"
    return f"未知配置项, 可用的有: {', '.join(known)}" if known else "未知配置项"


_SIMPLE = {
    "missing": "缺少必填项",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数, 不能带小数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "string_type": "应为字符串 (加引号)",
    "time_type": '应为时刻, 例如 "09:00"',
    "time_parsing": '应为时刻, 例如 "09:00"',
    "time_delta_type": '应为时长, 例如 "2h"、"90m"、"30s"',
    "time_delta_parsing": '应为时长, 例如 "2h"、"90m"、"30s"',
    "tuple_type": '应为列表, 例如 ["a", "b"]',
    "list_type": '应为列表, 例如 ["a", "b"]',
    "dict_type": "应为一个表 (TOML 的 [节] 或 { 键 = 值 })",
    "model_type": "应为一个表 (TOML 的 [节] 或 { 键 = 值 })",
    "model_attributes_type": "应为一个表 (TOML 的 [节] 或 { 键 = 值 })",
}

_BOUNDS = {
    "greater_than_equal": ("ge", "不能小于"),
    "greater_than": ("gt", "必须大于"),
    "less_than_equal": ("le", "不能大于"),
    "less_than": ("lt", "必须小于"),
}


def _message(model: type[BaseModel], error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    given = error.get("input")
    if kind == "extra_forbidden":
        return _typo(model, error["loc"])
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    if kind in ("literal_error", "enum"):
        return f"应为 {_choices(ctx['expected'])} 之一, 而不是 {given!r}"
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        return f"{words} {ctx[bound]}, 而不是 {given!r}"
    if kind in _SIMPLE:
        shown = "" if kind == "missing" or isinstance(given, dict) else f", 而不是 {given!r}"
        return _SIMPLE[kind] + shown
    return f"取值无效 ({error['msg']})"


def explain(model: type[BaseModel], error: ValidationError) -> list[str]:
    """One line per problem, ``key: what is wrong``. A key whose value fits none of a union's
    alternatives is said once, by the first."""
    lines: dict[str, str] = {}
    for item in error.errors():
        loc, _ = _key_path(model, item["loc"])
        key, message = key_name(loc), _message(model, item)
        if not key:  # a check across sections lists its problems, one per line
            lines |= {line: line for line in message.splitlines()}
        else:
            lines.setdefault(key, f"{key}: {message}")
    return list(lines.values())


def joined(lines: Sequence[str]) -> str:
    return "配置有误:\n" + "\n".join(f"  {line}" for line in lines)
