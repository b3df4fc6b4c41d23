"""Entry by phone number: a one-time code texted at once, then checked.

Codes are six digits, valid [customer_page].code_ttl, spent by the first right answer, dead
after code_attempts wrong ones; only their HMAC (keyed by [customer_page].secret) is stored,
and numbers only as their HMAC too. Requests and attempts are counted per IP and per number in
the database (rules.customer_page.retry_after), so that several instances agree. Whether a
number has orders plays no part here: every number gets the same answers.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rules import customer_page as words
from rules.customer_page import CODE_DIGITS, is_code_shaped, retry_after, wait_words
from rules.phones import mask_phone
from services.config import CustomerPageConfig
from services.policy import Policy
from services.sms.notify import CustomerText, notify_customers
from services.sms.sender import SmsSender
from storage import customer_page as db
from storage.sms import text_id_by_key

logger = logging.getLogger(__name__)


def keyed(config: CustomerPageConfig, what: str) -> str:
    """HMAC-SHA256 of ``what`` under the page's secret, hex: numbers and codes are stored so."""
    return hmac.new(config.key.encode(), what.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Refused:
    """Why a request or an attempt was turned down, in the page's words; ``limited``: by a
    rate limit (try later), ``code_pending``: a code was just sent, enter that one."""

    words: str
    limited: bool = False
    code_pending: bool = False


async def _limited(
    session: AsyncSession,
    config: CustomerPageConfig,
    limits: list[tuple[str, str, int]],
    now: datetime,
) -> datetime:
    """When the first of these (scope, key, count) limits over limit_window leaves room."""
    since = now - config.limit_window
    free = now
    for scope, key, count in limits:
        times = await db.hit_times(session, scope, key, since)
        free = max(free, retry_after(times, count, config.limit_window, now))
    return free


async def _count(
    session: AsyncSession,
    config: CustomerPageConfig,
    limits: list[tuple[str, str, int]],
    now: datetime,
) -> None:
    for scope, key, _ in limits:
        await db.add_hit(session, scope, key, now, now - config.limit_window)


async def request_code(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    sender: SmsSender,
    phone: str,
    ip: str,
    now: datetime,
) -> Refused | None:
    """Text a new code to ``phone`` (canonical mobile), asked from ``ip``; None when one went
    (or is on its way), else why not."""
    config = policy.config.customer_page
    assert config is not None
    phone_key = keyed(config, phone)
    limits = [
        ("code-ip", ip, config.codes_per_ip),
        ("code-number", phone_key, config.codes_per_number),
    ]
    async with sessions.begin() as session:
        free = await _limited(session, config, limits, now)
        if free > now:
            wait = wait_words(free - now)
            return Refused(words.TOO_MANY_CODES.format(wait=wait), limited=True)
        last = await db.latest_code(session, phone_key)
        if last is not None and last.created_at > now - config.code_interval:
            soon = wait_words(last.created_at + config.code_interval - now)
            return Refused(words.TOO_SOON.format(wait=soon), limited=True, code_pending=True)
        await _count(session, config, limits, now)
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        await db.add_code(
            session, phone_key, keyed(config, f"{phone_key}:{code}"), now, now + config.code_ttl
        )
        # Each request its own text (a code's row id may come again once old ones are gone).
        dedup_key = f"code:{secrets.token_urlsafe(12)}"
        text = CustomerText(None, phone, "code", {"code": code}, dedup_key)
        queued = await notify_customers(session, policy, [text], now)
        text_id = await text_id_by_key(session, dedup_key) if queued else None
    if text_id is not None:
        result = await sender.send_now(text_id)
        if not result.sent:
            logger.info("验证码短信未能立即发出: %s", mask_phone(phone))
    return None


async def check_code(
    sessions: async_sessionmaker[AsyncSession],
    config: CustomerPageConfig,
    phone: str,
    code: str,
    ip: str,
    now: datetime,
) -> Refused | None:
    """Whether ``code`` is the live code of ``phone``: None (the code is spent) or why not."""
    if not is_code_shaped(code):
        return Refused(words.BAD_CODE_SHAPE)
    phone_key = keyed(config, phone)
    limits = [
        ("try-ip", ip, config.attempts_per_ip),
        ("try-number", phone_key, config.attempts_per_number),
    ]
    async with sessions.begin() as session:
        free = await _limited(session, config, limits, now)
        if free > now:
            wait = wait_words(free - now)
            return Refused(words.TOO_MANY_ATTEMPTS.format(wait=wait), limited=True)
        await _count(session, config, limits, now)
        live = await db.latest_code(session, phone_key)
        if live is None:
            return Refused(words.NO_CODE)
        tried = live.attempts  # before this one (the update below may refresh the object)
        if not await db.take_attempt(session, live.id, config.code_attempts, now):
            used_up = tried >= config.code_attempts and live.used_at is None
            return Refused(words.CODE_USED_UP if used_up else words.NO_CODE)
        expected = keyed(config, f"{phone_key}:{code}")
        if hmac.compare_digest(expected, live.code_hash) and await db.use_code(
            session, live.id, now
        ):
            return None
        left = config.code_attempts - tried - 1
    if left <= 0:
        return Refused(words.CODE_USED_UP)
    return Refused(words.WRONG_CODE.format(left=left))
