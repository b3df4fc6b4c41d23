"""Signing in with WeCom's web login (企业微信 Web 登录), and out.

``GET /console/login`` offers the button; ``/console/login/wecom`` sends the browser to
``[console] login_base`` with a fresh state (kept in a signed cookie); WeCom sends it back to
``/console/login/callback?code=…&state=…``; the state must be the cookie's, and the code is
turned into a userid through ``auth/getuserinfo`` (the app's access token, cached by the
client). The userid's role comes from the rules in force (services.console.access).
"""

from __future__ import annotations

import logging

from aiohttp import web
from yarl import URL

from adapters.wecom.errors import INVALID_CODE, REDIRECT_NOT_TRUSTED, WeComError
from bot.console.limits import Attempts
from bot.console.pages import PREFIX, VIEWER, Refusal, console_config, now, policy, render
from bot.console.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    cookie_name,
    delete_cookie,
    login_cookie,
    login_destination,
    session_cookie,
    set_cookie,
)
from bot.keys import CONFIG, WECOM
from services.config import ConsoleConfig
from services.console.access import access_of

logger = logging.getLogger(__name__)

CALLBACK_PATH = PREFIX + "/login/callback"
BAD_STATE = "登录请求已失效, 或不是从本页面发起的。请重新登录。"
BAD_CODE = "企业微信的登录码无效或已过期 (每个登录码只能用一次, 5 分钟内有效)。请重新登录。"
UNTRUSTED = (
    "企业微信拒绝了这次登录: 回调地址的域名不是应用的可信域名 (错误码 50001)。"
    "请管理员在企业微信后台把控制台的域名设为可信域名, 并在 [console] public_url 中填写同一地址。"
)
NO_WECOM = "暂时无法连接企业微信, 请稍后再试。"
NOT_MEMBER = "只有本企业的成员可以登录控制台。"
TOO_MANY = "登录尝试过于频繁, 请稍后再试。"
ATTEMPTS = web.AppKey("console_login_attempts", Attempts)


def _no_access(user: str) -> str:
    return f"您的企业微信账号 ({user}) 没有控制台权限。请联系运维在配置的 [roles] 中为您开通。"


async def login_page(request: web.Request) -> web.StreamResponse:
    if VIEWER in request:
        raise web.HTTPSeeOther(PREFIX + "/")
    bye = "您已退出。" if "bye" in request.query else None
    return render(request, "login.html", {"note": bye, "next": _destination(request)})


def _destination(request: web.Request) -> str:
    """The console page to return to after signing in (``?next=``): a path of the console,
    never another site's address; the board by default."""
    wanted = request.query.get("next", "")
    inside = wanted.startswith(PREFIX + "/") and not wanted.startswith(PREFIX + "/login")
    if inside and len(wanted) <= 512 and "\\" not in wanted and "//" not in wanted:
        return wanted
    return PREFIX + "/"


def _callback_url(request: web.Request) -> str:
    base = console_config(request).public_url or f"{request.scheme}://{request.host}"
    return base.rstrip("/") + CALLBACK_PATH


async def start(request: web.Request) -> web.StreamResponse:
    """To WeCom's login page, with a state only this browser can bring back."""
    config = console_config(request)
    wecom = request.config_dict[CONFIG].wecom
    assert wecom is not None  # [console] requires it (services.config)
    state, cookie = login_cookie(config, now(request), _destination(request))
    target = URL(config.login_base.rstrip("/") + "/wwlogin/sso/login").with_query(
        login_type="CorpApp",
        appid=wecom.corp_id or "",
        agentid=str(wecom.agent_id),
        redirect_uri=_callback_url(request),
        state=state,
        lang="zh",
    )
    response = web.HTTPFound(target)
    set_cookie(response, config, LOGIN_COOKIE, cookie, config.login_ttl)
    raise response


async def callback(request: web.Request) -> web.StreamResponse:
    config = console_config(request)
    moment = now(request)
    cookie = request.cookies.get(cookie_name(config, LOGIN_COOKIE), "")
    state, code = request.query.get("state", ""), request.query.get("code", "")[:512]
    destination = login_destination(config, cookie, state, moment)
    if destination is None:
        raise Refusal(400, BAD_STATE)
    if not request.app[ATTEMPTS].take(_client(request), moment):
        logger.warning("控制台登录: %s 尝试过于频繁", _client(request))
        raise Refusal(429, TOO_MANY)
    try:
        user = await request.config_dict[WECOM].user_of_login_code(code)
    except WeComError as error:
        logger.warning("控制台登录: 企业微信拒绝了登录码: %s", error)
        if error.errcode == INVALID_CODE:
            raise Refusal(400, BAD_CODE) from None
        if error.errcode == REDIRECT_NOT_TRUSTED:
            raise Refusal(403, UNTRUSTED) from None
        raise Refusal(502, NO_WECOM) from None
    if user is None:
        raise Refusal(403, NOT_MEMBER)
    if access_of(policy(request).config, user) is None:
        logger.info("控制台登录被拒: %s 没有控制台权限", user)
        raise Refusal(403, _no_access(user))
    value, _ = session_cookie(config, user, moment)
    response = web.HTTPSeeOther(destination)
    set_cookie(response, config, SESSION_COOKIE, value, config.session_ttl)
    delete_cookie(response, config, LOGIN_COOKIE)
    logger.info("控制台登录: %s", user)
    raise response


def _client(request: web.Request) -> str:
    if console_config(request).trust_forwarded_for:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
        if hops[-1]:
            return hops[-1][:64]
    return (request.remote or "unknown")[:64]


async def logout(request: web.Request) -> web.StreamResponse:
    config = console_config(request)
    response = web.HTTPSeeOther(PREFIX + "/login?bye")
    delete_cookie(response, config, SESSION_COOKIE)
    raise response


def add_routes(app: web.Application, config: ConsoleConfig) -> None:
    app[ATTEMPTS] = Attempts(config.logins_per_ip, config.login_window)
    app.router.add_get("/login", login_page)
    app.router.add_get("/login/wecom", start)
    app.router.add_get("/login/callback", callback)
    app.router.add_post("/logout", logout)
