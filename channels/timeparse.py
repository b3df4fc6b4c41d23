"""Parsing the scalar values channel records carry: times, money, ids, text and nested objects.

Every parser takes the field's name so a refusal reads ``<field>: <what is wrong>``. Absent
values (missing key, ``None``, a blank string) come back as ``None``; the caller decides whether
the field is required. Adapters call these through :class:`channels.reader.RecordReader`, which
collects every refusal of a record instead of stopping at the first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeGuard

from channels.base import RecordError
from channels.suggest import nearest
from rules.stages import Stage

# China has had no daylight saving time since 1991, so a fixed offset is exact.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
# A wall-clock time without zone is read as Beijing's by its distance from the epoch on Beijing's
# clocks: datetime arithmetic costs a fifth of replace(tzinfo=…) and astimezone().
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 (naive: the origin of naive wall-clock times)
BEIJING_EPOCH = _EPOCH.replace(tzinfo=BEIJING).astimezone(UTC)
BEIJING_FORMAT = "%Y-%m-%d %H:%M:%S"
# JD's "not yet" placeholders, e.g. paymentConfirmTime of an unpaid order.
_JD_NOT_YET = frozenset({"0001-01-01 00:00:00", "1970-01-01 00:00:00"})
_YUAN = re.compile(r"\d+(\.\d{1,2})?")
_SHOWN = 80  # characters of a value quoted in a refusal


def shown(value: object) -> str:
    """A value as a refusal quotes it: its repr (which escapes what is not printable), cut short
    so that a megabyte-long field does not come back in the answer."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 1]}…"


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" when it was longer."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _digits(value: object) -> TypeGuard[str]:
    """ASCII digits in a string: how a CSV cell carries an integer (of at most 64 bits and
    then some, which keeps ``int()`` clear of its 4,300-digit limit)."""
    return isinstance(value, str) and len(value) <= 30 and value.isascii() and value.isdigit()


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def beijing_time(value: object, field: str) -> datetime | None:
    """Taobao/JD ``yyyy-MM-dd HH:mm:ss``, Beijing time without zone → aware UTC."""
    if _absent(value):
        return None
    if not isinstance(value, str):
        raise RecordError(f"{field}: 时间应为 yyyy-MM-dd HH:mm:ss 字符串, 收到 {shown(value)}")
    try:
        # fromisoformat is ~10x faster than strptime; the length and separator checks keep it
        # to exactly yyyy-MM-dd HH:mm:ss.
        if len(value) != 19 or value[10] != " ":
            raise ValueError(value)
        local = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(
            f"{field}: 时间格式不对 {shown(value)} (应为 yyyy-MM-dd HH:mm:ss)"
        ) from None
    if local.tzinfo is not None:  # "00:05+08" fits in 19 characters too: read as Beijing time
        local = local.replace(tzinfo=None)
    try:
        return BEIJING_EPOCH + (local - _EPOCH)
    except OverflowError:  # year 1 before 08:00
        raise RecordError(f"{field}: 时间超出范围 {shown(value)}") from None


def beijing_day_or_time(value: object, field: str) -> datetime | None:
    """A Taobao deadline: :func:`beijing_time`, or a bare ``yyyy-MM-dd`` date, which is due by
    the end of that day (23:59:59 Beijing time)."""
    if isinstance(value, str) and len(value) == 10:
        try:
            day = datetime.fromisoformat(value)
        except ValueError:
            raise RecordError(
                f"{field}: 时间格式不对 {shown(value)} (应为 yyyy-MM-dd HH:mm:ss 或 yyyy-MM-dd)"
            ) from None
        return _to_utc(day.replace(hour=23, minute=59, second=59, tzinfo=BEIJING), value, field)
    return beijing_time(value, field)


def jd_time(value: object, field: str) -> datetime | None:
    """:func:`beijing_time`, but JD's ``0001-01-01``/``1970-01-01`` placeholders are "not yet"."""
    if isinstance(value, str) and value in _JD_NOT_YET:
        return None
    return beijing_time(value, field)


def unix_time(value: object, field: str) -> datetime | None:
    """Douyin Unix seconds → aware UTC; ``0`` is Douyin's "not yet" and counts as absent. CSV
    files give the seconds as digits."""
    if _digits(value):
        value = int(value)
    if value is None or value == 0:
        return None
    if not _is_int(value) or value < 0:
        raise RecordError(f"{field}: 时间应为 Unix 秒 (非负整数), 收到 {shown(value)}")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError):
        hint = milliseconds_hint(value)
        raise RecordError(f"{field}: 时间超出范围 {shown(value)}{hint}") from None


def iso_time(value: object, field: str) -> datetime | None:
    """ISO 8601 with an explicit offset (``2024-05-01T10:00:00+08:00``) → aware UTC."""
    if _absent(value):
        return None
    if not isinstance(value, str):
        raise RecordError(f"{field}: 时间应为 ISO 8601 字符串, 收到 {shown(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"{field}: 时间格式不对 {shown(value)} (应为 ISO 8601)") from None
    if parsed.tzinfo is None:
        raise RecordError(f"{field}: 时间缺少时区 {shown(value)} (例 2024-05-01T10:00:00+08:00)")
    return _to_utc(parsed, value, field)


def _to_utc(moment: datetime, sent: str, field: str) -> datetime:
    """In UTC; year 1 at +08:00 or year 9999 at -01:00 has no UTC time a datetime can hold."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise RecordError(f"{field}: 时间超出范围 {shown(sent)}") from None


def milliseconds_hint(seconds: int) -> str:
    """A hint when Unix seconds look like milliseconds (13 digits instead of 10)."""
    return " (看起来是毫秒, 应为秒)" if seconds >= 10**11 else ""


def yuan_to_fen(value: object, field: str) -> int | None:
    """Yuan as a string or number with at most 2 decimals (``"200.07"``) → fen, exactly."""
    if _absent(value):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise RecordError(f"{field}: 金额应为元 (字符串或数字), 收到 {shown(value)}")
    # str() of a float is its shortest round-trip repr, so 19.9 reads as "19.9", never 19.899…
    text = str(value)
    if not _YUAN.fullmatch(text):
        raise RecordError(f"{field}: 金额须为非负、最多两位小数的元, 收到 {shown(value)}")
    return int(Decimal(text) * 100)


def fen(value: object, field: str) -> int | None:
    """An amount already in integer fen (Douyin, self-built shop); CSV files give it as digits."""
    if value is None:
        return None
    if _digits(value):
        return int(value)
    if not _is_int(value) or value < 0:
        raise RecordError(f"{field}: 金额应为非负整数 (分), 收到 {shown(value)}")
    return value


def count(value: object, field: str) -> int | None:
    """A quantity: a non-negative integer, or its digits (JD sends ``"1"``, as CSV cells do)."""
    if _absent(value):
        return None
    if _digits(value):
        return int(value)
    if not _is_int(value) or value < 0:
        raise RecordError(f"{field}: 数量应为非负整数, 收到 {shown(value)}")
    return value


def ident(value: object, field: str) -> str | None:
    """An identifier sent as a non-empty string or a non-negative integer, as a string."""
    if isinstance(value, str):
        return value.strip() or None
    if value is None:
        return None
    if _is_int(value) and value >= 0:
        return str(value)
    raise RecordError(f"{field}: 应为字符串或非负整数, 收到 {shown(value)}")


def text(value: object, field: str) -> str | None:
    """Optional free text; blank counts as absent."""
    if isinstance(value, str):
        return value.strip() or None
    if value is None:
        return None
    raise RecordError(f"{field}: 应为字符串, 收到 {shown(value)}")


def obj(value: object, field: str) -> Mapping[str, Any]:
    """An optional nested object; absent reads as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):  # JSON objects are dicts; the Mapping ABC check is slower
        raise RecordError(f"{field}: 应为对象, 收到 {type(value).__name__}")
    return value


def objects(value: object, field: str) -> list[Mapping[str, Any]]:
    """An optional list of nested objects; absent reads as empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{field}: 应为列表, 收到 {type(value).__name__}")
    return [obj(item, f"{field}[{i}]") for i, item in enumerate(value)]


def stage_of(table: Mapping[Any, Stage], value: object, field: str) -> Stage:
    """Look a channel status up in its table; missing or unknown values are refused with the
    accepted ones listed (and the nearest, for a misspelling)."""
    if _absent(value):
        raise RecordError(f"{field}: 缺少状态, {_accepted(table)}")
    key = int(value) if _digits(value) and int(value) in table else value  # a CSV cell
    try:
        if not isinstance(key, bool):  # True would otherwise look up status 1
            return table[key]
    except (KeyError, TypeError):
        pass
    guess = nearest(value, [str(key) for key in table]) if isinstance(value, str) else None
    hint = f", 是否想写 {guess}?" if guess else ""
    raise RecordError(f"{field}: 未知状态 {shown(value)}{hint}; {_accepted(table)}")


def _accepted(table: Mapping[Any, Stage]) -> str:
    return "可选值: " + ", ".join(str(key) for key in table)


def first_known(*times: datetime | None, default: datetime) -> datetime:
    """The first time that is set, in the caller's order of preference, else ``default``."""
    return next((t for t in times if t is not None), default)
