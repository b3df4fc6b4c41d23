"""Chat commands, independent of how the text arrived: declarations, roles, help and dispatch.

A command is declared once on a module's ``CommandRouter`` with its Chinese name, aliases, usage
and the roles that may run it; the first line of the handler's docstring is its help summary.
``answer`` turns one chat message into one reply text, in one transaction, and never raises
for what the command does.
"""

from __future__ import annotations

import logging
import re
import shlex
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.config import Config
from services.policy import Policy
from storage.db import begin_reading

logger = logging.getLogger(__name__)

MEMBER = "member"
SUPERVISOR = "supervisor"
CUSTOMER_SERVICE = "customer_service"
FINANCE = "finance"
OPS = "ops"
ANYONE = "anyone"  # every user who has at least one real role

# Who holds each role, read from the config. A new role is one more line here plus the roles=
# of the commands it may run.
ROLE_HOLDERS: dict[str, Callable[[Config], Iterable[str]]] = {
    MEMBER: lambda c: (m for g in c.groups.values() for m in g.members),
    SUPERVISOR: lambda c: (g.supervisor for g in c.groups.values() if g.supervisor),
    CUSTOMER_SERVICE: lambda c: c.roles.customer_service,
    FINANCE: lambda c: c.roles.finance,
    OPS: lambda c: c.roles.ops,
}
ROLE_LABELS = {
    MEMBER: "处理组成员",
    SUPERVISOR: "主管",
    CUSTOMER_SERVICE: "客服",
    FINANCE: "财务",
    OPS: "运维",
    ANYONE: "任意角色",
}
Chat = Literal["group", "direct"]
EVERY_CHAT: frozenset[Chat] = frozenset({"group", "direct"})


def roles_of(config: Config, user: str) -> frozenset[str]:
    """The user's roles; empty for someone the config does not know."""
    roles = {role for role, holders in ROLE_HOLDERS.items() if user in set(holders(config))}
    return frozenset(roles | {ANYONE}) if roles else frozenset()


@dataclass(frozen=True)
class Message:
    """A member's chat message as the commands see it."""

    user: str
    chat: Chat
    text: str
    now: datetime  # aware UTC, when it arrived


@dataclass(frozen=True)
class CommandContext:
    user: str  # WeCom userid of whoever typed
    chat: Chat
    now: datetime  # aware UTC
    # The message's unit of work, owned by ``answer``: handlers read and write through it and
    # never open another (on SQLite a second transaction would wait for this one's lock).
    session: AsyncSession
    policy: Policy

    @property
    def roles(self) -> frozenset[str]:
        return roles_of(self.policy.config, self.user)

    async def done_writing(self) -> None:
        """Commit what the command wrote so far and go on reading only: on SQLite an open
        write transaction holds the database's lock, which slow reading must not."""
        await self.session.commit()
        await begin_reading(self.session)


Handler = Callable[[CommandContext, list[str]], Awaitable[str]]


class CommandError(Exception):
    """A refusal or lookup failure the user should read as it is (e.g. "找不到工单 #9")."""


class UsageError(Exception):
    """The arguments do not fit; the dispatcher answers with the command's usage."""


_ARG = re.compile(r"<[^>]+>|\[[^\]]+\]")


@dataclass(frozen=True)
class CommandSpec:
    name: str
    aliases: tuple[str, ...]
    usage: str
    summary: str
    roles: frozenset[str]
    chats: frozenset[Chat]  # where it may be typed: customer data stays out of group chats
    handler: Handler

    @property
    def arity(self) -> tuple[int, int | None]:
        """(fewest, most) arguments, read from the usage: ``<x>`` required, ``[x]`` optional,
        a last placeholder ending in ``...`` takes the rest of the line."""
        placeholders = _ARG.findall(self.usage)
        required = sum(p.startswith("<") for p in placeholders)
        if placeholders and placeholders[-1][1:-1].endswith("..."):
            return required, None
        return required, len(placeholders)

    def allowed(self, roles: frozenset[str]) -> bool:
        return bool(self.roles & roles)


class CommandRouter:
    """The commands of one handler module, in declaration order."""

    def __init__(self) -> None:
        self.commands: list[CommandSpec] = []

    def command(
        self,
        name: str,
        *aliases: str,
        usage: str,
        roles: Iterable[str],
        chats: Iterable[Chat] = EVERY_CHAT,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            summary = (handler.__doc__ or "").strip().splitlines()
            if not summary:
                raise ValueError(f"命令 {name} 的处理函数缺少文档字符串 (帮助摘要)")
            taken = {w.lower() for spec in self.commands for w in (spec.name, *spec.aliases)}
            for word in (name, *aliases):
                if word.lower() in taken:
                    raise ValueError(f"命令名 {word!r} 重复声明")
            self.commands.append(
                CommandSpec(
                    name,
                    aliases,
                    usage,
                    summary[0].strip(),
                    frozenset(roles),
                    frozenset(chats),
                    handler,
                )
            )
            return handler

        return register


def command_table(routers: Sequence[CommandRouter]) -> dict[str, CommandSpec]:
    """Every name and alias (lower case) to its command; a word declared twice is an error."""
    table: dict[str, CommandSpec] = {}
    for router in routers:
        for spec in router.commands:
            for word in (spec.name, *spec.aliases):
                if word.lower() in table:
                    raise ValueError(f"命令名 {word!r} 重复声明")
                table[word.lower()] = spec
    return table


# Characters NFKC leaves alone that Chinese input methods produce in place of ASCII.
_PUNCTUATION = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "「": '"', "」": '"', "『": '"', "』": '"'}
    | {"、": ",", "。": ".", "—": "-", "～": "~"}
)
_MENTION = re.compile(r"(?:^|(?<=\s))@\S+")


def normalize(text: str) -> list[str]:
    """The tokens of a chat message: @mentions dropped, full-width characters made ASCII,
    whitespace collapsed; quotes group words, and unbalanced quotes are taken literally."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCTUATION)
    text = " ".join(_MENTION.sub(" ", text).split())
    try:
        return shlex.split(text)
    except ValueError:  # an unbalanced quote or a trailing backslash
        return text.split()


def _find(table: dict[str, CommandSpec], tokens: list[str]) -> tuple[CommandSpec, list[str]] | None:
    word = tokens[0].lower()
    if word in table:
        return table[word], tokens[1:]
    # "认领1": Chinese is written without a space between the command and its argument.
    for name, spec in table.items():
        if not name.isascii() and word.startswith(name):
            return spec, [tokens[0][len(name) :], *tokens[1:]]
    return None


def _usage(spec: CommandSpec) -> str:
    aliases = f" (也可写 {' / '.join(spec.aliases)})" if spec.aliases else ""
    return f"用法: {spec.usage}{aliases}"


def no_role_reply(user: str) -> str:
    return (
        f"您还没有角色, 暂时不能使用订单助手 (企业微信账号: {user})。请联系管理员把您加入处理组。"
    )


def render_help(routers: Sequence[CommandRouter], config: Config, user: str) -> str:
    """The commands this user may run, generated from their declarations."""
    roles = roles_of(config, user)
    if not roles:
        return no_role_reply(user)
    specs = [s for r in routers for s in r.commands if s.allowed(roles)]
    lines = ["可用命令:"]
    for spec in specs:
        aliases = f" ({' / '.join(spec.aliases)})" if spec.aliases else ""
        where = " [仅私聊]" if spec.chats == {"direct"} else ""
        lines.append(f"• {spec.usage}{aliases}: {spec.summary}{where}")
    return "\n".join(lines)


def command_help(spec: CommandSpec) -> str:
    """One command's whole docstring and usage."""
    doc = "\n".join(line.strip() for line in (spec.handler.__doc__ or "").strip().splitlines())
    return f"{doc}\n{_usage(spec)}"


class Reply(NamedTuple):
    text: str
    failed: bool = False  # the handler raised: whatever it wrote must not stand


async def dispatch(routers: Sequence[CommandRouter], ctx: CommandContext, text: str) -> Reply:
    """The reply to one chat message; failures become a reply too, never an exception."""
    config = ctx.policy.config
    roles = roles_of(config, ctx.user)
    if not roles:
        return Reply(no_role_reply(ctx.user))
    tokens = normalize(text)
    if not tokens:
        return Reply(render_help(routers, config, ctx.user))
    table = command_table(routers)
    found = _find(table, tokens)
    if found is None:
        return Reply(f"未知命令「{tokens[0]}」。\n{render_help(routers, config, ctx.user)}")
    spec, args = found
    if not spec.allowed(roles):
        needed = "、".join(ROLE_LABELS.get(r, r) for r in sorted(spec.roles))
        return Reply(
            f"抱歉, 「{spec.name}」仅限{needed}使用, 您暂无权限。发送「帮助」查看您可用的命令。"
        )
    if ctx.chat not in spec.chats:
        return Reply(f"「{spec.name}」只能私聊订单助手使用, 请不要在群里发送。")
    fewest, most = spec.arity
    if len(args) < fewest or (most is not None and len(args) > most):
        return Reply(_usage(spec))
    try:
        return Reply(await spec.handler(ctx, args))
    except UsageError as error:
        return Reply(f"{error}\n{_usage(spec)}" if str(error) else _usage(spec), failed=True)
    except CommandError as error:
        return Reply(str(error), failed=True)
    except Exception:
        error_id = uuid.uuid4().hex[:8]
        logger.exception(
            "command %s by %s failed (error id %s): %r", spec.name, ctx.user, error_id, text
        )
        reply = f"处理「{spec.name}」时出错了, 请稍后再试或联系运维 (错误编号 {error_id})。"
        return Reply(reply, failed=True)


FirstTime = Callable[[AsyncSession], Awaitable[bool]]  # records the message; False if seen


async def answer(
    routers: Sequence[CommandRouter],
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    message: Message,
    first_time: FirstTime | None = None,
) -> str | None:
    """Run one message's command in one transaction with ``first_time``'s record of the
    message: the record and what the command writes commit together or not at all, and one
    transaction costs half the round trips of two. None: a message already answered (a WeCom
    retry)."""
    async with sessions() as session:
        if first_time is not None and not await first_time(session):
            return None
        ctx = CommandContext(message.user, message.chat, message.now, session, policy)
        reply = await dispatch(routers, ctx, message.text)
        if reply.failed:  # undo its writes; the message itself stays answered
            await session.rollback()
            if first_time is not None:
                await first_time(session)
        await session.commit()
    return reply.text
