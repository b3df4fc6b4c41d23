"""Where a shipped order's parcel is, in the words the chat, the customer's page and texts all
use: ``运输中, 预计12月4日送达``, ``派送中``, ``已签收``, ``拒签``; late: ``运输中, 比预计晚1天``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from rules.durations import format_duration
from rules.eta import date_words, eta_words
from rules.logistics import Logistics

AWAITING_PICKUP = "已发货, 待快递揽收"  # no scan yet
# States where an ETA is worth saying: the parcel is still on its way to the customer.
_ON_THE_WAY = (None, Logistics.PICKED_UP, Logistics.IN_TRANSIT)
_PROBLEM = "疑难件, 快递公司核实中"  # no ETA while the carrier itself does not know


def parcel_in_words(
    state: Logistics | None, eta: datetime | None, now: datetime, tz: tzinfo
) -> str:
    """The parcel's state in plain words, with its ETA while it is on its way."""
    if state == Logistics.PROBLEM:
        return _PROBLEM
    head = AWAITING_PICKUP if state is None else state.label
    if state in _ON_THE_WAY and eta is not None:
        return f"{head}, {eta_words(eta, now, tz)}"
    return head


UNSCANNED_PLACE = "待揽收"  # where a parcel no scan has placed yet is, in a customer's text
UNKNOWN_PLACE = "运输途中"  # a scan that named no place


def stall_place(place: str | None, scanned: bool) -> str:
    """Where a stalled parcel was last seen, as a customer's text names it."""
    if not scanned:
        return UNSCANNED_PLACE
    return place or UNKNOWN_PLACE


def silence_words(span: timedelta) -> str:
    """A carrier's limit as carriers and customers count it: ``24小时``, ``48小时`` (whole
    hours), else as any duration (``45秒``, ``1小时30分``)."""
    hours, rest = divmod(span, timedelta(hours=1))
    return f"{hours}小时" if hours and not rest else format_duration(span)


def stall_summary(
    parcel: str,
    place: str | None,
    since: datetime,
    limit: timedelta,
    *,
    scanned: bool,
    tz: tzinfo,
) -> str:
    """What a stall ticket says: ``中通 YT1: 包裹在【杭州转运中心】已超过24小时没有更新
    (最后一次扫描 12月2日 10:15)``, ``limit`` being the carrier's; for a parcel never scanned,
    since it shipped."""
    when = f"{date_words(since, tz)} {since.astimezone(tz):%H:%M}"
    silence = silence_words(limit)
    if not scanned:
        return f"{parcel}: 发货后已超过{silence}没有揽收扫描 (发货 {when})"
    where = stall_place(place, scanned)
    return f"{parcel}: 包裹在【{where}】已超过{silence}没有更新 (最后一次扫描 {when})"


TEXT_PURPOSES = {
    "stall": "物流停滞",
    "rejected": "拒签",
    "returning": "退回中",
    "returned": "已退回",
    "code": "验证码",
}
TEXT_EVENTS = {
    "queued": "已排队",
    "sent": "已提交短信平台",
    "delivered": "已送达",
    "undelivered": "未送达",
    "refused": "被拒",
    "opted_out": "客户已退订, 未发送",
    "dead": "发送失败",
}


def text_event_words(purpose: str, event: str, phone: str, error: str | None = None) -> str:
    """One moment of a text to a customer as staff read it: ``物流停滞短信 138****5678: 已送达``;
    ``phone`` masked by the caller, ``error`` the provider's or our reason."""
    words = f"{TEXT_PURPOSES.get(purpose, purpose)}短信 {phone}: {TEXT_EVENTS.get(event, event)}"
    return f"{words} ({error})" if error else words
