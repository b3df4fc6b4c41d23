"""One-time response codes for intelligent-robot replies (``/cgi-bin/aibot/response``).

A code carries where the reply goes (chat or member) and when it was issued, signed with a key
derived from the sandbox's config. So the callback sender can issue codes without access to the
running sandbox's memory, and the sandbox only has to remember which codes were used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import orjson

from sandbox.config import SandboxConfig

VALID_SECONDS = 3600  # "each response_url can be used once and is valid for 1 hour"


@dataclass(frozen=True, slots=True)
class ResponseTarget:
    """Where an intelligent-robot reply lands: a group chat, or the member's 1:1 chat."""

    chat_type: str  # "group" | "single"
    chat_id: str | None
    user: str
    issued_at: float

    def expired(self, now: float) -> bool:
        return now >= self.issued_at + VALID_SECONDS


def issue(config: SandboxConfig, target: ResponseTarget) -> str:
    """A fresh response_code for ``target``: unique even for the same target and time."""
    claim = {
        "t": target.chat_type,
        "c": target.chat_id,
        "u": target.user,
        "i": target.issued_at,
        "n": secrets.token_hex(8),
    }
    payload = base64.urlsafe_b64encode(orjson.dumps(claim)).rstrip(b"=").decode()
    return f"{payload}.{_sign(config, payload)}"


def read(config: SandboxConfig, code: str) -> ResponseTarget | None:
    """The target a code was issued for, or None when this sandbox did not issue it."""
    payload, _, signature = code.partition(".")
    if not hmac.compare_digest(signature, _sign(config, payload)):
        return None
    try:
        claim = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return ResponseTarget(claim["t"], claim["c"], claim["u"], float(claim["i"]))
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _sign(config: SandboxConfig, payload: str) -> str:
    key = hashlib.sha256(f"{config.encoding_aes_key}:{config.corp_secret}".encode()).digest()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()[:32]
