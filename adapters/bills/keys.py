"""RSA keys as the gateways hand them out, and SHA256withRSA (PKCS#1 v1.5) signatures in
Base64: the scheme of both WeChat Pay APIv3 (WECHATPAY2-SHA256-RSA2048) and Alipay's RSA2."""

from __future__ import annotations

import base64
import binascii
import textwrap

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class BadKey(ValueError):
    """A key that is not an RSA key in PEM (or Alipay's bare Base64); the message says which."""


def _pem(text: str, label: str) -> bytes:
    """PEM as written, or Alipay's key tool's bare Base64 body wrapped as PEM."""
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        return stripped.encode()
    body = "\n".join(textwrap.wrap("".join(stripped.split()), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


def private_key(text: str, what: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(_pem(text, "PRIVATE KEY"), password=None)
    except (ValueError, TypeError, binascii.Error):
        raise BadKey(f"{what}不是可读的 RSA 私钥 (PEM)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BadKey(f"{what}不是 RSA 私钥")
    return key


def public_key(text: str, what: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(_pem(text, "PUBLIC KEY"))
    except (ValueError, TypeError, binascii.Error):
        raise BadKey(f"{what}不是可读的 RSA 公钥 (PEM)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadKey(f"{what}不是 RSA 公钥")
    return key


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verified(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
