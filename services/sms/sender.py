"""Sending queued texts through the provider, and recording what became of each on its row.

A tick takes the due pending texts, oldest first, at most ``BATCH`` of them, one after the
other. Before asking the provider it checks, for each text: the number has not opted out since,
its template is still configured, the text is not stale (``MAX_AGE``), it is not quiet hours,
and our per-number limits (rules.sms) leave room; otherwise it waits (or ends) with the reason.

Never twice: the text is claimed in its own transaction first (one more attempt, not due again
until ``IN_FLIGHT`` later), then sent, then the answer recorded. Should the process die between
the provider's acceptance and that record, the text goes again after ``IN_FLIGHT``: at most the
one in flight repeats, and with Aliyun not even that if its receipt (carrying our reference as
OutId) arrives first (services.sms.receipts).

Outages: when the provider is down (or our account is capped, or its keys are wrong) the text
waits and the whole sender pauses, backing off from a minute, doubling up to ``MAX_BACKOFF``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sms import OutgoingText, SendResult, SmsProvider
from rules.phones import mask_phone
from rules.sms import ASKED_FOR, CODE_TEXT_MAX_AGE, LONGEST_WINDOW, next_allowed, release_time
from services.clock import Clock
from services.policy import Policy, Rules
from storage.models import SmsMessage
from storage.sms import (
    claim_text,
    due_texts,
    is_opted_out,
    opt_out,
    sent_times,
    start_attempt,
    text_by_id,
    update_pending,
    update_text,
)

logger = logging.getLogger(__name__)

BATCH = 20
IN_FLIGHT = timedelta(minutes=5)  # longer than any provider call (its timeout)
MAX_AGE = timedelta(hours=48)  # a text not sent by then tells of news long gone
MAX_BACKOFF = timedelta(minutes=30)
_REFERENCE = "orderbot-sms-"


def reference(text_id: int) -> str:
    """Our name of a text at the provider (SessionContext, OutId): echoed in receipts."""
    return f"{_REFERENCE}{text_id}"


def text_id_of(reference_text: str | None) -> int | None:
    """The text a reference names (None: not one of ours)."""
    number = (reference_text or "").removeprefix(_REFERENCE)
    if reference_text and number != reference_text and number.isascii() and number.isdigit():
        return int(number)
    return None


@dataclass
class SmsTickResult:
    sent: int = 0
    held: int = 0  # waiting: quiet hours, our limits, the provider's limits
    refused: int = 0
    ended: int = 0  # opted out, no template, stale
    paused_until: datetime | None = None  # the provider is down


class SmsSender:
    """The text sender of one instance, across ticks; ``provider`` is the configured one."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rules: Rules,
        provider: SmsProvider,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._rules = rules
        self._provider = provider
        self._clock = clock
        self._paused_until: datetime | None = None
        self._failures = 0

    async def tick(self) -> SmsTickResult:
        result = SmsTickResult()
        now = self._clock.now()
        if self._paused_until is not None and now < self._paused_until:
            result.paused_until = self._paused_until
            return result
        policy = self._rules.current()
        async with self._sessions() as session:
            due = list(await due_texts(session, now, BATCH))
        for text in due:
            await self._one(policy, text, result)
            if result.paused_until is not None:
                break
        return result

    async def send_now(self, text_id: int) -> SmsTickResult:
        """Send one queued text at once, between ticks: a code the customer is waiting for.
        The same claim, checks and record as a tick's (a text not sent now waits for the
        ticks, or ends, as theirs do)."""
        result = SmsTickResult()
        if self._paused_until is not None and self._clock.now() < self._paused_until:
            result.paused_until = self._paused_until
            return result
        async with self._sessions() as session:
            text = await text_by_id(session, text_id)
        if text is not None:
            await self._one(self._rules.current(), text, result)
        return result

    async def _one(self, policy: Policy, text: SmsMessage, result: SmsTickResult) -> None:
        sms = policy.config.sms
        assert sms is not None
        now = self._clock.now()
        async with self._sessions.begin() as session:
            # Claimed first: the checks below then decide for this instance alone.
            if not await claim_text(session, text.id, now, now + IN_FLIGHT):
                return  # another instance took it
            hold = await self._hold(session, policy, text, now)
            if hold == "ended":
                result.ended += 1
                return
            if hold == "held":
                result.held += 1
                return
            await start_attempt(session, text.id, self._provider.name)
        outgoing = OutgoingText(
            phone=text.phone,
            template=sms.templates[text.purpose],
            purpose=text.purpose,
            params={str(k): str(v) for k, v in text.params.items()},
            reference=reference(text.id),
        )
        answer = await self._provider.send(outgoing)
        await self._record(policy, text, answer, result)

    async def _hold(
        self, session: AsyncSession, policy: Policy, text: SmsMessage, now: datetime
    ) -> str | None:
        """Why the text does not go now: "ended" (recorded), "held" (later), or None."""
        sms = policy.config.sms
        assert sms is not None
        end: tuple[str, str] | None = None
        if await is_opted_out(session, text.phone):
            end = ("opted_out", "号码已退订, 未发送")
        elif text.purpose not in sms.templates:
            end = ("dead", f"配置中已没有「{text.purpose}」的短信模板, 未发送")
        elif now - text.created_at > MAX_AGE:
            end = ("dead", "排队超过48小时仍未能发出, 消息已过时, 放弃发送")
        elif text.purpose in ASKED_FOR and now - text.created_at > CODE_TEXT_MAX_AGE:
            end = ("dead", "验证码未能在有效期内发出, 放弃发送")
        if end is not None:
            await update_text(session, text.id, status=end[0], error=end[1])
            logger.info("短信未发送 #%s (%s): %s", text.id, mask_phone(text.phone), end[1])
            return "ended"

        def after_quiet_hours(moment: datetime) -> datetime:
            if text.purpose in ASKED_FOR:  # the customer is waiting for it, now
                return moment
            return release_time(moment, sms.quiet_start, sms.quiet_end, policy.timezone)

        release = after_quiet_hours(now)
        reason = "免打扰时段, 早上再发"
        if release == now:
            sent = await sent_times(session, text.phone, now - LONGEST_WINDOW)
            release = after_quiet_hours(next_allowed(sent, now))
            reason = "该号码近期短信较多, 按我方频率限制稍后再发"
        if release > now:
            await update_text(session, text.id, not_before=release, error=f"暂缓: {reason}")
            return "held"
        return None

    async def _record(
        self, policy: Policy, text: SmsMessage, answer: SendResult, result: SmsTickResult
    ) -> None:
        sms = policy.config.sms
        assert sms is not None
        now = self._clock.now()
        masked = mask_phone(text.phone)
        words = f"{answer.reason} ({answer.code})"
        async with self._sessions.begin() as session:
            if answer.verdict == "sent":
                self._failures = 0
                await update_pending(
                    session, text.id, status="sent", serial=answer.serial, sent_at=now, error=None
                )
                result.sent += 1
                logger.info("短信已发送 #%s → %s (%s)", text.id, masked, text.purpose)
            elif answer.verdict == "refused":
                await update_pending(session, text.id, status="refused", error=f"被拒: {words}")
                if answer.opt_out:
                    await opt_out(session, text.phone, f"{self._provider.name}:{answer.code}", now)
                result.refused += 1
                logger.warning("短信被拒 #%s → %s: %s", text.id, masked, words)
            elif answer.scope == "number":
                after = answer.retry_after or timedelta(hours=1)
                release = release_time(now + after, sms.quiet_start, sms.quiet_end, policy.timezone)
                await update_pending(session, text.id, not_before=release, error=f"暂缓: {words}")
                result.held += 1
                logger.info("短信暂缓 #%s → %s: %s", text.id, masked, words)
            else:
                self._failures += 1
                backoff = min(
                    (answer.retry_after or timedelta(minutes=1)) * 2 ** (self._failures - 1),
                    max(MAX_BACKOFF, answer.retry_after or MAX_BACKOFF),
                )
                self._paused_until = result.paused_until = now + backoff
                await update_pending(
                    session, text.id, not_before=now + backoff, error=f"待重试: {words}"
                )
                logger.warning("短信服务暂不可用, %s 后重试: %s", backoff, words)
