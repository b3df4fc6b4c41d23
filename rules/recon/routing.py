"""Where a payment ticket goes: the first reconciliation route matching its shop and gateway,
else the finance group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rules.recon import GATEWAY_LABELS
from rules.routing import RouteDecision

FINANCE_RULE = "财务"


class ReconRouteLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def group(self) -> str: ...
    @property
    def shops(self) -> tuple[str, ...]: ...
    @property
    def gateways(self) -> tuple[str, ...]: ...


def route_payment(
    shop: str | None, gateway: str, routes: Sequence[ReconRouteLike], finance_group: str
) -> RouteDecision:
    for rule in routes:
        if rule.shops and shop not in rule.shops:
            continue
        if rule.gateways and gateway not in rule.gateways:
            continue
        why = [f"店铺={shop}"] if rule.shops else []
        why += [f"支付渠道={GATEWAY_LABELS.get(gateway, gateway)}"] if rule.gateways else []
        return RouteDecision(
            rule.group, rule.name, f"命中对账规则「{rule.name}」: {'、'.join(why) or '无条件规则'}"
        )
    return RouteDecision(finance_group, FINANCE_RULE, "付款差异交财务组处理")
