"""What a sample order paid through which gateway, read from its channel's own record (the
fields sandbox.samples writes), as /sandbox/api/payments takes it: the demo's feed posts them,
as the buyer's paying would have told the gateway.

Taobao pays through Alipay (``alipay_no``, a presale's ``step_pay_details``), Douyin's sample
payments are WeChat Pay's (``channel_payment_no``, per phase for a presale), the shop names its
gateway in ``pay_channel`` (UnionPay's are left out: its bills come by hand); JD collects the
money itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

BEIJING = timezone(timedelta(hours=8))


def _fen(yuan: str) -> int:
    return int(Decimal(yuan) * 100)


def _beijing(text: str) -> str:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).isoformat()


def _unix(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def payments_of(channel: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's payments, for the gateway sandbox; none for an unpaid order."""
    if channel == "taobao":
        return _taobao(record)
    if channel == "douyin":
        return _douyin(record)
    if channel == "shop":
        return _shop(record)
    return []


def _taobao(record: dict[str, Any]) -> list[dict[str, Any]]:
    order_no = record["tid_str"]
    steps = record.get("step_pay_details", {}).get("step_pay_detail", [])
    if steps:
        # The record states one pay_time (the deposit's); the balance was paid when the order
        # last changed (a fed order is sent as it is paid).
        times = {1: record.get("pay_time"), 2: record.get("modified")}
        return [
            {
                "gateway": "alipay",
                "order_no": f"{order_no}{'D' if step['step_no'] == 1 else 'F'}",
                "trade_no": step["step_channel_no"],
                "amount_fen": _fen(step["step_actual_pay_fee"]),
                "paid_at": _beijing(str(times[step["step_no"]])),
                "attach": order_no,
            }
            for step in steps
            if step["step_channel_no"] and times.get(step["step_no"])
        ]
    if not record.get("alipay_no") or not record.get("pay_time"):
        return []
    return [
        {
            "gateway": "alipay",
            "order_no": order_no,
            "trade_no": record["alipay_no"],
            "amount_fen": _fen(record["payment"]),
            "paid_at": _beijing(record["pay_time"]),
        }
    ]


def _douyin(record: dict[str, Any]) -> list[dict[str, Any]]:
    order_no = record["order_id"]
    phases = record.get("order_phase_list") or []
    if phases:
        return [
            {
                "gateway": "wechat",
                "order_no": phase["phase_order_id"],
                "trade_no": phase["channel_payment_no"],
                "amount_fen": phase["phase_pay_amount"],
                "paid_at": _unix(phase["phase_pay_time"]),
                "attach": order_no,
            }
            for phase in phases
            if phase["pay_success"] and phase["channel_payment_no"]
        ]
    if not record.get("channel_payment_no") or not record.get("pay_time"):
        return []
    return [
        {
            "gateway": "wechat",
            "order_no": order_no,
            "trade_no": record["channel_payment_no"],
            "amount_fen": record["pay_amount"],
            "paid_at": _unix(record["pay_time"]),
        }
    ]


def _shop(record: dict[str, Any]) -> list[dict[str, Any]]:
    channel = str(record.get("pay_channel", ""))
    gateway = "wechat" if channel.startswith("WECHAT") else "alipay"
    if not channel.startswith(("WECHAT", "ALIPAY")):
        return []
    order_no = record["order_no"]
    return [
        {
            "gateway": gateway,
            "order_no": payment["out_trade_no"],
            "amount_fen": payment["amount_fen"],
            "paid_at": payment["paid_at"],
            "attach": order_no if payment["out_trade_no"] != order_no else "",
        }
        for payment in record.get("payments", [])
        if payment.get("paid_at")
    ]
