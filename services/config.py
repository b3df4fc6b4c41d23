"""Loading and validating the TOML config; every error names the key it is about.

Nothing here runs at import time: ``load_config(path)`` is called by the CLI, tests build
``Config`` objects directly.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from channels.registry import CSV_HEADERS, LABELS
from channels.suggest import nearest
from rules.durations import parse_duration
from rules.freshness import FILE_IMPORT, SOURCE_NAME
from rules.kinds import Kind
from rules.logistics import CARRIER_CODES, Logistics
from rules.recon.fees import rate_ppm
from rules.stages import Stage
from services.config_errors import explain, joined


class ConfigError(Exception):
    """The config is unusable; the message lists each bad key and what is wrong with it."""


UNIT_EXAMPLE = '例如 "2h"、"90m"、"30s"'
_BARE_NUMBER = re.compile(r"\s*\d+(\.\d*)?\s*")


def _duration(value: Any) -> Any:
    """A duration is written with its unit: a bare ``2`` would be two seconds, which nobody
    who writes an SLA means."""
    if isinstance(value, int | float) or (isinstance(value, str) and _BARE_NUMBER.fullmatch(value)):
        raise ValueError(f"时长须带单位, {UNIT_EXAMPLE} (而不是 {value!r})")
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def _deadline_or_duration(value: Any) -> Any:
    if value == "deadline" or isinstance(value, timedelta):
        return value
    if isinstance(value, str | int | float):
        return _duration(value)
    raise ValueError(f'应为 "deadline" 或时长, {UNIT_EXAMPLE}')


# An escalation level's time: "deadline" (the SLA rule's limit) or a duration.
After = Annotated[Literal["deadline"] | timedelta, BeforeValidator(_deadline_or_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Section):
    url: str = "sqlite+aiosqlite:///orderbot.db"

    @field_validator("url")
    @classmethod
    def _supported_driver(cls, url: str) -> str:
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("只支持 sqlite+aiosqlite:// 或 postgresql+asyncpg://")
        return url


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_batch: int = Field(default=1000, ge=1, le=10000)


class EscalationLevel(_Section):
    """One escalation step, timed from the moment the order entered the stage."""

    after: After = "deadline"
    notify: Literal["group", "supervisor"] = "group"


DEFAULT_ESCALATION = (
    EscalationLevel(after="deadline", notify="group"),
    EscalationLevel(after=timedelta(hours=4), notify="supervisor"),
)


class WatchConfig(_Section):
    scan_interval: Duration = timedelta(seconds=30)
    batch_size: int = Field(default=500, ge=1, le=5000)
    timezone: str = "Asia/Shanghai"
    escalation: tuple[EscalationLevel, ...] = DEFAULT_ESCALATION
    # Repeat an open ticket's alert this often (to its owner once claimed); None: never.
    remind_every: Duration | None = None
    max_snooze: Duration = timedelta(hours=24)
    # How often each instance looks for a newly published rule version (docs/rules.md).
    rules_poll: Duration = timedelta(seconds=1)

    @field_validator("remind_every", "max_snooze")
    @classmethod
    def _at_least_a_minute(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(minutes=1):
            raise ValueError("不能短于 1 分钟")
        return value

    @field_validator("escalation")
    @classmethod
    def _not_empty(cls, levels: tuple[EscalationLevel, ...]) -> tuple[EscalationLevel, ...]:
        if not levels:
            raise ValueError("至少需要一个升级级别")
        return levels


class CalendarConfig(_Section):
    workday_start: time = time(9, 0)
    workday_end: time = time(18, 0)
    extra_holidays: tuple[str, ...] = ()
    extra_workdays: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _window(self) -> CalendarConfig:
        if self.workday_end <= self.workday_start:
            raise ValueError("workday_end 必须晚于 workday_start")
        return self


class OrderTypesConfig(_Section):
    known: tuple[str, ...] = ("normal", "presale", "custom")
    by_category: dict[str, str] = Field(default_factory=dict)


class SlaRule(_Section):
    """How long an order of some types may stay in one stage.

    With ``deadline = "ship_by"`` the deadline is ``before`` ahead of the platform's own ship-by
    (the deadline the platform fines a seller for missing); an order without one counts
    ``limit`` from entering the stage as usual.
    """

    name: str
    stage: Stage
    limit: Duration
    deadline: Literal["limit", "ship_by"] = "limit"
    before: Duration | None = None  # with deadline = "ship_by": this long before it
    order_types: tuple[str, ...] = ()  # empty: any type
    channels: tuple[str, ...] = ()  # empty: any channel
    business_hours: bool = False
    escalation: tuple[EscalationLevel, ...] | None = None  # None: [watch].escalation
    stop_escalation_on_claim: bool = False

    @model_validator(mode="after")
    def _before_needs_ship_by(self) -> SlaRule:
        if self.before is not None and self.deadline != "ship_by":
            raise ValueError('before 只与 deadline = "ship_by" 一起使用 (平台最晚发货时间之前多久)')
        return self


def _yuan_to_fen(value: Any) -> Any:
    if value is None:
        return None
    amount = Decimal(str(value))
    if amount != amount.quantize(Decimal("0.01")) or amount < 0:
        raise ValueError("金额须为非负、最多两位小数的元")
    return int(amount * 100)


Fen = Annotated[int | None, BeforeValidator(_yuan_to_fen)]


class RouteRule(_Section):
    """First matching rule wins; an empty list matches anything."""

    name: str
    group: str
    provinces: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    order_types: tuple[str, ...] = ()
    min_fen: Fen = Field(default=None, alias="min_yuan")
    max_fen: Fen = Field(default=None, alias="max_yuan")
    kinds: tuple[Kind, ...] = ()  # the ticket's kind: overdue, stall, payment, return
    logistics_states: tuple[Logistics, ...] = ()  # where the parcel is (stall/return tickets)
    carriers: tuple[str, ...] = ()  # carrier codes (rules.logistics): SF, ZTO, …

    @field_validator("carriers")
    @classmethod
    def _known_carriers(cls, carriers: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in carriers if c not in CARRIER_CODES]
        if unknown:
            raise ValueError(f"未知快递公司 {unknown}; 可选值: {', '.join(CARRIER_CODES)}")
        return carriers


class Promotion(_Section):
    """A time-bounded rule set (双11, 618): while ``start <= now < end`` its SLA rules come
    before the others, so an order they match takes their limit; outside it they do nothing."""

    name: str
    start: datetime
    end: datetime
    sla: tuple[SlaRule, ...]

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("须带时区, 例如 2026-11-10T00:00:00+08:00")
        return moment

    @model_validator(mode="after")
    def _window(self) -> Promotion:
        if self.end <= self.start:
            raise ValueError("end 必须晚于 start")
        if not self.sla:
            raise ValueError("至少需要一条 sla 规则")
        return self

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.end


class RoutingConfig(_Section):
    default_group: str
    rules: tuple[RouteRule, ...] = ()


def _secret_problem(name: str, inline: str | None, env: str | None, *, required: bool) -> str:
    """What is wrong with a secret given inline or as the name of an environment variable
    (never both), or "" when nothing is."""
    if inline is not None and env is not None:
        return f"{name} 与 {name}_env 只能给一个"
    if required and inline is None and env is None:
        return f"需要 {name} 或 {name}_env"
    if env is not None and not os.environ.get(env):
        return f"环境变量 {env} 未设置或为空"
    return ""


def _check_secret(name: str, inline: str | None, env: str | None, *, required: bool) -> None:
    if problem := _secret_problem(name, inline, env, required=required):
        raise ValueError(problem)


def _secret(inline: str | None, env: str | None) -> str | None:
    return inline if inline is not None else (os.environ[env] if env else None)


class GroupConfig(_Section):
    name: str
    supervisor: str | None = None
    members: tuple[str, ...] = ()
    webhook_key: str | None = Field(default=None, repr=False)  # the group chat's robot
    webhook_key_env: str | None = None

    @model_validator(mode="after")
    def _key(self) -> GroupConfig:
        _check_secret("webhook_key", self.webhook_key, self.webhook_key_env, required=False)
        return self

    @property
    def robot_key(self) -> str | None:
        return _secret(self.webhook_key, self.webhook_key_env)


TABLE_DRIVERS = ("postgresql+asyncpg://", "mysql+aiomysql://", "mariadb+aiomysql://")
_TABLE_KEYS = (
    "url", "url_env", "table", "channel", "columns", "id_column", "updated_at_column",
    "poll_interval", "batch_size", "look_back",
)  # fmt: skip


class SourceConfig(_Section):
    """A source of orders: an ingest client with its bearer token and what it may send
    (``kind = "api"``), or a table in another database that orderbot polls (``kind = "table"``,
    see docs/table-source.md)."""

    kind: Literal["api", "table"] = "api"
    token: str | None = Field(default=None, repr=False)
    token_env: str | None = None
    channels: tuple[str, ...] = ()
    events: bool = False
    # kind = "table": where the rows are, which channel's record format they map to, and how.
    url: str | None = Field(default=None, repr=False)  # a SQLAlchemy URL, with its password
    url_env: str | None = None
    table: str | None = None  # a table or view, "schema.name" or "name"
    channel: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)  # record field → column
    id_column: str = "id"  # an increasing integer: the cursor, and the row's key
    updated_at_column: str | None = None  # set: the cursor is (updated_at, id)
    poll_interval: Duration = timedelta(seconds=10)
    batch_size: int = Field(default=1000, ge=1, le=10000)
    look_back: Duration = timedelta(minutes=5)

    @model_validator(mode="after")
    def _by_kind(self) -> SourceConfig:
        if self.kind == "api":
            _check_secret("token", self.token, self.token_env, required=True)
            stray = [key for key in _TABLE_KEYS if key in self.model_fields_set]
            if stray:
                raise ValueError(f'{", ".join(stray)} 只用于 kind = "table" 的来源')
            return self
        problems = [_secret_problem("url", self.url, self.url_env, required=True)]
        problems += [
            f'{key} 只用于 kind = "api" 的来源'
            for key in ("token", "token_env", "channels", "events")
            if key in self.model_fields_set
        ]
        problems += [f"需要 {key}" for key in ("table", "channel") if getattr(self, key) is None]
        if not self.columns:
            problems.append("需要 columns (记录字段 = 列名)")
        if not any(problems) and not self.database_url.startswith(TABLE_DRIVERS):
            problems.append(f"url: 只支持 {', '.join(TABLE_DRIVERS)}")
        if self.channel is not None and self.channel in CSV_HEADERS:
            fields = CSV_HEADERS[self.channel]
            for field in self.columns:
                if field not in fields:
                    guess = nearest(field, fields)
                    hint = f", 是否想写 {guess}?" if guess else f"; 可用的有: {', '.join(fields)}"
                    problems.append(f"columns.{field}: {self.channel} 渠道没有这个字段{hint}")
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))
        return self

    @property
    def secret(self) -> str:
        return _secret(self.token, self.token_env) or ""

    @property
    def database_url(self) -> str:
        """kind = "table": the other database's URL, from the config or the environment."""
        return _secret(self.url, self.url_env) or ""


class WeComConfig(_Section):
    """How to reach WeCom (or the sandbox) and how politely to use it."""

    api_base: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    corp_id: str | None = None
    corp_secret: str | None = Field(default=None, repr=False)
    corp_secret_env: str | None = None
    agent_id: int | None = None
    send_interval: Duration = timedelta(seconds=1)
    group_wait: Duration = timedelta(seconds=10)
    group_interval: Duration = timedelta(seconds=30)
    robot_per_minute: int = Field(default=20, ge=2, le=20)
    member_per_minute: int = Field(default=30, ge=1, le=30)
    member_per_hour: int = Field(default=1000, ge=1, le=1000)
    timeout: Duration = timedelta(seconds=10)
    # Callbacks (the app's 1:1 chats and the intelligent robot's group @mentions) are signed with
    # this token and encrypted with this key; set the same pair on both in WeCom's admin.
    callback_token: str | None = Field(default=None, repr=False)
    callback_token_env: str | None = None
    callback_aes_key: str | None = Field(default=None, repr=False)
    callback_aes_key_env: str | None = None
    callback_max_skew: Duration = timedelta(minutes=5)

    @model_validator(mode="after")
    def _secret_given(self) -> WeComConfig:
        # Every secret's problem at once: a fresh config may miss several variables.
        problems = [
            _secret_problem("corp_secret", self.corp_secret, self.corp_secret_env, required=False),
            _secret_problem(
                "callback_token", self.callback_token, self.callback_token_env, required=False
            ),
            _secret_problem(
                "callback_aes_key",
                self.callback_aes_key,
                self.callback_aes_key_env,
                required=False,
            ),
        ]
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))
        key = self.aes_key
        if key is not None and (len(key) != 43 or not key.isalnum()):
            raise ValueError("callback_aes_key 须为 43 位字母数字 (企业微信后台的 EncodingAESKey)")
        return self

    @property
    def token(self) -> str | None:
        return _secret(self.callback_token, self.callback_token_env)

    @property
    def aes_key(self) -> str | None:
        return _secret(self.callback_aes_key, self.callback_aes_key_env)

    @property
    def app_secret(self) -> str | None:
        return _secret(self.corp_secret, self.corp_secret_env)


class RolesConfig(_Section):
    """People with a role outside the handler groups (members and supervisors are in
    ``[groups]``). Ops also receive the bot's own alerts (undeliverable messages, health)."""

    customer_service: tuple[str, ...] = ()
    finance: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()
    # The ops console (docs/console.md): ops and every group's supervisor may look; these may
    # also edit rule drafts, and publish them (a publisher may edit too).
    rule_editors: tuple[str, ...] = ()
    rule_publishers: tuple[str, ...] = ()

    @property
    def all_people(self) -> tuple[str, ...]:
        return (
            *self.customer_service,
            *self.finance,
            *self.ops,
            *self.rule_editors,
            *self.rule_publishers,
        )


class ReportsConfig(_Section):
    """When the SLA report is pushed: each group gets its own in its chat (with a chart), each
    supervisor the one of every group, by app message."""

    daily_at: time | None = time(9, 0)  # local time; None: no daily report
    weekly_on: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None
    chart: bool = True


Gateway = Literal["wechat", "alipay", "unionpay"]
GATEWAYS = ("wechat", "alipay", "unionpay")


class ReconRoute(_Section):
    """Payment tickets of these shops and/or gateways go to ``group`` (first match wins)."""

    name: str
    group: str
    shops: tuple[str, ...] = ()
    gateways: tuple[Gateway, ...] = ()


class LagLimits(_Section):
    """How late each timed stage's news may be (p95 over [health].window), by default the
    seed's table; the stages are rules.freshness.LAG_STAGES."""

    pending_payment: Duration = timedelta(minutes=2)  # 订单创建: real time
    paid: Duration = timedelta(minutes=5)  # 支付完成
    picking: Duration = timedelta(minutes=30)  # 仓库接单
    shipped: Duration = timedelta(hours=1)  # 已发货


LagStage = Literal["pending_payment", "paid", "picking", "shipped"]


class HealthConfig(_Section):
    """The health guard's window and thresholds. A signal alerts ops once when it crosses its
    threshold and once when it recovers; address parsing also pauses auto-routing."""

    check_interval: Duration = timedelta(minutes=1)
    window: Duration = timedelta(minutes=30)
    triage_group: str | None = None  # where tickets go while routing is paused; None: default
    address_parse_min: float = Field(default=0.95, ge=0, le=1)
    address_min_samples: int = Field(default=20, ge=1)
    default_route_max: float = Field(default=0.5, ge=0, le=1)
    default_route_min_samples: int = Field(default=20, ge=1)
    rejected_max: float = Field(default=0.05, ge=0, le=1)
    rejected_min_samples: int = Field(default=20, ge=1)
    channel_silence: Duration = timedelta(hours=1)  # in business hours, for channels that
    # sent orders on most of the last 7 working days
    dead_letters_max: int = Field(default=0, ge=0)
    outbox_backlog_max: Duration = timedelta(minutes=10)
    watch_stale_after: Duration = timedelta(minutes=5)
    lag_min_samples: int = Field(default=20, ge=1)  # per source and stage, over the window
    lag_max: LagLimits = LagLimits()
    # Per source (a [sources] name, or "import"), the stages whose limit differs.
    lag_max_by_source: dict[str, dict[LagStage, Duration]] = Field(default_factory=dict)

    def lag_limit(self, source: str, stage: Stage) -> timedelta:
        own = self.lag_max_by_source.get(source, {})
        limit: timedelta = own.get(stage.value) or getattr(self.lag_max, stage.value)  # type: ignore[call-overload]
        return limit


class TrackingConfig(_Section):
    """Following parcels: the tracking provider that pushes carrier scans, and when a parcel
    without a new scan counts as stalled."""

    provider: Literal["kuaidi100"] = "kuaidi100"
    api_base: str = "https://poll.kuaidi100.com/"
    key: str | None = Field(default=None, repr=False)  # the provider's enterprise key
    key_env: str | None = None
    salt: str | None = Field(default=None, repr=False)  # signs its pushes to us
    salt_env: str | None = None
    callback_url: str  # where the provider pushes scans: this service's public address
    subscribe_interval: Duration = timedelta(seconds=10)
    timeout: Duration = timedelta(seconds=10)
    origin_province: str | None = None  # where parcels leave from, until a scan says
    stall_after: Duration = timedelta(hours=24)  # calendar time: parcels move on Sundays
    stall_after_by_carrier: dict[str, Duration] = Field(default_factory=dict)
    stall_check_interval: Duration = timedelta(minutes=1)
    # Which parcel troubles the customer is told of by SMS (each once per episode).
    notify_customer: tuple[Literal["stall", "rejected", "returning", "returned"], ...] = (
        "stall",
        "rejected",
    )

    @model_validator(mode="after")
    def _secrets(self) -> TrackingConfig:
        problems = [
            _secret_problem("key", self.key, self.key_env, required=True),
            _secret_problem("salt", self.salt, self.salt_env, required=True),
        ]
        unknown = [c for c in self.stall_after_by_carrier if c not in CARRIER_CODES]
        if unknown:
            known = ", ".join(CARRIER_CODES)
            problems.append(f"stall_after_by_carrier: 未知快递公司 {unknown}; 可选值: {known}")
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))
        return self

    @property
    def provider_key(self) -> str:
        return _secret(self.key, self.key_env) or ""

    @property
    def push_salt(self) -> str:
        return _secret(self.salt, self.salt_env) or ""

    def stall_limit(self, carrier: str | None) -> timedelta:
        """How long a parcel of this carrier may go without a scan."""
        return self.stall_after_by_carrier.get(carrier or "", self.stall_after)


class SmsConfig(_Section):
    """Texts to customers: the provider, its approved sign and templates, and our own manners
    (quiet hours, per-number limits kept before the provider has to refuse)."""

    provider: Literal["tencent", "aliyun"]
    endpoint: str | None = None  # host[:port] of the provider's API; None: its public one
    secret_id: str | None = Field(default=None, repr=False)
    secret_id_env: str | None = None
    secret_key: str | None = Field(default=None, repr=False)
    secret_key_env: str | None = None
    sdk_app_id: str | None = None  # Tencent's SmsSdkAppId
    region: str = "ap-guangzhou"
    sign_name: str
    # The approved template id (Tencent) or code (Aliyun) of each kind of text.
    templates: dict[str, str] = Field(default_factory=dict)
    quiet_start: time = time(21, 0)  # Beijing time ([watch].timezone)
    quiet_end: time = time(8, 0)
    send_interval: Duration = timedelta(seconds=5)
    timeout: Duration = timedelta(seconds=10)
    # The link in a text opens the order on the customer's page, signed, for this long.
    link_base: str | None = None
    link_secret: str | None = Field(default=None, repr=False)
    link_secret_env: str | None = None
    link_ttl: Duration = timedelta(days=7)

    @model_validator(mode="after")
    def _secrets(self) -> SmsConfig:
        problems = [
            _secret_problem("secret_id", self.secret_id, self.secret_id_env, required=True),
            _secret_problem("secret_key", self.secret_key, self.secret_key_env, required=True),
            _secret_problem(
                "link_secret",
                self.link_secret,
                self.link_secret_env,
                required=self.link_base is not None,
            ),
        ]
        if self.provider == "tencent" and not self.sdk_app_id:
            problems.append("腾讯云短信需要 sdk_app_id (SmsSdkAppId)")
        if self.templates and self.link_base is None:
            problems.append("短信模板都带订单链接: 需要 link_base (客户页地址前缀) 与 link_secret")
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))
        return self

    @property
    def access_id(self) -> str:
        return _secret(self.secret_id, self.secret_id_env) or ""

    @property
    def access_key(self) -> str:
        return _secret(self.secret_key, self.secret_key_env) or ""

    @property
    def link_key(self) -> str | None:
        return _secret(self.link_secret, self.link_secret_env)


class CustomerPageConfig(_Section):
    """The customer's self-service page: its own listener, entry by a code texted to the number
    (or by a text's signed link), and its limits against abuse."""

    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)
    # Where customers reach the page (behind the proxy); https:// marks cookies Secure.
    public_url: str | None = None
    secure_cookies: bool | None = None  # None: from public_url
    # Behind a reverse proxy: the client's IP is the last X-Forwarded-For hop (set only when
    # the proxy sets that header; otherwise a client could choose its own IP for the limits).
    trust_forwarded_for: bool = False
    # Keys the codes' hashes, the numbers' hashes and the forms' CSRF tokens.
    secret: str | None = Field(default=None, repr=False)
    secret_env: str | None = None
    session_ttl: Duration = timedelta(minutes=30)
    code_ttl: Duration = timedelta(minutes=5)
    code_attempts: int = Field(default=5, ge=1, le=20)
    code_interval: Duration = timedelta(minutes=1)  # between two codes to one number
    limit_window: Duration = timedelta(hours=1)  # the per-IP and per-number limits below
    codes_per_ip: int = Field(default=10, ge=1)
    codes_per_number: int = Field(default=3, ge=1)
    attempts_per_ip: int = Field(default=30, ge=1)
    attempts_per_number: int = Field(default=15, ge=1)
    orders_within: Duration = timedelta(days=90)
    max_orders: int = Field(default=50, ge=1, le=200)

    @model_validator(mode="after")
    def _checks(self) -> CustomerPageConfig:
        problems = [_secret_problem("secret", self.secret, self.secret_env, required=True)]
        if self.public_url is not None and not self.public_url.startswith(("https://", "http://")):
            problems.append("public_url 应以 https:// 或 http:// 开头")
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))
        return self

    @property
    def key(self) -> str:
        return _secret(self.secret, self.secret_env) or ""

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return (self.public_url or "").startswith("https://")


class ConsoleConfig(_Section):
    """The ops console under /console/ on the internal listener, signed in with WeCom's web
    login (企业微信 Web 登录): no passwords of our own (docs/console.md)."""

    # WeCom's web login page; the sandbox's in tests and the demo.
    login_base: str = "https://login.work.weixin.qq.com/"
    # Where people's browsers reach the internal listener (behind the proxy), e.g.
    # https://ops.example.com: WeCom sends them back to <public_url>/console/login/callback,
    # whose host must be the app's trusted domain (可信域名). None: the request's own host.
    public_url: str | None = None
    secure_cookies: bool | None = None  # None: from public_url
    # Signs the session cookies and the forms' CSRF tokens.
    secret: str | None = Field(default=None, repr=False)
    secret_env: str | None = None
    session_ttl: Duration = timedelta(hours=8)
    login_ttl: Duration = timedelta(minutes=10)  # from the login link to WeCom's answer
    # Login attempts (each a getuserinfo call to WeCom) per client address within login_window,
    # counted per instance. Behind a proxy that sets X-Forwarded-For, trust it (its last hop is
    # the client); otherwise every login counts against the proxy's one address.
    logins_per_ip: int = Field(default=20, ge=1)
    login_window: Duration = timedelta(minutes=10)
    trust_forwarded_for: bool = False

    @model_validator(mode="after")
    def _checks(self) -> ConsoleConfig:
        problems = [_secret_problem("secret", self.secret, self.secret_env, required=True)]
        for name in ("login_base", "public_url"):
            value = getattr(self, name)
            if value is not None and not value.startswith(("https://", "http://")):
                problems.append(f"{name} 应以 https:// 或 http:// 开头")
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))
        return self

    @property
    def key(self) -> str:
        return _secret(self.secret, self.secret_env) or ""

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return (self.public_url or "").startswith("https://")


class EtaConfig(_Section):
    """Expected delivery from the pool's own history: per carrier and origin → destination
    province, a high percentile of the transit times over a rolling window."""

    window: Duration = timedelta(days=30)
    percentile: int = Field(default=80, ge=50, le=99)
    min_samples: int = Field(default=20, ge=1)  # fewer: the carrier's, then the default
    default_transit: Duration = timedelta(hours=72)
    recompute_every: Duration = timedelta(hours=1)


def _key_source(name: str, path: str | None, env: str | None) -> str:
    """A private key is read from a file (``{name}_file``) or from an environment variable
    holding the PEM text (``{name}_env``): exactly one. The file is read when it is used."""
    if (path is None) == (env is None):
        return f"{name}_file 与 {name}_env 须给且只给一个"
    if env is not None and not os.environ.get(env):
        return f"环境变量 {env} 未设置或为空"
    return ""


def _url_problem(name: str, url: str) -> str:
    if url.startswith(("https://", "http://")):
        return ""
    return f"{name} 应以 https:// 或 http:// 开头, 而不是 {url!r}"


class WechatPayBillsConfig(_Section):
    """WeChat Pay APIv3 bill download for one merchant (商户号): requests are signed with the
    merchant's API key (its certificate's serial), answers checked with WeChat Pay's public key
    (微信支付公钥, id ``PUB_KEY_ID_…``)."""

    mchid: str  # 商户号, 8 to 10 digits
    merchant_serial: str  # 商户 API 证书序列号
    private_key_file: str | None = None  # apiclient_key.pem
    private_key_env: str | None = None  # or the PEM text in this environment variable
    public_key_file: str  # 微信支付公钥 (pub_key.pem), downloaded from the merchant platform
    public_key_id: str  # PUB_KEY_ID_…, the Wechatpay-Serial it signs with
    base_url: str = "https://api.mch.weixin.qq.com"
    fundflow: bool = True  # also the BASIC fund-flow bill (资金账单): the fees as settled
    timeout: Duration = timedelta(seconds=60)

    @model_validator(mode="after")
    def _key(self) -> WechatPayBillsConfig:
        problems = [_key_source("private_key", self.private_key_file, self.private_key_env)]
        if not re.fullmatch(r"\d{8,10}", self.mchid):
            problems.append(f"mchid 应为 8 到 10 位数字的商户号, 而不是 {self.mchid!r}")
        if not self.merchant_serial.strip():
            problems.append("merchant_serial (商户 API 证书序列号) 不能为空")
        if not self.public_key_id.strip():
            problems.append("public_key_id (微信支付公钥 ID, PUB_KEY_ID_…) 不能为空")
        problems.append(_url_problem("base_url", self.base_url))
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))
        return self


class AlipayBillsConfig(_Section):
    """Alipay open platform bill download (alipay.data.dataservice.bill.downloadurl.query) for
    one app: requests signed RSA2 with the app's private key (应用私钥), answers checked with
    Alipay's public key (支付宝公钥)."""

    app_id: str  # the app's APPID: digits
    private_key_file: str | None = None
    private_key_env: str | None = None
    public_key_file: str
    base_url: str = "https://openapi.alipay.com/gateway.do"
    timeout: Duration = timedelta(seconds=60)

    @model_validator(mode="after")
    def _key(self) -> AlipayBillsConfig:
        problems = [_key_source("private_key", self.private_key_file, self.private_key_env)]
        if not re.fullmatch(r"\d{10,20}", self.app_id):
            problems.append(f"app_id 应为支付宝开放平台应用的 APPID (数字), 而不是 {self.app_id!r}")
        problems.append(_url_problem("base_url", self.base_url))
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))
        return self


class BillFetchConfig(_Section):
    """How ``recon fetch`` waits for a bill the gateway is still generating (bills for day T
    come out from about 10:00 on T+1): first after ``retry_after``, doubling up to
    ``retry_max``, giving up ``give_up_after`` after the first try."""

    retry_after: Duration = timedelta(minutes=5)
    retry_max: Duration = timedelta(minutes=30)  # WeChat Pay asks for every 30 minutes
    give_up_after: Duration = timedelta(hours=4)


class ReconConfig(_Section):
    """Reconciliation (docs/reconciliation.md): the gateways whose bills are downloaded; when
    the nightly run starts and which gateways it reconciles, the day boundary, the presale
    balance window, contracted fee rates, and where the payment tickets and the digest go."""

    fetch: BillFetchConfig = BillFetchConfig()
    wechat: WechatPayBillsConfig | None = None  # None: WeChat Pay bills by hand only
    alipay: AlipayBillsConfig | None = None  # None: Alipay bills by hand only
    daily_at: time | None = time(10, 30)  # local time on T+1; None: no nightly run
    gateways: tuple[Gateway, ...] = ("wechat", "alipay", "unionpay")
    carry_over: Duration = timedelta(minutes=10)
    balance_window: Duration = timedelta(days=30)
    fee_rates: dict[str, str] = Field(default_factory=dict)  # "0.6%"; absent: not checked
    fee_tolerance_fen: int = Field(default=1, ge=0)
    group: str | None = None  # the finance group; None: routing.default_group
    routes: tuple[ReconRoute, ...] = ()

    @field_validator("fee_rates")
    @classmethod
    def _rates(cls, rates: dict[str, str]) -> dict[str, str]:
        for gateway, rate in rates.items():
            if gateway not in GATEWAYS:
                raise ValueError(f"未知支付渠道 {gateway!r}; 可选值: {', '.join(GATEWAYS)}")
            rate_ppm(rate)
        return rates

    def fee_ppm(self, gateway: str) -> int | None:
        rate = self.fee_rates.get(gateway)
        return None if rate is None else rate_ppm(rate)


class Config(_Section):
    database: DatabaseConfig = DatabaseConfig()
    server: ServerConfig = ServerConfig()
    watch: WatchConfig = WatchConfig()
    calendar: CalendarConfig = CalendarConfig()
    order_types: OrderTypesConfig = OrderTypesConfig()
    sla: tuple[SlaRule, ...] = ()
    promotions: tuple[Promotion, ...] = ()  # time-bounded SLA rules, see docs/rules.md
    routing: RoutingConfig
    # Per channel, the platform's category ids by the names routing rules and order types use
    # (``[categories.taobao] "50008164" = "定制家具"``); an id not listed stays an id.
    categories: dict[str, dict[str, str]] = Field(default_factory=dict)
    groups: dict[str, GroupConfig]
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    roles: RolesConfig = RolesConfig()
    health: HealthConfig = HealthConfig()
    reports: ReportsConfig = ReportsConfig()
    wecom: WeComConfig | None = None  # None: notifications stay in the outbox
    tracking: TrackingConfig | None = None  # None: parcels are not followed
    sms: SmsConfig | None = None  # None: customers get no texts
    customer_page: CustomerPageConfig | None = None  # None: no customer page
    console: ConsoleConfig | None = None  # None: no ops console
    eta: EtaConfig = EtaConfig()
    recon: ReconConfig = ReconConfig()

    @model_validator(mode="after")
    def _references(self) -> Config:
        problems: list[str] = []
        if self.health.triage_group is not None and self.health.triage_group not in self.groups:
            problems.append(f"health.triage_group: 未定义的组 {self.health.triage_group!r}")
        if self.routing.default_group not in self.groups:
            problems.append(f"routing.default_group: 未定义的组 {self.routing.default_group!r}")
        for i, rule in enumerate(self.routing.rules):
            if rule.group not in self.groups:
                problems.append(f"routing.rules[{i}].group: 未定义的组 {rule.group!r}")
        known = set(self.order_types.known)
        for category, kind in self.order_types.by_category.items():
            if kind not in known:
                problems.append(f"order_types.by_category.{category}: 未知订单类型 {kind!r}")
        located = [(f"sla[{i}]", sla) for i, sla in enumerate(self.sla)]
        located += [
            (f"promotions[{p}].sla[{i}]", sla)
            for p, promotion in enumerate(self.promotions)
            for i, sla in enumerate(promotion.sla)
        ]
        for where, sla in located:
            problems += [
                f"{where}.order_types: 未知订单类型 {t!r}"
                for t in sla.order_types
                if t not in known
            ]
            problems += [
                f"{where}.channels: 未知渠道 {c!r}" for c in sla.channels if c not in LABELS
            ]
        names = [promotion.name for promotion in self.promotions]
        problems += [
            f"promotions: 活动名 {name!r} 重复"
            for name in sorted(set(names))
            if names.count(name) > 1
        ]
        problems += [f"categories.{c}: 未知渠道 {c!r}" for c in self.categories if c not in LABELS]
        for name, source in self.sources.items():
            problems += [
                f"sources.{name}.channels: 未知渠道 {c!r}"
                for c in source.channels
                if c not in LABELS
            ]
            if source.channel is not None and source.channel not in LABELS:
                guess = nearest(source.channel, list(LABELS))
                hint = f", 是否想写 {guess}?" if guess else f"; 可选值: {', '.join(LABELS)}"
                problems.append(f"sources.{name}.channel: 未知渠道 {source.channel!r}{hint}")
        problems += [
            f"sources.{name}: 来源名最长 {SOURCE_NAME} 个字符"
            for name in self.sources
            if len(name) > SOURCE_NAME
        ]
        sources = [*self.sources, FILE_IMPORT]
        for name in self.health.lag_max_by_source:
            if name not in sources:
                guess = nearest(name, sources)
                hint = f", 是否想写 {guess}?" if guess else f"; 可选值: {', '.join(sources)}"
                problems.append(f"health.lag_max_by_source.{name}: 未定义的来源 {name!r}{hint}")
        recon_groups = [("recon.group", self.recon.group)] + [
            (f"recon.routes[{i}].group", r.group) for i, r in enumerate(self.recon.routes)
        ]
        problems += [
            f"{where}: 未定义的组 {group!r}"
            for where, group in recon_groups
            if group is not None and group not in self.groups
        ]
        if self.customer_page is not None and (
            self.sms is None or "code" not in self.sms.templates
        ):
            problems.append("customer_page: 验证码短信需要 [sms] 且 templates 中有 code 模板")
        if self.console is not None and (
            self.wecom is None
            or not (self.wecom.corp_id and self.wecom.agent_id and self.wecom.app_secret)
        ):
            problems.append("console: 企业微信登录需要 [wecom] 的 corp_id、agent_id 和 corp_secret")
        if problems:
            raise ValueError("\n".join(problems))
        return self


def parse_config(data: dict[str, Any]) -> Config:
    """Validate a config mapping, turning pydantic's errors into one readable ConfigError."""
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(joined(explain(Config, error))) from None


def load_config(path: Path) -> Config:
    """Read and validate a TOML config file."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"找不到配置文件: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"配置文件不是合法的 TOML ({path}): {error}") from None
    return parse_config(data)
