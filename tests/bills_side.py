"""The payment-gateway side of tests: fresh key pairs, the sandbox playing WeChat Pay's and
Alipay's bill APIs on a FakeClock, payments posted to it as buyers would make them, and a
config whose [recon.wechat] / [recon.alipay] point at it with the key files written out."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from sandbox import SandboxConfig, create_sandbox_app
from sandbox.pay_config import PayKeys, PaySandboxConfig, generate_pay_keys
from services.config import Config, parse_config
from services.recon.fetching import FetchOutcome, fetch_day
from storage.db import make_engine, make_sessionmaker
from storage.models import PaymentStatement
from tests.stored_lines import stored_statements
from tests.support import FakeClock, config_data

BEIJING = timezone(timedelta(hours=8))
DAY = date(2026, 3, 1)
MCHID, APP_ID, PID = "1900009191", "2021000000000001", "2088000000000001"


@functools.cache
def keys() -> PayKeys:
    """The run's key pairs (generating them takes a moment)."""
    return generate_pay_keys()


@functools.cache
def stranger_keys() -> PayKeys:
    """Key pairs nobody registered: a forger's."""
    return generate_pay_keys()


def beijing(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BEIJING)


def recon_section(
    folder: Path, base_url: str, bot_keys: PayKeys | None = None, **fetch: str
) -> dict[str, Any]:
    """[recon] for the sandbox at ``base_url``: the bot's private keys and the gateways'
    public keys written to ``folder`` (from ``bot_keys``: another run's, to forge)."""
    mine, theirs = bot_keys or keys(), keys()
    files = {
        "merchant.pem": mine.merchant_private,
        "wechatpay_pub.pem": mine.wechat_public if bot_keys else theirs.wechat_public,
        "app.pem": mine.app_private,
        "alipay_pub.pem": mine.alipay_public if bot_keys else theirs.alipay_public,
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="ascii")
    return {
        "fetch": {"retry_after": "5m", "retry_max": "30m", "give_up_after": "4h"} | fetch,
        "wechat": {
            "mchid": MCHID,
            "merchant_serial": PaySandboxConfig().wechat_merchant_serial,
            "private_key_file": str(folder / "merchant.pem"),
            "public_key_file": str(folder / "wechatpay_pub.pem"),
            "public_key_id": PaySandboxConfig().wechat_public_key_id,
            "base_url": base_url,
        },
        "alipay": {
            "app_id": APP_ID,
            "private_key_file": str(folder / "app.pem"),
            "public_key_file": str(folder / "alipay_pub.pem"),
            "base_url": f"{base_url}/gateway.do",
        },
    }


@dataclass
class Gateways:
    """The sandbox's gateways, the bot's config pointed at them, and the database."""

    sandbox: TestServer
    clock: FakeClock
    config: Config
    database_url: str

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.sandbox.make_url(path), json=body) as response,
        ):
            assert response.status == 200, await response.text()
            return await response.json()

    async def pay(self, *payments: dict[str, Any]) -> None:
        await self.admin("POST", "/sandbox/api/payments", {"payments": list(payments)})

    async def inject(self, **differences: str) -> None:
        body = [{"order_no": no, "kind": kind} for no, kind in differences.items()]
        await self.admin("POST", "/sandbox/api/bills/differences", {"differences": body})

    async def fault(self, gateway: str, *faults: str) -> None:
        body = {"gateway": gateway, "faults": list(faults)}
        await self.admin("POST", "/sandbox/api/bills/faults", body)

    async def fetch(
        self, gateways: list[str] | None = None, day: date = DAY, config: Config | None = None
    ) -> list[FetchOutcome]:
        """fetch_day as the nightly job calls it; its waits move the clock."""

        async def sleep(seconds: float) -> None:
            self.clock.advance(timedelta(seconds=seconds))

        engine = make_engine(self.database_url)
        try:
            return await fetch_day(
                config or self.config,
                make_sessionmaker(engine),
                day,
                gateways,
                clock=self.clock.now,
                sleep=sleep,
            )
        finally:
            await engine.dispose()

    async def stored(self) -> tuple[list[PaymentStatement], list[SimpleNamespace]]:
        return await stored_statements(self.database_url)


async def gateways(
    aiohttp_server: Any,
    database_url: str,
    folder: Path,
    now: datetime,
    pay: PaySandboxConfig | None = None,
    **fetch: str,
) -> Gateways:
    clock = FakeClock(now.astimezone(UTC))
    sandbox_app = create_sandbox_app(
        SandboxConfig(pay=pay or keys().sandbox_config()),
        clock=lambda: clock.now().timestamp(),
    )
    sandbox: TestServer = await aiohttp_server(sandbox_app, access_log=None)
    base = str(sandbox.make_url("")).rstrip("/")
    data = config_data(database_url) | {"recon": recon_section(folder, base, **fetch)}
    return Gateways(sandbox, clock, parse_config(data), database_url)
