"""Which bill a file is, from its content (a zip or gzip is opened first), and reading it."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from rules.statements import alipay, unionpay, wechat
from rules.statements.checks import header_refusal
from rules.statements.csvbill import first_line, header_of
from rules.statements.shape import GATEWAYS, KINDS, Statement, StatementRefused

BOM = "\ufeff".encode()
REFERENCE = "docs/reconciliation.md"
_GZIP, _ZIP = b"\x1f\x8b", b"PK\x03\x04"
_WECHAT = {
    tuple(wechat.ALL.header): ("wechat", "trade"),
    tuple(wechat.OLD_ALL.header): ("wechat", "trade"),
    tuple(wechat.FUND_FLOW.header): ("wechat", "fundflow"),
}


def parse_statement(
    data: bytes, name: str, gateway: str | None = None, kind: str | None = None
) -> Statement:
    """Read a bill file as downloaded (``name`` is its file name: some bills carry their day
    only there); ``gateway`` and ``kind``, when given, are what the file must be."""
    name, data = _opened(name, data)
    found, read = _recognised(data, name)
    if (gateway or found[0]) != found[0] or (kind or found[1]) != found[1]:
        wanted = f"{GATEWAYS.get(gateway or found[0], gateway)}{KINDS.get(kind or found[1], kind)}"
        raise StatementRefused(
            f"指定的是{wanted}, 但文件内容是{GATEWAYS[found[0]]}{KINDS[found[1]]}, 未导入任何内容"
        )
    with ThreadPoolExecutor(1) as hashing:  # hashlib lets go of the GIL: digest while reading
        digest = hashing.submit(lambda: hashlib.sha256(data).hexdigest())
        return replace(read(), digest=digest.result())


def _opened(name: str, data: bytes) -> tuple[str, bytes]:
    """A gzip's content; a zip's detail file (Alipay's 业务明细, UnionPay's ZM file)."""
    if data.startswith(_GZIP):
        try:
            return name.removesuffix(".gz").removesuffix(".gzip"), gzip.decompress(data)
        except (EOFError, OSError, zlib.error):
            raise StatementRefused(
                f"{name} 是不完整或损坏的 gzip 压缩文件 (可能下载中断), 未导入任何内容"
            ) from None
    if not data.startswith(_ZIP):
        return name, data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = {_entry_name(info): info for info in archive.infolist()}
            chosen = _chosen(list(entries), name)
            return chosen, archive.read(entries[chosen])
    except (zipfile.BadZipFile, EOFError, zlib.error):
        raise StatementRefused(
            f"{name} 是不完整或损坏的 zip 压缩文件 (可能下载中断), 未导入任何内容"
        ) from None


def _entry_name(info: zipfile.ZipInfo) -> str:
    """Alipay's zips name their files in GBK without the UTF-8 flag: zipfile read them as
    code page 437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _chosen(names: list[str], archive: str) -> str:
    details = [n for n in names if n.endswith("业务明细.csv")]
    flows = [n for n in names if "ZM_" in n and "ZME" not in n]
    if len(details) == 1:
        return details[0]
    if len(flows) == 1:
        return flows[0]
    if len(names) == 1:
        return names[0]
    raise StatementRefused(
        f"{archive} 里找不到唯一的账单明细文件 (支付宝 *_业务明细.csv 或银联 INN…ZM_…): "
        f"里面有 {', '.join(names) or '空'}, 未导入任何内容"
    )


def _recognised(data: bytes, name: str) -> tuple[tuple[str, str], Callable[[], Statement]]:
    body = data.removeprefix(BOM)
    header = tuple(header_of(body))
    if header in _WECHAT:
        gateway_kind = _WECHAT[header]
        if gateway_kind[1] == "fundflow":
            return gateway_kind, lambda: wechat.read_fundflow(body, name)
        layout = wechat.ALL if header == wechat.ALL.header else wechat.OLD_ALL
        return gateway_kind, lambda: wechat.read_trade(body, name, layout)
    if body.startswith(alipay.TITLE.encode()) or data.startswith(alipay.TITLE.encode("gb18030")):
        return ("alipay", "trade"), lambda: alipay.read(alipay.decode(data))
    if unionpay.looks_like(body, name):
        return ("unionpay", "trade"), lambda: unionpay.read(data, name)
    raise _unrecognised(body, name)


def _unrecognised(body: bytes, name: str) -> StatementRefused:
    first = first_line(body)
    try:
        first.decode("utf-8")
    except UnicodeDecodeError:
        text = first.decode("gb18030", errors="replace")
        if tuple(text.split(",")) in _WECHAT:
            return StatementRefused(
                f"{name} 是微信支付账单, 但被另存成了 GBK 编码 (微信支付账单是 UTF-8); "
                "请导入下载的原始文件, 未导入任何内容"
            )
        if text.startswith("#支付宝业务汇总查询"):
            return StatementRefused(
                f"{name} 是支付宝业务汇总文件; 请导入同一 zip 中的业务明细文件 (或整个 zip), "
                "未导入任何内容"
            )
    shown = first.decode("utf-8", errors="replace")
    if shown.startswith("交易时间,"):
        return StatementRefused(
            f"{name} 不是微信支付 ALL 交易账单: 表头有 {shown.count(',') + 1} 列 (ALL 账单 "
            f"{len(wechat.ALL.header)} 列, 旧版 {len(wechat.OLD_ALL.header)} 列); SUCCESS / REFUND "
            "账单只含一天的一部分, 请下载 bill_type=ALL 的账单, 未导入任何内容"
        )
    if shown.startswith("记账时间,"):
        return header_refusal(wechat.FUNDFLOW, shown.split(","), wechat.FUND_FLOW.header)
    return StatementRefused(
        f"认不出 {name} 是哪种账单: 第 1 行是「{shown[:60]}」; 接受的账单见 {REFERENCE}, "
        "未导入任何内容"
    )
