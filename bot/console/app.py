"""The console as an aiohttp app mounted at /console on the internal listener: who is signed
in, CSRF on every POST, security headers on every answer, Chinese pages instead of errors."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from yarl import URL

from bot.console import health, login, rules, tickets
from bot.console.pages import (
    PREFIX,
    SECTIONS_KEY,
    VIEWER,
    Handler,
    Refusal,
    Section,
    Viewer,
    console_config,
    now,
    policy,
    render,
)
from bot.console.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    cookie_name,
    csrf_holds,
    delete_cookie,
    read_session,
    secure_headers,
)
from channels.registry import channel_label
from handlers.views import entry_words
from rules.durations import format_duration
from rules.freshness import format_lag
from rules.kinds import KINDS, Kind
from rules.money import format_fen
from rules.stages import Stage
from services.config import ConsoleConfig
from services.console.access import access_of

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
MAX_FORM = 64 * 1024

# The navigation, in order. A new page: its module's SECTION here (docs/console.md).
SECTIONS: tuple[Section, ...] = (health.SECTION, tickets.SECTION, rules.SECTION)

# What templates say things with: the same words as the chat's.
WORDS = {
    "duration": format_duration,
    "lagwords": format_lag,
    "fen": format_fen,
    "channel_label": channel_label,
    "stage_label": lambda stage: Stage(stage).label if stage in set(Stage) else stage,
    "kind_label": lambda kind: KINDS[Kind(kind)].label if kind in set(Kind) else kind,
    "entry_words": entry_words,
}

NOT_FOUND = "页面不存在。"
FAILED = "系统出错了, 请稍后再试。"
BAD_FORM = "表单已过期或不是从控制台提交的 (CSRF 校验未通过)。请刷新页面后重试。"
SIGNED_OUT = "登录已过期, 请重新登录。"
TOO_LARGE = "提交的内容太大。"


def _public(path: str) -> bool:
    return path.startswith((PREFIX + "/login", PREFIX + "/static/"))


def _viewer(request: web.Request) -> Viewer | None:
    """Who the session cookie says, with the access the rules in force give them now."""
    config = console_config(request)
    cookie = request.cookies.get(cookie_name(config, SESSION_COOKIE))
    session = None if cookie is None else read_session(config, cookie, now(request))
    if session is None:
        return None
    rules = policy(request).config
    access = access_of(rules, session.user)
    if access is None:
        return None
    return Viewer(session.user, access, session.user in rules.roles.ops, session)


def _to_login(request: web.Request) -> web.StreamResponse:
    if request.headers.get("HX-Request"):  # htmx: send the whole page, not a fragment
        return web.Response(status=401, headers={"HX-Redirect": PREFIX + "/login"})
    if request.method == "GET":  # back here once signed in
        raise web.HTTPSeeOther(URL(PREFIX + "/login").with_query(next=request.path_qs))
    return render(request, "message.html", {"message": SIGNED_OUT}, status=401)


async def _csrf_holds(request: web.Request, viewer: Viewer) -> bool:
    token = request.headers.get(CSRF_HEADER, "")
    if not token and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        token = str((await request.post()).get(CSRF_FIELD, ""))
    return csrf_holds(console_config(request), viewer.session, token)


async def _serve(request: web.Request, handler: Handler) -> web.StreamResponse:
    viewer = _viewer(request)
    if viewer is not None:
        request[VIEWER] = viewer
    if _public(request.path):
        return await handler(request)
    if viewer is None:
        response = _to_login(request)
        delete_cookie(response, console_config(request), SESSION_COOKIE)
        return response
    if (request.content_length or 0) > MAX_FORM:  # the service's own limit is for batches
        raise Refusal(413, TOO_LARGE)
    if request.method not in ("GET", "HEAD") and not await _csrf_holds(request, viewer):
        raise Refusal(403, BAD_FORM)
    section = _section_of(request.path)
    if section is not None and viewer.access < section.access:
        held, needed = viewer.access.label, section.access.label
        raise Refusal(403, f"「{section.title}」需要「{needed}」权限, 您的权限是「{held}」。")
    return await handler(request)


def _section_of(path: str) -> Section | None:
    """The section a path belongs to: its own path, or below it."""
    for section in SECTIONS:
        own = PREFIX + section.path
        if path == own or path.startswith(own + "/"):
            return section
    return None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sign-in and CSRF first; security headers on every answer; errors as a sentence on a
    page, never a traceback."""
    secure = console_config(request).cookies_secure
    static = request.path.startswith(PREFIX + "/static/")
    try:
        response = await _serve(request, handler)
    except web.HTTPRedirection as redirect:
        secure_headers(redirect, static, secure)
        raise
    except Refusal as refusal:
        response = render(request, "message.html", {"message": refusal.words}, refusal.status)
    except web.HTTPException as error:
        words = NOT_FOUND if error.status in (404, 405) else FAILED
        response = render(request, "message.html", {"message": words}, error.status)
    except Exception:
        logger.exception("控制台出错: %s %s", request.method, request.path)
        response = render(request, "message.html", {"message": FAILED}, 500)
    secure_headers(response, static, secure)
    return response


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(PREFIX + SECTIONS[0].path)


def create_console_app(config: ConsoleConfig) -> web.Application:
    """The console, to mount at /console on the service's app (it reads the service's
    config, rules, clock, database and WeCom client)."""
    app = web.Application(middlewares=[guard], client_max_size=MAX_FORM)
    app[SECTIONS_KEY] = SECTIONS
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        auto_reload=False,  # templates ship with the code: no stat() of each on every page
    )
    env.globals.update(WORDS)
    app.router.add_get("/", home)
    login.add_routes(app, config)
    for section in SECTIONS:
        section.add_routes(app)
    app.router.add_static("/static/", HERE / "static")
    return app
