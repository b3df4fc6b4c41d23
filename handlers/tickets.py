"""Ticket commands: claim, finish, annotate and look up tickets and orders from the chat."""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.registry import (
    ANYONE,
    MEMBER,
    SUPERVISOR,
    CommandContext,
    CommandError,
    CommandRouter,
    command_help,
    command_table,
    render_help,
    roles_of,
)
from rules.phones import mask_phone
from rules.render import CHANNEL_LABELS, local_time
from rules.stages import Stage
from storage import commands as db
from storage.models import Order, Ticket
from storage.tickets import add_timeline, outbox_row, queue_messages, timeline_row

router = CommandRouter()
STAFF = frozenset({MEMBER, SUPERVISOR})

_TICKET_NO = re.compile(r"#?(\d{1,9})")
_CHANNEL_ORDER = re.compile(rf"({'|'.join(CHANNEL_LABELS)}):(.+)", re.IGNORECASE)
_EVENT_LABELS = {
    "alerted": "告警",
    "claimed": "认领",
    "noted": "备注",
    "escalated": "升级",
    "resolved": "完成",
}


@dataclass(frozen=True)
class Found:
    ticket: Ticket | None
    order: Order


async def _order(session: AsyncSession, ref: str) -> Order:
    qualified = _CHANNEL_ORDER.fullmatch(ref)
    channel, number = (qualified[1].lower(), qualified[2]) if qualified else (None, ref)
    orders = await db.orders_by_number(session, number, channel)
    if not orders:
        raise CommandError(f"找不到订单 {ref}")
    if len(orders) > 1:
        channels = ", ".join(o.channel for o in orders)
        raise CommandError(
            f"订单号 {number} 在多个渠道都有 ({channels}), 请写成 渠道:订单号, 例: "
            f"{orders[0].channel}:{number}"
        )
    return orders[0]


async def _find(session: AsyncSession, ref: str, *, open_only: bool) -> Found:
    """A ticket number (``42``/``#42``) or an order number (``SH001``, ``jd:123``) to the
    ticket and its order; for an order, its newest (open) ticket, which may be None."""
    ref = ref.strip(",.;:")
    number = _TICKET_NO.fullmatch(ref)
    if number is None:
        order = await _order(session, ref)
        return Found(await db.latest_ticket(session, order.id, open_only=open_only), order)
    ticket = await db.get_ticket(session, int(number[1]))
    if ticket is None:
        raise CommandError(f"找不到工单 #{number[1]}")
    order = await db.get_order(session, ticket.order_id)
    if order is None:  # orders are never deleted; a foreign key guards it
        raise CommandError(f"工单 #{ticket.id} 的订单不存在")
    return Found(ticket, order)


async def _ticket(session: AsyncSession, ref: str, *, open_only: bool) -> tuple[Ticket, Order]:
    found = await _find(session, ref, open_only=open_only)
    if found.ticket is None:
        which = "未关闭的工单" if open_only else "工单"
        raise CommandError(f"订单 {found.order.channel_order_id} 没有{which}")
    return found.ticket, found.order


def _closed(ticket: Ticket) -> CommandError:
    return CommandError(f"工单 #{ticket.id} 已关闭。发送「状态 {ticket.id}」查看经过")


@router.command("认领", "claim", usage="认领 <工单号|订单号>", roles=STAFF)
async def claim(ctx: CommandContext, args: list[str]) -> str:
    """认领工单, 由您负责处理, 并通知所在处理组

    工单号写 42 或 #42; 订单号在多个渠道重名时写 渠道:订单号 (如 jd:123)。
    只有工单所属组的成员或主管可以认领。
    """
    async with ctx.sessions.begin() as session:
        ticket, order = await _ticket(session, args[0], open_only=True)
        if ticket.status != "open":
            raise _closed(ticket)
        group = ctx.policy.group(ticket.group_key)
        if ctx.user not in group.members and ctx.user != group.supervisor:
            raise CommandError(f"工单 #{ticket.id} 属于{group.name}, 只有该组成员或主管可以认领")
        if ticket.owner == ctx.user:
            return f"您已认领过工单 #{ticket.id} (订单 {order.channel_order_id})"
        if ticket.owner is not None:
            raise CommandError(f"工单 #{ticket.id} 已由 {ticket.owner} 认领")
        if not await db.claim_ticket(session, ticket.id, ctx.user, ctx.now):
            raise CommandError(f"工单 #{ticket.id} 刚被认领或已关闭, 发送「状态 {ticket.id}」查看")
        await add_timeline(session, [timeline_row(ticket.id, "claimed", ctx.now, actor=ctx.user)])
        notice = outbox_row(
            ticket_id=ticket.id,
            kind="claimed",
            level=None,
            target_kind="group",
            target=ticket.group_key,
            now=ctx.now,
        )
        notice["dedup_key"] = f"ticket:{ticket.id}:claimed:{ctx.user}"
        notice["detail"] = f"👤 {ctx.user} 已认领工单 #{ticket.id} (订单 {order.channel_order_id})"
        await queue_messages(session, [notice])
    return f"已认领工单 #{ticket.id} (订单 {order.channel_order_id})"


@router.command("完成", "done", usage="完成 <工单号> [备注...]", roles=STAFF)
async def done(ctx: CommandContext, args: list[str]) -> str:
    """关闭您处理完的工单

    限工单的处理人或所属组主管。订单仍停在超时的环节时必须附备注说明原因,
    例: 完成 42 客户要求延后发货。
    """
    remark = " ".join(args[1:]).strip() or None
    async with ctx.sessions.begin() as session:
        ticket, order = await _ticket(session, args[0], open_only=True)
        if ticket.status != "open":
            raise _closed(ticket)
        group = ctx.policy.group(ticket.group_key)
        if ctx.user not in (ticket.owner, group.supervisor):
            owner = ticket.owner or f"无, 请先「认领 {ticket.id}」"
            raise CommandError(f"只有处理人或主管可以完成工单 #{ticket.id} (当前处理人: {owner})")
        unmoved = (order.stage, order.stage_entered_at) == (ticket.stage, ticket.stage_entered_at)
        if unmoved and remark is None:
            raise CommandError(f"订单尚未流转, 请附备注说明, 例: 完成 {ticket.id} 已与客户确认")
        if not await db.resolve_manually(session, ticket, ctx.now):
            raise _closed(ticket)
        await add_timeline(
            session, [timeline_row(ticket.id, "resolved", ctx.now, remark, actor=ctx.user)]
        )
    return f"已完成工单 #{ticket.id} (订单 {order.channel_order_id})"


@router.command("备注", "note", usage="备注 <工单号|订单号> <文字...>", roles=STAFF)
async def note(ctx: CommandContext, args: list[str]) -> str:
    """给工单添加备注, 记入工单经过

    对订单号备注时记在该订单最新的工单上。
    """
    text = " ".join(args[1:])
    async with ctx.sessions.begin() as session:
        ticket, _ = await _ticket(session, args[0], open_only=False)
        await add_timeline(
            session, [timeline_row(ticket.id, "noted", ctx.now, text, actor=ctx.user)]
        )
    return f"已为工单 #{ticket.id} 添加备注"


@router.command("状态", "status", usage="状态 <订单号|工单号>", roles=STAFF)
async def status(ctx: CommandContext, args: list[str]) -> str:
    """查看订单当前环节、截止时间、处理人和工单经过"""
    tz = ZoneInfo(ctx.policy.config.watch.timezone)
    async with ctx.sessions() as session:
        found = await _find(session, args[0], open_only=False)
        order, ticket = found.order, found.ticket
        events = await db.ticket_timeline(session, ticket.id) if ticket else []
    deadline = local_time(order.deadline_at, tz) if order.deadline_at else "无时限"
    lines = [
        f"订单 {order.channel_order_id} ({CHANNEL_LABELS.get(order.channel, order.channel)})",
        f"环节: {Stage(order.stage).label}, 截止 {deadline}",
        f"收货电话: {mask_phone(order.receiver_phone)}",
    ]
    if ticket is None:
        lines.append("暂无工单")
        return "\n".join(lines)
    group = ctx.policy.group(ticket.group_key)
    state = "处理中" if ticket.status == "open" else "已关闭"
    lines.append(
        f"工单 #{ticket.id} {state} ({group.name}, {Stage(ticket.stage).label}超时), "
        f"处理人: {ticket.owner or '未认领'}"
    )
    lines.append(f"  {local_time(ticket.opened_at, tz)} 开单: {ticket.route_reason}")
    for event in events:
        words = [_EVENT_LABELS.get(event.kind, event.kind), event.actor, event.detail]
        lines.append(f"  {local_time(event.at, tz)} " + " ".join(w for w in words if w))
    return "\n".join(lines)


@router.command("帮助", "help", usage="帮助 [命令]", roles={ANYONE})
async def help_(ctx: CommandContext, args: list[str]) -> str:
    """列出您可用的命令; 「帮助 命令」查看某个命令的说明"""
    from handlers import ROUTERS  # the full list includes this module's router

    if not args:
        return render_help(ROUTERS, ctx)
    spec = command_table(ROUTERS).get(args[0].lower())
    if spec is None or not spec.allowed(roles_of(ctx.policy.config, ctx.user)):
        raise CommandError(f"没有您可用的命令「{args[0]}」。\n{render_help(ROUTERS, ctx)}")
    return command_help(spec)
