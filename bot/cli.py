"""The ``orderbot`` command line.

Each command imports what it needs when it runs: ``orderbot --help`` or ``check-config`` need
neither the database layer nor the HTTP stack, and the start-up of every run counts.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from bot.rules_cli import rules_app

if TYPE_CHECKING:
    from services.backfill import Backfill
    from services.config import Config
    from services.recon.fetching import FetchOutcome

logger = logging.getLogger("orderbot")
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="orderbot: 订单超时监控与分派机器人",
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(no_args_is_help=True, help="数据库管理")
app.add_typer(db_app, name="db")
sms_app = typer.Typer(no_args_is_help=True, help="客户短信")
app.add_typer(sms_app, name="sms")
recon_app = typer.Typer(no_args_is_help=True, help="对账: 支付渠道账单")
app.add_typer(recon_app, name="recon")
app.add_typer(rules_app, name="rules")


def _show_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"orderbot {version('orderbot')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_show_version, is_eager=True, help="显示版本号并退出"
        ),
    ] = False,
) -> None:
    """orderbot: 订单超时监控与分派机器人"""


ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar="ORDERBOT_CONFIG", help="TOML 配置文件")
]


def _load(path: Path) -> Config:
    from services.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


@app.command("check-config")
def check_config(config: ConfigOption = Path("orderbot.toml")) -> None:
    """校验配置文件, 列出解析后的时限、升级与分单规则, 说明企业微信发送与聊天指令是否开启。"""
    from bot.config_text import commands_state, console_state, describe, sending_state
    from rules.sla_clock import library_official_through

    loaded = _load(config)
    typer.echo(
        f"配置有效: {len(loaded.sla)} 条时限规则, {len(loaded.routing.rules)} 条分单规则, "
        f"{len(loaded.groups)} 个处理组, {len(loaded.sources)} 个数据来源"
    )
    for line in [
        *describe(loaded),
        sending_state(loaded),
        commands_state(loaded),
        console_state(loaded),
    ]:
        typer.echo(line)
    covered = library_official_through()
    typer.echo(
        f"法定节假日/调休数据覆盖至 {covered} 年; 之后的年份按周一至周五工作日计算, "
        "请在 [calendar] extra_holidays / extra_workdays 中补充"
    )


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = Path("orderbot.toml")) -> None:
    """把数据库迁移到最新版本。"""
    from storage import migrate

    loaded = _load(config)
    typer.echo(str(migrate.upgrade(loaded.database.url)))


def _opt(phone: str, wanted: bool, config: Path) -> None:
    from rules.phones import mask_phone
    from services.sms.opt_outs import NotAMobile, mobile, set_opted_out
    from storage import migrate

    loaded = _load(config)
    try:
        masked = mask_phone(mobile(phone))
        changed = asyncio.run(set_opted_out(loaded, phone, wanted, datetime.now(UTC)))
    except NotAMobile as error:
        typer.echo(f"{error}: {mask_phone(phone)}", err=True)
        raise typer.Exit(2) from None
    except migrate.UnmigratedDatabase as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(3) from None
    if wanted:
        typer.echo(
            f"已退订: {masked}, 不再给该号码发短信" if changed else f"{masked} 已在退订名单中"
        )
    else:
        typer.echo(f"已恢复: {masked} 可以再收到短信" if changed else f"{masked} 不在退订名单中")


@sms_app.command("opt-out")
def sms_opt_out(
    phone: Annotated[str, typer.Argument(help="手机号码")],
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """把号码加入退订名单: 不再给它发短信, 排队中的也不发。"""
    _opt(phone, True, config)


@sms_app.command("opt-in")
def sms_opt_in(
    phone: Annotated[str, typer.Argument(help="手机号码")],
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """把号码移出退订名单 (客户要求恢复)。"""
    _opt(phone, False, config)


@app.command("table-rejected")
def table_rejected(
    source: Annotated[str, typer.Argument(help='[sources] 中 kind = "table" 的来源名')],
    limit: Annotated[int, typer.Option("--limit", "-n", help="最多列出几行")] = 50,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """列出中间表来源被拒的行: 行的 id、原因与时间 (北京时间), 最新的在前。"""
    from channels.suggest import nearest
    from services.table_source import rejections
    from storage import migrate

    loaded = _load(config)
    tables = [name for name, s in loaded.sources.items() if s.kind == "table"]
    if source not in tables:
        guess = nearest(source, tables)
        hint = f", 是否想写 {guess}?" if guess else ""
        known = ", ".join(tables) or "无"
        typer.echo(f"没有名为 {source!r} 的中间表来源{hint} 可选: {known}", err=True)
        raise typer.Exit(2)
    try:
        rows = asyncio.run(rejections(loaded, source, limit))
    except migrate.UnmigratedDatabase as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(3) from None
    if not rows:
        typer.echo(f"{source}: 没有被拒的行")
        return
    zone = ZoneInfo(loaded.watch.timezone)
    typer.echo(f"{source}: 被拒的行 (最新的 {len(rows)} 行)")
    for row in rows:
        when = row.rejected_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"  id {row.row_id} · {when} · {row.reason}")


@app.command()
def serve(config: ConfigOption = Path("orderbot.toml")) -> None:
    """启动服务: HTTP 接口 + 超时巡检。"""
    import uvloop
    from aiohttp import web

    from bot.access_log import AccessLog
    from bot.app import create_app
    from bot.config_text import startup_line
    from bot.ports import PortTaken, free_port, is_port_taken
    from storage import migrate

    loaded = _load(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # APScheduler logs two lines per run of every timer (~190,000 a day; ours log work done),
    # Alembic two on every start-up check: only their warnings.
    for chatty in ("apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    host, port = loaded.server.host, loaded.server.port
    try:
        web.run_app(
            create_app(loaded),
            host=host,
            port=port,
            loop=uvloop.new_event_loop(),  # ~15% less CPU per chat command than asyncio's loop
            access_log_class=AccessLog,  # less 快递100's accepted pushes, login codes
            # Called once the port is bound: our start-up line instead of aiohttp's banner.
            print=lambda _banner: logger.info(startup_line(loaded, f"http://{host}:{port}")),
        )
    except migrate.UnmigratedDatabase as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(3) from None
    except PortTaken as error:  # [customer_page] port
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    except OSError as error:
        if not is_port_taken(error):
            raise
        how = f"在配置 [server] port 中换一个端口 (如 port = {free_port(host)})"
        typer.echo(str(PortTaken(host, port, how)), err=True)
        raise typer.Exit(1) from None


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV 或 JSONL 文件")],
    channel: Annotated[
        str, typer.Option("--channel", help="渠道代号 (见 docs/channels.md; 写错时列出可选的)")
    ],
    backfill: Annotated[
        bool,
        typer.Option(
            "--backfill",
            help="导入历史订单: 早已超出时限的只记录, 不开工单、不逐单告警, 汇总一条通知运维",
        ),
    ] = False,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """从 CSV / JSONL 文件导入订单 (与 HTTP 接口相同的校验)。各渠道字段说明见 docs/channels.md。"""
    from channels.registry import NAMES
    from services.backfill import Backfill
    from services.importer import ImportFileError, import_orders
    from storage import migrate

    if channel not in NAMES:
        typer.echo(f"--channel: 未知渠道 {channel!r}, 可选 {', '.join(NAMES)}", err=True)
        raise typer.Exit(2)
    if not file.is_file():
        typer.echo(f"找不到要导入的文件: {file}", err=True)
        raise typer.Exit(2)
    loaded = _load(config)
    history = Backfill() if backfill else None
    try:
        report = asyncio.run(import_orders(loaded, file, channel, history))
    except ImportFileError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    except migrate.UnmigratedDatabase as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(3) from None
    for rejection in report.rejected:
        same = "" if rejection.duplicate_of is None else f" (与第 {rejection.duplicate_of} 行相同)"
        typer.echo(f"第 {rejection.index} 行被拒: {rejection.reason}{same}", err=True)
    typer.echo(
        f"新增 {report.created}, 更新 {report.updated}, 无变化 {report.unchanged}, "
        f"拒绝 {len(report.rejected)}, 地址无法解析 {report.address_unparsed}"
    )
    if history is not None:
        typer.echo(_backfilled(history))
    if report.rejected:
        raise typer.Exit(1)


def _backfilled(history: Backfill) -> str:
    if not history.total:
        return "历史订单: 没有早已超出时限的订单"
    said = f"历史订单: {history.total} 单早已超出时限, 只记录, 未开工单"
    if not history.told:
        return f"{said}; 没有配置 [roles] ops, 汇总未发送"
    return f"{said}; 汇总已发给运维 {'、'.join(history.told)}"


REPORT_FORMATS = ("md", "csv", "xlsx")
NAMED_DAYS = {"today": 0, "今天": 0, "yesterday": 1, "昨天": 1}  # days before today
DAY_HELP = "YYYY-MM-DD (北京时间), 或 today/今天、yesterday/昨天"
MAX_REPORT_DAYS = 366


class _BadOption(Exception):
    """A report option that cannot be used; the message names it."""


def _day(option: str, text: str, today: date) -> date:
    if (back := NAMED_DAYS.get(text.strip().lower())) is not None:
        return today - timedelta(days=back)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _BadOption(f"{option}: 日期应为 {DAY_HELP}, 而不是 {text!r}") from None


def _report_days(
    first: str | None, last: str | None, days: int | None, today: date
) -> tuple[date, date]:
    """The first and last day of ``--from``/``--to``/``--days``: by default yesterday alone;
    ``--from`` alone runs to yesterday, or to itself when that is today (``--from today``)."""
    if first is not None and days is not None:
        raise _BadOption("--from 与 --days 只能给一个")
    end = _day("--to", last, today) if last else today - timedelta(days=1)
    if first is None:
        return end - timedelta(days=(days or 1) - 1), end
    start = _day("--from", first, today)
    if last is None:
        end = max(end, start)
    if start > end:
        raise _BadOption(f"--from {start} 晚于 --to {end}")
    if (end - start).days >= MAX_REPORT_DAYS:
        raise _BadOption(f"--from ~ --to 最多 {MAX_REPORT_DAYS} 天")
    return start, end


@app.command()
def report(
    first: Annotated[
        str | None, typer.Option("--from", help=f"第一天: {DAY_HELP}; 与 --days 二选一")
    ] = None,
    last: Annotated[
        str | None,
        typer.Option("--to", help=f"最后一天: {DAY_HELP}; 默认昨天 (--from 今天时为今天)"),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_REPORT_DAYS, help="统计天数, 截至 --to; 默认 1"),
    ] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="处理组代号, 可重复; 默认全部")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md、csv 或 xlsx")] = "md",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="输出文件")] = None,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """SLA 报表: 任意期间、任意处理组, 完整不删减, 输出 markdown / CSV / XLSX (绩效复盘用)。"""
    from rules.report import Period
    from services.policy import Policy
    from services.reports import day_of, report_file
    from storage import migrate

    loaded = _load(config)
    if fmt not in REPORT_FORMATS:
        typer.echo(f"--format: 只支持 {', '.join(REPORT_FORMATS)}", err=True)
        raise typer.Exit(2)
    unknown = [g for g in group or [] if g not in loaded.groups]
    if unknown:
        typer.echo(
            f"--group: 未定义的组 {', '.join(unknown)}; 可选 {', '.join(loaded.groups)}", err=True
        )
        raise typer.Exit(2)
    if fmt == "xlsx" and output is None:
        typer.echo("--format xlsx 需要 --output 文件名", err=True)
        raise typer.Exit(2)
    policy = Policy.from_config(loaded)
    now = datetime.now(UTC)
    try:
        period = Period(*_report_days(first, last, days, day_of(policy, now)), policy.timezone)
    except _BadOption as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    try:
        data = asyncio.run(report_file(loaded, period, group or None, fmt, now))
    except migrate.UnmigratedDatabase as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(3) from None
    if output is None:
        typer.echo(data.decode("utf-8-sig").rstrip("\n"))
    else:
        output.write_bytes(data)
        typer.echo(f"已写入 {output} ({period.label})")


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="HTTP 端口")] = 8080,
    sandbox_port: Annotated[int, typer.Option(help="企业微信沙箱端口")] = 8090,
    page_port: Annotated[int, typer.Option(help="客户自助查询页端口")] = 8081,
    seconds: Annotated[float, typer.Option(help="运行多久后退出; 0 表示一直运行")] = 0,
    data_dir: Annotated[Path, typer.Option(help="演示数据库目录")] = Path("demo-data"),
) -> None:
    """演示: SQLite + 样例订单流, 几十秒内看到超时告警、升级与自动关闭。"""
    import uvloop

    from bot.demo import run_demo
    from bot.ports import PortTaken

    try:
        uvloop.run(
            run_demo(
                port=port,
                sandbox_port=sandbox_port,
                page_port=page_port,
                seconds=seconds,
                data_dir=data_dir,
            )
        )
    except PortTaken as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


@recon_app.command("import")
def recon_import(
    file: Annotated[Path, typer.Argument(help="账单文件 (微信支付 csv/gzip, 支付宝 zip, 银联 ZM)")],
    gateway: Annotated[
        str | None, typer.Option("--gateway", help="wechat、alipay 或 unionpay; 默认按内容识别")
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="trade (交易账单) 或 fundflow (资金账单)")
    ] = None,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """导入一份支付渠道账单: 整份校验 (明细对得上汇总) 后入库, 否则整份拒绝并说明原因。"""
    from bot.recon_text import imported_lines
    from rules.statements import GATEWAYS, KINDS, StatementRefused
    from services.recon.importing import import_statement
    from storage import migrate

    for option, value, valid in (("--gateway", gateway, GATEWAYS), ("--kind", kind, KINDS)):
        if value is not None and value not in valid:
            typer.echo(f"{option}: 未知的 {value!r}, 可选 {', '.join(valid)}", err=True)
            raise typer.Exit(2)
    if not file.is_file():
        typer.echo(f"找不到账单文件: {file}", err=True)
        raise typer.Exit(2)
    loaded = _load(config)
    try:
        outcome = asyncio.run(import_statement(loaded, file, gateway, kind, datetime.now(UTC)))
    except StatementRefused as refusal:
        typer.echo(f"{file.name} 被拒绝: {refusal}", err=True)
        raise typer.Exit(2) from None
    except migrate.UnmigratedDatabase as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(3) from None
    for line in imported_lines(outcome):
        typer.echo(line)


@recon_app.command("fetch")
def recon_fetch(
    day: Annotated[str, typer.Option("--date", help="账单日期 YYYY-MM-DD (北京时间), 须早于今天")],
    gateway: Annotated[
        str | None, typer.Option("--gateway", help="wechat 或 alipay; 默认所有已配置的渠道")
    ] = None,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """从支付渠道的账单接口下载某天的账单, 验签、校验哈希后整份导入; 账单未生成时等待重试。"""
    from bot.recon_text import fetched_lines
    from services.recon.fetching import FETCHABLE, BadFetchDay, configured
    from storage import migrate

    loaded = _load(config)
    try:
        bill_date = date.fromisoformat(day)
    except ValueError:
        typer.echo(f"--date: {day!r} 不是日期, 应为 YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    ready = configured(loaded)
    if gateway is not None and gateway not in FETCHABLE:
        typer.echo(
            f"--gateway: 未知的 {gateway!r}, 可选 {', '.join(FETCHABLE)} "
            "(银联账单没有下载接口, 请用 recon import 导入文件)",
            err=True,
        )
        raise typer.Exit(2)
    wanted = [gateway] if gateway is not None else ready
    missing = [name for name in wanted if name not in ready]
    if not wanted or missing:
        named = f"[recon.{missing[0]}]" if missing else "[recon.wechat] 或 [recon.alipay]"
        typer.echo(
            f"配置中没有 {named}: 不知道从哪里下载账单 (见 docs/reconciliation.md)", err=True
        )
        raise typer.Exit(2)
    try:
        outcomes = asyncio.run(_fetch(loaded, bill_date, wanted))
    except BadFetchDay as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    except migrate.UnmigratedDatabase as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(3) from None
    for outcome in outcomes:
        failed = outcome.status in ("refused", "pending")
        for line in fetched_lines(outcome):
            typer.echo(line, err=failed)
    if any(o.status == "refused" for o in outcomes):
        raise typer.Exit(2)
    if any(o.status == "pending" for o in outcomes):
        raise typer.Exit(1)


async def _fetch(loaded: Config, bill_date: date, gateways: list[str]) -> list[FetchOutcome]:
    from services.recon.fetching import fetch_day
    from storage import migrate

    async with migrate.migrated_sessions(loaded.database.url) as sessions:
        clock = lambda: datetime.now(UTC)  # noqa: E731
        return await fetch_day(loaded, sessions, bill_date, gateways, clock=clock)


def _recon_day(day: str | None, gateway: str | None, config: Path) -> tuple[Config, date]:
    """The config and the bill day of a recon command (default yesterday, local), its
    ``--gateway`` checked; exits 2 on a bad option."""
    from services.config import GATEWAYS
    from services.policy import Policy
    from services.reports import day_of

    loaded = _load(config)
    if gateway is not None and gateway not in GATEWAYS:
        typer.echo(f"--gateway: 未知的 {gateway!r}, 可选 {', '.join(GATEWAYS)}", err=True)
        raise typer.Exit(2)
    today = day_of(Policy.from_config(loaded), datetime.now(UTC))
    try:
        return loaded, _day("--date", day, today) if day else today - timedelta(days=1)
    except _BadOption as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


GatewayOption = Annotated[
    str | None, typer.Option("--gateway", help="wechat、alipay 或 unionpay; 默认 [recon] gateways")
]
DateOption = Annotated[str | None, typer.Option("--date", help=f"账单日: {DAY_HELP}; 默认昨天")]


@recon_app.command("run")
def recon_run(
    day: DateOption = None,
    gateway: GatewayOption = None,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """对账: 账单日的账单与订单付款逐笔核对, 差异存为付款工单并推送财务 (可重复运行)。"""
    from services.recon.digest import digest_text
    from services.recon.run import reconcile_days
    from storage import migrate

    loaded, bill_date = _recon_day(day, gateway, config)
    gateways = (gateway,) if gateway else loaded.recon.gateways
    try:
        outcomes = asyncio.run(reconcile_days(loaded, bill_date, gateways, datetime.now(UTC)))
    except migrate.UnmigratedDatabase as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(3) from None
    for outcome in outcomes:
        typer.echo(digest_text(outcome, outcome.differences))


@recon_app.command("export")
def recon_export(
    day: DateOption = None,
    gateway: GatewayOption = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv 或 xlsx")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="输出文件")] = None,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """对账报表 (给 ERP): 每笔订单付款一行, 附各店铺、渠道的日汇总 (列名见文档)。"""
    from services.recon.export import export_day
    from storage import migrate

    loaded, bill_date = _recon_day(day, gateway, config)
    if fmt not in ("csv", "xlsx"):
        typer.echo("--format: 只支持 csv、xlsx", err=True)
        raise typer.Exit(2)
    if fmt == "xlsx" and output is None:
        typer.echo("--format xlsx 需要 --output 文件名", err=True)
        raise typer.Exit(2)
    try:
        data = asyncio.run(export_day(loaded, bill_date, fmt, gateway))
    except migrate.UnmigratedDatabase as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(3) from None
    if output is None:
        typer.echo(data.decode("utf-8-sig").rstrip("\n"))
    else:
        output.write_bytes(data)


def main() -> None:
    app()
