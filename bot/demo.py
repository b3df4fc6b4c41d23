"""``orderbot demo``: the service on SQLite with a feed of realistic orders, some of which stall.

The feed talks to the real HTTP API like any source would; the WMS stand-in reports picking
for most orders and forgets some, which the watch then turns into tickets. Until WeCom delivery
exists, queued notifications are printed as they appear in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from bot.app import create_app
from bot.customer.listener import CUSTOMER_PAGE_URL
from bot.demo_recon import fetch_once, gateways_for, write_keys
from bot.keys import RULES, SESSIONS
from bot.ports import PortTaken, free_port, is_port_taken
from sandbox import SandboxConfig, create_sandbox_app
from sandbox.feed import feed
from sandbox.pay_config import PayKeys
from sandbox.sms_config import SmsSandboxConfig, approved_templates
from services.config import Config, parse_config
from services.notices import render_messages
from storage import migrate
from storage.lookups import phone_to_try
from storage.outbox import messages_after


def demo_config(
    database_url: str,
    port: int,
    sandbox_port: int,
    page_port: int = 8081,
    keys_dir: Path = Path("demo-data/keys"),
) -> Config:
    text = (Path(__file__).with_name("demo.toml")).read_text(encoding="utf-8")
    for name, value in (
        ("database_url", database_url),
        ("port", port),
        ("sandbox_port", sandbox_port),
        ("page_port", page_port),
        ("keys_dir", keys_dir.resolve().as_posix()),
    ):
        text = text.replace("{" + name + "}", str(value))
    return parse_config(tomllib.loads(text))


def sandbox_for(config: Config, keys: PayKeys) -> SandboxConfig:
    """The sandbox's corp: the demo's robots as group chats, its people as members, and the
    bot's callback URLs so what people type on the sandbox page reaches the bot; its payment
    gateways with the run's keys."""
    people = {p for g in config.groups.values() for p in (*g.members, g.supervisor) if p}
    wecom = config.wecom
    assert wecom is not None and wecom.token and wecom.aes_key
    bot = f"http://{config.server.host}:{config.server.port}"
    tracking, sms = config.tracking, config.sms
    assert tracking is not None and sms is not None
    return SandboxConfig(
        corp_id=wecom.corp_id or "",
        corp_secret=wecom.app_secret or "",
        agent_id=wecom.agent_id or 0,
        webhook_keys={g.robot_key: g.name for g in config.groups.values() if g.robot_key},
        users=tuple(sorted(people | set(config.roles.all_people))),
        callback_url=f"{bot}/wecom/app",
        aibot_callback_url=f"{bot}/wecom/aibot",
        callback_token=wecom.token,
        encoding_aes_key=wecom.aes_key,
        tracking_key=tracking.provider_key,
        tracking_retry_seconds=30.0,
        sms=SmsSandboxConfig(
            secret_id=sms.access_id,
            secret_key=sms.access_key,
            sdk_app_id=sms.sdk_app_id or "",
            signs=(sms.sign_name,),
            tencent_templates=approved_templates("tencent", sms.link_base or ""),
            tencent_receipt_url=f"{bot}/sms/receipts/tencent",
            receipt_delay=2.0,
        ),
        pay=gateways_for(config, keys),
    )


# What each queued notification is, in the terminal's headings.
_KINDS = {
    "alert": "告警",
    "escalation": "升级",
    "reminder": "提醒",
    "resolution": "自动关闭",
    "claimed": "认领",
    "assigned": "转交",
    "reply": "回复",
    "report": "报表",
    "ops": "运维通知",
}


async def _print_outbox(app: web.Application, stop: asyncio.Event) -> None:
    last_id = 0
    while not stop.is_set():
        async with app[SESSIONS]() as session:
            policy = app[RULES].current()
            messages = await messages_after(session, last_id)
            texts = await render_messages(session, policy, messages, datetime.now(UTC))
            for message in messages:
                last_id = message.id
                who = (
                    f"群「{policy.group(message.target).name}」"
                    if message.target_kind == "group"
                    else f"@{message.target}"
                )
                kind = _KINDS.get(message.kind, message.kind)
                print(f"\n── 发往 {who} ({kind}) ──\n{texts[message.id]}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _print_phone_to_try(app: web.Application, stop: asyncio.Event) -> None:
    """Once the feed has shipped a shop order (the shop sends full numbers), its customer's
    number, to try on the customer page."""
    while not stop.is_set():
        async with app[SESSIONS]() as session:
            phone = await phone_to_try(session)
        if phone is not None:
            print(
                f"\n── 客户自助查询页 {app[CUSTOMER_PAGE_URL]}/ : 试试手机号 {phone}"
                " (有已发货的订单; 验证码短信见沙箱页面的手机面板) ──",
                flush=True,
            )
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def _fresh_demo(
    data_dir: Path, port: int, sandbox_port: int, page_port: int
) -> tuple[Config, PayKeys]:
    """A new, migrated demo database every run, so each demo starts from an empty pool; new
    keys for the payment gateways."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for leftover in data_dir.glob("demo.db*"):
        leftover.unlink()
    url = f"sqlite+aiosqlite:///{(data_dir / 'demo.db').resolve()}"
    migrate.upgrade(url)
    keys_dir = data_dir / "keys"
    return demo_config(url, port, sandbox_port, page_port, keys_dir), write_keys(keys_dir)


async def _serve(app: web.Application, host: str, port: int, option: str) -> web.AppRunner:
    """Serve ``app`` on ``port``; a port in use is PortTaken, naming the ``option`` to change."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        await runner.cleanup()
        if is_port_taken(error):
            suggestion = f"用 {option} 换一个端口 (如 {option} {free_port(host)})"
            raise PortTaken(host, port, suggestion) from None
        raise
    return runner


async def run_demo(
    *, port: int, sandbox_port: int, page_port: int, seconds: float, data_dir: Path
) -> None:
    config, keys = await asyncio.to_thread(_fresh_demo, data_dir, port, sandbox_port, page_port)
    host = config.server.host
    assert config.tracking is not None
    sandbox = await _serve(
        create_sandbox_app(sandbox_for(config, keys)), host, sandbox_port, "--sandbox-port"
    )
    app = create_app(config)
    try:
        runner = await _serve(app, host, port, "--port")
    except Exception:
        await sandbox.cleanup()
        raise
    print(f"orderbot 演示已启动: 接口 http://{host}:{port}  数据库 {config.database.url}")
    print(f"企业微信沙箱 (群聊与私信): http://{host}:{sandbox_port}/sandbox/")
    print(f"客户自助查询页 (手机号 + 短信验证码): {app[CUSTOMER_PAGE_URL]}/")
    print(
        f"运营控制台 (健康看板, 未结工单; 企业微信登录, 在沙箱登录页选 ops-liu):"
        f" http://{host}:{port}/console/"
    )
    print("样例订单持续流入; 普通单 20 秒未拣货即告警, 40 秒升级主管。Ctrl-C 退出。")
    print(
        "发货的包裹由沙箱里的快递100推送扫描: 约四分之一在转运中心停滞 45 秒以上"
        " (物流组收到停滞工单, 客户收到一条短信, 包裹再动时工单自动关闭), 约十分之一被拒签。"
        " 客户手机收到的短信见沙箱页面的手机面板; 在群里发「状态 <订单号>」看物流与预计送达。"
    )
    print(
        "在沙箱页面试试: 在告警所在的群里发「认领 <工单号>」; 以 lisi 私聊「报表」;"
        " 以 ops-liu 私聊「健康」; 以 kefu-chen 私聊「查询 <手机号>」",
        flush=True,
    )
    print(
        "付款经沙箱里的微信支付与支付宝; 约 90 秒后下载本次运行当天的对账单 (沙箱网关时钟快一天),"
        " 其中注入了漏单、长款、金额不符、重复入账、退款不符、手续费不符等差异。",
        flush=True,
    )
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(
            feed(
                f"http://{host}:{port}",
                random.Random(7),
                stop,
                sandbox_url=f"http://{host}:{sandbox_port}",
                stall_seconds=config.tracking.stall_after.total_seconds(),
            )
        ),
        asyncio.create_task(_print_outbox(app, stop)),
        asyncio.create_task(_print_phone_to_try(app, stop)),
        asyncio.create_task(fetch_once(app, config, stop)),
    ]
    try:
        if seconds:
            await asyncio.sleep(seconds)
        else:
            await asyncio.Event().wait()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
        await sandbox.cleanup()
