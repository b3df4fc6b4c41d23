"""Rule versions and the pointer to the one in force (services.rulebook decides what they hold)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conflicts import insert_ignoring_duplicates
from storage.db import rows_matched
from storage.models import RulesInForce, RuleSwitch, RuleVersion

DRAFT, PUBLISHED, SUPERSEDED = "draft", "published", "superseded"
_POINTER = 1  # the id of rules_in_force's one row


async def in_force_id(session: AsyncSession) -> int | None:
    """The id of the version in force: what every instance polls (one primary-key read)."""
    return await session.scalar(select(RulesInForce.version_id).where(RulesInForce.id == _POINTER))


async def lock_in_force(session: AsyncSession) -> int | None:
    """The id of the version in force, locked until the transaction ends: two publishes take
    turns, so each one's diff and announcement are against what it replaced."""
    return await session.scalar(
        select(RulesInForce.version_id).where(RulesInForce.id == _POINTER).with_for_update()
    )


async def get_version(session: AsyncSession, version_id: int) -> RuleVersion | None:
    return await session.get(RuleVersion, version_id)


async def add_version(
    session: AsyncSession,
    *,
    document: dict[str, Any],
    digest: str,
    source: str,
    author: str,
    note: str | None,
    based_on: int | None,
    now: datetime,
) -> RuleVersion:
    """A new draft."""
    version = RuleVersion(
        document=document,
        digest=digest,
        status=DRAFT,
        source=source,
        author=author,
        note=note,
        based_on=based_on,
        created_at=now,
    )
    session.add(version)
    await session.flush()
    return version


async def set_draft(
    session: AsyncSession, version_id: int, document: dict[str, Any], digest: str
) -> bool:
    """Replace a draft's document; False when the version is no (longer a) draft."""
    statement = (
        update(RuleVersion)
        .where(RuleVersion.id == version_id, RuleVersion.status == DRAFT)
        .values(document=document, digest=digest)
    )
    return rows_matched(await session.execute(statement)) == 1


async def put_in_force(session: AsyncSession, version_id: int, now: datetime) -> None:
    """Publish a version: the one published before is superseded, the pointer moves. The
    caller holds the pointer's lock (``lock_in_force``)."""
    await session.execute(
        update(RuleVersion).where(RuleVersion.status == PUBLISHED).values(status=SUPERSEDED)
    )
    await session.execute(
        update(RuleVersion)
        .where(RuleVersion.id == version_id)
        .values(status=PUBLISHED, published_at=now)
    )
    await session.execute(
        update(RulesInForce)
        .where(RulesInForce.id == _POINTER)
        .values(version_id=version_id, changed_at=now)
    )


async def recent_versions(session: AsyncSession, limit: int = 50) -> list[RuleVersion]:
    """The newest versions first."""
    query = select(RuleVersion).order_by(RuleVersion.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def last_from_file(session: AsyncSession) -> str | None:
    """The digest of the newest version taken from the config file, if any."""
    query = (
        select(RuleVersion.digest)
        .where(RuleVersion.source == "file")
        .order_by(RuleVersion.id.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def claim_switch(session: AsyncSession, key: str, now: datetime) -> bool:
    """Whether this transaction is the first to act on ``key`` (a promotion's start or end)."""
    statement = insert_ignoring_duplicates(session, RuleSwitch).values(key=key, at=now)
    return rows_matched(await session.execute(statement)) == 1
