"""Which adapter turns a channel's native records into :class:`NormalizedOrder`s, and which
flat fields each channel's CSV import may carry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from channels import douyin, jd, shop, taobao
from channels.base import NormalizedOrder

Adapter = Callable[[Mapping[str, Any], datetime], NormalizedOrder]

ADAPTERS: dict[str, Adapter] = {
    taobao.CHANNEL: taobao.normalize,
    jd.CHANNEL: jd.normalize,
    douyin.CHANNEL: douyin.normalize,
    shop.CHANNEL: shop.normalize,
}

CSV_HEADERS: dict[str, tuple[str, ...]] = {
    taobao.CHANNEL: taobao.CSV_HEADERS,
    jd.CHANNEL: jd.CSV_HEADERS,
    douyin.CHANNEL: douyin.CSV_HEADERS,
    shop.CHANNEL: shop.CSV_HEADERS,
}
