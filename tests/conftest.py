"""Shared fixtures: a fresh migrated database per test (SQLite, or PostgreSQL when
ORDERBOT_TEST_DB=postgresql), a config, a controllable clock, and an app client."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.config import Config, parse_config
from storage import migrate

PG_ADMIN_DSN = os.environ.get("ORDERBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TOKENS = {"taobao": "tok-taobao", "all": "tok-all", "wms": "tok-wms"}
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 Asia/Shanghai


def selected_backend() -> str:
    backend = os.environ.get("ORDERBOT_TEST_DB", "sqlite")
    if backend not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"ORDERBOT_TEST_DB must be sqlite or postgresql, not {backend!r}")
    return backend


async def _pg_admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A brand-new database brought up with the real migrations; never a leftover."""
    if selected_backend() == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'orderbot.db'}"
        migrate.upgrade(url)
        yield url
        return
    name = f"orderbot_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def config_data(database_url: str) -> dict[str, Any]:
    """A small but complete config: three groups, routing by region/amount/category, SLAs."""
    return {
        "database": {"url": database_url},
        "watch": {"scan_interval": "1s", "batch_size": 100},
        "groups": {
            "east": {"name": "华东组", "supervisor": "boss-east", "members": ["zhang"]},
            "vip": {"name": "大额组", "supervisor": "boss-vip", "members": ["li"]},
            "general": {"name": "综合组", "members": ["wang"]},
        },
        "routing": {
            "default_group": "general",
            "rules": [
                {"name": "大额", "group": "vip", "min_yuan": "5000"},
                {"name": "华东", "group": "east", "provinces": ["上海市", "浙江省", "江苏省"]},
            ],
        },
        "sla": [
            {"name": "普通待拣货", "stage": "paid", "order_types": ["normal"], "limit": "2h"},
            {"name": "预售待拣货", "stage": "paid", "order_types": ["presale"], "limit": "4h"},
            {
                "name": "定制待拣货",
                "stage": "paid",
                "order_types": ["custom"],
                "limit": "8h",
                "business_hours": True,
            },
            {"name": "拣货超时", "stage": "picking", "limit": "3h"},
        ],
        "order_types": {"by_category": {"定制家具": "custom"}},
        "sources": {
            "taobao-sync": {"token": TOKENS["taobao"], "channels": ["taobao"]},
            "erp": {"token": TOKENS["all"], "channels": ["taobao", "jd", "douyin", "shop"]},
            "wms": {"token": TOKENS["wms"], "events": True},
        },
    }


@pytest.fixture
def config(database_url: str) -> Config:
    return parse_config(config_data(database_url))


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current += delta
        return self.current


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def auth(source: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[source]}"}
