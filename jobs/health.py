"""The health guard: judge every signal over the window, tell ops once when an incident starts
and once when it ends, and pause auto-routing while addresses cannot be parsed.

Everything it remembers (counts, standings, the pause) is in the database, so a restart, or
another instance taking over, carries on where it left off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.registry import LABELS
from rules.health import ADDRESS_PARSE, Reading, changes, evaluate
from services.policy import Policy
from storage.health import (
    failing_signals,
    measure,
    pause_routing,
    prune_counts,
    record_readings,
    resume_routing,
    routing_pause,
    serialize,
    set_standings,
)
from storage.outbox import OutboxRow, notice_row, queue_messages


@dataclass
class HealthResult:
    started: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    routing: str | None = None  # "paused" | "resumed" when it changed


async def run(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, now: datetime
) -> HealthResult:
    limits = policy.config.health
    result = HealthResult()
    async with sessions.begin() as session:
        await serialize(session, "health")  # one instance judges at a time: incidents once
        readings = evaluate(
            await measure(session, now, limits.window, policy.calendar),
            limits,
            now,
            channel_labels=LABELS,
        )
        change = changes(await failing_signals(session), readings)
        await set_standings(
            session,
            [(r.signal, True, r.value) for r in change.started]
            + [(r.signal, False, r.value) for r in change.ended],
            now,
        )
        await record_readings(session, [(r.signal, r.failing, r.value) for r in readings], now)
        notes = [(f"{r.signal}:start", _incident(r)) for r in change.started]
        notes += [(f"{r.signal}:end", _recovery(r)) for r in change.ended]
        routing = await _guard_routing(session, policy, readings, now)
        if routing is not None:  # its note tells the address incident too: one message
            result.routing, text = routing
            notes = [n for n in notes if not n[0].startswith(f"{ADDRESS_PARSE}:")]
            notes.append((f"routing:{result.routing}", text))
        await queue_messages(
            session, [row for key, text in notes for row in _to_ops(policy, key, text, now)]
        )
        await prune_counts(session, now, limits.window)
    result.started = [r.signal for r in change.started]
    result.ended = [r.signal for r in change.ended]
    return result


async def _guard_routing(
    session: AsyncSession, policy: Policy, readings: list[Reading], now: datetime
) -> tuple[str, str] | None:
    """Pause auto-routing while address parsing fails and resume it once it recovers; a pause
    ops made by hand is theirs to lift."""
    address = next(r for r in readings if r.signal == ADDRESS_PARSE)
    pause = await routing_pause(session)
    triage = policy.group(policy.triage_group).name
    if address.failing and pause is None:
        reason = (
            f"地址解析成功率 {address.value}, 低于 {policy.config.health.address_parse_min:.0%}"
        )
        await pause_routing(session, "auto", reason, None, now)
        return "paused", f"⛔ 自动分单已暂停: {reason}。新工单转入{triage}, 解析恢复后自动继续。"
    if address.failing is False and pause is not None and pause.mode == "auto":
        await resume_routing(session, now)
        return "resumed", f"✅ 自动分单已恢复: 地址解析成功率 {address.value}"
    return None


def _incident(reading: Reading) -> str:
    return f"⚠️ 健康告警: {reading.label} {reading.value} (阈值 {reading.threshold})"


def _recovery(reading: Reading) -> str:
    return f"✅ 已恢复: {reading.label} {reading.value}"


def _to_ops(policy: Policy, key: str, text: str, now: datetime) -> list[OutboxRow]:
    return [
        notice_row(f"ops:health:{key}:{now.isoformat()}:{user}", "ops", ("user", user), text, now)
        for user in policy.config.roles.ops
    ]
