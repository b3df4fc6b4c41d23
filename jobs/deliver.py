"""The outbox sender: every pending notification reaches its chat, within WeCom's limits.

Per chat (a handler group's robot, or a person through the app) it waits ``group_wait`` after
the first pending notification so a burst becomes one digest, then sends at most every
``group_interval``. A lease in the database lets one instance at a time send to a chat; a row
is marked sent only after WeCom accepted it, so a crash mid-send means a resend (at least once),
never a loss. Rate limits are kept from the delivery log before WeCom has to refuse: a robot
gets ``robot_per_minute`` messages, a person ``member_per_minute`` and ``member_per_hour``.
Retryable failures back off
exponentially with jitter; permanent ones dead-letter the messages with their reason and tell
ops once.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.notices import load_facts
from bot.policy import Policy
from bot.wecom.errors import WeComError
from bot.wecom.messages import (
    APP_MARKDOWN_MAX_BYTES,
    WEBHOOK_MARKDOWN_MAX_BYTES,
    app_image,
    image,
    markdown,
)
from rules.digest import Digest, Facts, build_digest
from rules.render import AlertFacts
from storage.delivery import (
    Target,
    attempts_of,
    due_targets,
    finish,
    pending_messages,
    record_delivery,
    sent_since,
    take_lease,
)
from storage.models import OutboxMessage
from storage.tickets import add_timeline, notice_row, queue_messages, timeline_row

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
WINDOW = timedelta(minutes=1)
HOUR = timedelta(hours=1)
MAX_BACKOFF = timedelta(minutes=5)
MAX_PER_ATTEMPT = 20000


class WeComSender(Protocol):
    async def send_webhook(self, key: str, msg: dict[str, Any]) -> None: ...

    async def upload_webhook_media(
        self, key: str, filename: str, data: bytes, kind: str = "file"
    ) -> str: ...

    async def send_app_message(self, users: Sequence[str], msg: dict[str, Any]) -> Any: ...

    async def upload_media(self, filename: str, data: bytes, kind: str = "image") -> str: ...


@dataclass
class DeliveryResult:
    messages_sent: int = 0
    # Notifications by (target kind, outcome): sent, retry (a failure that may pass), deferred
    # (the chat's rate budget is spent), dead (dead-lettered).
    notifications: Counter[tuple[str, str]] = field(default_factory=Counter)

    def _count(self, *outcomes: str) -> int:
        return sum(n for (_, outcome), n in self.notifications.items() if outcome in outcomes)

    @property
    def notifications_delivered(self) -> int:
        return self._count("sent")

    @property
    def dead(self) -> int:
        return self._count("dead")

    @property
    def deferred(self) -> int:
        """Notifications left pending for a later attempt, for whatever reason."""
        return self._count("retry", "deferred")


@dataclass(frozen=True)
class _Channel:
    """How one chat is reached and what it may receive."""

    rate_key: str
    per_minute: int
    per_hour: int | None  # WeCom limits app messages to a member per hour too; robots not
    limit_bytes: int
    robot_key: str | None  # None: a person, through the app


def _channel(policy: Policy, target: Target) -> _Channel | str:
    """The chat's channel, or why it cannot be reached at all."""
    config = policy.config.wecom
    assert config is not None
    kind, name = target
    if kind == "user":
        per_minute, per_hour = config.member_per_minute, config.member_per_hour
        return _Channel(f"app:{name}", per_minute, per_hour, APP_MARKDOWN_MAX_BYTES, None)
    key = policy.group(name).robot_key
    if not key:
        return f"处理组 {name} 未配置机器人 webhook_key"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return _Channel(
        f"robot:{digest}", config.robot_per_minute, None, WEBHOOK_MARKDOWN_MAX_BYTES, key
    )


def _budget(channel: _Channel, recent: list[datetime], now: datetime) -> tuple[int, datetime]:
    """Messages this chat may still get now, from the delivery log of the last hour, and when
    the tighter of the two windows next frees one up."""
    minute = [at for at in recent if at > now - WINDOW]
    budget = channel.per_minute - len(minute)
    frees_at = minute[0] + WINDOW if minute else now + WINDOW
    if channel.per_hour is not None:
        left_this_hour = channel.per_hour - len(recent)
        if left_this_hour < budget:
            budget = left_this_hour
            frees_at = recent[0] + HOUR if recent else now + WINDOW
    return budget, frees_at


def _backoff(attempts: int) -> timedelta:
    base = min(MAX_BACKOFF.total_seconds(), 2.0 ** min(attempts, 10))
    return timedelta(seconds=base * random.uniform(0.5, 1.5))


async def run(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    wecom: WeComSender,
    clock: Clock,
    instance: str,
) -> DeliveryResult:
    """Send to every chat that is due now."""
    config = policy.config.wecom
    assert config is not None
    result = DeliveryResult()
    now = clock.now()
    async with sessions.begin() as session:
        targets = await due_targets(
            session, now, now - config.group_wait, now - config.group_interval
        )
    for target in targets:
        await _deliver_to(sessions, policy, wecom, clock, instance, target, result)
    return result


async def _deliver_to(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    wecom: WeComSender,
    clock: Clock,
    instance: str,
    target: Target,
    result: DeliveryResult,
) -> None:
    now = clock.now()
    channel = _channel(policy, target)
    async with sessions.begin() as session:
        if not await take_lease(session, target, instance, now, now + LEASE):
            return  # another instance is on it
        messages = await pending_messages(session, target, MAX_PER_ATTEMPT)
        facts = await load_facts(session, policy, messages)
        attempts = await attempts_of(session, target)
        recent = (
            []
            if isinstance(channel, str)
            else await sent_since(session, channel.rate_key, now - HOUR)
        )
    moot = _moot(messages)
    messages = [m for m in messages if m.id not in moot]
    ids = [m.id for m in messages]
    if not messages:
        async with sessions.begin() as session:
            await finish(session, target, moot=sorted(moot), now=now)
        return
    if isinstance(channel, str):
        await _dead_letter(sessions, policy, target, ids, channel, clock.now())
        result.notifications[target[0], "dead"] += len(ids)
        return
    budget, frees_at = _budget(channel, recent, now)
    plan = _plan(policy, target, channel, messages, facts, now, budget)
    if plan is None:  # the rate budget is spent: wait until it frees up
        async with sessions.begin() as session:
            await finish(session, target, now=now, retry_at=frees_at)
        result.notifications[target[0], "deferred"] += len(ids)
        return
    digest, included = plan
    try:
        sent = await _send(sessions, wecom, target, channel, digest, clock)
    except WeComError as error:
        await _failed(sessions, policy, target, ids, error, attempts, clock.now(), result)
        return
    result.messages_sent += sent
    result.notifications[target[0], "sent"] += len(included)
    delivered_at = clock.now()
    async with sessions.begin() as session:
        await finish(
            session, target, sent=[m.id for m in included], moot=sorted(moot), now=delivered_at
        )
        await add_timeline(
            session,
            [
                timeline_row(m.ticket_id, "alerted", delivered_at, f"已送达 {target[1]}")
                for m in included
                if m.ticket_id is not None and m.kind in ("alert", "escalation")
            ],
        )


def _moot(messages: list[OutboxMessage]) -> set[int]:
    """Notifications about tickets that opened and closed again before this chat was told:
    neither the alert nor its resolution is worth a message."""
    closed = {m.ticket_id for m in messages if m.kind == "resolution"}
    announced = {m.ticket_id for m in messages if m.kind in ("alert", "escalation", "reminder")}
    over = closed & announced
    return {m.id for m in messages if m.ticket_id in over}


def _plan(
    policy: Policy,
    target: Target,
    channel: _Channel,
    messages: list[OutboxMessage],
    facts: dict[int, Facts],
    now: datetime,
    budget: int,
) -> tuple[Digest, list[OutboxMessage]] | None:
    """What to send now and which notifications it covers.

    A group chat gets everything at once (a file when lines would exceed the budget). A person
    cannot be sent files through the app, so they get as many notifications as fit the budget
    now, and the rest at the next interval.
    """
    tz = ZoneInfo(policy.config.watch.timezone)
    notes = [m.detail for m in messages if m.detail is not None]
    images = [m.image for m in messages if m.image is not None]
    about_tickets = [m for m in messages if m.detail is None]
    budget -= len(notes) + len(images)
    mention = ""
    if channel.robot_key and any(isinstance(facts[m.id], AlertFacts) for m in about_tickets):
        mention = " ".join(f"<@{user}>" for user in policy.group(target[1]).members)
    count = len(about_tickets)
    while True:
        chosen = about_tickets[:count]
        digest = build_digest(
            [facts[m.id] for m in chosen],
            now,
            tz,
            limit_bytes=channel.limit_bytes,
            budget=budget,
            mention=mention,
            allow_file=channel.robot_key is not None,
        )
        if digest is not None or count == 0:
            break
        count //= 2
    if budget < 0 or (digest is None and not notes):
        return None
    texts = (*notes, *(digest.texts if digest else ()))
    covered = [m for m in messages if m.detail is not None] + chosen
    attachment = digest.attachment if digest else None
    name = digest.attachment_name if digest else None
    return Digest(texts, attachment, name, tuple(images)), covered


async def _send(
    sessions: async_sessionmaker[AsyncSession],
    wecom: WeComSender,
    target: Target,
    channel: _Channel,
    digest: Digest,
    clock: Clock,
) -> int:
    """Send the digest's messages in order, logging each accepted one for the rate window."""
    outgoing: list[dict[str, Any]] = [markdown(text) for text in digest.texts]
    for data in digest.images:  # a robot takes the bytes; the app an uploaded media_id
        if channel.robot_key is not None:
            outgoing.append(image(data))
        else:
            outgoing.append(app_image(await wecom.upload_media("report.png", data)))
    if digest.attachment is not None and channel.robot_key is not None:
        media_id = await wecom.upload_webhook_media(
            channel.robot_key, digest.attachment_name or "orders.csv", digest.attachment
        )
        outgoing.append({"msgtype": "file", "file": {"media_id": media_id}})
    for msg in outgoing:
        if channel.robot_key is not None:
            await wecom.send_webhook(channel.robot_key, msg)
        else:
            await wecom.send_app_message([target[1]], msg)
        async with sessions.begin() as session:
            await record_delivery(
                session,
                {
                    "rate_key": channel.rate_key,
                    "target_kind": target[0],
                    "target": target[1],
                    "msgtype": msg["msgtype"],
                    "size": len(str(msg).encode()),
                    "sent_at": clock.now(),
                },
            )
    return len(outgoing)


async def _failed(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    target: Target,
    ids: list[int],
    error: WeComError,
    attempts: int,
    now: datetime,
    result: DeliveryResult,
) -> None:
    if error.permanent:
        await _dead_letter(sessions, policy, target, ids, str(error), now)
        result.notifications[target[0], "dead"] += len(ids)
        return
    logger.warning("delivery to %s:%s failed, will retry: %s", *target, error)
    async with sessions.begin() as session:
        await finish(session, target, now=now, reason=str(error), retry_at=now + _backoff(attempts))
    result.notifications[target[0], "retry"] += len(ids)


async def _dead_letter(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    target: Target,
    ids: list[int],
    reason: str,
    now: datetime,
) -> None:
    """Give up on these notifications, keep why, and tell ops once per chat, reason and day."""
    logger.error("dead-lettering %d notifications for %s:%s: %s", len(ids), *target, reason)
    day = now.astimezone(ZoneInfo(policy.config.watch.timezone)).date().isoformat()
    text = f"⚠️ 消息无法送达 {target[1]}: {reason}\n已转入死信 {len(ids)} 条, 请检查配置后处理"
    incident = f"{target[0]}:{target[1]}:{hashlib.sha1(reason.encode()).hexdigest()[:8]}:{day}"
    notices = [
        notice_row(f"ops:dead:{incident}:{user}", "ops", ("user", user), text, now)
        for user in policy.config.roles.ops
        if (target[0], target[1]) != ("user", user)
    ]
    async with sessions.begin() as session:
        await finish(session, target, dead=ids, reason=reason, now=now)
        await queue_messages(session, notices)
