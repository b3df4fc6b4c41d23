"""WeChat Pay APIv3 bills (tracking-sms-login-pay-facts §4): apply with a signed GET of
/v3/bill/tradebill (bill_type=ALL) or /v3/bill/fundflowbill (account_type=BASIC), check the
answer's signature with WeChat Pay's public key, then GET its download_url, signed the same way.
The file itself is unsigned: it is gunzipped and its SHA1 compared with the signed answer's
hash_value. The maintained SDK (wechatpayv3) does not check that hash and hard-codes the host,
so the documented HTTP API is spoken here, with aiohttp."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import secrets
import time
import zlib
from collections.abc import Callable, Mapping
from datetime import date
from urllib.parse import urlencode

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from adapters.bills import BillPending, BillRefused, Download, NoBill
from adapters.bills.keys import sign, verified

SCHEME = "WECHATPAY2-SHA256-RSA2048"
NAME = "微信支付"
MAX_SKEW = 300  # seconds between the answer's Wechatpay-Timestamp and our clock
_BILLS = {
    "trade": ("/v3/bill/tradebill", {"bill_type": "ALL"}),
    "fundflow": ("/v3/bill/fundflowbill", {"account_type": "BASIC"}),
}
_PENDING = {
    "STATEMENT_CREATING": "账单生成中",
    "SYSTEM_ERROR": "微信支付系统繁忙",
    "FREQUENCY_LIMITED": "请求过于频繁",
    "INVALID_REQUEST": "下载地址已失效, 需重新申请",  # the download URL lives 30 s to 5 min
}
_REFUSED = {
    "SIGN_ERROR": "微信支付拒绝了请求签名: 请检查 merchant_serial 与商户私钥是否配对",
    "NO_AUTH": "无权下载此账单 (商户号与证书不符, 或由其他商户申请)",
    "PARAM_ERROR": "请求参数有误",
}


class WechatPayBills:
    """One merchant's bills. ``wall_clock`` (Unix seconds) stamps and checks signatures."""

    gateway = "wechat"

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        mchid: str,
        merchant_serial: str,
        key: rsa.RSAPrivateKey,
        public_key: rsa.RSAPublicKey,
        public_key_id: str,
        timeout: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._mchid = mchid
        self._serial = merchant_serial
        self._key = key
        self._public_key = public_key
        self._public_key_id = public_key_id
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = wall_clock

    async def download(self, kind: str, day: date) -> Download:
        """The day's bill, unpacked and checked against its SHA1."""
        path, params = _BILLS[kind]
        query = urlencode({"bill_date": day.isoformat(), **params, "tar_type": "GZIP"})
        status, headers, body = await self._get(URL(f"{self._base}{path}?{query}", encoded=True))
        if status != 200:
            raise _failure(status, body)
        self._check_signature(headers, body)
        url, hash_type, hash_value = _answer(body)
        status, _, data = await self._get(URL(url, encoded=True))
        if status != 200:
            raise _failure(status, data)
        content, digest = await asyncio.to_thread(_unpacked_sha1, data)
        if hash_type.upper() != "SHA1" or digest != hash_value.lower():
            raise BillRefused(
                f"{NAME}账单文件的 SHA1 与申请时给出的不符 (应为 {hash_value}, 下载所得 {digest}): "
                "文件在传输中被改动或不完整, 未导入任何内容"
            )
        return Download(f"wechatpay_{kind}bill_{self._mchid}_{day:%Y%m%d}.csv", content)

    def authorization(self, method: str, url: URL, body: str = "") -> str:
        """The Authorization header: the request line, time and nonce signed with our key."""
        timestamp, nonce = str(int(self._clock())), secrets.token_hex(16).upper()
        message = f"{method}\n{url.raw_path_qs}\n{timestamp}\n{nonce}\n{body}\n"
        signature = sign(self._key, message.encode())
        return (
            f'{SCHEME} mchid="{self._mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{self._serial}"'
        )

    async def _get(self, url: URL) -> tuple[int, Mapping[str, str], bytes]:
        headers = {"Accept": "application/json", "Authorization": self.authorization("GET", url)}
        try:
            async with self._http.get(
                url, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                return response.status, response.headers, await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise BillPending(f"连接{NAME}失败 ({type(error).__name__})") from None

    def _check_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        serial = headers.get("Wechatpay-Serial", "")
        timestamp = headers.get("Wechatpay-Timestamp", "")
        nonce = headers.get("Wechatpay-Nonce", "")
        signature = headers.get("Wechatpay-Signature", "")
        if serial != self._public_key_id:
            raise BillRefused(
                f"{NAME}应答的签名公钥 (Wechatpay-Serial {serial or '无'}) 不是配置的 "
                f"public_key_id {self._public_key_id}: 应答未被采信, 未导入任何内容"
            )
        if not timestamp.isdigit() or abs(int(timestamp) - self._clock()) > MAX_SKEW:
            raise BillRefused(
                f"{NAME}应答的时间戳 {timestamp or '无'} 与本机时间相差超过 {MAX_SKEW} 秒 "
                "(重放或本机时钟不准), 未导入任何内容"
            )
        message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
        if not verified(self._public_key, message, signature):
            raise BillRefused(
                f"{NAME}应答签名验证失败 (微信支付公钥不符或应答被篡改), 未导入任何内容"
            )


def _answer(body: bytes) -> tuple[str, str, str]:
    try:
        answer = json.loads(body)
        return str(answer["download_url"]), str(answer["hash_type"]), str(answer["hash_value"])
    except (ValueError, KeyError, TypeError):
        raise BillRefused(
            f"{NAME}的申请应答缺少 download_url / hash_value, 未导入任何内容"
        ) from None


def _failure(status: int, body: bytes) -> Exception:
    """What an error answer means: wait and try again, no bill that day, or refused."""
    try:
        answer = json.loads(body)
        code, message = str(answer.get("code", "")), str(answer.get("message", ""))
    except (ValueError, AttributeError):
        code, message = "", ""
    said = f"{NAME} HTTP {status} {code} {message}".rstrip()
    if code == "NO_STATEMENT_EXIST":
        return NoBill(f"{NAME}: 当日无账单 (NO_STATEMENT_EXIST: 当日没有交易)")
    if code in _PENDING or status >= 500 or status == 429:
        return BillPending(f"{_PENDING.get(code, '微信支付暂不可用')} ({said})")
    if code in _REFUSED or status in (401, 403):
        reason = _REFUSED.get(code, "鉴权失败: 请检查 mchid、merchant_serial 与商户私钥")
        return BillRefused(f"{reason} ({said}), 未导入任何内容")
    return BillRefused(f"{NAME}拒绝了账单请求 ({said}), 未导入任何内容")


def _unpacked_sha1(data: bytes) -> tuple[bytes, str]:
    """The bill gunzipped (tar_type=GZIP), and the SHA1 of that, which hash_value states."""
    if data.startswith(b"\x1f\x8b"):
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error):
            raise BillRefused(f"{NAME}账单文件是损坏的 gzip (下载不完整), 未导入任何内容") from None
    return data, hashlib.sha1(data).hexdigest()
