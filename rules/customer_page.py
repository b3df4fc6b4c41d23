"""The customer's page, as pure rules: which numbers it takes, how an address and a timeline
read to the customer, and the sentences it refuses with."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from rules.durations import format_duration
from rules.render import region_of
from rules.stages import Stage

_MAINLAND_MOBILE = re.compile(r"1[3-9]\d{9}")
CODE_DIGITS = 6


def is_mobile(phone: str | None) -> bool:
    """A mainland mobile number in its canonical 11 digits (rules.phones.canonical_phone)."""
    return phone is not None and _MAINLAND_MOBILE.fullmatch(phone) is not None


def is_code_shaped(text: str) -> bool:
    return len(text) == CODE_DIGITS and text.isascii() and text.isdigit()


def masked_address(
    province: str | None, city: str | None, district: str | None, detail: str | None
) -> str:
    """Down to the district, the street hidden: ``浙江省杭州市西湖区 ****``."""
    region = region_of(province, city, district) if (province or city or district) else ""
    hidden = "****" if detail else ""
    return " ".join(part for part in (region, hidden) if part) or "-"


# What the customer's timeline says of each stage the order entered; a stage not listed
# (awaiting payment, on hold: the hold is the shop's business) is not shown.
STAGE_STEPS = {
    Stage.DEPOSIT_PAID: "已付定金",
    Stage.PAID: "已付款",
    Stage.PICKING: "仓库已接单, 正在拣货",
    Stage.SHIPPED: "已发货",
    Stage.DELIVERED: "已签收",
    Stage.COMPLETED: "订单已完成",
    Stage.CANCELLED: "订单已取消",
    Stage.REFUNDED: "已退款",
}


def stage_step(stage: str) -> str | None:
    try:
        return STAGE_STEPS.get(Stage(stage))
    except ValueError:
        return None


def wait_words(wait: timedelta) -> str:
    """How long until the customer may try again, rounded up to the second: ``45秒``, ``2分``."""
    seconds = max(1, -(-int(wait.total_seconds() * 1000) // 1000))
    if seconds < 60:
        return f"{seconds}秒"
    return format_duration(timedelta(minutes=-(-seconds // 60)))


# The page's sentences for each refusal: friendly, and the same whether or not the number has
# orders.
BAD_PHONE = "请输入正确的11位手机号码。"
BAD_CODE_SHAPE = "验证码是6位数字, 请检查后重新输入。"
WRONG_CODE = "验证码不正确, 还可以再试{left}次。"
CODE_USED_UP = "验证码输错次数太多, 已经失效, 请重新获取验证码。"
NO_CODE = "验证码已过期或已失效, 请重新获取验证码。"
TOO_SOON = "验证码刚刚发出, 请{wait}后再获取。"
TOO_MANY_CODES = "获取验证码的次数太多了, 请{wait}后再试。"
TOO_MANY_ATTEMPTS = "尝试次数太多了, 请{wait}后再试。"
CODE_SENT = "如果号码无误, 验证码短信已发出, 5分钟内有效。"
BAD_FORM = "页面已过期, 请刷新后重新提交。"
LINK_INVALID = "这个链接已过期或不完整。请用手机号和验证码查询您的订单。"
SESSION_ENDED = "为保护您的信息, 登录已过期, 请重新验证手机号。"
NO_ORDERS = "近{days}天没有查到订单。"


def retry_after(times: list[datetime], count: int, window: timedelta, now: datetime) -> datetime:
    """When another may come, given the times of those counted: ``now`` while fewer than
    ``count`` fall within ``window``, else when the oldest that keeps it full leaves it."""
    recent = sorted(at for at in times if at > now - window)
    if len(recent) < count:
        return now
    return recent[len(recent) - count] + window
