"""What the sandbox pretends to be: one corp with one self-built app, some group robots, some
members, and the bot's callback URLs for when the sandbox acts as WeCom towards the bot."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field

from sandbox.pay_config import PaySandboxConfig
from sandbox.sms_config import SmsSandboxConfig

# base64 of b"orderbot-sandbox-aes-key-32bytes" without the trailing "=": 43 chars of [a-zA-Z0-9].
DEFAULT_ENCODING_AES_KEY = "b3JkZXJib3Qtc2FuZGJveC1hZXMta2V5LTMyYnl0ZXM"


@dataclass(frozen=True)
class SandboxConfig:
    """The corp the sandbox emulates. Limits default to WeCom's documented ones."""

    corp_id: str = "wwsandbox0000001"
    corp_secret: str = "sandbox-secret"
    agent_id: int = 1000002
    webhook_keys: dict[str, str] = field(default_factory=dict)  # robot key -> group chat name
    # Known userids. message/send to others is reported in invaliduser; empty: everyone exists.
    users: tuple[str, ...] = ()
    token_ttl: int = 7200  # seconds, returned as expires_in
    # The app's trusted domains (可信域名) for web login: a code issued for a redirect to any
    # other host is refused by auth/getuserinfo with 50001. "host" allows it on any port (a
    # sandbox's leniency), "host:port" only on that port.
    login_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    login_code_ttl: float = 300.0  # seconds; a web-login code is single-use within it
    robot_per_minute: int = 20  # webhook/send per robot key per sliding minute
    app_per_member_minute: int = 30  # message/send per member per sliding minute; excess dropped
    app_per_member_hour: int = 1000  # the same, per sliding hour
    callback_url: str | None = None  # the bot's self-built-app callback (encrypted XML)
    aibot_callback_url: str | None = None  # the bot's intelligent-robot callback (encrypted JSON)
    callback_token: str = "sandboxtoken"
    encoding_aes_key: str = DEFAULT_ENCODING_AES_KEY
    aibot_id: str = "aibsandbox0000001"
    aibot_name: str = "订单助手"  # how members @ the intelligent robot in a group
    # How long a "timeout" fault holds the request: longer than any client's timeout.
    fault_timeout_seconds: float = 30.0
    sms: SmsSandboxConfig = field(default_factory=SmsSandboxConfig)  # the SMS providers
    pay: PaySandboxConfig = field(default_factory=PaySandboxConfig)  # the bill APIs
    # 快递100 (sandbox.tracking): the enterprise key it accepts, keys that have expired,
    # numbers the carrier refuses to have followed, and how it re-sends an unanswered push
    # (documented: 3 more times, 35 minutes apart; compress it for tests and the demo).
    tracking_key: str = "sandbox-kuaidi100-key"
    tracking_expired_keys: tuple[str, ...] = ()
    tracking_refused_numbers: tuple[str, ...] = ()
    tracking_retry_seconds: float = 35 * 60.0
    tracking_retries: int = 3

    def __post_init__(self) -> None:
        try:
            key = base64.b64decode(self.encoding_aes_key + "=", validate=True)
        except binascii.Error:
            key = b""
        if len(self.encoding_aes_key) != 43 or len(key) != 32:
            raise ValueError("encoding_aes_key must be 43 base64 characters (a 32-byte AES key)")
        if not 3 <= len(self.callback_token) <= 32:
            raise ValueError("callback_token must be 3 to 32 characters, as WeCom requires")
        if min(self.robot_per_minute, self.app_per_member_minute, self.app_per_member_hour) < 1:
            raise ValueError("rate limits must be at least 1")


def robot_chat_id(webhook_key: str) -> str:
    """The chatid of a robot's group chat, as the intelligent robot reports it in callbacks.

    WeCom's chatids are opaque and unrelated to the webhook key; this one is derived from the key
    so that it is stable across sandbox restarts without giving the key away.
    """
    return "wr" + hashlib.sha256(webhook_key.encode()).hexdigest()[:22]
