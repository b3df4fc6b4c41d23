"""The config said back in words, so a mistake shows before it pages anyone: ``check-config``
prints every SLA rule's limit, the escalation levels and the routing rules; ``check-config`` and
``serve``'s start-up line say whether WeCom sending and chat commands are on, and why not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import make_url

from channels.registry import LABELS
from rules.durations import format_duration
from rules.money import format_fen
from rules.stages import Stage
from services.config import (
    Config,
    EscalationLevel,
    RouteRule,
    SlaRule,
    SourceConfig,
    WeComConfig,
)

_NOTIFY = {"group": "通知处理组群", "supervisor": "私信处理组主管"}


def _listed(values: Sequence[str], label: str, name_of: dict[str, str] | None = None) -> str:
    shown = "、".join((name_of or {}).get(v, v) for v in values)
    return f"{label} {shown}"


def _level(level: EscalationLevel) -> str:
    when = "到时限" if level.after == "deadline" else f"进入环节 {format_duration(level.after)} 后"
    return f"{when} → {_NOTIFY[level.notify]}"


def _escalation(levels: Sequence[EscalationLevel]) -> str:
    return "; ".join(f"{n}. {_level(level)}" for n, level in enumerate(levels, start=1))


def _early_levels(rule: SlaRule, default: Sequence[EscalationLevel]) -> str:
    """A warning when a level timed from stage entry comes before the rule's own time limit:
    it fires together with the first alert, which is rarely what was meant."""
    if rule.deadline == "ship_by":
        return ""  # its levels count from the deadline itself
    levels = rule.escalation if rule.escalation is not None else default
    early = [
        level.after
        for level in levels
        if isinstance(level.after, timedelta) and level.after < rule.limit
    ]
    if not early:
        return ""
    when = "、".join(format_duration(after) for after in early)
    return f" · ⚠️ 升级时间 ({when}) 早于时限, 将与首次告警同时发出; 可为此规则设 escalation"


def _sla(rule: SlaRule, default_levels: Sequence[EscalationLevel] = ()) -> str:
    scope = [Stage(rule.stage).label]
    scope.append(_listed(rule.order_types, "类型") if rule.order_types else "所有类型")
    scope.append(_listed(rule.channels, "渠道", LABELS) if rule.channels else "所有渠道")
    limit = "时限 " + format_duration(rule.limit)
    limit += " (只计工作时间)" if rule.business_hours else ""
    if rule.deadline == "ship_by":
        ahead = f"前 {format_duration(rule.before)}" if rule.before else ""
        limit = f"平台最晚发货时间{ahead} (升级从此时起计; 订单没有平台时限时: {limit})"
    extras = [" · 认领后不再升级" if rule.stop_escalation_on_claim else ""]
    if rule.escalation is not None:
        extras.append(f" · 自有升级: {_escalation(rule.escalation)}")
    extras.append(_early_levels(rule, default_levels))
    return f"{rule.name}: {' · '.join(scope)} → {limit}{''.join(extras)}"


def _conditions(rule: RouteRule) -> str:
    parts = [
        _listed(values, label, names)
        for values, label, names in (
            (rule.provinces, "省份", None),
            (rule.cities, "城市", None),
            (rule.categories, "类目", None),
            (rule.channels, "渠道", LABELS),
            (rule.order_types, "类型", None),
        )
        if values
    ]
    if rule.min_fen is not None:
        parts.append(f"金额 ≥ {format_fen(rule.min_fen)}")
    if rule.max_fen is not None:
        parts.append(f"金额 ≤ {format_fen(rule.max_fen)}")
    return " 且 ".join(parts) or "任何订单"


def describe(config: Config) -> list[str]:
    """The SLA rules, escalation levels and routing rules as people read them."""
    groups = {key: f"{group.name} ({key})" for key, group in config.groups.items()}
    lines = ["时限规则 (按环节, 先匹配者生效):"]
    levels = config.watch.escalation
    lines += [f"  {_sla(rule, levels)}" for rule in config.sla] or ["  (无: 不会有订单超时)"]
    lines.append(f"升级 (从进入环节起计): {_escalation(config.watch.escalation)}")
    lines.append("分单规则 (先匹配者生效):")
    lines += [
        f"  {n}. {rule.name}: {_conditions(rule)} → {groups[rule.group]}"
        for n, rule in enumerate(config.routing.rules, start=1)
    ]
    lines.append(f"  其余 → {groups[config.routing.default_group]}")
    lines += [
        f"类目名称 {LABELS[channel]}: " + "、".join(f"{i}={n}" for i, n in names.items())
        for channel, names in config.categories.items()
        if names
    ]
    lines += [
        _table_source(name, source)
        for name, source in config.sources.items()
        if source.kind == "table"
    ]
    return lines


def _table_source(name: str, source: SourceConfig) -> str:
    """A table source in words: where, which channel, the cursor, how often, the mapping."""
    where = make_url(source.database_url).render_as_string(hide_password=True)
    cursor = f"按 {source.id_column} 递增"
    if source.updated_at_column:
        cursor = f"按 {source.updated_at_column} 递增 (相同时按 {source.id_column})"
    mapping = ", ".join(f"{field} ← {column}" for field, column in source.columns.items())
    return (
        f"中间表来源 {name}: {where} 的表 {source.table} → {LABELS[source.channel or '']}订单; "
        f"{cursor} 读取, 每 {format_duration(source.poll_interval)} 一次, "
        f"每批 {source.batch_size} 行, 回看 {format_duration(source.look_back)} "
        f"(晚提交的行只要在回看时间内提交就不会漏); 列映射: {mapping}"
    )


def sending_state(config: Config) -> str:
    """Whether notifications reach WeCom."""
    if config.wecom is None:
        return "企业微信发送: 未开启 (没有 [wecom] 节, 通知只留在 outbox 中)"
    return f"企业微信发送: 已开启 ({config.wecom.api_base})"


def _missing_for_commands(wecom: WeComConfig | None) -> list[str]:
    if wecom is None:
        return ["[wecom] 节"]
    missing = []
    if not wecom.token:
        missing.append("callback_token (或 callback_token_env)")
    if not wecom.aes_key:
        missing.append("callback_aes_key (或 callback_aes_key_env)")
    return missing


def commands_state(config: Config) -> str:
    """Whether WeCom's callbacks (/wecom/app, /wecom/aibot) are served, and if not, why."""
    missing = _missing_for_commands(config.wecom)
    if missing:
        return f"聊天指令: 未开启 (缺少 {'、'.join(missing)}; /wecom/app 与 /wecom/aibot 不可用)"
    return "聊天指令: 已开启 (/wecom/app、/wecom/aibot)"


def console_state(config: Config) -> str:
    """Whether the ops console is served, where people sign in, and how many may do what."""
    console = config.console
    if console is None:
        return "运营控制台: 未开启 (没有 [console] 节)"
    roles = config.roles
    viewers = {*roles.ops, *(g.supervisor for g in config.groups.values() if g.supervisor)}
    return (
        f"运营控制台: 已开启 (/console/, 企业微信登录 {console.login_base}; "
        f"仅查看 {len(viewers - {*roles.rule_editors, *roles.rule_publishers})} 人, "
        f"编辑草稿 {len(set(roles.rule_editors) - set(roles.rule_publishers))} 人, "
        f"发布 {len(set(roles.rule_publishers))} 人)"
    )


def _timers(config: Config) -> str:
    """The jobs ``serve`` runs and how often (as ``bot.app`` schedules them)."""
    timers = [
        f"巡检每 {format_duration(config.watch.scan_interval)}",
        f"健康检查每 {format_duration(config.health.check_interval)}",
    ]
    reports = config.reports
    if reports.daily_at is not None:
        timers.append(f"日报 {reports.daily_at:%H:%M}")
    if reports.weekly_on is not None:
        timers.append(f"周报 {reports.weekly_on}")
    if config.wecom is not None:
        timers.append(f"发送每 {format_duration(config.wecom.send_interval)}")
    timers += [
        f"中间表 {name} 每 {format_duration(source.poll_interval)}"
        for name, source in config.sources.items()
        if source.kind == "table"
    ]
    return "、".join(timers)


def startup_line(config: Config, address: str) -> str:
    """``serve``'s one line once it listens: where, which database (no password), its timers,
    and whether WeCom sending and chat commands are on."""
    database = make_url(config.database.url).render_as_string(hide_password=True)
    return " · ".join(
        [
            f"orderbot 已启动: 监听 {address}",
            f"数据库 {database}",
            f"定时任务 {_timers(config)}",
            sending_state(config),
            commands_state(config),
            console_state(config),
        ]
    )
