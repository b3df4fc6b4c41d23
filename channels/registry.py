"""The sales channels, each registered once here from its adapter module's declaration: which
adapter turns a channel's native records into :class:`NormalizedOrder`s, what people call the
channel, and which flat fields its CSV import may carry. Everything else that names channels
(config validation, the API's routes, chat's ``jd:123``, labels on screen) derives from this."""

from __future__ import annotations

from channels import douyin, jd, shop, taobao
from channels.base import Adapter, Channel

REGISTERED: tuple[Channel, ...] = (taobao.ADAPTER, jd.ADAPTER, douyin.ADAPTER, shop.ADAPTER)

NAMES: tuple[str, ...] = tuple(c.name for c in REGISTERED)
ADAPTERS: dict[str, Adapter] = {c.name: c.normalize for c in REGISTERED}
CSV_HEADERS: dict[str, tuple[str, ...]] = {c.name: c.csv_headers for c in REGISTERED}
LABELS: dict[str, str] = {c.name: c.label for c in REGISTERED}


def channel_label(name: str) -> str:
    """A channel as people call it (抖店, not douyin); an unknown code as it is."""
    return LABELS.get(name, name)
