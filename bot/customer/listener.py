"""The customer page as its own aiohttp app, started on its own listener ([customer_page] host
and port) once the service's database and SMS sender are up, and stopped with the service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.customer.routes import PAGE, PageContext, add_routes
from bot.customer.security import AccessLog, Handler, secure_headers
from bot.keys import CLOCK, CONFIG, RULES, SESSIONS
from bot.ports import PortTaken, free_port, is_port_taken
from bot.sms import SMS_SENDER

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
CUSTOMER_PAGE_URL = web.AppKey("customer_page_url", str)
MAX_FORM = 16 * 1024

_NOT_FOUND = "页面不存在。您可以用手机号和验证码查询订单。"
_FAILED = "系统繁忙, 请稍后再试。"


def _error_page(request: web.Request, words: str, status: int) -> web.Response:
    return aiohttp_jinja2.render_template(
        "message.html", request, {"message": words}, status=status
    )


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer; errors as a friendly page, never a traceback."""
    secure = request.app[PAGE].config.cookies_secure
    try:
        response = await handler(request)
    except web.HTTPRedirection as redirect:
        secure_headers(redirect, request, secure)
        raise
    except web.HTTPException as error:
        words = _NOT_FOUND if error.status in (404, 405) else _FAILED
        response = _error_page(request, words, error.status)
    except Exception:
        logger.exception("客户页出错: %s %s", request.method, request.path[:3])
        response = _error_page(request, _FAILED, 500)
    secure_headers(response, request, secure)
    return response


def create_page_app(context: PageContext) -> web.Application:
    app = web.Application(middlewares=[_guard], client_max_size=MAX_FORM)
    app[PAGE] = context
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        auto_reload=False,  # templates ship with the code: no stat() of each on every page
    )
    add_routes(app)
    app.router.add_static("/static/", HERE / "static")
    return app


async def listener(app: web.Application) -> AsyncIterator[None]:
    """The page's own listener, for the service's lifetime (a cleanup_ctx of its app)."""
    config = app[CONFIG].customer_page
    assert config is not None
    page = create_page_app(PageContext(app[SESSIONS], app[RULES], app[CLOCK], app[SMS_SENDER]))
    runner = web.AppRunner(page, access_log_class=AccessLog)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port).start()
    except OSError as error:
        await runner.cleanup()
        if is_port_taken(error):
            how = f"在配置 [customer_page] port 中换一个端口 (如 port = {free_port(config.host)})"
            raise PortTaken(config.host, config.port, how) from None
        raise
    host, port = runner.addresses[0][:2]
    app[CUSTOMER_PAGE_URL] = f"http://{host}:{port}"
    logger.info("客户自助查询页: %s", config.public_url or app[CUSTOMER_PAGE_URL])
    try:
        yield
    finally:
        await runner.cleanup()
