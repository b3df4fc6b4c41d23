"""What the sandbox's payment gateways know: the WeChat Pay merchant (商户号, its API
certificate's serial and public key) and WeChat Pay's own key pair that signs answers; the
Alipay app (APPID, its public key), the merchant's PID and Alipay's own key pair; the contracted
fee rates; when bills come out; and which differences to inject into the bills."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DIFFERENCES = ("missing", "extra", "amount", "duplicate", "refund", "fee")


@dataclass(frozen=True)
class PaySandboxConfig:
    """Keys are PEM text; a gateway without its keys answers every request with an auth
    error. ``differences`` gives each injected difference a share of the payments (chosen by
    the payment's number, so a day's bill is the same file however often it is asked for)."""

    wechat_mchid: str = "1900009191"
    wechat_merchant_serial: str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    wechat_merchant_public_key: str | None = None
    wechat_public_key_id: str = "PUB_KEY_ID_0119000091912026120300000000000001"
    wechat_private_key: str | None = None  # WeChat Pay's: signs the answers
    wechat_rate_bp: int = 60  # 0.60%, in basis points
    alipay_app_id: str = "2021000000000001"
    alipay_pid: str = "2088000000000001"
    alipay_app_public_key: str | None = None
    alipay_private_key: str | None = None  # Alipay's: signs the answers
    alipay_rate_bp: int = 60
    ready_hour: int = 10  # bills for day T from this hour on T+1 (Beijing)
    differences: dict[str, float] = field(default_factory=dict)
    signature_max_age: float = 300.0  # seconds between a request's timestamp and the wall clock
    # How many days the gateways' calendar runs ahead of the sandbox's clock: the demo's is a
    # day ahead, so the payments of its run are "yesterday's" and billed within the run.
    days_ahead: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.differences) - set(DIFFERENCES)
        if unknown:
            raise ValueError(f"unknown differences {sorted(unknown)}; known: {DIFFERENCES}")
        if sum(self.differences.values()) > 1:
            raise ValueError("the differences' shares add up to more than 1")


@dataclass(frozen=True)
class PayKeys:
    """Fresh key pairs for one sandbox run: the merchant's and the app's private keys go to
    the bot, their public keys to the sandbox; the gateways' own the other way round."""

    merchant_private: str
    merchant_public: str
    wechat_private: str
    wechat_public: str
    app_private: str
    app_public: str
    alipay_private: str
    alipay_public: str

    def sandbox_config(self, **options: object) -> PaySandboxConfig:
        return PaySandboxConfig(
            wechat_merchant_public_key=self.merchant_public,
            wechat_private_key=self.wechat_private,
            alipay_app_public_key=self.app_public,
            alipay_private_key=self.alipay_private,
            **options,  # type: ignore[arg-type]
        )


def _pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


def generate_pay_keys() -> PayKeys:
    """Four RSA-2048 key pairs (a fraction of a second each)."""
    return PayKeys(*_pair(), *_pair(), *_pair(), *_pair())
