"""``orderbot rules``: versions of the business rules in the database (docs/rules.md).

Like bot.cli, each command imports the services it runs: ``orderbot --help`` loads none.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar
from zoneinfo import ZoneInfo

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from services.config import Config

    Sessions = async_sessionmaker[AsyncSession]

rules_app = typer.Typer(
    no_args_is_help=True, help="业务规则的版本: 导入、导出、草稿、预览、发布、回滚"
)
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar="ORDERBOT_CONFIG", help="TOML 配置文件")
]
AuthorOption = Annotated[str | None, typer.Option("--author", help="记录的操作人 (默认: 登录名)")]
NoteOption = Annotated[str | None, typer.Option("--note", help="说明")]
T = TypeVar("T")


def _load(path: Path) -> Config:
    from services.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


def _author(given: str | None) -> str:
    return given or f"命令行 ({getpass.getuser()})"


def _run(config: Config, work: Callable[[Sessions], Awaitable[T]]) -> T:
    """Run ``work`` on the config's migrated database; refusals are said in one line."""
    from services import rulebook
    from storage import migrate

    async def run() -> T:
        async with migrate.migrated_sessions(config.database.url) as sessions:
            return await work(sessions)

    try:
        return asyncio.run(run())
    except rulebook.RulesRefused as refusal:
        typer.echo(str(refusal), err=True)
        raise typer.Exit(2) from None
    except migrate.UnmigratedDatabase as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(3) from None


def _rules_file(path: Path) -> dict[str, object]:
    from services.config import ConfigError
    from services.rule_document import from_toml

    if not path.is_file():
        typer.echo(f"找不到规则文件: {path}", err=True)
        raise typer.Exit(2)
    try:
        return from_toml(path.read_text(encoding="utf-8"))
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


@rules_app.command("export")
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="写入文件 (默认: 屏幕)")
    ] = None,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """把生效中的规则写成 TOML (可放进 git, 再用 rules import 导入)。"""
    from services import rulebook
    from services.rule_document import document_of, to_toml

    loaded = _load(config)
    in_force = _run(loaded, lambda s: rulebook.rules_in_force(s, loaded))
    text = to_toml(document_of(in_force))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"已写入 {output}")


@rules_app.command("import")
def import_(
    file: Annotated[Path | None, typer.Argument(help="规则文件 (默认: 配置文件本身)")] = None,
    author: AuthorOption = None,
    note: NoteOption = None,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """把文件中的规则 (整体校验后) 发布为新版本; 与生效中的相同则什么也不做。"""
    from bot.rules_text import published_lines
    from services import rulebook

    loaded = _load(config)
    rules = loaded
    if file is not None:
        document = _rules_file(file)
        try:
            rules = rulebook.checked(loaded, document)
        except rulebook.RulesRefused as refusal:
            typer.echo(str(refusal), err=True)
            raise typer.Exit(2) from None
    now = datetime.now(UTC)
    published = _run(
        loaded,
        lambda s: rulebook.import_rules(
            s, rules, author=_author(author), now=now, on_start=False, note=note
        ),
    )
    if published is None:
        typer.echo("规则与生效中的版本相同, 没有新版本")
        return
    for line in published_lines(published):
        typer.echo(line)


@rules_app.command("draft")
def draft(
    file: Annotated[Path, typer.Argument(help="规则文件 (TOML, 如 rules export 的输出)")],
    author: AuthorOption = None,
    note: NoteOption = None,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """保存一份草稿, 列出与生效版本的差异与问题; 用 rules preview / publish 继续。"""
    from services import rulebook

    loaded = _load(config)
    document = _rules_file(file)
    now = datetime.now(UTC)
    view = _run(
        loaded,
        lambda s: rulebook.save_draft(
            s, loaded, document, author=_author(author), note=note, now=now, source="cli"
        ),
    )
    typer.echo(f"已保存草稿: 第 {view.id} 版 ({len(view.changes)} 处改动)")
    for change in view.changes:
        typer.echo(f"  {change.text()}")
    if view.problems:
        typer.echo(f"此草稿不能发布:\n{view.problems}", err=True)
        raise typer.Exit(1)


@rules_app.command("preview")
def preview(
    version: Annotated[int, typer.Argument(help="草稿的版本号")],
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """草稿此刻发布会改变什么: 多少未结订单换时限、哪些工单会分到别的组、多少订单立即超时。"""
    from bot.rules_text import preview_lines
    from services import rulebook

    loaded = _load(config)
    now = datetime.now(UTC)
    view, effects = _run(loaded, lambda s: rulebook.preview_draft(s, loaded, version, now))
    typer.echo(f"第 {view.id} 版草稿 ({len(view.changes)} 处改动):")
    for change in view.changes:
        typer.echo(f"  {change.text()}")
    for line in preview_lines(effects):
        typer.echo(line)


@rules_app.command("publish")
def publish(
    version: Annotated[int, typer.Argument(help="草稿的版本号")],
    author: AuthorOption = None,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """发布草稿 (整体校验; 无效则拒绝, 生效版本不变), 重算未结订单的时限, 通知运维。"""
    from bot.rules_text import published_lines
    from services import rulebook

    loaded = _load(config)
    now = datetime.now(UTC)
    published = _run(
        loaded, lambda s: rulebook.publish(s, loaded, version, author=_author(author), now=now)
    )
    for line in published_lines(published):
        typer.echo(line)


@rules_app.command("rollback")
def rollback(
    version: Annotated[int, typer.Argument(help="要回到的版本号")],
    author: AuthorOption = None,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """回滚: 发布一个与该版本相同的新版本。"""
    from bot.rules_text import published_lines
    from services import rulebook

    loaded = _load(config)
    now = datetime.now(UTC)
    published = _run(
        loaded, lambda s: rulebook.rollback(s, loaded, version, author=_author(author), now=now)
    )
    for line in published_lines(published):
        typer.echo(line)


@rules_app.command("history")
def history(
    limit: Annotated[int, typer.Option("--limit", "-n", help="显示最近几版")] = 20,
    config: ConfigOption = Path("orderbot.toml"),
) -> None:
    """规则版本: 谁、何时、改了什么 (最新在前)。"""
    from bot.rules_text import version_line
    from services import rulebook

    loaded = _load(config)
    views = _run(loaded, lambda s: rulebook.history(s, loaded, limit))
    zone = ZoneInfo(loaded.watch.timezone)
    if not views:
        typer.echo("还没有规则版本 (serve 启动或 rules import 时从配置文件导入)")
    for view in views:
        typer.echo(version_line(view, zone))
        for change in view.changes:
            typer.echo(f"  {change.text()}")
