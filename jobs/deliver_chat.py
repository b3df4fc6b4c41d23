"""One chat's turn in the outbox sender: take its lease, plan what fits its rate budget now,
send it message by message, and record each message as WeCom accepts it, together with the
notifications it delivers, so that a crash repeats at most the message in flight.

A digest is sent whole within the chat's budget: the summary (the total said once) and one
line per ticket, or, when those lines would not fit, the summary and a CSV file with every
order; a group's robot and a person's app chat alike.
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

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.wecom.errors import WeComError
from adapters.wecom.messages import (
    APP_MARKDOWN_MAX_BYTES,
    WEBHOOK_MARKDOWN_MAX_BYTES,
    app_image,
    file,
    image,
    markdown,
)
from jobs.lease import LEASE, Heartbeat
from rules.digest import Facts, build_digest
from rules.render import AlertFacts
from services.clock import Clock
from services.lifecycle.actions import record_alerted
from services.notices import load_facts
from services.policy import Policy, Rules
from storage.delivery import (
    Target,
    attempts_of,
    finish,
    mark_sent,
    pending_messages,
    record_delivery,
    renew_lease,
    sent_since,
    take_lease,
)
from storage.models import OutboxMessage
from storage.outbox import notice_row, queue_messages

logger = logging.getLogger(__name__)

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

    def add(self, other: DeliveryResult) -> None:
        self.messages_sent += other.messages_sent
        self.notifications.update(other.notifications)


@dataclass(frozen=True)
class Delivering:
    """What serving any chat needs."""

    sessions: async_sessionmaker[AsyncSession]
    rules: Rules
    wecom: WeComSender
    clock: Clock
    instance: str

    @property
    def policy(self) -> Policy:
        """The rules in force now (looked up at each use: a reload applies to the next look)."""
        return self.rules.current()


@dataclass(frozen=True)
class Channel:
    """How one chat is reached and what it may receive."""

    rate_key: str
    per_minute: int
    per_hour: int | None  # WeCom limits app messages to a member per hour too; robots not
    limit_bytes: int
    robot_key: str | None  # None: a person, through the app


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message and the notifications (outbox ids) that WeCom taking it delivers: markdown
    ``text``, a PNG ``image`` or a named ``file``."""

    covers: tuple[int, ...]
    text: str | None = None
    image: bytes | None = None
    file: tuple[str, bytes] | None = None


def channel_of(policy: Policy, target: Target) -> Channel | str:
    """The chat's channel, or why it cannot be reached at all."""
    config = policy.config.wecom
    assert config is not None
    kind, name = target
    if kind == "user":
        per_minute, per_hour = config.member_per_minute, config.member_per_hour
        return Channel(f"app:{name}", per_minute, per_hour, APP_MARKDOWN_MAX_BYTES, None)
    key = policy.group(name).robot_key
    if not key:
        return f"处理组 {name} 未配置机器人 webhook_key"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Channel(
        f"robot:{digest}", config.robot_per_minute, None, WEBHOOK_MARKDOWN_MAX_BYTES, key
    )


def _budget(channel: Channel, recent: list[datetime], now: datetime) -> tuple[int, datetime]:
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


async def serve_chat(ctx: Delivering, target: Target, result: DeliveryResult) -> None:
    """Send what is due to one chat, unless another instance is on it or it is no longer due."""
    config = ctx.policy.config.wecom
    assert config is not None
    now = ctx.clock.now()
    channel = channel_of(ctx.policy, target)
    async with ctx.sessions.begin() as session:
        taken = await take_lease(
            session, target, ctx.instance, now, now + LEASE, now - config.group_interval
        )
        if not taken:
            return
        messages = await pending_messages(session, target, MAX_PER_ATTEMPT)
        facts = await load_facts(session, ctx.policy, messages)
        attempts = await attempts_of(session, target)
        recent = (
            []
            if isinstance(channel, str)
            else await sent_since(session, channel.rate_key, now - HOUR)
        )
    async with Heartbeat(ctx.sessions, target, ctx.instance, ctx.clock) as heartbeat:
        turn = _Turn(ctx, target, heartbeat, result)
        await turn.serve(channel, messages, facts, attempts, recent, now)


class _Turn:
    """One leased attempt at one chat."""

    def __init__(
        self, ctx: Delivering, target: Target, heartbeat: Heartbeat, result: DeliveryResult
    ) -> None:
        self.ctx, self.target, self.heartbeat, self.result = ctx, target, heartbeat, result
        self.delivered: set[int] = set()

    async def serve(
        self,
        channel: Channel | str,
        messages: list[OutboxMessage],
        facts: dict[int, Facts],
        attempts: int,
        recent: list[datetime],
        now: datetime,
    ) -> None:
        moot = _moot(messages)
        messages = [m for m in messages if m.id not in moot]
        ids = [m.id for m in messages]
        kind = self.target[0]
        if isinstance(channel, str):
            await self._dead_letter(ids, channel, sorted(moot))
            return
        budget, frees_at = _budget(channel, recent, now)
        plan = _plan(self.ctx.policy, self.target, channel, messages, facts, now, budget)
        if not plan:  # nothing to say, or the rate budget is spent: wait until it frees up
            async with self.ctx.sessions.begin() as session:
                await finish(
                    session,
                    self.target,
                    self.ctx.instance,
                    moot=sorted(moot),
                    now=now,
                    retry_at=frees_at if messages else None,
                )
            self.result.notifications[kind, "deferred"] += len(ids)
            return
        by_id = {m.id: m for m in messages}
        for outgoing in plan:
            if self.heartbeat.lost:  # another instance has the chat now; it sends the rest
                break
            try:
                sent = await self._send(channel, outgoing)
            except WeComError as error:
                undelivered = [i for i in ids if i not in self.delivered]
                await self._failed(undelivered, error, attempts, sorted(moot))
                return
            await self._record(channel, sent, [by_id[i] for i in outgoing.covers])
        left = len(ids) - len(self.delivered)
        self.result.notifications[kind, "deferred"] += left
        if not self.heartbeat.lost:
            async with self.ctx.sessions.begin() as session:
                await finish(
                    session,
                    self.target,
                    self.ctx.instance,
                    moot=sorted(moot),
                    now=self.ctx.clock.now(),
                    sent=bool(self.delivered),
                )

    async def _send(self, channel: Channel, outgoing: Outgoing) -> dict[str, Any]:
        """Send one message (uploading its file or image first); returns what was sent."""
        wecom, key = self.ctx.wecom, channel.robot_key
        msg: dict[str, Any]
        if outgoing.text is not None:
            msg = markdown(outgoing.text)
        elif outgoing.image is not None:  # a robot takes the bytes; the app a media_id
            data = outgoing.image
            msg = image(data) if key else app_image(await wecom.upload_media("report.png", data))
        else:
            assert outgoing.file is not None
            name, data = outgoing.file
            if key:
                media_id = await wecom.upload_webhook_media(key, name, data)
            else:
                media_id = await wecom.upload_media(name, data, kind="file")
            msg = file(media_id)
        if key:
            await wecom.send_webhook(key, msg)
        else:
            await wecom.send_app_message([self.target[1]], msg)
        return msg

    async def _record(
        self, channel: Channel, msg: dict[str, Any], covered: list[OutboxMessage]
    ) -> None:
        """WeCom took the message: log it for the rate window, mark what it delivered sent and
        note it on the tickets' timelines, in one transaction; renew the lease with it."""
        ctx, target = self.ctx, self.target
        at = ctx.clock.now()
        where = ctx.policy.group(target[1]).name if target[0] == "group" else target[1]
        async with ctx.sessions.begin() as session:
            await record_delivery(
                session,
                {
                    "rate_key": channel.rate_key,
                    "target_kind": target[0],
                    "target": target[1],
                    "msgtype": msg["msgtype"],
                    "size": len(str(msg).encode()),
                    "sent_at": at,
                },
            )
            await mark_sent(session, [m.id for m in covered], at)
            await record_alerted(
                session,
                [
                    m.ticket_id
                    for m in covered
                    if m.ticket_id is not None and m.kind in ("alert", "escalation")
                ],
                where,
                at,
            )
            held = await renew_lease(session, target, ctx.instance, at + LEASE)
        self.heartbeat.note(held)
        self.delivered.update(m.id for m in covered)
        self.result.messages_sent += 1
        self.result.notifications[target[0], "sent"] += len(covered)

    async def _failed(
        self, ids: list[int], error: WeComError, attempts: int, moot: list[int]
    ) -> None:
        if error.permanent:
            await self._dead_letter(ids, str(error), moot)
            return
        now = self.ctx.clock.now()
        logger.warning("delivery to %s:%s failed, will retry: %s", *self.target, error)
        async with self.ctx.sessions.begin() as session:
            await finish(
                session,
                self.target,
                self.ctx.instance,
                moot=moot,
                now=now,
                reason=str(error),
                retry_at=now + _backoff(attempts),
            )
        self.result.notifications[self.target[0], "retry"] += len(ids)

    async def _dead_letter(self, ids: list[int], reason: str, moot: list[int]) -> None:
        """Give up on these notifications, keep why, and tell ops once per chat, reason and
        day."""
        ctx, (kind, name) = self.ctx, self.target
        now = ctx.clock.now()
        logger.error("dead-lettering %d notifications for %s:%s: %s", len(ids), kind, name, reason)
        day = now.astimezone(ctx.policy.timezone).date().isoformat()
        text = f"⚠️ 消息无法送达 {name}: {reason}\n已转入死信 {len(ids)} 条, 请检查配置后处理"
        incident = f"{kind}:{name}:{hashlib.sha1(reason.encode()).hexdigest()[:8]}:{day}"
        notices = [
            notice_row(f"ops:dead:{incident}:{user}", "ops", ("user", user), text, now)
            for user in ctx.policy.config.roles.ops
            if (kind, name) != ("user", user)
        ]
        async with ctx.sessions.begin() as session:
            await finish(
                session, self.target, ctx.instance, moot=moot, dead=ids, reason=reason, now=now
            )
            await queue_messages(session, notices)
        self.result.notifications[kind, "dead"] += len(ids)


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
    channel: Channel,
    messages: list[OutboxMessage],
    facts: dict[int, Facts],
    now: datetime,
    budget: int,
) -> list[Outgoing]:
    """What to send now, within ``budget`` messages: the notices with their own text (each
    with its image or file), in order, as many as fit; then, if all of those fit, one digest
    of every ticket notification. Empty when nothing fits."""
    plan: list[Outgoing] = []
    notes = [m for m in messages if m.detail is not None]
    for note in notes:
        extra = note.image is not None or note.attachment is not None
        if len(plan) + (2 if extra else 1) > budget:
            return plan
        if note.attachment is not None:  # the notice counts as delivered with its file
            attached = (note.attachment_name or "attachment", note.attachment)
            plan += [Outgoing((), text=note.detail), Outgoing((note.id,), file=attached)]
        elif note.image is None:
            plan.append(Outgoing((note.id,), text=note.detail))
        else:  # the notice counts as delivered with its image
            plan += [Outgoing((), text=note.detail), Outgoing((note.id,), image=note.image)]
    about = [m for m in messages if m.detail is None and m.id in facts]
    mention = ""
    if channel.robot_key and any(isinstance(facts[m.id], AlertFacts) for m in about):
        mention = " ".join(f"<@{user}>" for user in policy.group(target[1]).members)
    digest = build_digest(
        [facts[m.id] for m in about],
        now,
        policy.timezone,
        limit_bytes=channel.limit_bytes,
        budget=budget - len(plan),
        mention=mention,
    )
    if digest is None:
        return plan
    name = digest.attachment_name or "orders.csv"
    for part in digest.parts:
        covers = tuple(about[i].id for i in part.covers)
        if part.text is not None:
            plan.append(Outgoing(covers, text=part.text))
        else:
            assert digest.attachment is not None
            plan.append(Outgoing(covers, file=(name, digest.attachment)))
    return plan
