"""The sandbox's WeCom web login over HTTP, as a browser and the bot's client see it: the
member list, the redirect with code and state, and getuserinfo's single-use, 5-minute codes."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from tests.console_side import SandboxClock, login_sandbox
from tests.wecom_side import SANDBOX

BACK = "http://127.0.0.1:8080/console/login/callback"


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock()


@pytest.fixture
async def sandbox(aiohttp_server: Any, clock: SandboxClock) -> TestServer:
    return await login_sandbox(aiohttp_server, clock)


def login_query(**changes: str) -> dict[str, str]:
    query = {
        "login_type": "CorpApp",
        "appid": SANDBOX.corp_id,
        "agentid": str(SANDBOX.agent_id),
        "redirect_uri": BACK,
        "state": "abc123",
    }
    return query | changes


async def code_for(http: aiohttp.ClientSession, sandbox: TestServer, user: str) -> str:
    form = {"user": user, "redirect_uri": BACK, "state": "abc123"}
    async with http.post(
        sandbox.make_url("/wwlogin/sso/pick"), data=form, allow_redirects=False
    ) as response:
        assert response.status == 302
        back = URL(response.headers["Location"])
    assert str(back.with_query(None)) == BACK and back.query["state"] == "abc123"
    return back.query["code"]


async def user_of(http: aiohttp.ClientSession, sandbox: TestServer, code: str) -> dict[str, Any]:
    token_query = {"corpid": SANDBOX.corp_id, "corpsecret": SANDBOX.corp_secret}
    async with http.get(sandbox.make_url("/cgi-bin/gettoken"), params=token_query) as response:
        token = (await response.json())["access_token"]
    async with http.get(
        sandbox.make_url("/cgi-bin/auth/getuserinfo"),
        params={"access_token": token, "code": code},
    ) as response:
        body: dict[str, Any] = await response.json()
        return body


async def test_the_login_page_lists_the_corps_members(sandbox: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(sandbox.make_url("/wwlogin/sso/login"), params=login_query()) as page:
            text = await page.text()
        assert page.status == 200
        for user in SANDBOX.users:
            assert f'data-testid="pick-{user}"' in text
        async with http.get(
            sandbox.make_url("/wwlogin/sso/login"), params=login_query(appid="wwother")
        ) as wrong:
            assert wrong.status == 400 and "appid" in await wrong.text()


async def test_a_code_names_its_member_once(sandbox: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        code = await code_for(http, sandbox, "ops-liu")
        assert await user_of(http, sandbox, code) == {
            "errcode": 0,
            "errmsg": "ok",
            "userid": "ops-liu",
        }
        again = await user_of(http, sandbox, code)
        assert again["errcode"] == 40029
        assert (await user_of(http, sandbox, "made-up"))["errcode"] == 40029


async def test_a_code_lasts_five_minutes(sandbox: TestServer, clock: SandboxClock) -> None:
    async with aiohttp.ClientSession() as http:
        code = await code_for(http, sandbox, "ops-liu")
        clock.now += 299
        fresh = await code_for(http, sandbox, "zhang")
        clock.now += 2
        assert (await user_of(http, sandbox, code))["errcode"] == 40029
        assert (await user_of(http, sandbox, fresh))["userid"] == "zhang"


async def test_someone_outside_the_corp_cannot_be_picked(sandbox: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        form = {"user": "stranger", "redirect_uri": BACK, "state": "abc123"}
        async with http.post(
            sandbox.make_url("/wwlogin/sso/pick"), data=form, allow_redirects=False
        ) as response:
            assert response.status == 400


async def test_a_redirect_to_an_untrusted_host_gets_50001(
    aiohttp_server: Any, clock: SandboxClock
) -> None:
    strict = await login_sandbox(aiohttp_server, clock, login_hosts=("127.0.0.1:9999",))
    async with aiohttp.ClientSession() as http:
        code = await code_for(http, strict, "ops-liu")  # BACK is on port 8080
        assert (await user_of(http, strict, code))["errcode"] == 50001
