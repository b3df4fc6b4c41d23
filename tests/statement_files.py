"""Bill files as the gateways write them (commerce-facts §2), built from a few rows: WeChat Pay's
backticked CSV with its summary, Alipay's GBK zip with tab-suffixed ids and 合计 lines,
UnionPay's fixed-width ZM file. Summaries are computed from the rows; a test that wants a file
that does not add up changes the bytes afterwards."""

from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import dataclass
from decimal import Decimal

WECHAT_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
WECHAT_SUMMARY = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
WECHAT_OLD_HEADER = (
    "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,总金额,企业红包金额,微信退款单号,商户退款单号,退款金额,企业红包退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率"
)
WECHAT_OLD_SUMMARY = "总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额"
FUNDFLOW_HEADER = (
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),"
    "资金变更提交申请人,备注,业务凭证号"
)
FUNDFLOW_SUMMARY = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额"
MCH_ID = "1900000109"


@dataclass(frozen=True)
class WechatLine:
    """A line of an ALL bill: a payment, or with ``refund`` set a refund of that order."""

    order_no: str
    amount: str  # yuan, as the bill writes it
    fee: str  # yuan, 5 decimals
    time: str = "2024-03-01 10:00:00"
    transaction_id: str = "4200002024030100000001"
    refund: str | None = None  # the refund's amount, for a refund line
    refund_no: str = "0"
    coupon: str = "0.00"
    attach: str = ""
    sub_mch: str = "0"

    def cells(self, old: bool = False) -> list[str]:
        refunding = self.refund is not None
        settled = "0.00" if refunding else self.amount
        refund = self.refund or "0.00"
        common = [
            self.time, "wx2421b1c4370ec43b", MCH_ID, self.sub_mch, "", self.transaction_id,
            self.order_no, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "JSAPI",
            "REFUND" if refunding else "SUCCESS", "CMB_CREDIT", "CNY", settled, self.coupon,
            "50300000012024030100000001" if refunding else "0", self.refund_no, refund, "0.00",
            "ORIGINAL" if refunding else "", "SUCCESS" if refunding else "",
            "商品，全角逗号", self.attach, self.fee, "0.60%",
        ]  # fmt: skip
        if old:
            return common
        return [*common, "0.00" if refunding else self.amount, refund, ""]


def _ticked(cells: list[str]) -> str:
    return ",".join("`" + cell for cell in cells)


def _sum(values: list[str]) -> Decimal:
    return sum((Decimal(v) for v in values), Decimal(0))


def wechat_trade(lines: list[WechatLine], old: bool = False, bom: bool = False) -> bytes:
    """An ALL trade bill, current or pre-2018 layout, with its two summary lines."""
    rows = [line.cells(old) for line in lines]
    settled, fees = _sum([r[12] for r in rows]), _sum([r[22] for r in rows])
    refunds = _sum([r[16] for r in rows])
    if old:
        header, summary_header = WECHAT_OLD_HEADER, WECHAT_OLD_SUMMARY
        summary = [str(len(rows)), f"{settled:.2f}", f"{refunds:.2f}", "0.00", f"{fees:.5f}"]
    else:
        header, summary_header = WECHAT_HEADER, WECHAT_SUMMARY
        ordered, asked = _sum([r[24] for r in rows]), _sum([r[25] for r in rows])
        summary = [
            str(len(rows)), f"{settled:.2f}", f"{refunds:.2f}", "0.00", f"{fees:.5f}",
            f"{ordered:.2f}", f"{asked:.2f}",
        ]  # fmt: skip
    text = "\r\n".join([header, *map(_ticked, rows), summary_header, _ticked(summary)]) + "\r\n"
    return ("\ufeff" if bom else "").encode() + text.encode()


def wechat_fundflow(entries: list[tuple[str, str, str, str]]) -> bytes:
    """A fund-flow bill from (业务类型, 收支类型, amount, 业务凭证号) entries."""
    rows, balance = [], Decimal("1000.00")
    for number, (business, direction, amount, voucher) in enumerate(entries, start=1):
        balance += Decimal(amount) if direction == "收入" else -Decimal(amount)
        rows.append([
            f"2024-03-01 10:{number:02d}:00", f"42000020240301{number:08d}", f"F{number:010d}",
            "退款" if business == "退款" else "交易", business, direction, amount,
            f"{balance:.2f}", "system", "", voucher,
        ])  # fmt: skip
    income = [r[6] for r in rows if r[5] == "收入"]
    spent = [r[6] for r in rows if r[5] == "支出"]
    summary = [str(len(rows)), str(len(income)), f"{_sum(income):.2f}", str(len(spent))]
    summary.append(f"{_sum(spent):.2f}")
    text = "\n".join([FUNDFLOW_HEADER, *map(_ticked, rows), FUNDFLOW_SUMMARY, _ticked(summary)])
    return (text + "\n").encode()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


# --- Alipay --------------------------------------------------------------------------------------

ALIPAY_HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
    "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
    "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
    "退款批次号/请求号,服务费（元）,分润（元）,备注"
)
PID = "2088102177340156"


@dataclass(frozen=True)
class AlipayLine:
    """A 交易 line, or with ``refund_no`` a 退款 line (its amounts negative, as Alipay writes)."""

    trade_no: str
    order_no: str
    amount: str  # yuan, positive
    fee: str  # yuan, positive: written negative for a payment, positive for a refund
    refund_no: str = ""
    time: str = "2024-03-01 10:00:01"
    discount: str = "0.00"

    def cells(self) -> list[str]:
        refund = bool(self.refund_no)
        sign = "-" if refund else ""
        fee = self.fee if refund else f"-{self.fee}"
        return [
            f"{self.trade_no}\t", f"{self.order_no}\t", "退款" if refund else "交易", "测试商品",
            self.time, self.time, "", "", "", "", "**学(173****56)", f"{sign}{self.amount}",
            f"{sign}{self.amount}", "0.00", "0.00", "0.00", f"{sign}{self.discount}", "0.00", "",
            "0.00", "0.00", f"{self.refund_no}\t" if refund else "", fee, "0.00", "",
        ]  # fmt: skip


def alipay_detail(lines: list[AlipayLine]) -> bytes:
    """The 业务明细 CSV, in GBK, with its ``#`` lines and 合计."""
    totals = {}
    for kind, pick in (("交易", False), ("退款", True)):
        rows = [line for line in lines if bool(line.refund_no) == pick]
        received = _sum([("-" if pick else "") + r.amount for r in rows])
        discount = _sum([("-" if pick else "") + r.discount for r in rows])
        totals[kind] = (len(rows), received, discount)
    text = "\n".join([
        "#支付宝业务明细查询",
        f"#账号：[{PID}0156]",
        "#起始日期：[2024年03月01日 00:00:00]   终止日期：[2024年03月02日 00:00:00]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        ALIPAY_HEADER,
        *(",".join(line.cells()) for line in lines),
        "#-----------------------------------------业务明细列表结束------------------------------------",
        "#交易合计：{}笔，商家实收共{:.2f}元，商家优惠共{:.2f}元".format(*totals["交易"]),
        "#退款合计：{}笔，商家实收退款共{:.2f}元，商家优惠退款共{:.2f}元".format(*totals["退款"]),
        "#导出时间：[2024年03月02日 06:27:10]",
    ])  # fmt: skip
    return (text + "\n").encode("gbk")


class _GbkNamed(zipfile.ZipInfo):
    """A zip entry named in GBK without the UTF-8 flag, as Alipay's are."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("gbk"), self.flag_bits


def zipped(files: dict[str, bytes], gbk_names: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = _GbkNamed(name) if gbk_names else zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def alipay_zip(lines: list[AlipayLine]) -> bytes:
    """The zip the bill API hands out: the detail and the summary file, GBK names."""
    summary = f"#支付宝业务汇总查询\n#账号：[{PID}0156]\n".encode("gbk")
    return zipped({
        f"{PID}_20240301_业务明细.csv": alipay_detail(lines),
        f"{PID}_20240301_业务明细(汇总).csv": summary,
    })  # fmt: skip


# --- UnionPay ------------------------------------------------------------------------------------

# The ZM layout's widths in bytes (commerce-facts §2.4), one space between fields.
UNIONPAY_WIDTHS = (
    3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1, 21,
    15, 1, 15, 32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 131,
)  # fmt: skip
UNIONPAY_MER_ID = "777290058110097"
UNIONPAY_NAME = f"INN24030188ZM_{UNIONPAY_MER_ID}"


@dataclass(frozen=True)
class UnionpayLine:
    order_no: str
    query_id: str
    amount_fen: int
    fee_fen: int
    txn_type: str = "01"  # 01 consumption, 04 return
    time: str = "0301100000"  # MMDDhhmmss, Beijing
    orig_query_id: str = ""
    attach: str = ""

    def record(self) -> bytes:
        values: dict[int, str] = {
            0: "S22" if self.txn_type == "01" else "S30",
            4: self.time,
            6: f"{self.amount_fen:012d}",
            9: self.query_id,
            11: self.order_no,
            15: f"D{self.fee_fen:012d}",
            16: f"C{self.amount_fen - self.fee_fen:012d}",
            19: self.txn_type,
            26: self.orig_query_id,
            27: UNIONPAY_MER_ID,
            34: self.attach,
            35: f"{0:013d}",
        }
        fields = [
            values.get(i, "").encode("gbk").ljust(width) for i, width in enumerate(UNIONPAY_WIDTHS)
        ]
        return b" ".join(fields)


def unionpay_zm(lines: list[UnionpayLine]) -> bytes:
    return b"".join(line.record() + b"\r\n" for line in lines)
