"""Alipay's bill download (tracking-sms-login-pay-facts §5): the open platform's gateway method
alipay.data.dataservice.bill.downloadurl.query, signed RSA2 with the app's private key; the
answer's signature is checked with Alipay's public key before its bill_download_url is fetched
(a plain GET of a zip, valid ~30 s; Alipay gives no hash of it). Both maintained SDKs are
synchronous and pin the port, so the documented HTTP API is spoken here, with aiohttp."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.bills import BillPending, BillRefused, Download, NoBill
from adapters.bills.keys import sign, verified

METHOD = "alipay.data.dataservice.bill.downloadurl.query"
RESPONSE = METHOD.replace(".", "_") + "_response"
NAME = "支付宝"
BEIJING = timezone(timedelta(hours=8))
READY_HOUR = 10  # bills for day T from about 10:00 on T+1 (Beijing)
_NOT_EXIST = ("isp.bill_not_exist", "BILL_NOT_EXIST")
_AUTH = {
    "isv.invalid-signature": "支付宝拒绝了请求签名: 应用私钥与开放平台上传的应用公钥不配对",
    "isv.missing-signature": "请求缺少签名",
    "isv.invalid-signature-type": "签名类型不被接受 (应为 RSA2)",
    "isv.invalid-app-id": "app_id 不存在或应用未上线",
    "isv.insufficient-isv-permissions": "应用无权调用账单下载接口 (需开通对账单能力)",
    "isv.insufficient-user-permissions": "商户未授权此应用下载账单",
}


def signing_text(params: dict[str, str]) -> str:
    """The request's text to sign: every parameter but ``sign`` with a value, sorted by name,
    ``k=v`` joined with ``&``, values as sent (not URL-encoded)."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v)


class AlipayBills:
    """One app's bills. ``clock`` says whether "no bill" is "not yet" (before 10:00 on the next
    day, Beijing) or "no trades"; ``wall_clock`` stamps the request."""

    gateway = "alipay"

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        app_id: str,
        key: rsa.RSAPrivateKey,
        alipay_key: rsa.RSAPublicKey,
        timeout: float,
        clock: Callable[[], datetime],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._base = base_url
        self._app_id = app_id
        self._key = key
        self._alipay_key = alipay_key
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._wall_clock = wall_clock

    def signed_params(self, biz_content: dict[str, str]) -> dict[str, str]:
        params = {
            "app_id": self._app_id,
            "method": METHOD,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": datetime.fromtimestamp(self._wall_clock(), BEIJING).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "version": "1.0",
            "biz_content": json.dumps(biz_content, ensure_ascii=False, separators=(",", ":")),
        }
        return params | {"sign": sign(self._key, signing_text(params).encode())}

    async def download(self, kind: str, day: date) -> Download:
        """The day's business bill (bill_type=trade): the zip as Alipay serves it."""
        if kind != "trade":
            raise ValueError(f"unknown Alipay bill kind {kind!r}")
        params = self.signed_params({"bill_type": "trade", "bill_date": day.isoformat()})
        status, body = await self._fetch("POST", self._base, params)
        if status >= 500 or status == 429:
            raise BillPending(f"{NAME}网关暂不可用 (HTTP {status})")
        if status != 200:
            raise BillRefused(
                f"{NAME}网关答以 HTTP {status}: 请检查 [recon.alipay] base_url, 未导入任何内容"
            )
        answer = self._verified_answer(body)
        code = str(answer.get("code", ""))
        if code != "10000":
            raise self._failure(answer, day)
        url = answer.get("bill_download_url")
        if not isinstance(url, str) or not url:
            raise BillRefused(f"{NAME}的应答缺少 bill_download_url, 未导入任何内容")
        status, data = await self._fetch("GET", url, None, redirects=True)
        if status != 200:
            raise BillPending(f"{NAME}账单下载失败 (HTTP {status}), 将重新申请下载地址")
        return Download(f"alipay_trade_{self._app_id}_{day:%Y%m%d}.csv.zip", data)

    async def _fetch(
        self, method: str, url: str, form: dict[str, str] | None, *, redirects: bool = False
    ) -> tuple[int, bytes]:
        """One request; the download (a plain GET carrying nothing of ours) may be redirected."""
        try:
            async with self._http.request(
                method, url, data=form, timeout=self._timeout, allow_redirects=redirects
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise BillPending(f"连接{NAME}失败 ({type(error).__name__})") from None

    def _verified_answer(self, body: bytes) -> dict[str, object]:
        """The ``…_response`` object, its signature checked over its exact text. An error
        answer may come unsigned (Alipay does not sign every refusal); a success never."""
        try:
            text = body.decode("utf-8")
            outer = json.loads(text)
            key = RESPONSE if RESPONSE in outer else "error_response"
            answer = outer[key]
            raw = _raw_value(text, key)
        except (ValueError, KeyError, TypeError):
            raise BillRefused(f"{NAME}的应答不是可读的 JSON, 未导入任何内容") from None
        if not isinstance(answer, dict):
            raise BillRefused(f"{NAME}的应答格式不对, 未导入任何内容")
        signature = outer.get("sign")
        if signature is None and answer.get("code") != "10000":
            return answer
        if not isinstance(signature, str) or not verified(
            self._alipay_key, raw.encode(), signature
        ):
            raise BillRefused(
                f"{NAME}应答签名验证失败 (支付宝公钥不符或应答被篡改), 未导入任何内容"
            )
        return answer

    def _failure(self, answer: dict[str, object], day: date) -> Exception:
        code, sub_code = str(answer.get("code", "")), str(answer.get("sub_code", ""))
        said = f"{code} {sub_code} {answer.get('sub_msg') or answer.get('msg') or ''}".strip()
        if sub_code in _NOT_EXIST:
            ready = datetime(day.year, day.month, day.day, READY_HOUR, tzinfo=BEIJING)
            if self._clock() < ready + timedelta(days=1):
                return BillPending(f"{NAME}账单尚未生成 (次日 {READY_HOUR}:00 后可下载; {said})")
            return NoBill(f"{NAME}: 当日无账单 ({said}: 当日没有交易)")
        if sub_code in _AUTH:
            return BillRefused(f"{_AUTH[sub_code]} ({said}), 未导入任何内容")
        if code == "20000" or sub_code.startswith("isp."):
            return BillPending(f"{NAME}服务暂不可用 ({said})")
        return BillRefused(f"{NAME}拒绝了账单请求 ({said}), 未导入任何内容")


def _raw_value(text: str, key: str) -> str:
    """The exact text of ``key``'s value in the answer: what Alipay signed."""
    start = text.index(f'"{key}"') + len(key) + 2
    start = text.index(":", start) + 1
    while text[start].isspace():
        start += 1
    _, end = json.JSONDecoder().raw_decode(text, start)
    return text[start:end]
