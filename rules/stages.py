"""The canonical order lifecycle every channel is mapped onto."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    DEPOSIT_PAID = "deposit_paid"
    PAID = "paid"
    ON_HOLD = "on_hold"
    PICKING = "picking"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"

    @property
    def label(self) -> str:
        """The stage in plain Chinese, as shown to people."""
        return _LABELS[self]


_LABELS = {
    Stage.PENDING_PAYMENT: "待付款",
    Stage.DEPOSIT_PAID: "已付定金待付尾款",
    Stage.PAID: "已付款待拣货",
    Stage.ON_HOLD: "已暂停(锁单/禁止发货)",
    Stage.PICKING: "仓库拣货中",
    Stage.SHIPPED: "已发货运输中",
    Stage.DELIVERED: "已签收",
    Stage.COMPLETED: "已完成",
    Stage.CANCELLED: "已取消",
    Stage.REFUNDED: "已退款关闭",
}

# Position along the happy path. Channels, WMS and TMS report out of order and re-send old
# states (a channel still says "awaiting shipment" after the WMS reported picking), so a stage
# only ever moves forward; ON_HOLD is a side track that can be entered and left at any time.
_RANK = {
    Stage.PENDING_PAYMENT: 0,
    Stage.DEPOSIT_PAID: 1,
    Stage.PAID: 2,
    Stage.PICKING: 3,
    Stage.SHIPPED: 4,
    Stage.DELIVERED: 5,
    Stage.COMPLETED: 6,
    Stage.CANCELLED: 7,
    Stage.REFUNDED: 7,
}

TERMINAL_STAGES = frozenset({Stage.COMPLETED, Stage.CANCELLED, Stage.REFUNDED})


def accepts_transition(current: Stage, new: Stage) -> bool:
    """Whether an order in ``current`` should move to ``new`` when a source reports it."""
    if new == current:
        return False
    if Stage.ON_HOLD in (current, new):
        return current not in TERMINAL_STAGES
    return _RANK[new] > _RANK[current]


def refusal(current: Stage, new: Stage) -> str | None:
    """Why an order in ``current`` does not move to ``new`` when a source reports it, in words
    for the sender; None when it moves, or is in ``new`` already."""
    if new == current or accepts_transition(current, new):
        return None
    if current in TERMINAL_STAGES:
        return f"订单已结束, 在 {current} ({current.label}), 不再变为 {new} ({new.label})"
    return f"订单已在 {current} ({current.label}), 阶段只前进, 不退回 {new} ({new.label})"
