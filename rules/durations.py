"""Durations as people write them in config and chat: ``2h``, ``90m``, ``1h30m``, ``30s``,
and in Chinese: ``2小时``, ``30分钟``, ``1天``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNIT_SECONDS = {
    "d": 86400, "天": 86400,
    "h": 3600, "小时": 3600, "时": 3600,
    "m": 60, "分钟": 60, "分": 60,
    "s": 1, "秒": 1,
}  # fmt: skip
_UNIT = "|".join(sorted(_UNIT_SECONDS, key=len, reverse=True))  # 分钟 before 分
_PART = re.compile(rf"(\d+)\s*({_UNIT})")
_WHOLE = re.compile(rf"^\s*(?:\d+\s*(?:{_UNIT})\s*)+$")


def parse_duration(text: str) -> timedelta:
    """Parse ``2h`` / ``90m`` / ``1h30m`` / ``30s`` / ``2d`` / ``2小时30分``; raise ValueError
    on anything else."""
    lowered = text.strip().lower()
    if not _WHOLE.match(lowered):
        raise ValueError(f"不是合法的时长: {text!r} (例: 2h, 90m, 1h30m, 30s)")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(lowered))
    if seconds <= 0:
        raise ValueError(f"时长必须大于 0: {text!r}")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Render a duration in short Chinese, e.g. ``2小时5分``; seconds only below a minute."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days}天")
    if hours:
        parts.append(f"{hours}小时")
    if minutes:
        parts.append(f"{minutes}分")
    if not parts:
        parts.append(f"{seconds}秒")
    return sign + "".join(parts)


def duration_key(delta: timedelta) -> str:
    """A duration as the config writes it, the inverse of ``parse_duration``: ``2h``,
    ``1h30m``, ``28h``, ``3d`` (days only for whole days), ``45s``."""
    total = int(delta.total_seconds())
    if total <= 0:
        raise ValueError(f"时长必须大于 0: {delta}")
    if total % 86400 == 0:
        return f"{total // 86400}d"
    parts = []
    for unit, seconds in (("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, seconds)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
