"""What the sandbox's SMS providers know: the account's keys, Tencent's SmsSdkAppId, the
approved signs and templates (by default the texts docs/sms.md asks to register), the
per-number limits, numbers that are vacant, blacklisted or switched off, and where the bot
takes delivery receipts."""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.sms import PURPOSES, template_text

SANDBOX_LINK_BASE = "https://h5.example.com/o/"


TENCENT_TEMPLATE_IDS = ("1100001", "1100002", "1100003", "1100004", "1100005")
ALIYUN_TEMPLATE_CODES = ("SMS_900001", "SMS_900002", "SMS_900003", "SMS_900004", "SMS_900005")


def approved_templates(provider: str, link_base: str = SANDBOX_LINK_BASE) -> dict[str, str]:
    """The provider's approved templates (by id or code) with the texts docs/sms.md asks to
    register, their links under ``link_base``."""
    ids = TENCENT_TEMPLATE_IDS if provider == "tencent" else ALIYUN_TEMPLATE_CODES
    return {
        template_id: template_text(
            purpose, "tencent" if provider == "tencent" else "aliyun", link_base
        )
        for template_id, purpose in zip(ids, PURPOSES, strict=True)
    }


@dataclass(frozen=True)
class SmsSandboxConfig:
    """Both providers share the keys and signs here; limits default to the documented ones
    (Tencent's hourly one is not documented: 5 here)."""

    secret_id: str = "AKIDsandboxsecretid"
    secret_key: str = "sandbox-secret-key"
    sdk_app_id: str = "1400009099"
    signs: tuple[str, ...] = ("某某旗舰店",)
    tencent_templates: dict[str, str] = field(default_factory=lambda: approved_templates("tencent"))
    aliyun_templates: dict[str, str] = field(default_factory=lambda: approved_templates("aliyun"))
    # Tencent: one per 30 s, per hour, per day and number; Aliyun: notifications per day and
    # sign + template + number.
    tencent_per_30s: int = 1
    tencent_per_hour: int = 5
    tencent_per_day: int = 10
    aliyun_per_day: int = 50
    # Tencent's personal accounts take at most 12 characters a variable; None: no limit here.
    tencent_param_max: int | None = None
    vacant: tuple[str, ...] = ()  # numbers that look right but do not exist: refused
    blacklist: tuple[str, ...] = ()  # unsubscribed or carrier-blacklisted: refused
    switched_off: tuple[str, ...] = ()  # accepted, then an undelivered receipt
    # The bot's receipt URLs (None: no receipts) and how long the carrier takes (seconds).
    tencent_receipt_url: str | None = None
    aliyun_receipt_url: str | None = None
    receipt_delay: float = 0.2
    signature_max_age: float = 300.0  # seconds between signing and arrival (the SDK's clock)
