"""The customer page side of tests: the bot with [tracking], [sms] through the sandbox's SMS
provider and [customer_page] on its own port, a customer's browser-like HTTP session (cookies
kept), orders with parcels and scans through the API, and the codes read from the sandbox."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.customer.listener import CUSTOMER_PAGE_URL
from bot.keys import RULES
from sandbox import SandboxConfig, create_sandbox_app
from sandbox.sms_config import SmsSandboxConfig
from services.config import parse_config
from services.sms.links import order_link
from tests.parcel_side import scan_event, shipped_order, tracking_config
from tests.support import FakeClock, auth, shop_order

PAGE_SECRET = "customer-page-secret-for-tests"
CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]+)"')
CODE_IN_TEXT = re.compile(r"验证码为(\d{6})")
H = timedelta(hours=1)


def page_config_data(database_url: str, sms_endpoint: str, **page: Any) -> dict[str, Any]:
    data = tracking_config(database_url)
    data["sms"]["endpoint"] = sms_endpoint
    data["customer_page"] = {"port": 0, "secret": PAGE_SECRET} | page
    return data


@dataclass
class PageWorld:
    """The bot (its timers off), the sandbox playing the SMS provider on the same FakeClock,
    and the customer page's own address."""

    bot: TestClient
    sandbox: TestServer
    clock: FakeClock
    customers: list[Customer] = field(default_factory=list)

    async def close(self) -> None:
        for customer in self.customers:
            await customer.close()

    @property
    def url(self) -> str:
        return self.bot.app[CUSTOMER_PAGE_URL]

    def browser(self) -> Customer:
        """A new customer's browser (closed with the world)."""
        customer = Customer(self.url)
        self.customers.append(customer)
        return customer

    def link(self, order_id: int) -> str:
        """The path of the order's signed link on the page, as a text carries it now."""
        full = order_link(self.bot.app[RULES].current(), order_id, self.clock.now())
        assert full is not None
        return "/o/" + full.rsplit("/", 1)[1]

    async def texts_to(self, phone: str) -> list[str]:
        """What the sandbox's phone with this (masked) number received, oldest first."""
        masked = f"{phone[:3]}****{phone[-4:]}"
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.sandbox.make_url("/sandbox/api/sms")) as response,
        ):
            phones = (await response.json())["phones"]
        return [t["content"] for p in phones if p["phone"] == masked for t in p["texts"]]

    async def sms_down(self, seconds: float) -> None:
        """The sandbox's SMS providers answer 503 for ``seconds`` of the clock."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                self.sandbox.make_url("/sandbox/api/sms/down"), json={"seconds": seconds}
            ) as response,
        ):
            assert response.status == 200

    async def last_code(self, phone: str) -> str:
        codes = [m[1] for text in await self.texts_to(phone) if (m := CODE_IN_TEXT.search(text))]
        assert codes, f"no code texted to {phone}"
        return codes[-1]

    async def order(self, order_no: str, phone: str, **fields: Any) -> None:
        """An order of ``phone`` through the API, received now."""
        order = shop_order(order_no, paid_at=fields.pop("paid_at", self.clock.now())) | fields
        order["receiver"]["mobile"] = phone
        response = await self.bot.post("/api/v1/orders/shop", json=[order], headers=auth("all"))
        assert response.status == 200, await response.text()

    async def shipped(self, order_no: str, phone: str, at: datetime) -> int:
        """An order of ``phone`` shipped at ``at`` with waybill YT<order_no> (中通), two scans
        after; its id."""
        order_id = await shipped_order(
            self.bot, order_no, at, waybill=(f"YT{order_no}", "中通快递"), phone=phone
        )
        await scan_event(self.bot, order_no, at + H, "杭州转运中心", "快件已到达【杭州转运中心】")
        await scan_event(self.bot, order_no, at + 3 * H, "上海转运中心", "快件已发往【上海浦东】")
        return order_id


class Customer:
    """A customer's browser: keeps the page's cookies, fills the forms' CSRF token."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def close(self) -> None:
        await self.http.close()

    async def get(self, path: str) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.get(self.url + path, allow_redirects=True) as response:
            return await self._read(response)

    async def post(
        self, path: str, fields: dict[str, str], *, csrf: bool = True
    ) -> tuple[int, str, aiohttp.ClientResponse]:
        form = ({"csrf": self.csrf} if csrf else {}) | fields
        async with self.http.post(self.url + path, data=form) as response:
            return await self._read(response)

    async def _read(self, response: aiohttp.ClientResponse) -> tuple[int, str, Any]:
        body = await response.text()
        if found := CSRF_FIELD.search(body):
            self.csrf = found[1]
        return response.status, body, response

    async def ask_code(self, phone: str) -> tuple[int, str]:
        if not self.csrf:
            await self.get("/")
        status, body, _ = await self.post("/code", {"phone": phone})
        return status, body

    async def enter(self, phone: str, code: str) -> tuple[int, str]:
        status, body, _ = await self.post("/verify", {"phone": phone, "code": code})
        return status, body


async def page_world(
    aiohttp_client: Any,
    aiohttp_server: Any,
    database_url: str,
    clock: FakeClock,
    sandbox_sms: SmsSandboxConfig | None = None,
    **page: Any,
) -> PageWorld:
    sandbox_app = create_sandbox_app(
        SandboxConfig(sms=sandbox_sms or SmsSandboxConfig()),
        clock=lambda: clock.now().timestamp(),
    )
    sandbox: TestServer = await aiohttp_server(sandbox_app, access_log=None)
    data = page_config_data(database_url, f"127.0.0.1:{sandbox.port}", **page)
    app = create_app(parse_config(data), clock=clock, watch_timer=False)
    bot: TestClient = await aiohttp_client(app)
    return PageWorld(bot, sandbox, clock)
