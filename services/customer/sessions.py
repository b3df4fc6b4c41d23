"""Sessions of confirmed numbers: a random token in the customer's cookie, its SHA-256 in the
database (a leaked table opens nothing), ending after [customer_page].session_ttl."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.config import CustomerPageConfig
from storage import customer_page as db
from storage.db import begin_reading


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(
    sessions: async_sessionmaker[AsyncSession],
    config: CustomerPageConfig,
    phone: str,
    now: datetime,
) -> str:
    """A new session for a number just confirmed; its token (for the cookie)."""
    token = secrets.token_urlsafe(32)
    async with sessions.begin() as session:
        await db.add_session(session, _hash(token), phone, now, now + config.session_ttl)
    return token


async def phone_in(session: AsyncSession, token: str | None, now: datetime) -> str | None:
    """The number a live session confirmed; None for no, an unknown or an expired token."""
    if not token or len(token) > 128:
        return None
    return await db.session_phone(session, _hash(token), now)


async def phone_of(
    sessions: async_sessionmaker[AsyncSession], token: str | None, now: datetime
) -> str | None:
    async with sessions() as session:
        await begin_reading(session)
        return await phone_in(session, token, now)


async def close_session(sessions: async_sessionmaker[AsyncSession], token: str | None) -> None:
    if token and len(token) <= 128:
        async with sessions.begin() as session:
            await db.end_session(session, _hash(token))
