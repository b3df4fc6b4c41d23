"""SLA rules: which rule governs an order's current stage, its deadline and escalation times."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypeVar

from rules.sla_clock import WorkCalendar, wall_deadline


# Read-only members, so that the config's frozen models (and any frozen record) satisfy them.
class EscalationLevelLike(Protocol):
    @property
    def after(self) -> Literal["deadline"] | timedelta: ...
    @property
    def notify(self) -> Literal["group", "supervisor"]: ...


class SlaRuleLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def limit(self) -> timedelta: ...
    @property
    def deadline(self) -> Literal["limit", "ship_by"]: ...
    @property
    def before(self) -> timedelta | None: ...
    @property
    def order_types(self) -> tuple[str, ...]: ...
    @property
    def channels(self) -> tuple[str, ...]: ...
    @property
    def business_hours(self) -> bool: ...
    @property
    def escalation(self) -> tuple[EscalationLevelLike, ...] | None: ...
    @property
    def stop_escalation_on_claim(self) -> bool: ...


Rule = TypeVar("Rule", bound=SlaRuleLike)


@dataclass(frozen=True, slots=True)
class EscalationStep:
    level: int  # 1-based
    at: datetime
    notify: Literal["group", "supervisor"]


@dataclass(frozen=True, slots=True)
class Schedule:
    deadline: datetime
    steps: tuple[EscalationStep, ...]

    def next_after(self, level: int) -> EscalationStep | None:
        """The first step above ``level``, i.e. what is still to come after that level fired."""
        return next((step for step in self.steps if step.level > level), None)


def match_sla(rules: Sequence[Rule], *, order_type: str, stage: str, channel: str) -> Rule | None:
    """First rule for this stage whose type and channel filters admit the order."""
    for rule in rules:
        if rule.stage != stage:
            continue
        if rule.order_types and order_type not in rule.order_types:
            continue
        if rule.channels and channel not in rule.channels:
            continue
        return rule
    return None


def _after(
    rule: SlaRuleLike, start: datetime, duration: timedelta, calendar: WorkCalendar
) -> datetime:
    if rule.business_hours:
        return calendar.deadline(start, duration)
    return wall_deadline(start, duration)


def _deadline(
    rule: SlaRuleLike, entered_at: datetime, calendar: WorkCalendar, ship_by: datetime | None
) -> tuple[datetime, datetime]:
    """(deadline, the moment escalation levels count from).

    A ship-by rule's deadline is ``before`` ahead of the platform's ship-by, and its levels
    count from that deadline: the stage entry may lie days earlier. Without a ship-by on the
    order the rule's ``limit`` counts from the entry, like any rule's.
    """
    if rule.deadline == "ship_by" and ship_by is not None:
        deadline = ship_by - (rule.before or timedelta(0))
        return deadline, deadline
    return _after(rule, entered_at, rule.limit, calendar), entered_at


def schedule(
    rule: SlaRuleLike,
    entered_at: datetime,
    default_levels: Sequence[EscalationLevelLike],
    calendar: WorkCalendar,
    ship_by: datetime | None = None,
) -> Schedule:
    """Deadline and escalation times, counted from the moment the order entered the stage
    (for a ship-by rule: from the platform's ship-by, see ``_deadline``).

    A level timed earlier than the one before it fires together with it, so levels never
    arrive out of order.
    """
    deadline, origin = _deadline(rule, entered_at, calendar, ship_by)
    steps: list[EscalationStep] = []
    for number, level in enumerate(rule.escalation or default_levels, start=1):
        at = deadline if level.after == "deadline" else _after(rule, origin, level.after, calendar)
        if steps:
            at = max(at, steps[-1].at)
        steps.append(EscalationStep(number, at, level.notify))
    return Schedule(deadline, tuple(steps))


def first_check(
    rule: SlaRuleLike,
    entered_at: datetime,
    default_levels: Sequence[EscalationLevelLike],
    calendar: WorkCalendar,
    ship_by: datetime | None = None,
) -> tuple[datetime, datetime]:
    """(deadline, time of the first escalation step): all ingest needs, cheaper than schedule()."""
    deadline, origin = _deadline(rule, entered_at, calendar, ship_by)
    first = (rule.escalation or default_levels)[0].after
    return deadline, deadline if first == "deadline" else _after(rule, origin, first, calendar)
