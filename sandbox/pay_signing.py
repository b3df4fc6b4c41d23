"""The gateways' side of the signatures: WeChat Pay APIv3 checks the WECHATPAY2-SHA256-RSA2048
Authorization of each request and signs its answers (Wechatpay-* headers); Alipay checks the
RSA2 ``sign`` of a gateway request and signs the ``…_response`` text of its answer. Written
from the vendors' documents, apart from the bot's own code, so each checks the other."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_WECHAT_AUTH = re.compile(r'(\w+)="([^"]*)"')


def load_private(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def load_public(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_valid(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(
            base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def check_wechat(
    authorization: str,
    method: str,
    path_qs: str,
    body: str,
    *,
    mchid: str,
    serial: str,
    key: rsa.RSAPublicKey | None,
    now: float,
    max_age: float,
    seen: set[str],
) -> str | None:
    """What is wrong with a request's Authorization (in WeChat Pay's words), or None."""
    scheme, _, rest = authorization.partition(" ")
    if scheme != "WECHATPAY2-SHA256-RSA2048":
        return "Authorization 缺失或认证类型不是 WECHATPAY2-SHA256-RSA2048"
    fields = dict(_WECHAT_AUTH.findall(rest))
    missing = [
        n for n in ("mchid", "nonce_str", "signature", "timestamp", "serial_no") if n not in fields
    ]
    if missing:
        return f"Authorization 缺少 {', '.join(missing)}"
    if fields["mchid"] != mchid or key is None:
        return f"商户号 {fields['mchid']} 不存在或未开通 APIv3"
    if fields["serial_no"] != serial:
        return f"商户证书序列号 {fields['serial_no']} 不是该商户的有效证书"
    if not fields["timestamp"].isdigit() or abs(int(fields["timestamp"]) - now) > max_age:
        return "timestamp 与当前时间相差过大"
    if fields["nonce_str"] in seen:
        return "nonce_str 重复 (重放的请求)"
    message = f"{method}\n{path_qs}\n{fields['timestamp']}\n{fields['nonce_str']}\n{body}\n"
    if not rsa_valid(key, message.encode(), fields["signature"]):
        return "签名错误, 请检查签名串与商户私钥"
    seen.add(fields["nonce_str"])
    return None


def wechat_answer_headers(
    key: rsa.RSAPrivateKey, key_id: str, body: bytes, now: float
) -> dict[str, str]:
    timestamp, nonce = str(int(now)), secrets.token_hex(16)
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": key_id,
        "Wechatpay-Signature": rsa_sign(key, message),
        "Request-ID": secrets.token_hex(16),
    }


def alipay_signed_text(params: Mapping[str, str]) -> str:
    """The request's parameters but ``sign``, empty ones left out, sorted, ``k=v&…``."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
