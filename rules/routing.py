"""Which handler group gets a ticket: the first matching routing rule, else the default group."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from rules.kinds import KINDS, Kind
from rules.logistics import Logistics, carrier_of
from rules.money import format_fen

DEFAULT_RULE = "默认"
PAUSED_RULE = "暂停分单"


class RoutedOrder(Protocol):
    @property
    def channel(self) -> str: ...
    @property
    def order_type(self) -> str: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def category(self) -> str | None: ...
    # every item's, as the platform sends them (ids, mostly)
    @property
    def categories(self) -> Sequence[str]: ...
    @property
    def province(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...


class RouteRuleLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def group(self) -> str: ...
    @property
    def provinces(self) -> tuple[str, ...]: ...
    @property
    def cities(self) -> tuple[str, ...]: ...
    @property
    def categories(self) -> tuple[str, ...]: ...
    @property
    def channels(self) -> tuple[str, ...]: ...
    @property
    def order_types(self) -> tuple[str, ...]: ...
    @property
    def min_fen(self) -> int | None: ...
    @property
    def max_fen(self) -> int | None: ...
    @property
    def kinds(self) -> tuple[Kind, ...]: ...
    @property
    def logistics_states(self) -> tuple[Logistics, ...]: ...
    @property
    def carriers(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What a ticket is about besides its order: its kind and, for a parcel's trouble, where
    the parcel is and who carries it (a carrier code of rules.logistics)."""

    kind: Kind = Kind.OVERDUE
    logistics_state: Logistics | None = None
    carrier: str | None = None


OVERDUE = TicketFacts()


@dataclass(frozen=True, slots=True)
class RouteDecision:
    group: str
    rule: str
    reason: str


def category_names(categories: Iterable[str | None], names: Mapping[str, str]) -> list[str]:
    """An order's categories as rules may name them: each platform id by its configured name
    (``names``, the channel's ``[categories]`` table) and as itself, once each, in order."""
    found = (value for c in categories if c for value in (names.get(c, c), c))
    return list(dict.fromkeys(found))


def _fact_reasons(rule: RouteRuleLike, facts: TicketFacts) -> list[str] | None:
    """The reasons the rule's ticket conditions (kind, logistics state, carrier) hold, or None
    if one does not."""
    reasons: list[str] = []
    state, carrier = facts.logistics_state, carrier_of(facts.carrier)
    for label, allowed, value, words in (
        ("工单类型", rule.kinds, facts.kind, KINDS[facts.kind].label),
        ("物流状态", rule.logistics_states, state, state.label if state else None),
        (
            "快递",
            rule.carriers,
            carrier.code if carrier else None,
            carrier.name if carrier else None,
        ),
    ):
        if not allowed:
            continue
        if value not in allowed:
            return None
        reasons.append(f"{label}={words}")
    return reasons


def _match(
    rule: RouteRuleLike,
    order: RoutedOrder,
    facts: TicketFacts,
    categories: Sequence[str],
    channel_labels: Mapping[str, str],
) -> list[str] | None:
    """The reasons this rule matches the ticket about the order, or None if it does not;
    ``categories`` are the order's (``category_names``), any of which may match."""
    reasons = _fact_reasons(rule, facts)
    if reasons is None:
        return None
    for label, allowed, values in (
        ("省份", rule.provinces, (order.province,)),
        ("城市", rule.cities, (order.city,)),
        ("类目", rule.categories, categories),
        ("渠道", rule.channels, (order.channel,)),
        ("订单类型", rule.order_types, (order.order_type,)),
    ):
        if not allowed:
            continue
        value = next((v for v in values if v in allowed), None)
        if value is None:
            return None
        reasons.append(f"{label}={channel_labels.get(value, value) if label == '渠道' else value}")
    if rule.min_fen is not None:
        if order.amount_fen < rule.min_fen:
            return None
        reasons.append(f"金额{format_fen(order.amount_fen)}≥{format_fen(rule.min_fen)}")
    if rule.max_fen is not None:
        if order.amount_fen > rule.max_fen:
            return None
        reasons.append(f"金额{format_fen(order.amount_fen)}≤{format_fen(rule.max_fen)}")
    return reasons


def route(
    order: RoutedOrder,
    rules: Sequence[RouteRuleLike],
    default_group: str,
    category_table: Mapping[str, str] | None = None,
    channel_labels: Mapping[str, str] | None = None,
    facts: TicketFacts = OVERDUE,
) -> RouteDecision:
    """First match wins; the decision says which rule and why, for the ticket record.
    ``facts`` say what the ticket is about (by default: the order is overdue).
    ``category_table`` names the channel's category ids (config ``[categories.<channel>]``),
    ``channel_labels`` the channels as people call them (渠道=淘宝/天猫, not taobao)."""
    categories = category_names((order.category, *order.categories), category_table or {})
    for rule in rules:
        reasons = _match(rule, order, facts, categories, channel_labels or {})
        if reasons is not None:
            why = "、".join(reasons) or "无条件规则"
            return RouteDecision(rule.group, rule.name, f"命中规则「{rule.name}」: {why}")
    missing = "(地址未解析)" if order.province is None else ""
    return RouteDecision(default_group, DEFAULT_RULE, f"未命中任何分单规则{missing}, 进入默认组")


def triage(group: str, why_paused: str) -> RouteDecision:
    """Where a ticket goes while auto-routing is paused, with the pause's reason on it."""
    return RouteDecision(group, PAUSED_RULE, f"自动分单已暂停 ({why_paused}), 转入分拣组待人工分派")
