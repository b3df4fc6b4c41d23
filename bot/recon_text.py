"""What ``orderbot recon import`` prints."""

from __future__ import annotations

from rules.money import format_fen
from rules.statements.money import MILLI_DECIMALS, yuan
from services.recon.fetching import FetchOutcome
from services.recon.importing import ImportOutcome


def imported_lines(outcome: ImportOutcome) -> list[str]:
    statement, totals = outcome.statement, outcome.totals
    merchant = f", 商户 {statement.merchant_id}" if statement.merchant_id else ""
    said = [f"识别为: {statement.title}, 账单日期 {statement.bill_date}{merchant}"]
    if not outcome.stored:
        return [*said, f"此账单已导入过 (第 {outcome.statement_id} 号), 未做改动"]
    return [
        *said,
        f"已导入第 {outcome.statement_id} 号账单: {totals.lines} 行; "
        f"收款 {totals.payments} 笔 {format_fen(totals.payment_fen)}, "
        f"退款 {totals.refunds} 笔 {format_fen(totals.refund_fen)}, "
        f"手续费 ¥{yuan(totals.fee_milli, MILLI_DECIMALS)}",
    ]


def fetched_lines(outcome: FetchOutcome) -> list[str]:
    """What ``orderbot recon fetch`` says of one bill."""
    title = outcome.title
    if outcome.imported is not None:
        return [f"{title}: 已下载并通过校验", *imported_lines(outcome.imported)]
    if outcome.status == "empty":
        return [f"{title}: {outcome.reason}, 无需导入"]
    if outcome.status == "pending":
        return [f"{title}: 账单仍未生成: {outcome.reason}"]
    return [f"{title} 未导入: {outcome.reason}"]
