"""WeCom's web login (企业微信 Web 登录, tracking-sms-login-pay-facts.md §3) played locally.

``GET /wwlogin/sso/login?login_type=CorpApp&appid=…&agentid=…&redirect_uri=…&state=…`` shows
the corp's members to pick, the stand-in for scanning the QR code with the WeCom app; picking
one (``POST /wwlogin/sso/pick``) sends the browser to ``redirect_uri?code=…&state=…`` with
the state as given. ``auth/getuserinfo`` (sandbox.wecom_api) takes the code: once, within
``login_code_ttl`` (else 40029), and only when the redirect went to one of the app's trusted
hosts (else 50001). The site checks the state itself, as WeCom leaves that to it.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from yarl import URL

from sandbox.config import SandboxConfig
from sandbox.errors import INVALID_CODE, REDIRECT_NOT_TRUSTED, Rejected
from sandbox.state import SANDBOX_STATE


@dataclass(frozen=True, slots=True)
class _Code:
    user: str
    host: str  # where the browser was sent back to
    port: int | None
    expires_at: float


class LoginCodes:
    """Codes handed out by the login page, each good for one getuserinfo within its time."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._codes: dict[str, _Code] = {}

    def issue(self, user: str, redirect: URL) -> str:
        now = self._clock()
        # Forget the stale ones now and then rather than keep every code of a long demo.
        self._codes = {c: v for c, v in self._codes.items() if v.expires_at > now}
        code = secrets.token_urlsafe(24)
        expires_at = now + self._config.login_code_ttl
        self._codes[code] = _Code(user, redirect.host or "", redirect.port, expires_at)
        return code

    def take(self, code: str) -> str:
        """The code's member; Rejected(40029) for a spent, stale or unknown code, (50001) for
        one issued for a redirect outside the trusted hosts."""
        issued = self._codes.pop(code, None)
        if issued is None or issued.expires_at <= self._clock():
            raise Rejected(INVALID_CODE, "code spent, expired or never issued")
        trusted = self._config.login_hosts
        if issued.host not in trusted and f"{issued.host}:{issued.port}" not in trusted:
            raise Rejected(REDIRECT_NOT_TRUSTED, f"{issued.host} is not a trusted domain")
        return issued.user


LOGIN_CODES = web.AppKey("login_codes", LoginCodes)

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>企业微信登录 · 沙箱</title>
<link rel="icon" href="data:,">
<style>
 body {{ font: 15px/1.6 system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; background:
        #f3f4f6; margin: 0; display: flex; justify-content: center; }}
 main {{ background: #fff; margin: 48px 16px; padding: 24px 32px; border-radius: 8px;
        box-shadow: 0 1px 3px #0002; max-width: 420px; width: 100%; }}
 h1 {{ font-size: 18px; margin: 0 0 4px; }} p {{ color: #57606a; margin: 0 0 16px; }}
 ul {{ list-style: none; padding: 0; display: grid; gap: 8px; }}
 button {{ width: 100%; padding: 8px; font: inherit; border: 1px solid #d0d7de;
          border-radius: 6px; background: #f6f8fa; cursor: pointer; text-align: left; }}
 button:hover {{ background: #dafbe1; }} .error {{ color: #d1242f; }}
</style></head>
<body><main>{body}</main></body></html>"""


def _page(body: str, status: int = 200) -> web.Response:
    return web.Response(text=_PAGE.format(body=body), status=status, content_type="text/html")


def _refused(words: str) -> web.Response:
    return _page(f'<h1>企业微信登录</h1><p class="error" data-testid="error">{words}</p>', 400)


async def login_page(request: web.Request) -> web.Response:
    """The QR-code page's stand-in: the corp's members, one button each."""
    config = request.app[SANDBOX_STATE].config
    query = request.query
    if query.get("appid") != config.corp_id:
        return _refused("参数错误: appid 不是本企业的 CorpID")
    if query.get("agentid") != str(config.agent_id):
        return _refused("参数错误: agentid 不是本企业的应用")
    redirect = query.get("redirect_uri", "")
    if not urlsplit(redirect).netloc or not redirect.startswith(("http://", "https://")):
        return _refused("参数错误: 缺少 redirect_uri")
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(query.get(name, ""))}">'
        for name in ("redirect_uri", "state")
    )
    people = config.users or ()
    buttons = "".join(
        f'<li><form method="post" action="/wwlogin/sso/pick">{hidden}'
        f'<button name="user" value="{html.escape(user)}" data-testid="pick-{html.escape(user)}">'
        f"{html.escape(user)}</button></form></li>"
        for user in people
    )
    if not people:  # a sandbox that knows no members: every userid exists
        buttons = (
            f'<li><form method="post" action="/wwlogin/sso/pick">{hidden}'
            '<input name="user" placeholder="userid" data-testid="user">'
            '<button data-testid="pick">登录</button></form></li>'
        )
    return _page(
        "<h1>企业微信登录</h1>"
        "<p>沙箱: 选择一位成员, 代替用企业微信扫码确认。</p>"
        f"<ul>{buttons}</ul>"
    )


async def pick(request: web.Request) -> web.Response:
    """A member confirmed: back to the site with a fresh code and the site's state."""
    config = request.app[SANDBOX_STATE].config
    form = await request.post()
    user, redirect, state = (str(form.get(name, "")) for name in ("user", "redirect_uri", "state"))
    if not user or (config.users and user not in config.users):
        return _refused("该成员不在本企业")
    target = URL(redirect)
    if not target.is_absolute():
        return _refused("参数错误: 缺少 redirect_uri")
    code = request.app[LOGIN_CODES].issue(user, target)
    raise web.HTTPFound(target.update_query(code=code, state=state))


def setup(app: web.Application, config: SandboxConfig, clock: Callable[[], float]) -> None:
    app[LOGIN_CODES] = LoginCodes(config, clock)
    app.router.add_get("/wwlogin/sso/login", login_page)
    app.router.add_post("/wwlogin/sso/pick", pick)
