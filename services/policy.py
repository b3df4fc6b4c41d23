"""The config's business rules bound together: order types, SLA schedules and routing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from channels.registry import LABELS
from rules.routing import (
    OVERDUE,
    RouteDecision,
    RoutedOrder,
    TicketFacts,
    category_names,
    route,
    triage,
)
from rules.sla import Schedule, first_check, match_sla, schedule
from rules.sla_clock import BusinessHours, WorkCalendar
from services.config import Config, GroupConfig, SlaRule


def build_calendar(config: Config) -> WorkCalendar:
    cal = config.calendar
    return WorkCalendar(
        BusinessHours(
            start=cal.workday_start,
            end=cal.workday_end,
            timezone=ZoneInfo(config.watch.timezone),
            extra_holidays=frozenset(date.fromisoformat(d) for d in cal.extra_holidays),
            extra_workdays=frozenset(date.fromisoformat(d) for d in cal.extra_workdays),
        )
    )


def active_promotions(config: Config, now: datetime) -> tuple[str, ...]:
    return tuple(p.name for p in config.promotions if p.active(now))


def in_force_at(config: Config, now: datetime) -> Config:
    """``config`` with the SLA rules of its promotions running at ``now`` before its own."""
    running = [rule for p in config.promotions if p.active(now) for rule in p.sla]
    if not running:
        return config
    return config.model_copy(update={"sla": (*running, *config.sla)})


@dataclass(frozen=True)
class Policy:
    """One config's rules, fixed: take it from ``Rules.current()`` for a unit of work (a tick,
    a batch, a chat message) and do not keep it beyond."""

    config: Config
    calendar: WorkCalendar
    timezone: ZoneInfo  # where people are: local days, times on screen, business hours
    _sla_cache: dict[tuple[str, str, str], SlaRule | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        return cls(config, build_calendar(config), ZoneInfo(config.watch.timezone))

    @classmethod
    def at(cls, config: Config, now: datetime) -> Policy:
        """The config's rules as they are in force at ``now``: the SLA rules of the promotions
        running then come first."""
        return cls.from_config(in_force_at(config, now))

    def order_type(self, given: str, channel: str, categories: Sequence[str | None]) -> str:
        """A normal order of a category configured as e.g. custom-made takes that type (the
        first of its categories that has one, named through ``[categories]``); a type the
        channel states itself (presale) stands."""
        by_category = self.config.order_types.by_category
        if given != "normal" or not by_category:
            return given
        names = category_names(categories, self.config.categories.get(channel, {}))
        return next((by_category[c] for c in names if c in by_category), given)

    def sla_for(self, *, order_type: str, stage: str, channel: str) -> SlaRule | None:
        key = (order_type, stage, channel)
        if key not in self._sla_cache:  # the watch asks this for every due order
            self._sla_cache[key] = match_sla(
                self.config.sla, order_type=order_type, stage=stage, channel=channel
            )
        return self._sla_cache[key]

    def schedule(
        self, rule: SlaRule, entered_at: datetime, ship_by: datetime | None = None
    ) -> Schedule:
        """The deadline and escalation times of a stage entry; ``ship_by`` is the platform's
        own ship-by of the order, which a rule may count to."""
        return schedule(rule, entered_at, self.config.watch.escalation, self.calendar, ship_by)

    def first_check(
        self,
        *,
        order_type: str,
        stage: str,
        channel: str,
        entered_at: datetime,
        ship_by: datetime | None = None,
    ) -> tuple[datetime | None, datetime | None]:
        """(deadline, first moment the watch must look) for an order that just entered a stage."""
        rule = self.sla_for(order_type=order_type, stage=stage, channel=channel)
        if rule is None:
            return None, None
        levels = self.config.watch.escalation
        return first_check(rule, entered_at, levels, self.calendar, ship_by)

    def route(
        self, order: RoutedOrder, paused: str | None = None, facts: TicketFacts = OVERDUE
    ) -> RouteDecision:
        """The group of a ticket about the order (``facts``: overdue unless told) by the
        routing rules, or, while routing is paused (``paused`` says why), the triage group."""
        if paused is not None:
            return triage(self.triage_group, paused)
        routing = self.config.routing
        names = self.config.categories.get(order.channel)
        return route(order, routing.rules, routing.default_group, names, LABELS, facts)

    def batch_router(self, paused: str | None = None) -> Callable[[RoutedOrder], RouteDecision]:
        """``route`` for one batch of overdue orders: orders alike in all that the routing
        rules read (the amount only where a rule bounds it) share one decision."""
        rules = self.config.routing.rules
        by_amount = any(r.min_fen is not None or r.max_fen is not None for r in rules)
        decisions: dict[tuple[object, ...], RouteDecision] = {}

        def decide(order: RoutedOrder) -> RouteDecision:
            key = (
                order.channel,
                order.order_type,
                order.category,
                tuple(order.categories),
                order.province,
                order.city,
                order.amount_fen if by_amount else None,
            )
            if (decision := decisions.get(key)) is None:
                decision = decisions[key] = self.route(order, paused)
            return decision

        return decide

    @property
    def triage_group(self) -> str:
        return self.config.health.triage_group or self.config.routing.default_group

    def group(self, key: str) -> GroupConfig:
        """The handler group; one removed from the config since a ticket was routed to it
        hands over to the default group rather than stalling the watch."""
        groups = self.config.groups
        return groups.get(key) or groups[self.config.routing.default_group]


class Rules:
    """The rules in force, looked up at each use: whoever needs them asks ``current()`` when a
    unit of work starts, so that ``swap`` (a reload) takes effect at the next one, everywhere at
    once. Nothing keeps a ``Policy`` or a timezone from start-up."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    @classmethod
    def from_config(cls, config: Config) -> Rules:
        return cls(Policy.from_config(config))

    def current(self) -> Policy:
        return self._policy

    def swap(self, policy: Policy) -> None:
        """Put ``policy`` in force; a unit of work under way finishes with the one it took."""
        self._policy = policy
