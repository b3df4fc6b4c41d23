"""Where a parcel is, in one vocabulary: the canonical logistics states within "shipped", the
carriers and their codes in each system, and the one table mapping tracking providers' codes
onto the states (commerce-facts §6, tracking facts §1.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Logistics(StrEnum):
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    RETURNING = "returning"
    RETURNED = "returned"
    PROBLEM = "problem"

    @property
    def label(self) -> str:
        """The state in plain Chinese, the same in chat, on the customer's page and in SMS."""
        return _LABELS[self]

    @property
    def is_final(self) -> bool:
        """The parcel will not move again on its way to the customer: no stall check."""
        return self in (Logistics.DELIVERED, Logistics.RETURNED)

    @property
    def is_return(self) -> bool:
        """The parcel is not reaching the customer: a person must act at once."""
        return self in (Logistics.REJECTED, Logistics.RETURNING, Logistics.RETURNED)


_LABELS = {
    Logistics.PICKED_UP: "已揽收",
    Logistics.IN_TRANSIT: "运输中",
    Logistics.OUT_FOR_DELIVERY: "派送中",
    Logistics.DELIVERED: "已签收",
    Logistics.REJECTED: "拒签",
    Logistics.RETURNING: "退回中",
    Logistics.RETURNED: "已退回",
    Logistics.PROBLEM: "疑难",
}
BY_LABEL = {state.label: state for state in Logistics}


@dataclass(frozen=True, slots=True)
class Carrier:
    code: str  # Taobao/Cainiao-style and ERP code: what orderbot stores
    name: str  # as people call it
    kuaidi100: str  # 快递100's ``com``
    kdniao: str  # 快递鸟's ``ShipperCode``
    aliases: tuple[str, ...] = ()  # other names channels send


CARRIERS = (
    Carrier("SF", "顺丰", "shunfeng", "SF", ("顺丰速运", "顺丰快递", "SFEXPRESS")),
    Carrier("ZTO", "中通", "zhongtong", "ZTO", ("中通快递",)),
    Carrier("YTO", "圆通", "yuantong", "YTO", ("圆通速递", "圆通快递")),
    Carrier("STO", "申通", "shentong", "STO", ("申通快递",)),
    Carrier("YUNDA", "韵达", "yunda", "YD", ("韵达快递", "韵达速递")),
    Carrier("JD", "京东物流", "jd", "JD", ("京东", "京东快递")),
    Carrier("EMS", "EMS", "ems", "EMS", ("中国邮政EMS",)),
    Carrier("POSTB", "邮政快递包裹", "youzhengguonei", "YZPY", ("邮政", "中国邮政")),
    Carrier("JTSD", "极兔", "jitu", "JTSD", ("极兔速递", "J&T")),
    Carrier("DBL", "德邦", "debangwuliu", "DBL", ("德邦快递", "德邦物流", "debangkuaidi")),
    Carrier("HTKY", "百世", "huitongkuaidi", "HTKY", ("百世快递", "百世汇通")),
)
_BY_NAME = {
    key.casefold(): carrier
    for carrier in CARRIERS
    for key in (carrier.code, carrier.name, carrier.kuaidi100, carrier.kdniao, *carrier.aliases)
}
CARRIER_CODES = tuple(carrier.code for carrier in CARRIERS)


def carrier_of(text: str | None) -> Carrier | None:
    """The carrier a channel, a TMS or a provider names by code or name (any system's, any
    case); None when it is not one we know."""
    if not text:
        return None
    return _BY_NAME.get(text.strip().casefold())


# 快递100's ``state`` and its advanced sub-codes (resultv2 4/6/8). None: known, but not a state
# of a parcel on its way (an order placed, awaiting pickup, cancelled): kept, state unchanged.
KUAIDI100_STATES: dict[str, Logistics | None] = {
    "101": None,
    "102": None,
    "1": Logistics.PICKED_UP,
    "103": Logistics.PICKED_UP,
    "0": Logistics.IN_TRANSIT,
    "1001": Logistics.IN_TRANSIT,
    "1002": Logistics.IN_TRANSIT,
    "1003": Logistics.IN_TRANSIT,
    "7": Logistics.IN_TRANSIT,
    "8": Logistics.IN_TRANSIT,
    "10": Logistics.IN_TRANSIT,
    "11": Logistics.IN_TRANSIT,
    "12": Logistics.IN_TRANSIT,
    "5": Logistics.OUT_FOR_DELIVERY,
    "501": Logistics.OUT_FOR_DELIVERY,
    "3": Logistics.DELIVERED,
    "301": Logistics.DELIVERED,
    "302": Logistics.DELIVERED,
    "303": Logistics.DELIVERED,
    "304": Logistics.DELIVERED,
    "14": Logistics.REJECTED,
    "203": Logistics.REJECTED,
    "6": Logistics.RETURNING,
    "4": Logistics.RETURNED,
    "2": Logistics.PROBLEM,
    "13": Logistics.PROBLEM,
    "201": Logistics.PROBLEM,
    "202": Logistics.PROBLEM,
    "204": Logistics.PROBLEM,
    "205": Logistics.PROBLEM,
    "206": Logistics.PROBLEM,
    "207": Logistics.PROBLEM,
    "208": Logistics.PROBLEM,
    "209": Logistics.PROBLEM,
    "401": None,
    "210": None,
}


class UnknownCode(ValueError):
    """A provider's state code not in its table: the scan is kept with its words, the parcel's
    state stays, and the code is reported."""


def kuaidi100_state(code: str) -> Logistics | None:
    """The canonical state of a 快递100 ``state`` code; raises UnknownCode for one not known."""
    try:
        return KUAIDI100_STATES[code.strip()]
    except KeyError:
        raise UnknownCode(f"未知的快递100状态码 {code!r}") from None
