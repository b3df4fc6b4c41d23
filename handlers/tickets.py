"""Ticket actions from the chat: claim, finish, annotate, hand over and snooze."""

from __future__ import annotations

from handlers.refs import (
    find_open_ticket,
    find_ticket,
    group_by_name,
    in_group,
    require_group,
)
from handlers.registry import (
    CUSTOMER_SERVICE,
    MEMBER,
    SUPERVISOR,
    CommandContext,
    CommandError,
    CommandRouter,
    UsageError,
)
from rules.durations import format_duration, parse_duration
from rules.kinds import Kind
from rules.render import local_time
from services.lifecycle import actions
from storage.models import Ticket

router = CommandRouter()
STAFF = frozenset({MEMBER, SUPERVISOR})


def _closed(ticket: Ticket) -> CommandError:
    return CommandError(f"工单 #{ticket.id} 已关闭。发送「状态 {ticket.id}」查看经过")


@router.command("认领", "claim", usage="认领 <工单号|订单号>", roles=STAFF)
async def claim(ctx: CommandContext, args: list[str]) -> str:
    """认领工单, 由您负责处理, 并通知所在处理组

    工单号写 42 或 #42; 订单号在多个渠道重名时写 渠道:订单号 (如 jd:123)。
    只有工单所属组的成员或主管可以认领。
    """
    session = ctx.session
    ticket, order = await find_open_ticket(session, args[0])
    require_group(ctx.policy, ticket, ctx.user, "认领")
    if ticket.owner == ctx.user:
        return f"您已认领过工单 #{ticket.id} (订单 {order.channel_order_id})"
    if ticket.owner is not None:
        raise CommandError(f"工单 #{ticket.id} 已由 {ticket.owner} 认领")
    if not await actions.claim(session, ticket, order, ctx.user, ctx.now):
        raise CommandError(f"工单 #{ticket.id} 刚被认领或已关闭, 发送「状态 {ticket.id}」查看")
    return f"已认领工单 #{ticket.id} (订单 {order.channel_order_id})"


@router.command("完成", "done", usage="完成 <工单号> [备注...]", roles=STAFF)
async def done(ctx: CommandContext, args: list[str]) -> str:
    """关闭您处理完的工单

    限工单的处理人或所属组主管。订单仍停在超时的环节时必须附备注说明原因,
    例: 完成 42 客户要求延后发货。
    """
    remark = " ".join(args[1:]).strip() or None
    session = ctx.session
    ticket, order = await find_open_ticket(session, args[0])
    group = ctx.policy.group(ticket.group_key)
    if ctx.user not in (ticket.owner, group.supervisor):
        owner = ticket.owner or f"无, 请先「认领 {ticket.id}」"
        raise CommandError(f"只有处理人或主管可以完成工单 #{ticket.id} (当前处理人: {owner})")
    unmoved = ticket.kind == Kind.OVERDUE and (order.stage, order.stage_entered_at) == (
        ticket.stage,
        ticket.stage_entered_at,
    )
    if unmoved and remark is None:
        raise CommandError(f"订单尚未流转, 请附备注说明, 例: 完成 {ticket.id} 已与客户确认")
    if not await actions.resolve_by_hand(session, ticket, remark, ctx.user, ctx.now):
        raise _closed(ticket)
    return f"已完成工单 #{ticket.id} (订单 {order.channel_order_id})"


@router.command(
    "备注", "note", usage="备注 <工单号|订单号> <文字...>", roles={*STAFF, CUSTOMER_SERVICE}
)
async def note(ctx: CommandContext, args: list[str]) -> str:
    """给工单添加备注, 记入工单经过

    对订单号备注时记在该订单最新的工单上。处理组成员和主管只能备注本组工单, 客服可备注任何工单
    (例如记下客户来电的要求)。
    """
    text = " ".join(args[1:])
    ticket, _ = await find_ticket(ctx.session, args[0], open_only=False)
    if CUSTOMER_SERVICE not in ctx.roles:
        require_group(ctx.policy, ticket, ctx.user, "备注")
    await actions.note(ctx.session, ticket, text, ctx.user, ctx.now)
    return f"已为工单 #{ticket.id} 添加备注"


@router.command("转交", "assign", usage="转交 <工单号> <处理人|处理组>", roles={SUPERVISOR})
async def assign(ctx: CommandContext, args: list[str]) -> str:
    """把工单交给本组的某位处理人, 或转到另一个处理组

    限工单所属组的主管。交给处理人: 他成为处理人, 本组和他本人都会收到通知。
    转到另一组 (写组名或组代号): 工单在新组重新待认领, 新组会收到告警。
    """
    session = ctx.session
    ticket, order = await find_open_ticket(session, args[0])
    group = ctx.policy.group(ticket.group_key)
    if ctx.user != group.supervisor:
        raise CommandError(f"工单 #{ticket.id} 属于{group.name}, 只有该组主管可以转交")
    target_group = group_by_name(ctx.policy.config, args[1])
    if target_group is not None:
        return await _move(ctx, ticket, target_group)
    assignee = args[1]
    if not in_group(group, assignee):
        members = "、".join(group.members) or "无"
        raise CommandError(f"{assignee} 不在{group.name} (成员: {members}); 要转到别的组请写组名")
    if ticket.owner == assignee:
        return f"工单 #{ticket.id} 的处理人已是 {assignee}"
    if not await actions.assign(session, ticket, order, assignee, ctx.user, ctx.now):
        raise _closed(ticket)
    return f"已把工单 #{ticket.id} 转交给 {assignee}"


async def _move(ctx: CommandContext, ticket: Ticket, to: str) -> str:
    """Re-route the ticket: unclaimed in the new group, which gets the alert again."""
    new = ctx.policy.group(to)
    if to == ticket.group_key:
        return f"工单 #{ticket.id} 已在{new.name}"
    if not await actions.move(ctx.session, ctx.policy, ticket, to, ctx.user, ctx.now):
        raise _closed(ticket)
    return f"已把工单 #{ticket.id} 转到{new.name}, 等待该组认领"


@router.command("稍后", "snooze", usage="稍后 <工单号> <时长>", roles=STAFF)
async def snooze(ctx: CommandContext, args: list[str]) -> str:
    """暂停工单的重复提醒一段时间 (升级照常)

    时长写 30m、2h、1h30m、2小时、30分钟; 写 0 恢复提醒。最长见配置 watch.max_snooze。
    只暂停提醒, 不影响按时升级到主管。
    """
    config = ctx.policy.config.watch
    if args[1] in ("0", "取消", "off"):
        until = None
    else:
        try:
            length = parse_duration(args[1])
        except ValueError as error:
            raise UsageError(str(error)) from None
        if length > config.max_snooze:
            raise CommandError(f"最长只能暂停 {format_duration(config.max_snooze)}")
        until = ctx.now + length
    session = ctx.session
    ticket, _ = await find_open_ticket(session, args[0])
    require_group(ctx.policy, ticket, ctx.user, "暂停提醒")
    if not await actions.snooze(session, ctx.policy, ticket, until, ctx.user, ctx.now):
        raise _closed(ticket)
    tz = ctx.policy.timezone
    if until is None:
        return f"工单 #{ticket.id} 已恢复提醒"
    if config.remind_every is None:
        return f"工单 #{ticket.id} 提醒暂停至 {local_time(until, tz)} (当前未开启重复提醒)"
    return f"工单 #{ticket.id} 提醒暂停至 {local_time(until, tz)}, 到时仍未完成会再提醒; 升级照常"
