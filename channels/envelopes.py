"""The platforms' own API answers, unwrapped to their order records.

An integrator has the whole answer in hand: TOP's ``trade_fullinfo_get_response``, JD's
``jingdong_pop_order_search_responce`` (JD's spelling), Douyin's ``{"code": 10000, "data": …}``.
Each is accepted as it is, and so is the object one level in (TOP's ``trade`` or ``trades``,
JD's ``orderInfo``); an answer that reports the platform's own error is refused with that error,
since it carries no orders, and another platform's answer with the channel it belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.registry import channel_label
from channels.timeparse import cut


class EnvelopeError(ValueError):
    """The answer is a platform error, or its order list is not where the platform puts it."""


# channel → (outer key, path to the records inside it, whether the path leads to one record)
_PATHS: dict[str, tuple[tuple[str, tuple[str, ...], bool], ...]] = {
    "taobao": (
        ("trade_fullinfo_get_response", ("trade",), True),
        ("trade_get_response", ("trade",), True),
        ("trades_sold_get_response", ("trades", "trade"), False),
        ("trades_sold_increment_get_response", ("trades", "trade"), False),
        ("trade", (), True),
        ("trades", ("trade",), False),
    ),
    "jd": (
        ("jingdong_pop_order_search_responce", ("searchorderinfo_result", "orderInfoList"), False),
        ("jingdong_pop_order_get_responce", ("orderDetailInfo", "orderInfo"), True),
        ("searchorderinfo_result", ("orderInfoList",), False),
        ("orderInfoList", (), False),
        ("orderDetailInfo", ("orderInfo",), True),
        ("orderInfo", (), True),
    ),
    "douyin": (
        ("data", ("shop_order_list",), False),
        ("data", ("shop_order_detail",), True),
        ("shop_order_list", (), False),
        ("shop_order_detail", (), True),
    ),
}
_DOUYIN_OK = 10000
_SAID = 200  # characters of a platform's error quoted back


def unwrap(channel: str, body: Mapping[str, Any]) -> list[Any] | None:
    """The order records inside a platform answer, or None when ``body`` is not one.

    Empty pages (TOP omits ``trades`` when nothing matched) are an empty list."""
    _raise_platform_error(channel, body)
    found = _records(channel, body)
    if found is None:
        _raise_other_platform(channel, body)
    return found


def _records(channel: str, body: Mapping[str, Any]) -> list[Any] | None:
    answered = False
    for outer, path, single in _PATHS.get(channel, ()):
        if outer not in body:
            continue
        answered = True
        found: Any = body[outer]
        for key in path:
            found = found.get(key) if isinstance(found, Mapping) else None
        if found is None:
            continue
        if single:
            return [found]
        if isinstance(found, list):
            return found
        where = ".".join((outer, *path))
        raise EnvelopeError(f"{where}: 应为订单数组, 收到 {type(found).__name__}")
    return [] if answered else None


def _raise_other_platform(channel: str, body: Mapping[str, Any]) -> None:
    """Refuse another platform's answer holding orders, naming the channel it belongs to."""
    for other in _PATHS:
        if other != channel and _holds_records(other, body):
            raise EnvelopeError(
                f"这是{channel_label(other)}接口的应答, 不是 {channel} 渠道的订单;"
                f" 请发到 /api/v1/orders/{other}"
            )


def _holds_records(channel: str, body: Mapping[str, Any]) -> bool:
    try:
        return bool(_records(channel, body))
    except EnvelopeError:  # not that platform's shape either
        return False


def _raise_platform_error(channel: str, body: Mapping[str, Any]) -> None:
    error = body.get("error_response")
    if isinstance(error, Mapping):  # TOP and JD
        code = _said(error.get("code", ""))
        message = _said(error.get("sub_msg") or error.get("msg") or error.get("zh_desc") or "")
        raise EnvelopeError(f"这是平台返回的错误, 不含订单: {code} {message}".rstrip())
    result = body.get("jingdong_pop_order_search_responce")
    api_result = result.get("searchorderinfo_result") if isinstance(result, Mapping) else None
    api_result = api_result.get("apiResult") if isinstance(api_result, Mapping) else None
    if isinstance(api_result, Mapping) and api_result.get("success") is False:
        message = api_result.get("chineseErrCode") or api_result.get("englishErrCode") or ""
        raise EnvelopeError(f"这是京东返回的错误, 不含订单: {_said(message)}".rstrip())
    if channel == "douyin" and "data" in body and body.get("code", _DOUYIN_OK) != _DOUYIN_OK:
        message = body.get("sub_msg") or body.get("msg") or ""
        code = _said(body["code"])
        raise EnvelopeError(f"这是抖店返回的错误, 不含订单: {code} {_said(message)}".rstrip())


def _said(value: object) -> str:
    """A platform's error code or message as quoted back: cut short, and with what JSON cannot
    carry back (a lone surrogate) escaped."""
    text = value if isinstance(value, str) else repr(value) if value is not None else ""
    return cut(text.encode("utf-8", "backslashreplace").decode("utf-8"), _SAID)
