"""The customer page's routes: phone entry, the code, the orders, a text's signed link.

- ``GET /``: the phone form (a live session goes straight to its orders);
- ``POST /code``: text a code to the number → the code form;
- ``POST /verify``: the code → a session cookie and ``/orders``;
- ``GET /orders``: the confirmed number's orders of the last [customer_page].orders_within;
- ``POST /logout``: end the session;
- ``GET /o/{token}``: the one order a text's signed link opens, without a code.

Every form carries a CSRF token; every refusal is a sentence on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.customer.security import (
    CSRF_COOKIE,
    client_ip,
    cookie_name,
    csrf_holds,
    csrf_seed,
    csrf_token,
    delete_cookie,
    set_cookie,
)
from rules import customer_page as words
from rules.customer_page import is_mobile
from rules.phones import canonical_phone, mask_phone
from services.clock import Clock
from services.config import CustomerPageConfig
from services.customer.codes import check_code, request_code
from services.customer.sessions import close_session, open_session, phone_of
from services.customer.view import order_of_link, session_orders
from services.policy import Rules
from services.sms.links import verify_order_link
from services.sms.sender import SmsSender

SESSION_COOKIE = "ob_session"


@dataclass(frozen=True)
class PageContext:
    """What the page shares with the service it runs beside: the database, the rules, the
    clock and the texts' sender."""

    sessions: async_sessionmaker[AsyncSession]
    rules: Rules
    clock: Clock
    sender: SmsSender

    @property
    def config(self) -> CustomerPageConfig:
        config = self.rules.current().config.customer_page
        assert config is not None
        return config


PAGE = web.AppKey("customer_page", PageContext)


def _render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """A page with its forms' CSRF token (and the visitor's CSRF cookie when it had none)."""
    config = request.app[PAGE].config
    seed, new = csrf_seed(request, config)
    shared = {"csrf": csrf_token(config, seed), "days": config.orders_within.days}
    response = aiohttp_jinja2.render_template(template, request, context | shared, status=status)
    if new:
        set_cookie(response, config, CSRF_COOKIE, seed)
    return response


def _entry(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    return _render(request, "entry.html", {"error": error}, status)


def _session_token(request: web.Request) -> str | None:
    return request.cookies.get(cookie_name(request.app[PAGE].config, SESSION_COOKIE))


async def entry(request: web.Request) -> web.StreamResponse:
    page = request.app[PAGE]
    if await phone_of(page.sessions, _session_token(request), page.clock.now()) is not None:
        raise web.HTTPSeeOther("/orders")
    return _entry(request)


async def _form(request: web.Request) -> dict[str, str] | None:
    """The form's fields, or None when its CSRF token does not hold."""
    form = await request.post()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    if not csrf_holds(request, request.app[PAGE].config, fields.get("csrf", "")):
        return None
    return fields


async def _phone_form(request: web.Request) -> tuple[dict[str, str], str] | web.Response:
    """A form's fields and its mobile number, or the entry page saying what is wrong."""
    fields = await _form(request)
    if fields is None:
        return _entry(request, words.BAD_FORM, 403)
    phone = canonical_phone(fields.get("phone", "")[:32])
    if phone is None or not is_mobile(phone):
        return _entry(request, words.BAD_PHONE, 400)
    return fields, phone


def _verify_page(
    request: web.Request, phone: str, note: str | None, error: str | None, status: int = 200
) -> web.Response:
    context = {"phone": phone, "masked": mask_phone(phone), "note": note, "error": error}
    return _render(request, "verify.html", context, status)


async def ask_code(request: web.Request) -> web.StreamResponse:
    page = request.app[PAGE]
    form = await _phone_form(request)
    if isinstance(form, web.Response):
        return form
    _, phone = form
    refused = await request_code(
        page.sessions,
        page.rules.current(),
        page.sender,
        phone,
        client_ip(request, page.config),
        page.clock.now(),
    )
    if refused is None:
        return _verify_page(request, phone, words.CODE_SENT, None)
    if refused.code_pending:  # a code is on its way: enter that one
        return _verify_page(request, phone, None, refused.words, 429)
    return _entry(request, refused.words, 429)


async def verify(request: web.Request) -> web.StreamResponse:
    page = request.app[PAGE]
    form = await _phone_form(request)
    if isinstance(form, web.Response):
        return form
    fields, phone = form
    config = page.config
    now = page.clock.now()
    code = fields.get("code", "").strip()[:16]
    refused = await check_code(page.sessions, config, phone, code, client_ip(request, config), now)
    if refused is not None:
        status = 429 if refused.limited else 400
        return _verify_page(request, phone, None, refused.words, status)
    token = await open_session(page.sessions, config, phone, now)
    response = web.HTTPSeeOther("/orders")
    set_cookie(response, config, SESSION_COOKIE, token, int(config.session_ttl.total_seconds()))
    raise response


async def orders(request: web.Request) -> web.StreamResponse:
    page = request.app[PAGE]
    config = page.config
    token = _session_token(request)
    found = await session_orders(
        page.sessions,
        page.rules.current(),
        token,
        config.orders_within,
        config.max_orders,
        page.clock.now(),
    )
    if found is None:
        if token is None:
            raise web.HTTPSeeOther("/")
        response = _entry(request, words.SESSION_ENDED, 401)
        delete_cookie(response, config, SESSION_COOKIE)
        return response
    phone, listed = found
    days = config.orders_within.days
    context = {
        "orders": listed,
        "masked": mask_phone(phone),
        "empty": words.NO_ORDERS.format(days=days),
    }
    return _render(request, "orders.html", context)


async def logout(request: web.Request) -> web.StreamResponse:
    page = request.app[PAGE]
    if await _form(request) is None:
        return _entry(request, words.BAD_FORM, 403)
    await close_session(page.sessions, _session_token(request))
    response = web.HTTPSeeOther("/")
    delete_cookie(response, page.config, SESSION_COOKIE)
    raise response


async def link(request: web.Request) -> web.StreamResponse:
    page = request.app[PAGE]
    now = page.clock.now()
    policy = page.rules.current()
    order_id = verify_order_link(policy, request.match_info["token"][:200], now)
    found = None if order_id is None else await order_of_link(page.sessions, policy, order_id, now)
    if found is None:
        return _entry(request, words.LINK_INVALID, 404)
    return _render(request, "order.html", {"order": found})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", entry)
    app.router.add_post("/code", ask_code)
    app.router.add_post("/verify", verify)
    app.router.add_get("/orders", orders)
    app.router.add_post("/logout", logout)
    app.router.add_get("/o/{token}", link)
