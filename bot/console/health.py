"""健康看板: every health signal with its threshold and value, each source's lag, and the
routing pause, refreshed in place every 30 s (htmx); ops may pause and resume routing here
as with 暂停分单 / 恢复分单."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.console.pages import (
    PREFIX,
    VIEWER,
    Refusal,
    Section,
    now,
    ops_only,
    policy,
    render,
)
from bot.keys import SESSIONS
from services.console import board
from services.console.access import Access

REASON_MAX = 200


async def _context(request: web.Request) -> dict[str, Any]:
    rules = policy(request)
    found = await board.health_board(request.config_dict[SESSIONS], rules, now(request))
    return {
        "board": found,
        "triage": rules.group(rules.triage_group).name,
    }


async def page(request: web.Request) -> web.StreamResponse:
    return render(request, "health.html", await _context(request))


async def fragment(request: web.Request) -> web.StreamResponse:
    """The board alone, for htmx's refresh."""
    return render(request, "_board.html", await _context(request))


@ops_only
async def pause(request: web.Request) -> web.StreamResponse:
    reason = str((await request.post()).get("reason", "")).strip()
    if not reason or len(reason) > REASON_MAX:
        raise Refusal(400, f"请填写暂停原因 (最多 {REASON_MAX} 字)。")
    await board.pause(request.config_dict[SESSIONS], request[VIEWER].user, reason, now(request))
    raise web.HTTPSeeOther(PREFIX + SECTION.path)


@ops_only
async def resume(request: web.Request) -> web.StreamResponse:
    if not await board.resume(request.config_dict[SESSIONS], request[VIEWER].user, now(request)):
        raise Refusal(409, "自动分单并未暂停。")
    raise web.HTTPSeeOther(PREFIX + SECTION.path)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", page)
    app.router.add_get("/health/board", fragment)
    app.router.add_post("/health/routing/pause", pause)
    app.router.add_post("/health/routing/resume", resume)


SECTION = Section("/health", "健康看板", Access.VIEW, add_routes)
