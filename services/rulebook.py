"""Rule versions: drafts, their preview, publishing (validated as a whole, open orders
rescheduled, ops told in WeCom), rollback, history with diffs, and the config file as a way in.

A version holds the rule sections as one document (services.rule_document); the pointer in
``rules_in_force`` says which one runs, and every instance follows it (services.rules_live).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rules.rule_diff import Change, diff
from services.config import Config, ConfigError
from services.policy import Policy
from services.rule_document import digest, document_of, with_document
from services.rule_effects import Preview, preview, reschedule
from storage.db import begin_reading
from storage.models import RuleVersion
from storage.outbox import notice_row, queue_messages
from storage.rule_versions import (
    DRAFT,
    add_version,
    get_version,
    in_force_id,
    last_from_file,
    lock_in_force,
    put_in_force,
    recent_versions,
    set_draft,
)

ANNOUNCED_CHANGES = 15  # lines of a change the ops announcement lists


class RulesRefused(Exception):
    """The rules cannot be used: the message is check-config's, key by key."""


class UnknownVersion(RulesRefused):
    pass


@dataclass(frozen=True)
class Published:
    version_id: int
    changes: list[Change]
    rescheduled: Preview
    told: tuple[str, ...]  # the ops people the announcement went to


@dataclass(frozen=True)
class VersionView:
    id: int
    status: str
    source: str
    author: str
    note: str | None
    created_at: datetime
    published_at: datetime | None
    based_on: int | None
    document: dict[str, Any]
    changes: list[Change]  # against the version it was based on (nothing: all of it)
    problems: str | None  # check-config's errors, for a draft that cannot be published


def checked(base: Config, document: dict[str, Any]) -> Config:
    """The file's config with ``document``'s rules; RulesRefused with the errors."""
    try:
        return with_document(base, document)
    except ConfigError as error:
        raise RulesRefused(str(error)) from None


async def _in_force(session: AsyncSession, base: Config) -> tuple[RuleVersion | None, Config]:
    """The version in force and the config it makes (the file's own rules before any)."""
    current = await in_force_id(session)
    version = None if current is None else await get_version(session, current)
    if version is None:
        return None, base
    try:
        return version, with_document(base, version.document)
    except ConfigError:  # valid where it was published, not here (e.g. an unset variable)
        return version, base


async def rules_in_force(sessions: async_sessionmaker[AsyncSession], base: Config) -> Config:
    """The config with the rules in force: what a command-line run works by."""
    async with sessions() as session:
        await begin_reading(session)
        return (await _in_force(session, base))[1]


async def policy_in_force(
    sessions: async_sessionmaker[AsyncSession], base: Config, now: datetime
) -> Policy:
    """The Policy a command-line run works by: the rules in force (not the file's own) at
    ``now``, promotions included."""
    return Policy.at(await rules_in_force(sessions, base), now)


async def save_draft(
    sessions: async_sessionmaker[AsyncSession],
    base: Config,
    document: dict[str, Any],
    *,
    author: str,
    note: str | None,
    now: datetime,
    source: str = "console",
) -> VersionView:
    """Keep a draft, valid or not (its problems are shown with it; it cannot be published
    while it has any)."""
    async with sessions.begin() as session:
        current = await in_force_id(session)
        version = await add_version(
            session,
            document=document,
            digest=digest(document),
            source=source,
            author=author,
            note=note,
            based_on=current,
            now=now,
        )
        return await _view(session, base, version)


async def update_draft(
    sessions: async_sessionmaker[AsyncSession],
    base: Config,
    version_id: int,
    document: dict[str, Any],
) -> VersionView:
    """Replace a draft's rules (the console's forms); RulesRefused once it is published."""
    async with sessions.begin() as session:
        if not await set_draft(session, version_id, document, digest(document)):
            raise RulesRefused(f"第 {version_id} 版不是草稿 (已发布或不存在), 不能再改")
        version = await get_version(session, version_id)
        assert version is not None
        await session.refresh(version)
        return await _view(session, base, version)


async def current_version(
    sessions: async_sessionmaker[AsyncSession], base: Config
) -> VersionView | None:
    """The version in force, if any."""
    async with sessions() as session:
        await begin_reading(session)
        current = await in_force_id(session)
        version = None if current is None else await get_version(session, current)
        return None if version is None else await _view(session, base, version)


async def _view(session: AsyncSession, base: Config, version: RuleVersion) -> VersionView:
    parent = None if version.based_on is None else await get_version(session, version.based_on)
    problems = None
    if version.status == DRAFT:
        try:
            with_document(base, version.document)
        except ConfigError as error:
            problems = str(error)
    return VersionView(
        id=version.id,
        status=version.status,
        source=version.source,
        author=version.author,
        note=version.note,
        created_at=version.created_at,
        published_at=version.published_at,
        based_on=version.based_on,
        document=version.document,
        changes=diff(parent.document, version.document) if parent else [],
        problems=problems,
    )


async def version_view(
    sessions: async_sessionmaker[AsyncSession], base: Config, version_id: int
) -> VersionView:
    async with sessions() as session:
        await begin_reading(session)
        version = await get_version(session, version_id)
        if version is None:
            raise UnknownVersion(f"没有第 {version_id} 版规则")
        return await _view(session, base, version)


async def history(
    sessions: async_sessionmaker[AsyncSession], base: Config, limit: int = 50
) -> list[VersionView]:
    """The newest versions first, each with its diff."""
    async with sessions() as session:
        await begin_reading(session)
        return [await _view(session, base, v) for v in await recent_versions(session, limit)]


async def preview_draft(
    sessions: async_sessionmaker[AsyncSession], base: Config, version_id: int, now: datetime
) -> tuple[VersionView, Preview]:
    """What publishing the draft would change right now (RulesRefused while it is invalid)."""
    async with sessions() as session:
        await begin_reading(session)
        version = await get_version(session, version_id)
        if version is None:
            raise UnknownVersion(f"没有第 {version_id} 版规则")
        new = checked(base, version.document)
        _, old = await _in_force(session, base)
        effects = await preview(session, Policy.at(old, now), Policy.at(new, now), now)
        return await _view(session, base, version), effects


async def publish(
    sessions: async_sessionmaker[AsyncSession],
    base: Config,
    version_id: int,
    *,
    author: str,
    now: datetime,
) -> Published:
    """Put a draft in force: validated as a whole first (RulesRefused and nothing changes),
    then, in one transaction, the pointer moves, open orders are rescheduled under the new
    rules and ops are told what changed and by whom."""
    async with sessions.begin() as session:
        version = await get_version(session, version_id)
        if version is None:
            raise UnknownVersion(f"没有第 {version_id} 版规则")
        if version.status != DRAFT:
            raise RulesRefused(f"第 {version_id} 版不是草稿 ({version.status}); 回滚请用 rollback")
        new = checked(base, version.document)
        return await _put(session, base, version, new, author, now)


async def _put(
    session: AsyncSession,
    base: Config,
    version: RuleVersion,
    new: Config,
    author: str,
    now: datetime,
) -> Published:
    await lock_in_force(session)
    current, old = await _in_force(session, base)
    version.document = document_of(new)  # as check-config reads it: every key, one spelling
    version.digest = digest(version.document)
    await session.flush()
    await put_in_force(session, version.id, now)
    moved = await reschedule(session, Policy.at(old, now), Policy.at(new, now), now)
    changes = diff(current.document if current else document_of(base), version.document)
    told: tuple[str, ...] = ()
    if current is not None:  # the first version only records what already ran
        told = await _announce(session, base, version, author, changes, moved, now)
    return Published(version.id, changes, moved, told)


async def _announce(
    session: AsyncSession,
    base: Config,
    version: RuleVersion,
    author: str,
    changes: Sequence[Change],
    moved: Preview,
    now: datetime,
) -> tuple[str, ...]:
    ops = base.roles.ops
    lines = [
        f"规则已更新: 第 {version.id} 版, {author} 发布"
        + (f" ({version.note})" if version.note else "")
    ]
    lines += [f"- {change.text()}" for change in changes[:ANNOUNCED_CHANGES]]
    if len(changes) > ANNOUNCED_CHANGES:
        lines.append(f"… 共 {len(changes)} 处改动")
    if not changes:
        lines.append("- 内容与上一版相同")
    lines.append(
        f"{moved.new_deadlines} 个未结订单的时限已按新规则重算, "
        f"其中 {moved.overdue_at_once} 个立即超时"
    )
    text = "\n".join(lines)
    await queue_messages(
        session,
        [
            notice_row(f"ops:rules:{version.id}:{user}", "ops", ("user", user), text, now)
            for user in ops
        ],
    )
    return ops


async def rollback(
    sessions: async_sessionmaker[AsyncSession],
    base: Config,
    to_version: int,
    *,
    author: str,
    now: datetime,
) -> Published:
    """Publish a new version equal to an earlier one."""
    async with sessions.begin() as session:
        old = await get_version(session, to_version)
        if old is None:
            raise UnknownVersion(f"没有第 {to_version} 版规则")
        new = checked(base, old.document)
        version = await add_version(
            session,
            document=old.document,
            digest=old.digest,
            source="rollback",
            author=author,
            note=f"回滚到第 {to_version} 版",
            based_on=await in_force_id(session),
            now=now,
        )
        return await _put(session, base, version, new, author, now)


async def import_rules(
    sessions: async_sessionmaker[AsyncSession],
    config: Config,
    *,
    author: str,
    now: datetime,
    on_start: bool,
    note: str | None = None,
) -> Published | None:
    """Make the rules of a (valid) config file the version in force when they differ from it;
    None when they do not. On start a file whose rules were imported once already is not
    imported again: a version published since (in the console) is not undone by a restart."""
    document = document_of(config)
    wanted = digest(document)
    async with sessions.begin() as session:
        await lock_in_force(session)
        current, _ = await _in_force(session, config)
        if current is not None and current.digest == wanted:
            return None
        if on_start and current is not None and await last_from_file(session) == wanted:
            return None
        version = await add_version(
            session,
            document=document,
            digest=wanted,
            source="file",
            author=author,
            note=note or ("启动时从配置文件导入" if on_start else "从配置文件导入"),
            based_on=None if current is None else current.id,
            now=now,
        )
        return await _put(session, config, version, config, author, now)
