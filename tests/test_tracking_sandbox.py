"""The sandbox's 快递100 as documented: subscribe's form, key, carrier and number checks and
its answer codes, the limit of 4 subscriptions a month, and pushes signed with the salt."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.tracking_side import KEY, carrier_fixture, carrier_state  # noqa: F401

CALLBACK = "http://127.0.0.1:9/push"


def param(number: str = "YT1234567890", **more: Any) -> dict[str, Any]:
    return {
        "company": "yuantong",
        "number": number,
        "key": KEY,
        "parameters": {"callbackurl": CALLBACK, "salt": "s", "resultv2": "4"},
    } | more


async def subscribe(carrier: TestServer, form: dict[str, str]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(carrier.make_url("/poll"), data=form) as response,
    ):
        assert response.status == 200
        answer: dict[str, Any] = orjson.loads(await response.read())
        return answer


def form(body: dict[str, Any]) -> dict[str, str]:
    return {"schema": "json", "param": orjson.dumps(body).decode()}


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        (form(param()), "200"),
        ({"param": orjson.dumps(param()).decode()}, "700"),  # no schema=json
        ({"schema": "json", "param": "{not json"}, "700"),
        (form(param(key="wrong")), "600"),
        (form(param(number="123")), "700"),
        (form(param(parameters={"salt": "s"})), "700"),  # no callback URL
        (form(param(company="nosuchco")), "702"),
        (form(param(company="shunfeng", number="SF1234567890")), "700"),  # 顺丰 needs the phone
        (form(param(number="YT9999999999")), "701"),  # the carrier refuses it
        (form(param(company="", parameters={"callbackurl": CALLBACK, "autoCom": "1"})), "200"),
    ],
)
async def test_subscribe_answers_as_documented(
    carrier: TestServer, sent: dict[str, str], code: str
) -> None:
    answer = await subscribe(carrier, sent)

    assert answer["returnCode"] == code
    assert answer["result"] is (code == "200")
    assert answer["message"]


async def test_a_waybill_is_followed_once_and_subscribed_at_most_4_times_a_month(
    carrier: TestServer,
) -> None:
    assert (await subscribe(carrier, form(param())))["returnCode"] == "200"
    assert (await subscribe(carrier, form(param())))["returnCode"] == "501"  # still followed
    for _ in range(3):
        await _push(carrier, "abort")
        assert (await subscribe(carrier, form(param())))["returnCode"] == "200"
    await _push(carrier, "abort")

    fifth = await subscribe(carrier, form(param()))

    assert fifth["returnCode"] == "700" and "4" in fifth["message"]


async def test_pushes_are_signed_with_the_salt(aiohttp_server: Any, carrier: TestServer) -> None:
    received: list[dict[str, str]] = []

    async def bot(request: web.Request) -> web.Response:
        received.append({k: str(v) for k, v in (await request.post()).items()})
        return web.json_response({"result": True, "returnCode": "200", "message": "成功"})

    app = web.Application()
    app.router.add_post("/push", bot)
    server = await aiohttp_server(app)
    sub = param(parameters={"callbackurl": str(server.make_url("/push")), "salt": "pepper"})
    assert (await subscribe(carrier, form(sub)))["returnCode"] == "200"
    scan = {"number": "YT1234567890", "state": "0", "context": "运输中", "place": "浙江,杭州市"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(carrier.make_url("/sandbox/tracking/scan"), json=scan) as response,
    ):
        assert (await response.json())["accepted"] is True

    [push] = received
    assert push["sign"] == hashlib.md5((push["param"] + "pepper").encode()).hexdigest().upper()
    body = orjson.loads(push["param"])
    assert body["status"] == "polling"
    assert body["lastResult"]["nu"] == "YT1234567890"
    [item] = body["lastResult"]["data"]
    assert (item["context"], item["statusCode"], item["areaName"]) == ("运输中", "0", "浙江,杭州市")
    state = await carrier_state(carrier)
    assert state["pushes"][0]["accepted"] is True


async def _push(carrier: TestServer, status: str) -> None:
    body = {"number": "YT1234567890", "status": status}
    async with (
        aiohttp.ClientSession() as http,
        http.post(carrier.make_url("/sandbox/tracking/push"), json=body) as response,
    ):
        assert response.status == 200
