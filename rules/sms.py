"""Texts to customers, as pure rules: when a text may go (quiet hours, our own per-number
limits, kept below the providers' so that they never have to refuse), and what a template is
filled with.

Our limits per number (the providers' documented defaults in brackets):

- one text per 60 s, whatever its content [Tencent: same content ≤1 per 30 s];
- 3 per rolling hour [Tencent's hourly default is not documented: kept low];
- 8 per rolling 24 h [Tencent: ≤10 per day per number; Aliyun notifications: ≤50 per day per
  sign + template + number; every accepted submission counts, day = rolling 24 h].

A customer gets one text per episode, so these only bite when many of one customer's parcels
stall at once: the later texts wait, they are not dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Provider = Literal["tencent", "aliyun"]
PURPOSES = ("stall", "rejected", "returning", "returned", "code")
# Texts the customer asked for (the customer page's one-time code): sent at once, also in quiet
# hours, within the same per-number limits; useless after CODE_TEXT_MAX_AGE.
ASKED_FOR = frozenset({"code"})
CODE_TEXT_MAX_AGE = timedelta(minutes=5)

# The template's variables, in the order of Tencent's {1}{2}{3}; Aliyun's ${name} by name.
TEMPLATE_VARIABLES: dict[str, tuple[str, ...]] = {
    "stall": ("place", "silence", "link"),
    "rejected": ("carrier", "tracking_no", "link"),
    "returning": ("carrier", "tracking_no", "link"),
    "returned": ("carrier", "tracking_no", "link"),
    "code": ("code",),
}

# The texts to register with the providers (docs/sms.md; the sandbox approves these). The link
# is the constant, registered base of the customer page followed by a variable token: neither
# provider lets a variable hold a URL.
_PARCEL = "您的包裹({carrier}运单{tracking_no})"  # Tencent: no two variables side by side
TEMPLATE_TEXTS: dict[str, str] = {
    "stall": (
        "您的包裹在{place}已超过{silence}没有更新, 我们已联系快递公司核实, 查看进度: {base}{link}"
    ),
    "rejected": _PARCEL + "已被拒签, 我们会尽快与您联系, 详情: {base}{link}",
    "returning": _PARCEL + "正在退回, 我们会尽快与您联系, 详情: {base}{link}",
    "returned": _PARCEL + "已退回我们仓库, 我们会尽快处理, 详情: {base}{link}",
    "code": "您查询订单的验证码为{code}, 5分钟内有效, 请勿告诉他人。",
}

# Free-text variables are cut to keep a text short (two billed parts) and within the providers'
# variable lengths; a waybill number and the link token are never cut.
LONGEST_VALUE = {"place": 20, "carrier": 12}
MAX_TEXT_LENGTH = 500  # characters, the sign's 【】 included (Tencent; Aliyun bills per 67)
SINGLE_TEXT_LENGTH = 70  # one billed text; a longer one is split and billed per 67
_TENCENT_VARIABLE = re.compile(r"\{(\d+)\}")
_ALIYUN_VARIABLE = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True)
class FrequencyLimit:
    """At most ``count`` texts to one number within any ``window``."""

    count: int
    window: timedelta


NUMBER_LIMITS = (
    FrequencyLimit(1, timedelta(seconds=60)),
    FrequencyLimit(3, timedelta(hours=1)),
    FrequencyLimit(8, timedelta(hours=24)),
)
LONGEST_WINDOW = max(limit.window for limit in NUMBER_LIMITS)


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether a local time of day falls in [start, end), a window that may wrap midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def release_time(now: datetime, start: time, end: time, timezone: ZoneInfo) -> datetime:
    """When a text due ``now`` may go: now, or, inside quiet hours (local time), the next
    ``end`` (UTC). 22:00 with quiet hours 21:00-08:00 → 08:00 the next morning."""
    local = now.astimezone(timezone)
    if not in_quiet_hours(local.time(), start, end):
        return now
    release = datetime.combine(local.date(), end, tzinfo=timezone)
    if release <= local:
        release = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=timezone)
    return release.astimezone(UTC)


def next_allowed(sent: Sequence[datetime], now: datetime) -> datetime:
    """The earliest moment from ``now`` a number that received texts at ``sent`` may receive
    another within :data:`NUMBER_LIMITS` (``now`` itself when none is reached)."""
    earliest = now
    for limit in NUMBER_LIMITS:
        recent = sorted(at for at in sent if at > now - limit.window)
        if len(recent) >= limit.count:
            # The window frees up when the oldest text that keeps it full leaves it.
            earliest = max(earliest, recent[len(recent) - limit.count] + limit.window)
    return earliest


def template_values(purpose: str, params: Mapping[str, str], link_base: str | None) -> list[str]:
    """The variables of ``purpose``'s template in order, from the caller's params; a link under
    ``link_base`` becomes its token (the base is constant text of the template), free text is
    cut to :data:`LONGEST_VALUE`. Raises KeyError for a purpose without a template or a missing
    param."""
    values = []
    for name in TEMPLATE_VARIABLES[purpose]:
        value = params[name]
        if name == "link" and link_base and value.startswith(link_base):
            value = value[len(link_base) :]
        longest = LONGEST_VALUE.get(name)
        if longest is not None and len(value) > longest:
            value = value[: longest - 1] + "…"
        values.append(value)
    return values


def tencent_params(purpose: str, params: Mapping[str, str], link_base: str | None) -> list[str]:
    """Tencent's TemplateParamSet: the values of {1}{2}… in order."""
    return template_values(purpose, params, link_base)


def aliyun_params(purpose: str, params: Mapping[str, str], link_base: str | None) -> dict[str, str]:
    """Aliyun's TemplateParam: ${name} → value."""
    values = template_values(purpose, params, link_base)
    return dict(zip(TEMPLATE_VARIABLES[purpose], values, strict=True))


def template_text(purpose: str, provider: Provider, link_base: str) -> str:
    """The text to register for ``purpose`` with ``provider``: its variables as {1}… (Tencent)
    or ${name} (Aliyun), the link's base as constant text."""
    names = TEMPLATE_VARIABLES[purpose]
    if provider == "tencent":
        fields = {name: f"{{{i}}}" for i, name in enumerate(names, start=1)}
    else:
        fields = {name: f"${{{name}}}" for name in names}
    return TEMPLATE_TEXTS[purpose].format(base=link_base, **fields)


def render_tencent(text: str, values: Sequence[str]) -> str:
    """A Tencent template with its {n} filled (IndexError: too few values)."""
    return _TENCENT_VARIABLE.sub(lambda m: values[int(m[1]) - 1], text)


def render_aliyun(text: str, values: Mapping[str, str]) -> str:
    """An Aliyun template with its ${name} filled (KeyError: a variable not given)."""
    return _ALIYUN_VARIABLE.sub(lambda m: values[m[1]], text)


def tencent_variable_count(text: str) -> int:
    """How many values a Tencent template takes: its highest {n}."""
    return max((int(n) for n in _TENCENT_VARIABLE.findall(text)), default=0)


def aliyun_variable_names(text: str) -> set[str]:
    return set(_ALIYUN_VARIABLE.findall(text))


def signed_text(sign: str, body: str) -> str:
    """The text as the phone shows it: 【sign】 first."""
    return f"【{sign}】{body}"


def billed_parts(text: str) -> int:
    """How many texts the carrier bills: one up to 70 characters, else one per 67."""
    if len(text) <= SINGLE_TEXT_LENGTH:
        return 1
    return -(-len(text) // 67)
