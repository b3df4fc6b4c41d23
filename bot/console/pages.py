"""The console's pages and what every handler shares: who is signed in, who may do what, and
rendering a template inside the layout (navigation, CSRF token, the signed-in person).

Adding a page is a routes module with a ``SECTION`` (its navigation entry and routes) and its
templates, and one line in ``bot.console.app.SECTIONS``: docs/console.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.console.security import Session, csrf_token
from bot.keys import CLOCK, CONFIG, RULES
from rules.durations import format_duration
from rules.render import local_time
from services.config import ConsoleConfig
from services.console.access import Access
from services.policy import Policy

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PREFIX = "/console"


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, as the rules in force see them now."""

    user: str
    access: Access
    ops: bool  # [roles] ops: may pause and resume auto-routing, as in the chat
    session: Session


VIEWER = web.RequestKey("console_viewer", Viewer)


@dataclass(frozen=True)
class Section:
    """A page in the navigation: its path under /console, its label, the access it needs,
    and a function adding its routes (paths under /console) to the console's app."""

    path: str
    title: str
    access: Access
    add_routes: Callable[[web.Application], None]


SECTIONS_KEY = web.AppKey("console_sections", tuple[Section, ...])


def console_config(request: web.Request) -> ConsoleConfig:
    config = request.config_dict[CONFIG].console
    assert config is not None
    return config


def policy(request: web.Request) -> Policy:
    return request.config_dict[RULES].current()


def now(request: web.Request) -> datetime:
    return request.config_dict[CLOCK].now()


class Refusal(Exception):
    """A refusal, shown as a sentence on the console's message page with its status."""

    def __init__(self, status: int, words: str) -> None:
        super().__init__(words)
        self.status = status
        self.words = words


def ops_only(handler: Handler) -> Handler:
    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not request[VIEWER].ops:
            raise Refusal(403, "这一操作只有运维 ([roles] ops) 可以执行。")
        return await handler(request)

    return guarded


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """A page in the layout: the navigation this person may see, marked where they are."""
    viewer = request.get(VIEWER)
    sections = request.app[SECTIONS_KEY]
    tz, moment = policy(request).timezone, now(request)
    shared: dict[str, Any] = {
        "viewer": viewer,
        "prefix": PREFIX,
        "nav": [],
        "csrf": "",
        "when": lambda at: local_time(at, tz),  # Beijing time on screen
        "ago": lambda at: format_duration(moment - at) if at <= moment else "未到",
    }
    if viewer is not None:
        shared["nav"] = [
            {"href": PREFIX + s.path, "title": s.title, "here": request.path == PREFIX + s.path}
            for s in sections
            if viewer.access >= s.access
        ]
        shared["csrf"] = csrf_token(console_config(request), viewer.session)
    return aiohttp_jinja2.render_template(template, request, shared | context, status=status)
