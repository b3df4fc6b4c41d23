"""The customer page over HTTP, on its own listener: entry by a texted code (limits, attempts,
expiry, single use), no enumeration, CSRF, headers and cookies, the signed link, sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.keys import SESSIONS
from bot.sms import SMS_SENDER
from storage.models import CustomerCode, CustomerHit, SmsMessage
from tests.customer_side import H, PageWorld, page_world
from tests.support import T0, FakeClock

ALICE = "13812345678"  # has orders
BOB = "13900001111"  # has none


@pytest.fixture
async def world(
    aiohttp_client: Any, aiohttp_server: Any, database_url: str, clock: FakeClock
) -> AsyncIterator[PageWorld]:
    world = await page_world(aiohttp_client, aiohttp_server, database_url, clock)
    yield world
    await world.close()


async def confirmed(world: PageWorld, phone: str) -> Any:
    customer = world.browser()
    status, body = await customer.ask_code(phone)
    assert status == 200, body
    status, body = await customer.enter(phone, await world.last_code(phone))
    assert status == 200, body
    return customer


async def wrong_code(world: PageWorld, phone: str) -> str:
    right = await world.last_code(phone)
    return "000000" if right != "000000" else "111111"


async def test_the_page_has_its_own_listener_and_nothing_else_there(world: PageWorld) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(world.url + "/") as response:
            assert response.status == 200
            assert "获取验证码" in await response.text()
        for internal in ("/api/v1/orders/shop", "/metrics", "/healthz", "/wecom/app"):
            async with http.get(world.url + internal) as response:
                assert response.status == 404, internal
                body = await response.text()
                assert "页面不存在" in body and "Traceback" not in body
    # ... and the page is not on the internal port
    for path in ("/", "/orders", "/o/1.abc.def"):
        assert (await world.bot.get(path)).status == 404


async def test_a_texted_code_opens_the_numbers_orders(world: PageWorld) -> None:
    world.clock.current = T0
    await world.order("SH-OLD", ALICE, paid_at=T0)
    world.clock.current = T0 + timedelta(days=95)  # out of the 90 days by then
    shipped_id = await world.shipped("SH-1", ALICE, T0 + timedelta(days=100))
    await world.order("SH-2", ALICE, seller_memo="客户很难缠, 备注给仓库")
    await world.order("SH-OTHER", BOB)
    world.clock.current = T0 + timedelta(days=100, hours=4)

    customer = world.browser()
    status, body = await customer.ask_code(ALICE)
    assert status == 200 and "验证码短信已发出" in body and "138****5678" in body
    [text] = await world.texts_to(ALICE)
    assert "验证码为" in text and "5分钟内有效" in text
    status, body = await customer.enter(ALICE, await world.last_code(ALICE))
    assert status == 200
    assert body.index("SH-2") < body.index("SH-1")  # newest first
    assert "SH-OLD" not in body and "SH-OTHER" not in body
    assert "自营商城" in body or "自营" in body
    assert "¥129.00" in body
    assert "上海市浦东新区" in body and "张江路" not in body
    assert "138****5678" in body and ALICE not in body
    # the shipped one: where it is in the chat's words, the ETA, the timeline with places
    assert "运输中" in body and "预计" in body
    for step in ("已付款", "已发货", "【杭州转运中心】", "【上海转运中心】"):
        assert step in body, step
    assert "难缠" not in body and "处理中" not in body and "工单" not in body
    assert shipped_id


async def test_the_code_text_goes_at_once_even_in_quiet_hours_and_is_recorded(
    world: PageWorld,
) -> None:
    world.clock.current = T0 + timedelta(hours=14)  # 23:00 in Beijing: quiet hours
    customer = world.browser()
    await customer.ask_code(BOB)
    assert len(await world.texts_to(BOB)) == 1  # no sender tick: sent at once
    async with world.bot.app[SESSIONS]() as session:
        [text] = (await session.scalars(select(SmsMessage))).all()
        [code] = (await session.scalars(select(CustomerCode))).all()
        hits = (await session.scalars(select(CustomerHit))).all()
    assert (text.purpose, text.status, text.order_id) == ("code", "sent", None)
    typed = await world.last_code(BOB)
    assert typed not in code.code_hash and BOB not in code.phone_key
    assert all(BOB not in hit.key for hit in hits)


async def test_a_code_the_provider_refused_for_a_while_goes_when_it_is_back(
    world: PageWorld,
) -> None:
    await world.sms_down(60)
    customer = world.browser()
    status, body = await customer.ask_code(ALICE)
    assert status == 200 and "验证码短信已发出" in body  # the same answer
    assert await world.texts_to(ALICE) == []
    world.clock.advance(timedelta(seconds=61))
    result = await world.bot.app[SMS_SENDER].tick()
    assert result.sent == 1
    status, body = await customer.enter(ALICE, await world.last_code(ALICE))
    assert status == 200 and "近90天没有查到订单" in body


async def test_a_number_with_orders_and_one_without_get_the_same_answers(
    world: PageWorld,
) -> None:
    await world.order("SH-1", ALICE)
    alice, bob = world.browser(), world.browser()
    await alice.get("/")
    bob.http.cookie_jar.update_cookies(
        {c.key: c.value for c in alice.http.cookie_jar}, aiohttp.client.URL(world.url)
    )
    bob.csrf = alice.csrf

    def neutral(body: str, phone: str) -> str:
        return body.replace(phone, "N").replace(f"{phone[:3]}****{phone[-4:]}", "M")

    answers = []
    for customer, phone in ((alice, ALICE), (bob, BOB)):
        status, body = await customer.ask_code(phone)
        answers.append((status, neutral(body, phone)))
        status, body = await customer.enter(phone, await wrong_code(world, phone))
        answers.append((status, neutral(body, phone)))
    assert answers[0] == answers[2] and answers[1] == answers[3]

    world.clock.advance(timedelta(minutes=2))
    customer = await confirmed(world, BOB)
    _, body, _ = await customer.get("/orders")
    assert "近90天没有查到订单" in body


async def test_five_wrong_codes_kill_the_code(world: PageWorld) -> None:
    customer = world.browser()
    await customer.ask_code(ALICE)
    wrong = await wrong_code(world, ALICE)
    answers = [await customer.enter(ALICE, wrong) for _ in range(5)]
    assert [status for status, _ in answers] == [400] * 5
    for left, (_, body) in zip((4, 3, 2, 1), answers, strict=False):
        assert f"验证码不正确, 还可以再试{left}次" in body
    assert "输错次数太多, 已经失效" in answers[4][1]
    status, body = await customer.enter(ALICE, await world.last_code(ALICE))
    assert status == 400 and "输错次数太多" in body and 'data-testid="order"' not in body
    _, body, _ = await customer.get("/orders")
    assert "获取验证码" in body  # no session: back at the phone form


async def test_a_code_expires_after_five_minutes_and_serves_once(world: PageWorld) -> None:
    customer = world.browser()
    await customer.ask_code(ALICE)
    code = await world.last_code(ALICE)
    world.clock.advance(timedelta(minutes=5, seconds=1))
    status, body = await customer.enter(ALICE, code)
    assert status == 400 and "验证码已过期或已失效" in body

    await customer.ask_code(ALICE)
    code = await world.last_code(ALICE)
    status, _ = await customer.enter(ALICE, code)
    assert status == 200
    other = world.browser()
    await other.get("/")
    status, body = await other.enter(ALICE, code)  # the same code again
    assert status == 400 and "验证码已过期或已失效" in body


async def test_one_code_a_minute_per_number(world: PageWorld) -> None:
    customer = world.browser()
    assert (await customer.ask_code(ALICE))[0] == 200
    world.clock.advance(timedelta(seconds=20))
    status, body = await customer.ask_code(ALICE)
    assert status == 429 and "验证码刚刚发出, 请40秒后再获取" in body
    assert 'data-testid="code-form"' in body  # the code sent first is still good
    assert len(await world.texts_to(ALICE)) == 1
    world.clock.advance(timedelta(seconds=41))
    assert (await customer.ask_code(ALICE))[0] == 200
    assert len(await world.texts_to(ALICE)) == 2


@pytest.mark.parametrize("limit", ["codes_per_ip", "attempts_per_ip", "attempts_per_number"])
async def test_limits_per_ip_and_per_number(
    aiohttp_client: Any, aiohttp_server: Any, database_url: str, clock: FakeClock, limit: str
) -> None:
    world = await page_world(aiohttp_client, aiohttp_server, database_url, clock, **{limit: 2})
    try:
        customer = world.browser()
        if limit == "codes_per_ip":
            for phone in ("13900000001", "13900000002"):
                assert (await customer.ask_code(phone))[0] == 200
            status, body = await customer.ask_code("13900000003")
            assert status == 429 and "获取验证码的次数太多了, 请1小时后再试" in body
            assert await world.texts_to("13900000003") == []
            clock.advance(H)
            assert (await customer.ask_code("13900000003"))[0] == 200
            return
        phones = [ALICE, BOB] if limit == "attempts_per_ip" else [ALICE, ALICE]
        for phone in phones:
            await customer.ask_code(phone)
            assert (await customer.enter(phone, await wrong_code(world, phone)))[0] == 400
            clock.advance(timedelta(minutes=1))
        await customer.ask_code(ALICE)
        status, body = await customer.enter(ALICE, await world.last_code(ALICE))
        assert status == 429 and "尝试次数太多了" in body
        assert 'data-testid="order"' not in body
    finally:
        await world.close()


async def test_forms_without_their_csrf_token_are_refused(world: PageWorld) -> None:
    customer = world.browser()
    status, body, _ = await customer.post("/code", {"phone": ALICE}, csrf=False)
    assert status == 403 and "页面已过期, 请刷新后重新提交" in body
    await customer.get("/")
    status, body, _ = await customer.post("/code", {"phone": ALICE, "csrf": "0" * 64}, csrf=False)
    assert status == 403
    # a token from another visitor's page is no good with this visitor's cookie
    other = world.browser()
    await other.get("/")
    status, _, _ = await customer.post("/code", {"phone": ALICE, "csrf": other.csrf}, csrf=False)
    assert status == 403
    assert await world.texts_to(ALICE) == []


async def test_headers_and_cookies(world: PageWorld) -> None:
    customer = await confirmed(world, ALICE)
    _, _, response = await customer.get("/orders")
    headers = response.headers
    assert "script-src" not in headers["Content-Security-Policy"]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in headers
    cookies = {c.key: c for c in customer.http.cookie_jar}
    assert set(cookies) == {"ob_csrf", "ob_session"}
    for cookie in cookies.values():
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
    assert int(cookies["ob_session"]["max-age"]) == 30 * 60


async def test_over_https_cookies_are_secure_host_cookies(
    aiohttp_client: Any, aiohttp_server: Any, database_url: str, clock: FakeClock
) -> None:
    world = await page_world(
        aiohttp_client, aiohttp_server, database_url, clock, public_url="https://h5.example.com/"
    )
    try:
        async with aiohttp.ClientSession() as http, http.get(world.url + "/") as response:
            [cookie] = response.headers.getall("Set-Cookie")
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert cookie.startswith("__Host-ob_csrf=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    finally:
        await world.close()


async def test_a_session_ends_and_can_be_left(world: PageWorld) -> None:
    await world.order("SH-1", ALICE)
    customer = await confirmed(world, ALICE)
    _, body, _ = await customer.get("/orders")
    assert "SH-1" in body
    world.clock.advance(timedelta(minutes=31))
    status, body, _ = await customer.get("/orders")
    assert status == 401 and "登录已过期, 请重新验证手机号" in body and "SH-1" not in body

    world.clock.advance(timedelta(minutes=2))
    customer = await confirmed(world, ALICE)
    status, body, _ = await customer.post("/logout", {})
    assert status == 200 and "获取验证码" in body
    _, body, _ = await customer.get("/orders")
    assert "SH-1" not in body


async def test_a_texts_link_opens_its_order_until_it_expires(world: PageWorld) -> None:
    order_id = await world.shipped("SH-9", ALICE, T0)
    await world.order("SH-10", ALICE)
    link = world.link(order_id)
    customer = world.browser()
    status, body, response = await customer.get(link)
    assert status == 200 and "SH-9" in body and "SH-10" not in body
    assert "【杭州转运中心】" in body and "中通 YTSH-9" in body
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "ob_session" not in {c.key for c in customer.http.cookie_jar}  # that one order only

    order, expiry, signature = link.removeprefix("/o/").split(".")
    forged = [
        f"/o/{order_id + 1}.{expiry}.{signature}",  # another order
        f"/o/{order}.{expiry}.{signature[:-2]}AA",  # altered
        f"/o/{order}.zzzzzzzz.{signature}",  # a later expiry
        "/o/garbage",
    ]
    for path in [*forged, link]:
        if path == link:
            world.clock.advance(timedelta(days=7, seconds=1))  # [sms].link_ttl
        status, body, _ = await customer.get(path)
        assert status == 404, path
        assert "这个链接已过期或不完整" in body and "SH-9" not in body
        assert 'data-testid="phone-form"' in body


async def test_two_instances_count_against_the_same_limits(
    aiohttp_client: Any, aiohttp_server: Any, database_url: str, clock: FakeClock
) -> None:
    """The limits live in the database: a visitor going round two instances gains nothing."""
    one, two = [
        await page_world(aiohttp_client, aiohttp_server, database_url, clock, codes_per_ip=2)
        for _ in range(2)
    ]
    try:
        assert (await one.browser().ask_code("13900000001"))[0] == 200
        assert (await two.browser().ask_code("13900000002"))[0] == 200
        status, body = await one.browser().ask_code("13900000003")
        assert status == 429 and "获取验证码的次数太多了" in body
        status, body = await two.browser().ask_code("13900000004")
        assert status == 429 and "获取验证码的次数太多了" in body
        # a code asked on one instance is entered on the other
        customer = two.browser()
        await customer.get("/")
        status, body = await customer.enter("13900000001", await one.last_code("13900000001"))
        assert status == 200 and "近90天没有查到订单" in body
    finally:
        await one.close()
        await two.close()
