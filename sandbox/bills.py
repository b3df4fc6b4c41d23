"""The bills the sandbox's payment gateways hand out, written from the payments they took, in
the documented layouts (commerce-facts §2.1–2.3, the same columns rules.statements reads):
WeChat Pay's ALL trade bill and fund-flow bill (backticked CSV, UTF-8, summary lines) and
Alipay's business bill (a zip of GBK CSVs, ids ending in a tab, 合计 lines).

A bill is a pure function of the day's lines, so the same day asked twice is the same file."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from rules.statements import alipay, wechat
from rules.statements.money import FEN_DECIMALS, MILLI_DECIMALS, yuan

BEIJING = timezone(timedelta(hours=8))
APPID = "wx8888888888888888"


@dataclass(frozen=True)
class BillLine:
    """A payment (``refund_fen`` 0) or a refund of it, as the gateway books it. Money in fen,
    the fee in 1/1000 fen (charged +, given back −); ``difference`` names what the sandbox
    injected to make the line disagree with the order (None: a true line)."""

    at: datetime
    order_no: str
    trade_no: str
    amount_fen: int
    fee_milli: int
    refund_fen: int = 0
    refund_no: str = ""
    refund_trade_no: str = ""
    attach: str = ""
    difference: str | None = None

    @property
    def fee_fen(self) -> int:
        rounded = (abs(self.fee_milli) + 500) // 1000
        return -rounded if self.fee_milli < 0 else rounded

    def as_json(self) -> dict[str, object]:
        return {
            "at": self.at.astimezone(BEIJING).isoformat(),
            "order_no": self.order_no,
            "trade_no": self.trade_no,
            "amount_fen": self.amount_fen,
            "fee_milli": self.fee_milli,
            "refund_fen": self.refund_fen,
            "refund_no": self.refund_no,
            "difference": self.difference,
        }


def _beijing(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _ticked(cells: Sequence[str]) -> str:
    return ",".join("`" + cell for cell in cells)


def _total(values: Sequence[int], decimals: int = FEN_DECIMALS) -> str:
    return yuan(sum(values), decimals)


def wechat_trade(mchid: str, rate: str, lines: Sequence[BillLine]) -> bytes:
    """The ALL trade bill (27 columns, current layout)."""
    rows = []
    for line in lines:
        refund = line.refund_fen > 0
        settled = 0 if refund else line.amount_fen
        rows.append([
            _beijing(line.at), APPID, mchid, "0", "", line.trade_no, line.order_no,
            "oSandboxBuyer0000000000000000", "JSAPI", "REFUND" if refund else "SUCCESS", "OTHERS",
            "CNY", yuan(settled), "0.00", line.refund_trade_no if refund else "0",
            line.refund_no if refund else "0", yuan(line.refund_fen), "0.00",
            "ORIGINAL" if refund else "", "SUCCESS" if refund else "", f"订单{line.order_no}",
            line.attach, yuan(line.fee_milli, MILLI_DECIMALS), rate, yuan(settled),
            yuan(line.refund_fen), "",
        ])  # fmt: skip
    summary = [
        str(len(lines)),
        _total([0 if ln.refund_fen else ln.amount_fen for ln in lines]),
        _total([ln.refund_fen for ln in lines]),
        "0.00",
        _total([ln.fee_milli for ln in lines], MILLI_DECIMALS),
        _total([0 if ln.refund_fen else ln.amount_fen for ln in lines]),
        _total([ln.refund_fen for ln in lines]),
    ]
    text = [",".join(wechat.ALL.header), *map(_ticked, rows)]
    text += [",".join(wechat.ALL.summary), _ticked(summary)]
    return ("\r\n".join(text) + "\r\n").encode()


def wechat_fundflow(lines: Sequence[BillLine], opening_fen: int = 0) -> bytes:
    """The BASIC account's fund-flow bill: each payment in, its fee out; each refund out, its
    fee given back."""
    entries: list[tuple[BillLine, str, str, int, str]] = []
    for line in lines:
        if line.refund_fen:
            entries.append((line, "退款", "支出", line.refund_fen, line.refund_no))
            entries.append((line, "退还交易手续费", "收入", -line.fee_fen, line.refund_no))
        else:
            entries.append((line, "交易", "收入", line.amount_fen, line.order_no))
            entries.append((line, "扣除交易手续费", "支出", line.fee_fen, line.order_no))
    rows, balance = [], opening_fen
    for number, (line, business, direction, fen, voucher) in enumerate(entries, start=1):
        balance += fen if direction == "收入" else -fen
        rows.append([
            _beijing(line.at), line.refund_trade_no or line.trade_no, f"F{number:012d}",
            "退款" if line.refund_fen else "交易", business, direction, yuan(fen),
            yuan(balance), "system", "", voucher,
        ])  # fmt: skip
    income = [e[3] for e in entries if e[2] == "收入"]
    spent = [e[3] for e in entries if e[2] == "支出"]
    summary = [str(len(rows)), str(len(income)), _total(income), str(len(spent)), _total(spent)]
    text = [",".join(wechat.FUND_FLOW.header), *map(_ticked, rows)]
    text += [",".join(wechat.FUND_FLOW.summary), _ticked(summary)]
    return ("\r\n".join(text) + "\r\n").encode()


def _alipay_cells(line: BillLine) -> list[str]:
    refund = line.refund_fen > 0
    amount = -line.refund_fen if refund else line.amount_fen
    time = _beijing(line.at)
    return [
        f"{line.trade_no}\t", f"{line.order_no}\t", "退款" if refund else "交易",
        f"订单{line.order_no}", time, time, "", "", "", "", "**买(138****5678)", yuan(amount),
        yuan(amount), "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00",
        f"{line.refund_no}\t" if refund else "",
        yuan(-line.fee_fen), "0.00", line.attach,
    ]  # fmt: skip


def alipay_zip(pid: str, day: date, lines: Sequence[BillLine], exported: datetime) -> bytes:
    """The business bill (bill_type=trade) as the download URL serves it: a zip of the detail
    and the summary CSV, both GBK, the entries named in GBK without the UTF-8 flag."""
    payments = [ln for ln in lines if not ln.refund_fen]
    refunds = [ln for ln in lines if ln.refund_fen]
    start, end = f"{day:%Y年%m月%d日} 00:00:00", f"{day + timedelta(days=1):%Y年%m月%d日} 00:00:00"
    rule = "#-----------------------------------------"
    detail = "\n".join([
        alipay.TITLE,
        f"#账号：[{pid}0156]",
        f"#起始日期：[{start}]   终止日期：[{end}]",
        f"{rule}业务明细列表----------------------------------------",
        ",".join(alipay.HEADER),
        *(",".join(_alipay_cells(line)) for line in lines),
        f"{rule}业务明细列表结束------------------------------------",
        f"#交易合计：{len(payments)}笔，商家实收共{_total([p.amount_fen for p in payments])}元，"
        "商家优惠共0.00元",
        f"#退款合计：{len(refunds)}笔，商家实收退款共{_total([-r.refund_fen for r in refunds])}元，"
        "商家优惠退款共0.00元",
        f"#导出时间：[{exported.astimezone(BEIJING):%Y年%m月%d日 %H:%M:%S}]",
    ])  # fmt: skip
    summary = f"#支付宝业务汇总查询\n#账号：[{pid}0156]\n"
    stem = f"{pid}_{day:%Y%m%d}"
    return _gbk_zip({
        f"{stem}_业务明细.csv": (detail + "\n").encode("gbk"),
        f"{stem}_业务明细(汇总).csv": summary.encode("gbk"),
    })  # fmt: skip


class _GbkNamed(zipfile.ZipInfo):
    """A zip entry named in GBK without the UTF-8 flag, as Alipay's are."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("gbk"), self.flag_bits


def _gbk_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = _GbkNamed(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
