"""Reconciliation in the chat: 对账 looks a day's runs and differences up, 核销 writes a
payment difference off (its ticket closed with the note)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from adapters.wecom.messages import APP_TEXT_MAX_BYTES
from handlers.registry import (
    FINANCE,
    OPS,
    SUPERVISOR,
    CommandContext,
    CommandError,
    CommandRouter,
    UsageError,
)
from rules.money import format_fen
from rules.recon import GATEWAY_LABELS, Difference
from services.recon.lookup import DayView, WriteOffRefused, day_view, write_off
from services.reports import day_of

router = CommandRouter()
FINANCE_ROLES = frozenset({FINANCE, SUPERVISOR, OPS})
SHOWN = 15  # differences listed in a reply; the digest's XLSX has them all

_GATEWAY_WORDS = {
    "wechat": "wechat", "微信": "wechat", "微信支付": "wechat",
    "alipay": "alipay", "支付宝": "alipay",
    "unionpay": "unionpay", "银联": "unionpay",
}  # fmt: skip
_ALL_WORDS = {"全部", "all"}
_TICKET = re.compile(r"#?(\d{1,18})")
_DATE = re.compile(r"(?:(\d{4})-)?(\d{1,2})-(\d{1,2})")


@router.command("核销", "writeoff", usage="核销 <工单号> <备注...>", roles={FINANCE})
async def writeoff(ctx: CommandContext, args: list[str]) -> str:
    """核销付款差异: 关闭付款工单并记下备注 (重新对账不会再打开)

    例: 核销 42 已与渠道确认, 次日补入账。工单号见对账推送或「对账」。
    """
    number = _TICKET.fullmatch(args[0].strip(",.;:"))
    if number is None:
        raise UsageError(f"「{args[0]}」不是工单号")
    remark = " ".join(args[1:]).strip()
    if not remark:
        raise UsageError("核销须写备注, 说明差异如何处理")
    try:
        difference = await write_off(ctx.session, int(number[1]), remark, ctx.user, ctx.now)
    except WriteOffRefused as refusal:
        raise CommandError(str(refusal)) from None
    if difference is None:
        return f"已核销工单 #{number[1]}: {remark}"
    what = Difference(difference.cls).label
    return f"已核销工单 #{number[1]} ({what} {format_fen(difference.at_stake_fen)}): {remark}"


@router.command("对账", "recon", usage="对账 [日期] [店铺] [渠道] [全部]", roles=FINANCE_ROLES)
async def recon(ctx: CommandContext, args: list[str]) -> str:
    """查看对账结果: 当天各支付渠道的核对情况和未核销的差异

    日期写 2026-12-01、12-01、今天 或 昨天 (默认昨天); 渠道写 微信、支付宝、银联;
    其余的词当作店铺名; 写「全部」连已关闭、已核销的差异一起列出。
    """
    today = day_of(ctx.policy, ctx.now)
    bill_date, gateway, shop, everything = today - timedelta(days=1), None, None, False
    for word in args:
        if (found := _date(word, today)) is not None:
            bill_date = found
        elif word.lower() in _GATEWAY_WORDS:
            gateway = _GATEWAY_WORDS[word.lower()]
        elif word.lower() in _ALL_WORDS:
            everything = True
        elif shop is None:
            shop = word
        else:
            raise UsageError(f"不认识「{word}」: 只能写一个店铺名")
    view = await day_view(ctx.session, bill_date, gateway, shop, not everything)
    return _render(view, bill_date, gateway, shop)


def _date(word: str, today: date) -> date | None:
    if word in ("今天", "today"):
        return today
    if word in ("昨天", "yesterday"):
        return today - timedelta(days=1)
    match = _DATE.fullmatch(word)
    if match is None:
        return None
    try:
        return date(int(match[1] or today.year), int(match[2]), int(match[3]))
    except ValueError:
        raise UsageError(f"「{word}」不是日期") from None


def _render(view: DayView, bill_date: date, gateway: str | None, shop: str | None) -> str:
    scope = " ".join(w for w in (GATEWAY_LABELS.get(gateway or ""), shop) if w)
    lines = [f"对账 {bill_date}{' ' + scope if scope else ''}"]
    if not view.runs:
        lines.append("这一天还没有对账 (账单到齐后每晚自动运行, 或 orderbot recon run)")
    for run in view.runs:
        name = GATEWAY_LABELS.get(run.gateway, run.gateway)
        if run.status == "no_bill":
            lines.append(f"· {name}: 没有账单, 未对账")
            continue
        lines.append(
            f"· {name}: 核对 {run.payments} 笔, 匹配 {run.matched}, 待次日 {run.pending}, "
            f"差异 {run.differences} 笔 {format_fen(run.at_stake_fen)}"
        )
    if view.differences:
        lines.append(f"差异 {len(view.differences)} 笔:")
    elif view.runs:
        lines.append("没有符合条件的差异")
    for d in view.differences[:SHOWN]:
        state = {"open": "", "closed": " [已消失]", "written_off": " [已核销]"}[d.status]
        ticket = f"#{d.ticket_id} " if d.ticket_id else ""
        lines.append(f"{ticket}{d.reason}{state}")
    if len(view.differences) > SHOWN:
        lines.append(f"…另有 {len(view.differences) - SHOWN} 笔, 完整清单见对账推送的附件")
    return _fit("\n".join(lines))


def _fit(text: str) -> str:
    """Cut to one WeCom text message, on a line."""
    if len(text.encode()) <= APP_TEXT_MAX_BYTES:
        return text
    kept: list[str] = []
    size = len("…(其余见附件)".encode())
    for line in text.split("\n"):
        size += len(line.encode()) + 1
        if size > APP_TEXT_MAX_BYTES:
            break
        kept.append(line)
    return "\n".join([*kept, "…(其余见附件)"])
