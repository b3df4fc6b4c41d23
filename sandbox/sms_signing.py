"""The providers' request signatures, checked as the SDKs make them:

- Tencent TC3-HMAC-SHA256 (tencentcloud ``abstract_client``): canonical request over
  ``content-type;host`` and the body's SHA-256, key chain ``"TC3"+key → date → service →
  tc3_request``.
- Aliyun ACS3-HMAC-SHA256 (alibabacloud_tea_openapi ``Utils.get_authorization``): canonical
  request over the sorted query (values percent-encoded, ``~`` kept), the headers named in
  SignedHeaders, and ``x-acs-content-sha256``; HMAC-SHA256 of ``ACS3-HMAC-SHA256\\n<hex
  sha256(canonical)>`` with the secret.

Each returns None when the signature holds, else the provider's error code."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

_TC3 = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>\w+)"
    r"/tc3_request, SignedHeaders=(?P<headers>[\w;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)
_ACS3 = re.compile(
    r"ACS3-HMAC-SHA256 Credential=(?P<id>[^,]+),SignedHeaders=(?P<headers>[\w;-]+),"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_signature(
    secret_key: str, *, timestamp: int, content_type: str, host: str, body: bytes, service: str
) -> str:
    """The Signature of a POST to ``/`` signed at ``timestamp``."""
    canonical = (
        f"POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n"
        f"{hashlib.sha256(body).hexdigest()}"
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    )
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def check_tc3(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret_id: str,
    secret_key: str,
    now: float,
    max_age: float,
) -> str | None:
    found = _TC3.fullmatch(headers.get("Authorization", ""))
    if found is None:
        return "AuthFailure.SignatureFailure"
    if found["id"] != secret_id:
        return "AuthFailure.SecretIdNotFound"
    try:
        timestamp = int(headers.get("X-TC-Timestamp", ""))
    except ValueError:
        return "AuthFailure.SignatureFailure"
    if abs(now - timestamp) > max_age:
        return "AuthFailure.SignatureExpire"
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    if found["headers"] != "content-type;host" or found["date"] != date:
        return "AuthFailure.SignatureFailure"
    expected = tc3_signature(
        secret_key,
        timestamp=timestamp,
        content_type=headers.get("Content-Type", ""),
        host=headers.get("Host", ""),
        body=body,
        service=found["service"],
    )
    if not hmac.compare_digest(expected, found["signature"]):
        return "AuthFailure.SignatureFailure"
    return None


def acs3_canonical(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed: list[str],
    payload_hash: str,
) -> str:
    canonical_query = "&".join(
        f"{key}={quote(query[key], safe='~', encoding='utf-8')}" for key in sorted(query)
    )
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed)
    return (
        f"{method}\n{path or '/'}\n{canonical_query}\n{canonical_headers}\n"
        f"{';'.join(signed)}\n{payload_hash}"
    )


def acs3_signature(secret: str, canonical: str) -> str:
    to_sign = f"ACS3-HMAC-SHA256\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def check_acs3(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    access_key_id: str,
    secret: str,
    now: float,
    max_age: float,
) -> str | None:
    found = _ACS3.fullmatch(headers.get("Authorization", ""))
    if found is None:
        return "IncompleteSignature"
    if found["id"] != access_key_id:
        return "InvalidAccessKeyId.NotFound"
    payload_hash = headers.get("x-acs-content-sha256", "")
    if payload_hash != hashlib.sha256(body).hexdigest():
        return "SignatureDoesNotMatch"
    try:
        signed_at = datetime.strptime(headers.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC
        )
    except ValueError:
        return "InvalidTimeStamp.Format"
    if abs(now - signed_at.timestamp()) > max_age:
        return "InvalidTimeStamp.Expired"
    signed = found["headers"].split(";")
    required = {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce"}
    if not required <= set(signed) or signed != sorted(signed):
        return "IncompleteSignature"
    canonical = acs3_canonical(method, path, query, headers, signed, payload_hash)
    if not hmac.compare_digest(acs3_signature(secret, canonical), found["signature"]):
        return "SignatureDoesNotMatch"
    return None
