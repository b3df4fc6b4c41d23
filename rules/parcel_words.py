"""Where a shipped order's parcel is, in the words the chat, the customer's page and texts all
use: ``运输中, 预计12月4日送达``, ``派送中``, ``已签收``, ``拒签``; late: ``运输中, 比预计晚1天``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from rules.eta import eta_words
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
