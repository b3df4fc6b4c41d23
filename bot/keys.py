"""Typed keys for what the application holds."""

from __future__ import annotations

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Config
from bot.ingest import Ingestor
from bot.observability.metrics import Metrics
from bot.policy import Policy
from bot.wecom.client import WeComClient

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
POLICY = web.AppKey("policy", Policy)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
INGESTOR = web.AppKey("ingestor", Ingestor)
WECOM = web.AppKey("wecom", WeComClient)
METRICS = web.AppKey("metrics", Metrics)
SCHEDULER = web.AppKey("scheduler", AsyncIOScheduler)  # only when built with its timers
