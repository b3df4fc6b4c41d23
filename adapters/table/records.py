"""A table row as a channel record: the configured columns under their record fields (dotted
fields nest, as the CSV import's headers do), values as the channel's own format writes them.

A database hands over typed values where a platform's JSON has text: ``NUMERIC`` yuan come as
``Decimal`` (written as the yuan text), times as ``datetime``. A time with a zone is written the
channel's way (Taobao and JD Beijing ``yyyy-MM-dd HH:mm:ss``, Douyin Unix seconds, the shop ISO
8601 with offset); a time without one is taken as Beijing time where the channel's own format
has no zone either (Taobao, JD), and otherwise passed on as text for the channel to refuse, since
nobody can tell which zone it meant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
_BEIJING_TEXT = "%Y-%m-%d %H:%M:%S"


def _time(value: datetime, channel: str) -> str | int:
    if channel in ("taobao", "jd"):
        local = value if value.tzinfo is None else value.astimezone(BEIJING)
        return local.strftime(_BEIJING_TEXT)
    if value.tzinfo is None:
        return value.isoformat()  # no zone: the channel refuses it, naming the field
    if channel == "douyin":
        return int(value.timestamp())
    return value.isoformat()


def cell(value: Any, channel: str) -> Any:
    """One column's value as the channel's record carries it."""
    if isinstance(value, datetime):
        return _time(value, channel)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return value


_AS_THEY_ARE = frozenset({str, int, float, bool})


class RecordMaker:
    """Rows to records by one mapping (record field → column), worked out once: a table source
    turns every row it reads into a record, and the look-up per value is what it costs."""

    def __init__(self, columns: Mapping[str, str], channel: str) -> None:
        self._channel = channel
        self._plan = [
            (tuple(field.split(".")[:-1]), field.rpartition(".")[2], column)
            for field, column in columns.items()
        ]

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The record a row stands for; a NULL column is an absent field, like an empty CSV
        cell."""
        record: dict[str, Any] = {}
        for parents, leaf, column in self._plan:
            value = row[column]
            if value is None:
                continue
            if type(value) not in _AS_THEY_ARE:
                value = cell(value, self._channel)
            target = record
            for part in parents:
                target = target.setdefault(part, {})
            target[leaf] = value
        return record
