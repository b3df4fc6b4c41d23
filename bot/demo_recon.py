"""The demo's reconciliation: fresh key pairs for the sandbox's WeChat Pay and Alipay (the bot's
halves written to files [recon.wechat] / [recon.alipay] name), gateways that inject a few of
each difference, and one ``recon fetch`` of the run's own day once some payments are in,
matched at once (``recon run``: the differences go to finance as tickets and a digest).

The sandbox's gateways live a day ahead (PaySandboxConfig.days_ahead), and so does this fetch's
clock: the payments of the run are billed as "yesterday's", within the run."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from bot.keys import RULES, SESSIONS
from bot.recon_text import fetched_lines
from sandbox.pay_config import PayKeys, PaySandboxConfig, generate_pay_keys
from services.config import Config
from services.recon.digest import digest_text
from services.recon.fetching import fetch_day
from services.recon.run import reconcile

# A share of the payments made to disagree with their orders, so the bills show each kind.
DIFFERENCES = {
    "missing": 0.04,
    "extra": 0.03,
    "amount": 0.03,
    "duplicate": 0.03,
    "refund": 0.03,
    "fee": 0.04,
}
FETCH_AFTER = 90.0  # seconds into the run


def write_keys(keys_dir: Path) -> PayKeys:
    """New key pairs; the bot's private keys and the gateways' public keys as PEM files."""
    keys = generate_pay_keys()
    keys_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("wechatpay_merchant_key.pem", keys.merchant_private),
        ("wechatpay_public_key.pem", keys.wechat_public),
        ("alipay_app_private_key.pem", keys.app_private),
        ("alipay_public_key.pem", keys.alipay_public),
    ):
        path = keys_dir / name
        path.write_text(text, encoding="ascii")
        path.chmod(0o600)
    return keys


def gateways_for(config: Config, keys: PayKeys) -> PaySandboxConfig:
    """The sandbox's gateways: the demo's merchant and app, bills out at midnight, a day ahead."""
    wechat, alipay = config.recon.wechat, config.recon.alipay
    assert wechat is not None and alipay is not None
    return keys.sandbox_config(
        wechat_mchid=wechat.mchid,
        wechat_merchant_serial=wechat.merchant_serial,
        wechat_public_key_id=wechat.public_key_id,
        alipay_app_id=alipay.app_id,
        ready_hour=0,
        days_ahead=1,
        differences=DIFFERENCES,
    )


async def fetch_once(app: web.Application, config: Config, stop: asyncio.Event) -> None:
    """After FETCH_AFTER seconds, the run's day's bills fetched and what was stored printed."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=FETCH_AFTER)
    if stop.is_set():
        return
    ahead = timedelta(days=1)
    day = (datetime.now(UTC) + timedelta(hours=8)).date()
    outcomes = await fetch_day(config, app[SESSIONS], day, clock=lambda: datetime.now(UTC) + ahead)
    lines = [line for outcome in outcomes for line in fetched_lines(outcome)]
    print(
        f"\n── 对账单 (沙箱支付网关的时钟快一天: 下载本次运行当天 {day} 的账单) ──\n"
        + "\n".join(lines)
        + "\n账单明细与注入的差异见沙箱页面的「支付网关账单」",
        flush=True,
    )
    for gateway in ("wechat", "alipay"):  # matched at once, as the nightly job would next day
        run, _ = await reconcile(
            app[SESSIONS], app[RULES].current(), gateway, day, datetime.now(UTC)
        )
        print(f"\n── 对账 ──\n{digest_text(run, run.differences)}", flush=True)
