"""Signed links to an order on the customer page, for texts: ``<link_base><token>`` where the
token is ``<order id>.<expiry>.<signature>``: the expiry in base 36 Unix seconds, the signature
the first 96 bits of HMAC-SHA256 over ``<order id>.<expiry>`` with [sms].link_secret, base64url.
Short, because the token is a template variable (providers take no URL in a variable: the
base is constant template text)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime

from services.policy import Policy

_SIGNATURE_BYTES = 12


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


def _signature(key: str, payload: str) -> str:
    digest = hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_SIGNATURE_BYTES]).decode().rstrip("=")


def order_link(policy: Policy, order_id: int, now: datetime) -> str | None:
    """The customer page's link to ``order_id``, valid for [sms].link_ttl from ``now``; None
    without [sms] or its link_base."""
    sms = policy.config.sms
    key = sms.link_key if sms is not None else None
    if sms is None or sms.link_base is None or not key:
        return None
    expires = int((now + sms.link_ttl).timestamp())
    payload = f"{order_id}.{_base36(expires)}"
    return f"{sms.link_base}{payload}.{_signature(key, payload)}"


def verify_order_link(policy: Policy, token: str, now: datetime) -> int | None:
    """The order a link's token (or the whole link) opens, if its signature holds and it has
    not expired at ``now``; None otherwise (forged, altered, expired, or no [sms] link)."""
    sms = policy.config.sms
    key = sms.link_key if sms is not None else None
    if sms is None or sms.link_base is None or not key:
        return None
    if token.startswith(sms.link_base):
        token = token[len(sms.link_base) :]
    parts = token.split(".")
    if len(parts) != 3 or not re.fullmatch(r"[0-9]{1,18}", parts[0]):
        return None
    order, expiry, signature = parts
    payload = f"{order}.{expiry}"
    if not hmac.compare_digest(signature.encode(), _signature(key, payload).encode()):
        return None
    try:
        expires = datetime.fromtimestamp(int(expiry, 36), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return int(order) if now < expires else None
