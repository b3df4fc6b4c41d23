"""``orderbot recon fetch``: each configured gateway's bills of one day, downloaded through its
bill API (adapters.bills), checked, read and stored through the import (services.recon.importing),
whole or not at all. A bill still being generated is asked for again, with backoff, until
[recon.fetch].give_up_after."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

import aiohttp
import polars as pl
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.bills import BillPending, BillRefused, Download, NoBill
from adapters.bills.alipay import AlipayBills
from adapters.bills.keys import BadKey, private_key, public_key
from adapters.bills.wechat import WechatPayBills
from rules.statements import GATEWAYS, KINDS, Statement, StatementRefused, parse_statement
from services.config import AlipayBillsConfig, BillFetchConfig, Config, WechatPayBillsConfig
from services.recon.importing import ImportOutcome, store_statement

logger = logging.getLogger(__name__)

BEIJING_OFFSET = timedelta(hours=8)
FETCHABLE = ("wechat", "alipay")  # UnionPay: files by hand (recon import)
Status = Literal["imported", "unchanged", "empty", "pending", "refused"]
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class FetchOutcome:
    """One bill of the day: ``imported`` (or ``unchanged``: this very bill was there),
    ``empty`` (the gateway has none: no trades), ``pending`` (still not generated when we gave
    up), ``refused`` (nothing stored; ``reason`` says why, in Chinese)."""

    gateway: str
    kind: str
    bill_date: date
    status: Status
    attempts: int
    reason: str = ""
    imported: ImportOutcome | None = None

    @property
    def title(self) -> str:
        return f"{GATEWAYS.get(self.gateway, self.gateway)}{KINDS[self.kind]} {self.bill_date}"


class BadFetchDay(ValueError):
    """The day asked for cannot have a bill yet (today or later, Beijing time)."""


class BillClient(Protocol):
    gateway: str

    async def download(self, kind: str, day: date) -> Download: ...


def configured(config: Config) -> list[str]:
    """The gateways whose bills can be fetched with this config."""
    return [name for name in FETCHABLE if getattr(config.recon, name) is not None]


async def fetch_day(
    config: Config,
    sessions: async_sessionmaker[AsyncSession],
    day: date,
    gateways: Sequence[str] | None = None,
    *,
    clock: Clock,
    sleep: Sleep = asyncio.sleep,
) -> list[FetchOutcome]:
    """Download, check and store the bills of ``day`` (Beijing) from ``gateways`` (default:
    every configured one), the gateways side by side. ``clock`` is aware; ``sleep`` waits
    between tries (the nightly job and tests pass their own)."""
    today = (clock() + BEIJING_OFFSET).date()
    if day >= today:
        raise BadFetchDay(
            f"{day} 还没有账单: 第 T 天的账单在 T+1 日约 10:00 (北京时间) 后才生成, 只能取 "
            f"{today - timedelta(days=1)} 及以前"
        )
    names = list(gateways) if gateways is not None else configured(config)
    async with aiohttp.ClientSession() as http:
        per_gateway = await asyncio.gather(
            *(_gateway_bills(config, name, http, sessions, day, clock, sleep) for name in names)
        )
    return [outcome for outcomes in per_gateway for outcome in outcomes]


async def _gateway_bills(
    config: Config,
    name: str,
    http: aiohttp.ClientSession,
    sessions: async_sessionmaker[AsyncSession],
    day: date,
    clock: Clock,
    sleep: Sleep,
) -> list[FetchOutcome]:
    kinds = _kinds(config, name)
    if name not in FETCHABLE or getattr(config.recon, name) is None:
        reason = (
            f"配置中没有 [recon.{name}], 未下载"
            if name in FETCHABLE
            else f"{GATEWAYS.get(name, name)}没有账单下载接口, 请用 recon import 导入文件"
        )
        return [FetchOutcome(name, kind, day, "refused", 0, reason) for kind in kinds]
    try:
        client = await _client(config, name, http, clock)
    except (BadKey, OSError) as error:
        reason = f"[recon.{name}] 的密钥不可用: {error}, 未下载任何账单"
        return [FetchOutcome(name, kind, day, "refused", 0, reason) for kind in kinds]
    outcomes = []
    for kind in kinds:
        outcome = await _fetch_bill(client, kind, day, config.recon.fetch, clock, sleep)
        if isinstance(outcome, FetchOutcome):
            outcomes.append(outcome)
            continue
        download, attempts = outcome
        outcomes.append(await _store(config, sessions, name, kind, day, download, attempts, clock))
    return outcomes


def _kinds(config: Config, name: str) -> tuple[str, ...]:
    wechat = config.recon.wechat
    if name == "wechat" and wechat is not None and wechat.fundflow:
        return ("trade", "fundflow")
    return ("trade",)


async def _client(
    config: Config, name: str, http: aiohttp.ClientSession, clock: Clock
) -> BillClient:
    section = getattr(config.recon, name)
    if isinstance(section, WechatPayBillsConfig):
        key, platform = await asyncio.to_thread(_keys, section, "商户私钥", "微信支付公钥")
        return WechatPayBills(
            http,
            base_url=section.base_url,
            mchid=section.mchid,
            merchant_serial=section.merchant_serial,
            key=key,
            public_key=platform,
            public_key_id=section.public_key_id,
            timeout=section.timeout.total_seconds(),
        )
    assert isinstance(section, AlipayBillsConfig)
    key, alipay = await asyncio.to_thread(_keys, section, "应用私钥", "支付宝公钥")
    return AlipayBills(
        http,
        base_url=section.base_url,
        app_id=section.app_id,
        key=key,
        alipay_key=alipay,
        timeout=section.timeout.total_seconds(),
        clock=clock,
    )


def _keys(
    section: WechatPayBillsConfig | AlipayBillsConfig, private_what: str, public_what: str
) -> tuple[rsa.RSAPrivateKey, rsa.RSAPublicKey]:
    """Read off the event loop: the private key from its file or variable, the public key file."""
    if section.private_key_env is not None:
        private_text = os.environ.get(section.private_key_env, "")
    else:
        private_text = _read(section.private_key_file or "", "private_key_file")
    return (
        private_key(private_text, private_what),
        public_key(_read(section.public_key_file, "public_key_file"), public_what),
    )


def _read(path: str, key: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="ascii")
    except FileNotFoundError:
        raise BadKey(f"{key}: 找不到文件 {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadKey(f"{key}: 无法读取 {path} ({type(error).__name__})") from None


async def _fetch_bill(
    client: BillClient,
    kind: str,
    day: date,
    policy: BillFetchConfig,
    clock: Clock,
    sleep: Sleep,
) -> FetchOutcome | tuple[Download, int]:
    """The download, asked for again while the gateway says "not yet"."""
    started, wait, attempts = clock(), policy.retry_after, 0
    while True:
        attempts += 1
        try:
            return await client.download(kind, day), attempts
        except NoBill as none:
            return FetchOutcome(client.gateway, kind, day, "empty", attempts, str(none))
        except BillRefused as refused:
            return FetchOutcome(client.gateway, kind, day, "refused", attempts, str(refused))
        except BillPending as pending:
            if clock() + wait - started > policy.give_up_after:
                reason = f"{pending}; 已尝试 {attempts} 次, 放弃 (稍后可再运行 recon fetch)"
                return FetchOutcome(client.gateway, kind, day, "pending", attempts, reason)
            logger.info(
                "%s %s %s not ready (%s); again in %s", client.gateway, kind, day, pending, wait
            )
            await sleep(wait.total_seconds())
            wait = min(wait * 2, policy.retry_max)


async def _store(
    config: Config,
    sessions: async_sessionmaker[AsyncSession],
    gateway: str,
    kind: str,
    day: date,
    download: Download,
    attempts: int,
    clock: Clock,
) -> FetchOutcome:
    try:
        statement = await asyncio.to_thread(_read_bill, config, gateway, kind, day, download)
        imported = await store_statement(sessions, statement, download.name, clock())
    except StatementRefused as refused:
        return FetchOutcome(gateway, kind, day, "refused", attempts, str(refused))
    status: Status = "imported" if imported.stored else "unchanged"
    return FetchOutcome(gateway, kind, day, status, attempts, imported=imported)


def _read_bill(config: Config, gateway: str, kind: str, day: date, download: Download) -> Statement:
    """The downloaded bill read whole, and checked to be the day and merchant asked for."""
    statement = parse_statement(download.data, download.name, gateway, kind)
    if statement.bill_date != day:
        raise StatementRefused(
            f"下载到的{statement.title}是 {statement.bill_date} 的, 而请求的是 {day}, "
            "未导入任何内容"
        )
    wechat = config.recon.wechat
    if gateway == "wechat" and wechat is not None:
        if kind == "fundflow":  # the file names no merchant: the one we asked for
            lines = statement.lines.with_columns(merchant_id=pl.lit(wechat.mchid))
            return replace(statement, merchant_id=wechat.mchid, lines=lines)
        if statement.merchant_id != wechat.mchid:
            raise StatementRefused(
                f"下载到的{statement.title}属于商户 {statement.merchant_id}, 而配置的是 "
                f"{wechat.mchid}, 未导入任何内容"
            )
    return statement
