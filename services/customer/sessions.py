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
from storage.models import Order


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _cookie_hash(token: str | None) -> str | None:
    """The stored hash a cookie's token would have; None for no token or one too long to be
    ours."""
    return _hash(token) if token and len(token) <= 128 else None


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
    token_hash = _cookie_hash(token)
    return None if token_hash is None else await db.session_phone(session, token_hash, now)


async def session_orders_of(
    session: AsyncSession, token: str | None, now: datetime, since: datetime, most: int
) -> tuple[str, list[Order]] | None:
    """The number a live session confirmed and its orders received since ``since``, newest
    first, at most ``most``; None for no, an unknown or an expired token."""
    token_hash = _cookie_hash(token)
    if token_hash is None:
        return None
    return await db.session_orders(session, token_hash, now, since, most)


async def phone_of(
    sessions: async_sessionmaker[AsyncSession], token: str | None, now: datetime
) -> str | None:
    async with sessions() as session:
        await begin_reading(session)
        return await phone_in(session, token, now)


async def close_session(sessions: async_sessionmaker[AsyncSession], token: str | None) -> None:
    token_hash = _cookie_hash(token)
    if token_hash is not None:
        async with sessions.begin() as session:
            await db.end_session(session, token_hash)
