"""One WeCom digest per reconciliation run, through the outbox: the summary (matched,
differences by class, money at stake) as text, the day's open differences as an XLSX file.
It goes to each group holding the day's payment tickets and to every ``[roles] finance``
person; its key (run number included) makes queueing it twice a no-op."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl
from sqlalchemy.ext.asyncio import AsyncSession

from rules.money import format_fen
from rules.recon import GATEWAY_LABELS, LABELS, STAGE_LABELS, Difference
from rules.recon.export import to_xlsx, yuan_text
from services.policy import Policy
from storage.outbox import notice_row, queue_messages

if TYPE_CHECKING:
    from services.recon.run import RunOutcome

_MONEY = (("expected", "应收"), ("actual", "实收"), ("at_stake", "涉及金额"))
DIGEST_MONEY = frozenset(name for _, name in _MONEY)
_CLASS_LABELS = {cls.value: cls.label for cls in Difference}


def digest_text(outcome: RunOutcome, open_now: int) -> str:
    gateway = GATEWAY_LABELS.get(outcome.gateway, outcome.gateway)
    if outcome.status == "taken":
        return (
            f"💰 对账 {gateway} {outcome.bill_date}: 另一实例同时 (或本轮已) 对账了这一天, "
            "本次结果未保存, 也未重复发送"
        )
    head = f"💰 对账 {gateway} {outcome.bill_date} (第 {outcome.runs} 次)"
    if outcome.status == "no_bill":
        return f"{head}\n未找到当天的{gateway}交易账单, 未对账。导入或下载账单后再运行。"
    lines = [
        head,
        f"核对 {outcome.looked_at} 笔, 已匹配 {outcome.matched} 笔, "
        f"待次日账单 {outcome.pending} 笔",
        f"差异 {outcome.differences} 笔, 涉及金额 {format_fen(outcome.at_stake_fen)}",
    ]
    lines += [
        f"· {Difference(cls).label} {count} 笔"
        for cls, count in sorted(
            outcome.by_class.items(), key=lambda kv: list(LABELS).index(Difference(kv[0]))
        )
    ]
    changes = [f"新增 {outcome.new}"] if outcome.new else []
    changes += [f"已消失并关闭 {outcome.closed}"] if outcome.closed else []
    changes += [f"再次出现 {outcome.reopened}"] if outcome.reopened else []
    if changes:
        lines.append("本次: " + ", ".join(changes))
    if open_now:
        lines.append(f"未处理差异 {open_now} 笔, 清单见附件; 核对后发送「核销 工单号 备注」关闭")
    return "\n".join(lines)


def digest_sheet(open_rows: pl.DataFrame) -> pl.DataFrame:
    """The attachment's sheet: the open differences as finance reads them."""
    return open_rows.select(
        pl.col("ticket_id").alias("工单"),
        pl.col("cls").replace_strict(_CLASS_LABELS, return_dtype=pl.String).alias("类别"),
        pl.col("reason").alias("原因"),
        pl.col("shop").alias("店铺"),
        pl.col("order_no").alias("订单号"),
        pl.col("serial").alias("流水号"),
        pl.col("stage").replace(STAGE_LABELS).alias("阶段"),
        *(yuan_text(pl.col(f"{c}_fen")).alias(n) for c, n in _MONEY),
    )


async def queue_digest(
    session: AsyncSession,
    policy: Policy,
    outcome: RunOutcome,
    open_rows: pl.DataFrame,
    now: datetime,
) -> int:
    """Queue the run's digest for finance, ``open_rows`` the day's open differences
    (storage.recon.DIGEST_SCHEMA); how many messages were queued."""
    text = digest_text(outcome, open_rows.height)
    attachment = None
    if open_rows.height:
        data = await asyncio.to_thread(to_xlsx, [("差异", digest_sheet(open_rows))], DIGEST_MONEY)
        attachment = (f"对账差异_{outcome.gateway}_{outcome.bill_date}.xlsx", data)
    recon = policy.config.recon
    groups = {recon.group or policy.config.routing.default_group}
    groups |= {route.group for route in recon.routes}
    targets = [("group", g) for g in sorted(groups) if policy.group(g).robot_key]
    targets += [("user", u) for u in policy.config.roles.finance]
    key = f"recon:{outcome.gateway}:{outcome.bill_date}:{outcome.runs}"
    rows = [
        notice_row(f"{key}:{kind}:{to}", "recon", (kind, to), text, now, attachment=attachment)
        for kind, to in targets
    ]
    await queue_messages(session, rows)
    return len(rows)
