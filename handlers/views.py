"""Looking things up from the chat: an order's state, a customer's orders, ticket lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

from handlers.refs import find, find_order, group_by_name, groups_of
from handlers.registry import (
    ANYONE,
    CUSTOMER_SERVICE,
    MEMBER,
    OPS,
    SUPERVISOR,
    CommandContext,
    CommandError,
    CommandRouter,
)
from rules.digest import ticket_line
from rules.kinds import Kind
from rules.money import format_fen
from rules.phones import canonical_phone, mask_phone
from rules.render import local_time, notes_lines
from rules.stages import Stage
from services.notices import alert_facts
from services.order_view import (
    OrderSummary,
    OrderView,
    TicketView,
    TimelineEntry,
    customer_orders,
    order_summary,
    view_of,
)
from storage import lookups as db
from storage.ticket_rows import tickets_with_orders

router = CommandRouter()

EVENT_LABELS = {
    "alerted": "告警",
    "claimed": "认领",
    "assigned": "转交",
    "snoozed": "稍后",
    "noted": "备注",
    "escalated": "升级",
    "resolved": "完成",
}
STATUS_TEXT_LIMIT = 300  # characters of a buyer message, memo or hold reason in 状态
SCANS_SHOWN = 5  # the latest carrier scans in 状态's timeline
QUERY_DAYS = 90  # how far back 查询 looks for a customer's orders
QUERY_LIMIT = 10
LIST_LIMIT = 20  # 待办 lines before "and N more"


@router.command("状态", "status", usage="状态 <订单号|工单号>", roles={ANYONE})
async def status(ctx: CommandContext, args: list[str]) -> str:
    """查看订单当前环节、预计时间、处理人和工单经过 (含内部备注)"""
    tz = ctx.policy.timezone
    found = await find(ctx.session, args[0], open_only=False)
    view = await view_of(ctx.session, ctx.policy, found.order, found.ticket, ctx.now)
    lines = [
        f"订单 {view.order_no} ({view.channel_label})",
        _state_line(view, tz),
        *_parcel_lines(view, tz),
        f"收货电话: {view.phone or '-'}",
        *notes_lines(view.notes, tz, STATUS_TEXT_LIMIT),
    ]
    ticket = view.ticket
    if ticket is None:
        lines.append("暂无工单")
    else:
        state = "跟进中" if ticket.open else "已关闭"
        lines.append(
            f"工单 #{ticket.id} {state} ({ticket.group_name}, {_about(ticket)}), "
            f"处理人: {ticket.owner or '未认领'}"
        )
        if ticket.open and ticket.snoozed_until and ticket.snoozed_until > ctx.now:
            lines.append(f"提醒暂停至 {local_time(ticket.snoozed_until, tz)}")
    lines += [f"  {local_time(entry.at, tz)} {entry_words(entry)}" for entry in _shown(view)]
    return "\n".join(lines)


def _state_line(view: OrderSummary, tz: ZoneInfo) -> str:
    """Where the order is: its parcel once shipped (``物流: 运输中, 预计12月4日送达``), else its
    stage and the promise of its SLA deadline."""
    if view.parcels and view.stage == Stage.SHIPPED:
        return f"物流: {view.stage_in_words}"
    deadline = local_time(view.deadline_at, tz) if view.deadline_at else "无时限"
    return f"环节: {view.stage_in_words}, 截止 {deadline}"


def _parcel_lines(view: OrderSummary, tz: ZoneInfo, indent: str = "") -> list[str]:
    """Each parcel: who carries it and its last scan (where it is in words is said above)."""
    lines = []
    for parcel in view.parcels:
        if parcel.last_scan_at is None:
            scanned = "暂无扫描"
        else:
            where = f" {parcel.last_scan_place}" if parcel.last_scan_place else ""
            scanned = f"最新扫描 {local_time(parcel.last_scan_at, tz)}{where}"
        lines.append(f"{indent}包裹: {parcel.carrier_name} {parcel.tracking_no}, {scanned}")
    return lines


def _shown(view: OrderView) -> list[TimelineEntry]:
    """The timeline with only the latest SCANS_SHOWN scans (a parcel gathers dozens)."""
    scans = [entry for entry in view.timeline if entry.kind == "scan"]
    older = set(map(id, scans[:-SCANS_SHOWN]))
    return [entry for entry in view.timeline if id(entry) not in older]


def _about(ticket: TicketView) -> str:
    """What the ticket is about: ``已付款待拣货超时``, ``付款差异``."""
    if ticket.kind == Kind.OVERDUE and ticket.stage:
        return f"{Stage(ticket.stage).label}{ticket.kind_label}"
    return ticket.kind_label


def entry_words(entry: TimelineEntry) -> str:
    if entry.kind == "stage":
        return f"进入「{Stage(entry.detail).label}」" if entry.detail else "环节变化"
    if entry.kind == "scan":
        place = (
            f"【{entry.place}】" if entry.place and entry.place not in (entry.detail or "") else ""
        )
        return f"{entry.actor or '快递'}: {place}{entry.detail or ''}"
    if entry.kind == "text":
        return f"短信 {entry.detail}"
    if entry.kind == "opened":
        return f"开单: {entry.detail}"
    words = [EVENT_LABELS.get(entry.kind, entry.kind), entry.actor, entry.detail]
    return " ".join(w for w in words if w)


@router.command(
    "查询",
    "query",
    usage="查询 <手机号|订单号...>",
    roles={CUSTOMER_SERVICE, SUPERVISOR, OPS},
    chats={"direct"},
)
async def query(ctx: CommandContext, args: list[str]) -> str:
    """查客户近期的全部订单及其状态, 可直接答复客户

    手机号须完整 (11 位, 可带 +86 和空格); 写订单号时列出该订单收货人的全部近期订单。
    只能私聊使用, 号码一律脱敏显示。
    """
    ref = " ".join(args)  # a phone number may be typed in groups: 138 1234 5678
    phone = canonical_phone(ref)
    if phone is not None and phone.isdigit() and len(phone) == 11:
        orders = await _orders_of(ctx, phone)
        if not orders:
            raise CommandError(f"近 {QUERY_DAYS} 天没有手机号 {mask_phone(phone)} 的订单")
    else:
        found = await find_order(ctx.session, ref, open_only=True)
        phone = found.order.receiver_phone
        orders = (await _orders_of(ctx, phone) if phone else ()) or (
            await order_summary(ctx.session, ctx.policy, found.order, found.ticket, ctx.now),
        )
    tz = ctx.policy.timezone
    lines = [f"客户 {mask_phone(phone)} 近 {QUERY_DAYS} 天的订单 (最多 {QUERY_LIMIT} 个):"]
    for number, order in enumerate(orders, start=1):
        paid = f"{local_time(order.paid_at, tz)} 付款" if order.paid_at else "未付款"
        amount = format_fen(order.amount_fen)
        lines.append(f"{number}. {order.order_no} {order.channel_label} {amount} {paid}")
        lines.append(f"   {order.stage_in_words}")
        lines += _parcel_lines(order, tz, indent="   ")
        if order.ticket is not None:
            lines.append(
                f"   工单 #{order.ticket.id} 跟进中, 处理人: {order.ticket.owner or '待认领'}"
            )
    return "\n".join(lines)


async def _orders_of(ctx: CommandContext, phone: str) -> tuple[OrderSummary, ...]:
    """The customer's recent orders, each with its open ticket."""
    since = ctx.now - timedelta(days=QUERY_DAYS)
    return await customer_orders(ctx.session, ctx.policy, phone, since, QUERY_LIMIT, ctx.now)


async def _lines(ctx: CommandContext, ticket_ids: Sequence[int]) -> list[str]:
    rows = await tickets_with_orders(ctx.session, ticket_ids)
    return [
        ticket_line(alert_facts(ctx.policy, rows[i], level=rows[i].level), ctx.now)
        for i in ticket_ids
    ]


@router.command("我的", "mine", usage="我的", roles={MEMBER, SUPERVISOR})
async def mine(ctx: CommandContext, args: list[str]) -> str:
    """列出您认领的未完成工单, 最早超时的在前"""
    ids = await db.open_tickets_of_owner(ctx.session, ctx.user)
    lines = await _lines(ctx, ids)
    if not lines:
        return "您没有未完成的工单"
    return "\n".join([f"您的未完成工单 {len(lines)} 张:", *lines])


@router.command("待办", "list", usage="待办 [处理组]", roles={MEMBER, SUPERVISOR, OPS})
async def todo(ctx: CommandContext, args: list[str]) -> str:
    """列出处理组未关闭的工单, 最早超时的在前

    不写组名时列出您所在或主管的组 (运维: 全部组); 组名可写代号或名称。
    """
    config = ctx.policy.config
    if args:
        key = group_by_name(config, args[0])
        if key is None:
            names = "、".join(f"{g.name}({k})" for k, g in config.groups.items())
            raise CommandError(f"没有处理组「{args[0]}」。可选: {names}")
        keys = [key]
    else:
        keys = groups_of(config, ctx.user) or list(config.groups)
    ids, total = await db.open_tickets_of_groups(ctx.session, keys, LIST_LIMIT)
    lines = await _lines(ctx, ids)
    names = "、".join(ctx.policy.group(k).name for k in keys)
    if not lines:
        return f"{names} 没有未关闭的工单"
    more = [f"…另有 {total - len(lines)} 张未列出"] if total > len(lines) else []
    return "\n".join([f"{names} 未关闭工单 {total} 张:", *lines, *more])
