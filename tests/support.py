"""Test helpers shared by several test modules: a config, a hand-moved clock, auth headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Base

TOKENS = {"taobao": "tok-taobao", "all": "tok-all", "wms": "tok-wms"}
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 Asia/Shanghai
BEIJING = timezone(timedelta(hours=8))


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
        "roles": {"customer_service": ["kefu"], "finance": ["caiwu"], "ops": ["ops-liu"]},
        "sources": {
            "taobao-sync": {"token": TOKENS["taobao"], "channels": ["taobao"]},
            "erp": {"token": TOKENS["all"], "channels": ["taobao", "jd", "douyin", "shop"]},
            "wms": {"token": TOKENS["wms"], "events": True},
        },
    }


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current += delta
        return self.current


def auth(source: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[source]}"}


def shop_order(
    order_no: str,
    *,
    status: str = "PAID",
    paid_at: datetime = T0,
    total_fen: int = 12900,
    province: str | None = "上海市",
    category: str = "服饰",
    detail: str = "张江路100号",
) -> dict[str, Any]:
    """A self-built-shop order in its native format (ISO times with +08:00, fen amounts)."""
    local = paid_at.astimezone(BEIJING).isoformat()
    receiver: dict[str, Any] = {"name": "张三", "mobile": "13812345678", "detail": detail}
    if province is not None:
        receiver |= {"province": province, "city": province, "district": "浦东新区"}
    return {
        "order_no": order_no,
        "status": status,
        "created_at": local,
        "paid_at": local,
        "updated_at": local,
        "total_fen": total_fen,
        "category": category,
        "shop_name": "自营旗舰店",
        "receiver": receiver,
    }


def stage_event(order_no: str, stage: str, at: datetime, channel: str = "shop") -> dict[str, str]:
    return {
        "channel": channel,
        "order_id": order_no,
        "event_id": f"wms-{order_no}-{stage}",
        "stage": stage,
        "occurred_at": at.isoformat(),
    }


async def all_rows(sessions: async_sessionmaker[AsyncSession], model: type[Base]) -> list[Any]:
    async with sessions() as session:
        return list((await session.scalars(select(model).order_by(model.id))).all())  # type: ignore[attr-defined]
