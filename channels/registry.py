"""Which adapter turns a channel's native records into :class:`NormalizedOrder`s."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from channels import douyin, jd, shop, taobao
from channels.base import NormalizedOrder

ADAPTERS: dict[str, Callable[[Mapping[str, Any]], NormalizedOrder]] = {
    taobao.CHANNEL: taobao.normalize,
    jd.CHANNEL: jd.normalize,
    douyin.CHANNEL: douyin.normalize,
    shop.CHANNEL: shop.normalize,
}
