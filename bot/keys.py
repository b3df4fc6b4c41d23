"""Typed keys for what the application holds."""

from __future__ import annotations

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.wecom.client import WeComClient
from bot.observability.metrics import Metrics
from services.clock import Clock
from services.config import Config
from services.ingest import Ingestor
from services.policy import Rules
from storage.unit_threads import UnitThreads

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
RULES = web.AppKey("rules", Rules)  # the rules in force: ask .current() at each use
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
# SQLite only: chat commands' units of work in worker threads
UNITS = web.AppKey("units", UnitThreads)
INGESTOR = web.AppKey("ingestor", Ingestor)
WECOM = web.AppKey("wecom", WeComClient)
METRICS = web.AppKey("metrics", Metrics)
SCHEDULER = web.AppKey("scheduler", AsyncIOScheduler)  # only when built with its timers
