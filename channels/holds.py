"""Paid orders the platform says must not ship yet: an open refund request holds them.

A buyer who asked for a refund before shipping expects the parcel not to leave; picking it
blindly costs a return. So a paid order with an open refund request is ON_HOLD, like the shop
channel's REFUNDING, and the reason says which sub-orders and how far each refund has come.
"""

from __future__ import annotations

from channels import limits
from channels.timeparse import cut
from rules.stages import Stage

_REFUND_REQUESTED = "买家申请退款, 退款处理完之前不要发货"


def refund_hold(open_refunds: list[str]) -> str | None:
    """The hold reason for these open refund requests (each ``子订单 … (status)``), or None."""
    if not open_refunds:
        return None
    return cut(f"{_REFUND_REQUESTED}: {'; '.join(open_refunds)}", limits.HOLD_REASON)


def held_stage(stage: Stage | None, refund_reason: str | None) -> Stage | None:
    """ON_HOLD for a paid order with an open refund request, else the stage as it is."""
    return Stage.ON_HOLD if stage is Stage.PAID and refund_reason else stage
