"""The WeCom sandbox over real HTTP: what it accepts and refuses as WeCom documents, its admin
API and page, and the callbacks it sends as WeCom, checked by a receiver that verifies and
decrypts them with wechatpy, as the bot will."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any
from xml.etree import ElementTree

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, unused_port
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

from sandbox import (
    SANDBOX_STATE,
    CallbackNotConfigured,
    SandboxConfig,
    create_sandbox_app,
    robot_chat_id,
    send_aibot_callback,
    send_app_callback,
    verify_callback_url,
)
from sandbox.__main__ import parse_args

CONFIG = SandboxConfig(
    webhook_keys={"key-east": "华东组", "key-vip": "大额组"}, users=("zhang", "Li", "wang")
)
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


class Clock:
    """The sandbox's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sandbox(aiohttp_client: Any, clock: Clock) -> TestClient:
    client: TestClient = await aiohttp_client(create_sandbox_app(CONFIG, clock=clock))
    return client


async def call(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    """A request that must answer HTTP 200 (WeCom's errors included); its JSON body."""
    async with client.request(method, path, **kwargs) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def get_token(client: TestClient) -> str:
    params = {"corpid": CONFIG.corp_id, "corpsecret": CONFIG.corp_secret}
    body = await call(client, "GET", "/cgi-bin/gettoken", params=params)
    assert body["errcode"] == 0, body
    return str(body["access_token"])


async def webhook(client: TestClient, msg: Any, key: str = "key-east") -> dict[str, Any]:
    # A BytesIO, since aiohttp warns about large raw bytes bodies (a 2 MB image).
    data = io.BytesIO(msg if isinstance(msg, bytes) else json.dumps(msg).encode())
    result: dict[str, Any] = await call(
        client, "POST", "/cgi-bin/webhook/send", params={"key": key}, data=data
    )
    return result


async def app_send(client: TestClient, msg: dict[str, Any], **addressing: Any) -> dict[str, Any]:
    body = {"touser": "zhang", "agentid": CONFIG.agent_id} | addressing | msg
    params = {"access_token": await get_token(client)}
    result: dict[str, Any] = await call(
        client, "POST", "/cgi-bin/message/send", params=params, json=body
    )
    return result


async def upload(
    client: TestClient, data: bytes, filename: str = "超时工单.csv", kind: str = "file"
) -> dict[str, Any]:
    form = aiohttp.FormData(quote_fields=False)  # raw UTF-8 filename, as the bot sends it
    form.add_field(
        "media", io.BytesIO(data), filename=filename, content_type="application/octet-stream"
    )
    params = {"key": "key-east", "type": kind}
    result: dict[str, Any] = await call(
        client, "POST", "/cgi-bin/webhook/upload_media", params=params, data=form
    )
    return result


async def messages(client: TestClient, since: int = 0) -> list[dict[str, Any]]:
    body = await call(client, "GET", "/sandbox/api/messages", params={"since": since})
    return list(body["messages"])


async def stats(client: TestClient) -> dict[str, Any]:
    result: dict[str, Any] = await call(client, "GET", "/sandbox/api/stats")
    return result


async def fault(client: TestClient, **spec: Any) -> None:
    await call(client, "POST", "/sandbox/api/faults", json=spec)


def text(content: str) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}}


def of_bytes(size: int) -> str:
    """Chinese text of exactly ``size`` UTF-8 bytes (3 per character, ASCII to make up)."""
    content = "订" * (size // 3) + "a" * (size % 3)
    assert len(content.encode()) == size
    return content


def image(data: bytes, md5: str | None = None) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode()
    return {
        "msgtype": "image",
        "image": {"base64": encoded, "md5": md5 or hashlib.md5(data).hexdigest()},
    }


def news(articles: int) -> dict[str, Any]:
    article = {"title": "超时工单", "description": "3 张", "url": "https://example.com/t"}
    return {"msgtype": "news", "news": {"articles": [article] * articles}}


# Access tokens


async def test_gettoken_gives_the_same_token_until_it_expires(
    sandbox: TestClient, clock: Clock
) -> None:
    first = await get_token(sandbox)
    assert await get_token(sandbox) == first
    clock.now += CONFIG.token_ttl
    assert (await app_send(sandbox, text("hi")))["errcode"] == 0  # app_send fetches a new one
    assert await get_token(sandbox) != first
    params = {"access_token": first}
    body = {"touser": "zhang", "agentid": CONFIG.agent_id, **text("hi")}
    reply = await call(sandbox, "POST", "/cgi-bin/message/send", params=params, json=body)
    assert reply["errcode"] == 42001


@pytest.mark.parametrize(
    ("corpid", "corpsecret", "errcode"),
    [(CONFIG.corp_id, "wrong", 40001), ("wwother", CONFIG.corp_secret, 40013)],
    ids=["wrong-secret", "wrong-corp"],
)
async def test_gettoken_refuses_wrong_credentials(
    sandbox: TestClient, corpid: str, corpsecret: str, errcode: int
) -> None:
    params = {"corpid": corpid, "corpsecret": corpsecret}
    reply = await call(sandbox, "GET", "/cgi-bin/gettoken", params=params)
    assert reply["errcode"] == errcode and "access_token" not in reply
    assert (
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
        in (reply["errmsg"])
    )


@pytest.mark.parametrize(
    ("params", "errcode"),
    [({}, 41001), ({"access_token": ""}, 41001), ({"access_token": "made-up"}, 40014)],
    ids=["missing", "empty", "unknown"],
)
async def test_message_send_refuses_a_bad_token(
    sandbox: TestClient, params: dict[str, str], errcode: int
) -> None:
    body = {"touser": "zhang", "agentid": CONFIG.agent_id, **text("hi")}
    reply = await call(sandbox, "POST", "/cgi-bin/message/send", params=params, json=body)
    assert reply["errcode"] == errcode
    assert await messages(sandbox) == []


async def test_expired_tokens_get_42001_until_a_new_one_is_fetched(sandbox: TestClient) -> None:
    token = await get_token(sandbox)
    assert await call(sandbox, "POST", "/sandbox/api/expire-tokens") == {"expired": 1}
    body = {"touser": "zhang", "agentid": CONFIG.agent_id, **text("hi")}
    params = {"access_token": token}
    reply = await call(sandbox, "POST", "/cgi-bin/message/send", params=params, json=body)
    assert reply["errcode"] == 42001
    assert await get_token(sandbox) != token
    assert (await app_send(sandbox, text("hi")))["errcode"] == 0


# Group robot: content limits


@pytest.mark.parametrize(
    ("msgtype", "limit"),
    [("text", 2048), ("markdown", 4096), ("markdown_v2", 4096)],
    ids=["text", "markdown", "markdown_v2"],
)
@pytest.mark.parametrize(("extra", "errcode"), [(0, 0), (1, 40058)], ids=["at-limit", "over"])
async def test_robot_content_is_limited_in_utf8_bytes(
    sandbox: TestClient, msgtype: str, limit: int, extra: int, errcode: int
) -> None:
    content = of_bytes(limit + extra)
    reply = await webhook(sandbox, {"msgtype": msgtype, msgtype: {"content": content}})
    assert reply["errcode"] == errcode, reply
    recorded = await messages(sandbox)
    assert [m["content"] for m in recorded] == ([content] if errcode == 0 else [])


@pytest.mark.parametrize(
    ("msg", "errcode"),
    [
        (b"{not json", 40058),
        (b"[1, 2]", 40058),
        ({"msgtype": "video", "video": {}}, 40008),
        ({"msgtype": "text"}, 40058),
        ({"msgtype": "text", "text": {"content": ""}}, 40058),
        ({"msgtype": "text", "text": {"content": "x", "mentioned_list": "zhang"}}, 40058),
        (news(0), 40058),
        (news(9), 40058),
        ({"msgtype": "news", "news": {"articles": [{"title": "无链接"}]}}, 40058),
        ({"msgtype": "template_card", "template_card": {"card_type": "vote"}}, 40058),
        ({"msgtype": "file", "file": {"media_id": "never-uploaded"}}, 40007),
        (image(PNG, md5="0" * 32), 40058),
        ({"msgtype": "image", "image": {"base64": "***", "md5": "0" * 32}}, 40058),
        (image(b"GIF89a" + b"\x00" * 32), 40004),
        (image(PNG + b"\x00" * (2 * 1024 * 1024)), 40009),
        (b'{"msgtype": "text", "text": {"content": "' + b"x" * 9_000_000 + b'"}}', 40058),
    ],
    ids=[
        "broken-json",
        "json-array",
        "unknown-msgtype",
        "missing-part",
        "empty-text",
        "mentions-not-a-list",
        "news-without-articles",
        "news-with-9-articles",
        "news-article-without-url",
        "card-type-without-callback",
        "unknown-media-id",
        "image-md5-mismatch",
        "image-not-base64",
        "image-not-jpg-or-png",
        "image-over-2mb",
        "body-over-8mb",
    ],
)
async def test_robot_refuses_malformed_messages(
    sandbox: TestClient, msg: Any, errcode: int
) -> None:
    reply = await webhook(sandbox, msg)
    assert reply["errcode"] == errcode, reply
    assert await messages(sandbox) == []
    assert (await stats(sandbox))["refused"] == {"webhook/send": {str(errcode): 1}}


@pytest.mark.parametrize(
    "msg",
    [
        {
            "msgtype": "text",
            "text": {"content": "<@zhang> 请处理", "mentioned_list": ["zhang", "@all"]},
        },
        news(1),
        news(8),
        {
            "msgtype": "template_card",
            "template_card": {"card_type": "text_notice", "main_title": {"title": "超时"}},
        },
    ],
    ids=["text-with-mentions", "news-1", "news-8", "text-notice-card"],
)
async def test_robot_accepts_documented_messages(sandbox: TestClient, msg: dict[str, Any]) -> None:
    assert (await webhook(sandbox, msg))["errcode"] == 0
    [recorded] = await messages(sandbox)
    assert recorded["body"] == msg and recorded["msgtype"] == msg["msgtype"]
    assert (recorded["target_kind"], recorded["target"]) == ("group", robot_chat_id("key-east"))
    assert (recorded["webhook_key"], recorded["chat_name"]) == ("key-east", "华东组")


async def test_an_image_is_kept_as_media_and_left_out_of_the_record(sandbox: TestClient) -> None:
    assert (await webhook(sandbox, image(PNG)))["errcode"] == 0
    [recorded] = await messages(sandbox)
    assert recorded["body"] == {"msgtype": "image", "image": {"md5": hashlib.md5(PNG).hexdigest()}}
    async with sandbox.get(recorded["media"]["url"]) as response:
        assert (response.content_type, await response.read()) == ("image/png", PNG)


# Group robot: rate limit and keys


async def test_the_21st_message_in_a_sliding_minute_is_refused(
    sandbox: TestClient, clock: Clock
) -> None:
    for second in range(20):
        clock.now = T0 + second
        assert (await webhook(sandbox, text(f"#{second}")))["errcode"] == 0
    refusals = []
    for at in (30, 59.9, 60, 60.5, 61):
        clock.now = T0 + at
        refusals.append((at, (await webhook(sandbox, text(f"at {at}")))["errcode"]))
    # At 60 s the first message leaves the window, at 61 s the second.
    assert refusals == [(30, 45009), (59.9, 45009), (60, 0), (60.5, 45009), (61, 0)]
    clock.now = T0 + 30
    assert (await webhook(sandbox, text("other robot"), key="key-vip"))["errcode"] == 0
    counts = await stats(sandbox)
    assert counts["robot_per_minute_max"] == {"key-east": 20, "key-vip": 1}
    assert counts["refused"] == {"webhook/send": {"45009": 3}}
    assert counts["accepted"] == {"webhook/send": 23}


async def test_a_45009_reply_reads_like_wecom(sandbox: TestClient) -> None:
    for _ in range(CONFIG.robot_per_minute):
        await webhook(sandbox, text("x"))
    reply = await webhook(sandbox, text("x"))
    assert reply["errcode"] == 45009 and reply["errmsg"].startswith("api freq out of limit")


@pytest.mark.parametrize("key", ["key-removed", ""], ids=["unknown-key", "empty-key"])
async def test_an_unknown_robot_key_is_93000(sandbox: TestClient, key: str) -> None:
    reply = await webhook(sandbox, text("hi"), key=key)
    assert reply["errcode"] == 93000 and reply["errmsg"].startswith("invalid webhook url")
    form = aiohttp.FormData()
    form.add_field("media", b"a,b,c\n1,2,3\n", filename="x.csv")
    params = {"key": key, "type": "file"}
    reply = await call(sandbox, "POST", "/cgi-bin/webhook/upload_media", params=params, data=form)
    assert reply["errcode"] == 93000


# Group robot: files


async def test_an_uploaded_file_can_be_sent_and_read_back(
    sandbox: TestClient, clock: Clock
) -> None:
    csv = "\ufeff工单,订单号\n1,SH001\n".encode()
    uploaded = await upload(sandbox, csv)
    assert uploaded["errcode"] == 0 and uploaded["type"] == "file"
    assert uploaded["created_at"] == str(int(T0))
    media_id = uploaded["media_id"]
    file_message = {"msgtype": "file", "file": {"media_id": media_id}}
    assert (await webhook(sandbox, file_message))["errcode"] == 0
    [recorded] = await messages(sandbox)
    assert recorded["media"]["filename"] == "超时工单.csv"
    assert recorded["media"]["size"] == len(csv)
    async with sandbox.get(f"/sandbox/api/media/{media_id}") as response:
        assert response.status == 200 and await response.read() == csv
        assert "filename*=UTF-8''%E8%B6%85" in response.headers["Content-Disposition"]
    clock.now += 3 * DAY
    assert (await webhook(sandbox, file_message))["errcode"] == 40007  # valid for 3 days
    voice = {"msgtype": "voice", "voice": {"media_id": media_id}}
    clock.now = T0
    assert (await webhook(sandbox, voice))["errcode"] == 40007  # a file is not a voice


@pytest.mark.parametrize(
    ("kind", "data", "errcode"),
    [
        ("file", b"12345", 40006),
        ("voice", b"#!AMR\n" + b"\x00" * (2 * 1024 * 1024), 40006),
        ("voice", b"RIFF0000WAVE", 40004),
        ("image", b"\x89PNG\r\n\x1a\n", 40005),
    ],
    ids=["five-bytes", "voice-over-2mb", "voice-not-amr", "type-not-file-or-voice"],
)
async def test_uploads_outside_the_limits_are_refused(
    sandbox: TestClient, kind: str, data: bytes, errcode: int
) -> None:
    assert (await upload(sandbox, data, kind=kind))["errcode"] == errcode


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"json": {"media": "not a file"}},
        {"data": aiohttp.FormData({"file": "no media field"}, default_to_multipart=True)},
        {
            "data": b"--x\r\nbroken",
            "headers": {"Content-Type": "multipart/form-data; boundary=y"},
        },
    ],
    ids=["not-multipart", "no-media-field", "malformed-multipart"],
)
async def test_uploads_without_a_media_part_are_40058(
    sandbox: TestClient, request_kwargs: dict[str, Any]
) -> None:
    params = {"key": "key-east", "type": "file"}
    path = "/cgi-bin/webhook/upload_media"
    assert (await call(sandbox, "POST", path, params=params, **request_kwargs))["errcode"] == 40058


# App messages


@pytest.mark.parametrize(
    ("msg", "errcode"),
    [
        (text(of_bytes(2048)), 0),
        (text(of_bytes(2049)), 40058),
        ({"msgtype": "markdown", "markdown": {"content": of_bytes(2048)}}, 0),
        ({"msgtype": "markdown", "markdown": {"content": of_bytes(2049)}}, 40058),
        (
            {
                "msgtype": "textcard",
                "textcard": {"title": of_bytes(128), "description": "d", "url": "u"},
            },
            0,
        ),
        (
            {
                "msgtype": "textcard",
                "textcard": {"title": of_bytes(129), "description": "d", "url": "u"},
            },
            40058,
        ),
        (
            {
                "msgtype": "textcard",
                "textcard": {"title": "t", "description": of_bytes(513), "url": "u"},
            },
            40058,
        ),
        ({"msgtype": "template_card", "template_card": {"card_type": "button_interaction"}}, 0),
        ({"msgtype": "markdown_v2", "markdown_v2": {"content": "x"}}, 40008),
    ],
    ids=[
        "text-2048",
        "text-2049",
        "markdown-2048",
        "markdown-2049",
        "textcard-title-128",
        "textcard-title-129",
        "textcard-description-513",
        "template-card",
        "markdown-v2-is-robot-only",
    ],
)
async def test_app_message_limits(sandbox: TestClient, msg: dict[str, Any], errcode: int) -> None:
    assert (await app_send(sandbox, msg))["errcode"] == errcode


async def test_invalid_users_are_reported_and_the_others_get_the_message(
    sandbox: TestClient,
) -> None:
    reply = await app_send(sandbox, text("超时 SH001"), touser="zhang|Ghost|LI")
    assert reply["errcode"] == 0 and reply["invaliduser"] == "ghost" and reply["msgid"]
    [recorded] = await messages(sandbox)
    assert (recorded["target_kind"], recorded["target"]) == ("user", "zhang|LI")
    assert recorded["users"] == ["zhang", "LI"] and recorded["agentid"] == CONFIG.agent_id


@pytest.mark.parametrize(
    ("addressing", "invalid"),
    [
        ({"touser": "ghost|Nobody"}, {"invaliduser": "ghost|nobody"}),
        ({"touser": None, "toparty": "2|3"}, {"invalidparty": "2|3"}),
    ],
    ids=["unknown-users", "parties-only"],
)
async def test_no_valid_recipient_is_81013(
    sandbox: TestClient, addressing: dict[str, Any], invalid: dict[str, str]
) -> None:
    reply = await app_send(sandbox, text("hi"), **addressing)
    assert reply["errcode"] == 81013
    assert invalid.items() <= reply.items()
    assert await messages(sandbox) == []


async def test_at_all_reaches_every_known_member(sandbox: TestClient) -> None:
    assert (await app_send(sandbox, text("全员"), touser="@all"))["errcode"] == 0
    [recorded] = await messages(sandbox)
    assert recorded["users"] == list(CONFIG.users)


async def test_a_wrong_agentid_is_refused(sandbox: TestClient) -> None:
    assert (await app_send(sandbox, text("hi"), agentid=1000003))["errcode"] == 40056


async def test_a_member_over_30_a_minute_silently_loses_messages(
    sandbox: TestClient, clock: Clock
) -> None:
    for n in range(30):
        assert (await app_send(sandbox, text(f"#{n}")))["errcode"] == 0
    reply = await app_send(sandbox, text("#30"), touser="zhang|wang")
    assert reply["errcode"] == 0 and reply["invaliduser"] == ""  # nothing tells the sender
    recorded = await messages(sandbox)
    assert len(recorded) == 31 and recorded[-1]["users"] == ["wang"]
    assert (await app_send(sandbox, text("#31")))["errcode"] == 0
    assert len(await messages(sandbox)) == 31  # dropped entirely: nothing recorded
    counts = await stats(sandbox)
    assert counts["dropped"] == {"message/send": {"zhang": 2}}
    assert counts["accepted"]["message/send"] == 31
    clock.now += MINUTE
    assert (await app_send(sandbox, text("a minute later")))["errcode"] == 0
    assert (await messages(sandbox))[-1]["content"] == "a minute later"


async def test_a_member_over_the_hourly_limit_loses_messages(
    aiohttp_client: Any, clock: Clock
) -> None:
    config = replace(CONFIG, app_per_member_hour=3)
    sandbox = await aiohttp_client(create_sandbox_app(config, clock=clock))
    for minute in range(4):
        clock.now = T0 + minute * MINUTE
        assert (await app_send(sandbox, text(f"minute {minute}")))["errcode"] == 0
    assert [m["content"] for m in await messages(sandbox)] == [f"minute {n}" for n in range(3)]
    clock.now = T0 + HOUR
    await app_send(sandbox, text("an hour later"))
    assert (await messages(sandbox))[-1]["content"] == "an hour later"


async def test_app_group_chats_must_be_created_first(sandbox: TestClient) -> None:
    params = {"access_token": await get_token(sandbox)}
    send = {"chatid": "ops1", **text("大家好")}
    reply = await call(sandbox, "POST", "/cgi-bin/appchat/send", params=params, json=send)
    assert reply["errcode"] == 86003
    create = {
        "name": "超时处理群",
        "owner": "zhang",
        "userlist": ["zhang", "wang"],
        "chatid": "ops1",
    }
    reply = await call(sandbox, "POST", "/cgi-bin/appchat/create", params=params, json=create)
    assert reply == {"errcode": 0, "errmsg": "ok", "chatid": "ops1"}
    reply = await call(sandbox, "POST", "/cgi-bin/appchat/create", params=params, json=create)
    assert reply["errcode"] == 86215
    reply = await call(sandbox, "POST", "/cgi-bin/appchat/send", params=params, json=send)
    assert reply["errcode"] == 0
    [recorded] = await messages(sandbox)
    assert (recorded["target_kind"], recorded["target"], recorded["chat_name"]) == (
        "appchat",
        "ops1",
        "超时处理群",
    )
    chats = await call(sandbox, "GET", "/sandbox/api/chats")
    assert {"chat_id": "ops1", "name": "超时处理群", "kind": "appchat", "webhook_key": None} in (
        chats["groups"]
    )


@pytest.mark.parametrize(
    "create",
    [
        {"name": "一人群", "userlist": ["zhang"]},
        {"name": "", "userlist": ["zhang", "wang"]},
        {"name": "群", "userlist": ["zhang", "wang"], "chatid": "has-dash"},
    ],
    ids=["one-member", "no-name", "chatid-not-alphanumeric"],
)
async def test_appchat_create_checks_its_fields(
    sandbox: TestClient, create: dict[str, Any]
) -> None:
    params = {"access_token": await get_token(sandbox)}
    reply = await call(sandbox, "POST", "/cgi-bin/appchat/create", params=params, json=create)
    assert reply["errcode"] == 40058


# Faults


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"kind": "http500", "count": 2}, ["HTTP 500", "HTTP 500", "ok"]),
        ({"kind": "errcode", "errcode": 45009, "count": 2}, ["45009", "45009", "ok"]),
        ({"kind": "errcode", "errcode": -1}, ["-1", "ok", "ok"]),
    ],
    ids=["http-500-twice", "45009-burst", "system-busy-once"],
)
async def test_faults_come_first_then_normal_service(
    sandbox: TestClient, spec: dict[str, Any], expected: list[str]
) -> None:
    await fault(sandbox, endpoint="webhook/send", **spec)
    outcomes = []
    for n in range(3):
        params = {"key": "key-east"}
        async with sandbox.post("/cgi-bin/webhook/send", params=params, json=text(f"#{n}")) as r:
            if r.status != 200:
                outcomes.append(f"HTTP {r.status}")
            else:
                errcode = (await r.json())["errcode"]
                outcomes.append("ok" if errcode == 0 else str(errcode))
    assert outcomes == expected
    delivered = [m["content"] for m in await messages(sandbox)]
    assert delivered == [f"#{n}" for n, outcome in enumerate(expected) if outcome == "ok"]
    fired = len(expected) - expected.count("ok")
    assert (await stats(sandbox))["faults"] == {"webhook/send": {spec["kind"]: fired}}


async def test_a_fault_wins_over_what_the_request_would_get(sandbox: TestClient) -> None:
    await fault(sandbox, endpoint="gettoken", kind="errcode", errcode=-1)
    params = {"corpid": CONFIG.corp_id, "corpsecret": "wrong"}
    assert (await call(sandbox, "GET", "/cgi-bin/gettoken", params=params))["errcode"] == -1
    assert (await call(sandbox, "GET", "/cgi-bin/gettoken", params=params))["errcode"] == 40001


@pytest.mark.parametrize(
    ("fault_timeout", "spec_seconds"), [(0.2, None), (30.0, 0.2)], ids=["config", "spec"]
)
async def test_a_timeout_fault_outlasts_the_client(
    aiohttp_client: Any, fault_timeout: float, spec_seconds: float | None
) -> None:
    config = replace(CONFIG, fault_timeout_seconds=fault_timeout)
    sandbox = await aiohttp_client(create_sandbox_app(config))
    spec = {"seconds": spec_seconds} if spec_seconds else {}
    await fault(sandbox, endpoint="message/send", kind="timeout", **spec)
    body = {"touser": "zhang", "agentid": CONFIG.agent_id, **text("slow")}
    params = {"access_token": await get_token(sandbox)}
    with pytest.raises(TimeoutError):
        await sandbox.post(
            "/cgi-bin/message/send",
            params=params,
            json=body,
            timeout=aiohttp.ClientTimeout(total=0.1),
        )
    assert (await app_send(sandbox, text("fast")))["errcode"] == 0
    assert [m["content"] for m in await messages(sandbox)] == ["fast"]


@pytest.mark.parametrize(
    "spec",
    [
        {"endpoint": "user/get", "kind": "http500"},
        {"endpoint": "webhook/send", "kind": "slow"},
        {"endpoint": "webhook/send", "kind": "errcode"},
        {"endpoint": "webhook/send", "kind": "http500", "count": 0},
        {"endpoint": "webhook/send", "kind": "timeout", "seconds": -1},
    ],
    ids=["unknown-endpoint", "unknown-kind", "errcode-missing", "count-zero", "negative-seconds"],
)
async def test_bad_fault_specs_are_400(sandbox: TestClient, spec: dict[str, Any]) -> None:
    async with sandbox.post("/sandbox/api/faults", json=spec) as response:
        assert response.status == 400 and (await response.json())["error"]


async def test_faults_queue_in_order(sandbox: TestClient) -> None:
    await fault(sandbox, endpoint="webhook/send", kind="errcode", errcode=45009)
    async with sandbox.post(
        "/sandbox/api/faults", json={"endpoint": "webhook/send", "kind": "errcode", "errcode": -1}
    ) as response:
        queued = await response.json()
    assert [f["errcode"] for f in queued["pending"]] == [45009, -1]
    assert (await webhook(sandbox, text("a")))["errcode"] == 45009
    assert (await webhook(sandbox, text("b")))["errcode"] == -1
    assert (await webhook(sandbox, text("c")))["errcode"] == 0


# Admin API and page


async def test_messages_since_an_id_in_order(sandbox: TestClient, clock: Clock) -> None:
    for n in range(3):
        clock.now = T0 + n
        await webhook(sandbox, text(f"#{n}"))
    every = await messages(sandbox)
    assert [(m["id"], m["time"], m["content"]) for m in every] == [
        (1, T0, "#0"),
        (2, T0 + 1, "#1"),
        (3, T0 + 2, "#2"),
    ]
    assert [m["id"] for m in await messages(sandbox, since=2)] == [3]
    assert await messages(sandbox, since=3) == []
    assert (await call(sandbox, "GET", "/sandbox/api/messages"))["last_id"] == 3
    async with sandbox.get("/sandbox/api/messages", params={"since": "x"}) as response:
        assert response.status == 400
    assert [r.id for r in sandbox.app[SANDBOX_STATE].records] == [1, 2, 3]


async def test_unknown_media_is_404(sandbox: TestClient) -> None:
    async with sandbox.get("/sandbox/api/media/nope") as response:
        assert response.status == 404


async def test_the_page_is_self_contained_and_has_the_form(sandbox: TestClient) -> None:
    async with sandbox.get("/sandbox", allow_redirects=False) as response:
        assert (response.status, response.headers["Location"]) == (302, "/sandbox/")
    async with sandbox.get("/sandbox/") as response:
        assert response.status == 200 and response.content_type == "text/html"
        html = await response.text()
    for testid in ("say-form", "say-user", "say-target", "say-text", "say-send", "say-status"):
        assert f'id="{testid}" data-testid="{testid}"' in html
    assert "<script src" not in html and "<link" not in html and "innerHTML" not in html


# Acting as WeCom towards the bot


@dataclass
class Receiver:
    """The bot's callback endpoints, just enough to check what the sandbox sends: signatures
    and decryption by wechatpy, as the bot will do them."""

    config: SandboxConfig
    status: int = 200
    app_messages: list[Any] = field(default_factory=list)
    app_envelopes: list[dict[str, str]] = field(default_factory=list)
    aibot_messages: list[dict[str, Any]] = field(default_factory=list)

    def crypto(self, receive_id: str) -> WeChatCrypto:
        return WeChatCrypto(self.config.callback_token, self.config.encoding_aes_key, receive_id)

    async def app_message(self, request: web.Request) -> web.Response:
        q = request.query
        raw = await request.text()
        try:
            plain = self.crypto(self.config.corp_id).decrypt_message(
                raw, q["msg_signature"], q["timestamp"], q["nonce"]
            )
        except InvalidSignatureException:
            return web.Response(status=403)
        self.app_messages.append(parse_message(plain))
        outer = ElementTree.fromstring(raw)  # by element name: WeCom's field order varies
        self.app_envelopes.append({child.tag: child.text or "" for child in outer})
        return web.Response(status=self.status)

    async def aibot_message(self, request: web.Request) -> web.Response:
        q = request.query
        body = await request.json()
        plain = self.crypto("").decrypt_message(
            {"Encrypt": body["encrypt"]}, q["msg_signature"], q["timestamp"], q["nonce"]
        )
        self.aibot_messages.append(json.loads(plain))
        return web.Response(status=self.status)

    async def verify(self, request: web.Request) -> web.Response:
        q = request.query
        receive_id = "" if request.path == "/aibot" else self.config.corp_id
        echo = self.crypto(receive_id).check_signature(
            q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"]
        )
        return web.Response(text=echo)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/app", self.app_message)
        app.router.add_post("/aibot", self.aibot_message)
        app.router.add_get("/app", self.verify)
        app.router.add_get("/aibot", self.verify)
        return app


async def respond(client: TestClient, response_url: str, reply: dict[str, Any]) -> int:
    """The bot's active reply to an absolute response_url, as WeCom hands it out; the errcode."""
    async with client.session.post(response_url, json=reply) as response:
        assert response.status == 200
        return int((await response.json())["errcode"])


@dataclass
class Wired:
    sandbox: TestClient
    receiver: Receiver
    config: SandboxConfig


@pytest.fixture
async def wired(aiohttp_client: Any, aiohttp_server: Any, clock: Clock) -> Wired:
    """A sandbox whose callback URLs point at a running receiver."""
    receiver = Receiver(CONFIG)
    server: TestServer = await aiohttp_server(receiver.app())
    config = replace(
        CONFIG,
        callback_url=str(server.make_url("/app")),
        aibot_callback_url=str(server.make_url("/aibot")),
    )
    receiver.config = config
    sandbox = await aiohttp_client(create_sandbox_app(config, clock=clock))
    return Wired(sandbox, receiver, config)


async def test_an_app_callback_is_signed_and_encrypted_as_wecom_does(wired: Wired) -> None:
    content = "认领 123 ]]> <b>&amp;"
    response = await send_app_callback(
        wired.config, wired.sandbox.session, "zhang", content, msg_id=2**63 - 1, now=T0
    )
    assert response.status == 200
    [message] = wired.receiver.app_messages
    assert (message.type, message.source, message.target) == ("text", "zhang", CONFIG.corp_id)
    assert (message.content, message.id, message.agent) == (content, 2**63 - 1, CONFIG.agent_id)
    assert message.time == int(T0)
    [envelope] = wired.receiver.app_envelopes
    assert (envelope["ToUserName"], envelope["AgentID"]) == (CONFIG.corp_id, str(CONFIG.agent_id))


async def test_app_callbacks_get_fresh_64_bit_msg_ids(wired: Wired) -> None:
    for _ in range(2):
        await send_app_callback(wired.config, wired.sandbox.session, "zhang", "hi")
    first, second = (m.id for m in wired.receiver.app_messages)
    assert first != second and 0 <= first < 2**63 and 0 <= second < 2**63


async def test_an_aibot_callback_carries_a_one_time_response_url(wired: Wired) -> None:
    chat_id = robot_chat_id("key-east")
    response = await send_aibot_callback(
        wired.config,
        wired.sandbox.session,
        chat_id,
        "group",
        "zhang",
        "@订单助手 认领 1",
        sandbox_url=str(wired.sandbox.make_url("/")),
        now=T0,
    )
    assert response.status == 200
    [message] = wired.receiver.aibot_messages
    assert message["chatid"] == chat_id and message["chattype"] == "group"
    assert message["from"] == {"userid": "zhang"} and message["aibotid"] == CONFIG.aibot_id
    assert message["msgtype"] == "text" and message["text"] == {"content": "@订单助手 认领 1"}
    reply = {"msgtype": "markdown", "markdown": {"content": "**已认领** 工单 1"}}
    assert await respond(wired.sandbox, message["response_url"], reply) == 0
    assert await respond(wired.sandbox, message["response_url"], reply) == 40058  # used
    [recorded] = await messages(wired.sandbox)
    assert recorded["endpoint"] == "aibot/response" and recorded["target"] == chat_id
    assert (recorded["target_kind"], recorded["chat_name"]) == ("group", "华东组")
    assert recorded["content"] == "**已认领** 工单 1"


async def test_a_single_chat_reply_goes_to_the_member(wired: Wired) -> None:
    await send_aibot_callback(
        wired.config,
        wired.sandbox.session,
        None,
        "single",
        "wang",
        "状态 1",
        sandbox_url=str(wired.sandbox.make_url("/")),
    )
    [message] = wired.receiver.aibot_messages
    assert "chatid" not in message and message["chattype"] == "single"
    reply = {"msgtype": "markdown", "markdown": {"content": "工单 1：处理中"}}
    assert await respond(wired.sandbox, message["response_url"], reply) == 0
    [recorded] = await messages(wired.sandbox)
    assert (recorded["target_kind"], recorded["users"]) == ("user", ["wang"])


@pytest.mark.parametrize(
    ("tamper", "later", "errcode"),
    [(False, HOUR, 40058), (True, 0.0, 40058), (False, HOUR - 1, 0)],
    ids=["after-an-hour", "forged-code", "just-in-time"],
)
async def test_response_codes_expire_and_cannot_be_forged(
    wired: Wired, clock: Clock, tamper: bool, later: float, errcode: int
) -> None:
    await send_aibot_callback(
        wired.config,
        wired.sandbox.session,
        robot_chat_id("key-vip"),
        "group",
        "li",
        "@订单助手 帮助",
        sandbox_url=str(wired.sandbox.make_url("/")),
        now=T0,
    )
    url = wired.receiver.aibot_messages[0]["response_url"]
    if tamper:
        url = url.replace("response_code=", "response_code=x")
    clock.now = T0 + later
    reply = {"msgtype": "markdown", "markdown": {"content": "x"}}
    assert await respond(wired.sandbox, url, reply) == errcode


@pytest.mark.parametrize("aibot", [False, True], ids=["app", "aibot"])
async def test_verify_callback_url_checks_the_echo(wired: Wired, aibot: bool) -> None:
    assert await verify_callback_url(wired.config, wired.sandbox.session, aibot=aibot)


async def test_verify_callback_url_fails_on_a_wrong_echo(
    aiohttp_server: Any, aiohttp_client: Any
) -> None:
    async def wrong(request: web.Request) -> web.Response:
        return web.Response(text=f'"{request.query["echostr"]}"')

    app = web.Application()
    app.router.add_get("/app", wrong)
    server = await aiohttp_server(app)
    config = replace(CONFIG, callback_url=str(server.make_url("/app")))
    async with aiohttp.ClientSession() as session:
        assert not await verify_callback_url(config, session)


async def test_callbacks_need_a_configured_url(sandbox: TestClient) -> None:
    with pytest.raises(CallbackNotConfigured):
        await send_app_callback(CONFIG, sandbox.session, "zhang", "hi")
    with pytest.raises(CallbackNotConfigured):
        await send_aibot_callback(
            CONFIG, sandbox.session, "c", "group", "zhang", "hi", sandbox_url="http://x"
        )


async def test_say_in_a_group_reaches_the_bot_as_an_aibot_mention(wired: Wired) -> None:
    chat_id = robot_chat_id("key-east")
    said = {"user": "zhang", "target": chat_id, "text": "认领 7"}
    reply = await call(wired.sandbox, "POST", "/sandbox/api/say", json=said)
    assert reply == {"id": 1, "bot_status": 200}
    [message] = wired.receiver.aibot_messages
    assert message["text"]["content"] == "@订单助手 认领 7" and message["chatid"] == chat_id
    [recorded] = await messages(wired.sandbox)
    assert (recorded["direction"], recorded["from_user"], recorded["target"]) == (
        "in",
        "zhang",
        chat_id,
    )
    answer = {"msgtype": "markdown", "markdown": {"content": "已认领"}}
    assert await respond(wired.sandbox, message["response_url"], answer) == 0
    assert [m["target"] for m in await messages(wired.sandbox)] == [chat_id, chat_id]


async def test_say_to_the_app_reaches_the_bot_as_an_app_callback(wired: Wired) -> None:
    said = {"user": "wang", "target": "app", "text": "我的工单"}
    assert (await call(wired.sandbox, "POST", "/sandbox/api/say", json=said))["bot_status"] == 200
    [message] = wired.receiver.app_messages
    assert (message.source, message.content) == ("wang", "我的工单")
    [recorded] = await messages(wired.sandbox)
    assert (recorded["target_kind"], recorded["users"], recorded["endpoint"]) == (
        "user",
        ["wang"],
        "callback/app",
    )


@pytest.mark.parametrize(
    ("callback_url", "bot_status", "expected"),
    [
        (None, 200, "no callback_url configured"),
        (f"http://127.0.0.1:{unused_port()}/app", 200, "cannot reach"),
        ("receiver", 500, "HTTP 500"),
    ],
    ids=["not-configured", "unreachable", "bot-error"],
)
async def test_say_is_502_when_the_bot_cannot_take_it(
    wired: Wired,
    aiohttp_client: Any,
    callback_url: str | None,
    bot_status: int,
    expected: str,
) -> None:
    wired.receiver.status = bot_status
    url = wired.config.callback_url if callback_url == "receiver" else callback_url
    sandbox = await aiohttp_client(create_sandbox_app(replace(wired.config, callback_url=url)))
    said = {"user": "zhang", "target": "app", "text": "hi"}
    async with sandbox.post("/sandbox/api/say", json=said) as response:
        assert response.status == 502
        assert expected in (await response.json())["error"]


@pytest.mark.parametrize(
    "said",
    [
        {"user": "zhang", "target": "wrnosuchchat", "text": "hi"},
        {"user": "zhang", "target": "app", "text": "  "},
        {"user": "zhang", "text": "hi"},
    ],
    ids=["unknown-chat", "blank-text", "no-target"],
)
async def test_say_checks_its_input(wired: Wired, said: dict[str, Any]) -> None:
    async with wired.sandbox.post("/sandbox/api/say", json=said) as response:
        assert response.status == 400
    assert wired.receiver.app_messages == [] and wired.receiver.aibot_messages == []


# Configuration


def test_the_command_line_builds_the_config() -> None:
    config, host, port = parse_args(
        ["--robot", "key-east=华东组", "--user", "zhang", "--port", "9001"]
    )
    assert (config.webhook_keys, config.users, host, port) == (
        {"key-east": "华东组"},
        ("zhang",),
        "127.0.0.1",
        9001,
    )


@pytest.mark.parametrize(
    "change",
    [{"encoding_aes_key": "short"}, {"encoding_aes_key": "!" * 43}, {"callback_token": "ab"}],
    ids=["short-key", "not-base64", "short-token"],
)
def test_a_bad_config_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SandboxConfig(**change)


async def app_upload(
    client: TestClient, data: bytes, kind: str = "image", filename: str = "report.png"
) -> dict[str, Any]:
    form = aiohttp.FormData(quote_fields=False)  # raw UTF-8 filename, as the bot sends it
    form.add_field("media", io.BytesIO(data), filename=filename)
    params = {"access_token": await get_token(client), "type": kind}
    result: dict[str, Any] = await call(
        client, "POST", "/cgi-bin/media/upload", params=params, data=form
    )
    return result


async def test_an_app_image_is_uploaded_then_sent_by_media_id(sandbox: TestClient) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    uploaded = await app_upload(sandbox, png)
    assert uploaded["errcode"] == 0 and uploaded["type"] == "image"
    sent = await app_send(
        sandbox, {"msgtype": "image", "image": {"media_id": uploaded["media_id"]}}
    )
    assert sent["errcode"] == 0
    [recorded] = await messages(sandbox)
    assert recorded["media"]["kind"] == "image" and recorded["media"]["size"] == len(png)

    assert (await app_upload(sandbox, b"GIF89a" + b"\x00" * 64))["errcode"] == 40004
    assert (await app_upload(sandbox, png, kind="video"))["errcode"] == 40005
    unknown = {"msgtype": "image", "image": {"media_id": "nope"}}
    assert (await app_send(sandbox, unknown))["errcode"] == 40007
    params = {"access_token": "forged", "type": "image"}
    form = aiohttp.FormData()
    form.add_field("media", io.BytesIO(png), filename="x.png")
    body = await call(sandbox, "POST", "/cgi-bin/media/upload", params=params, data=form)
    assert body["errcode"] == 40014


async def test_an_app_file_reaches_the_member_as_a_document(sandbox: TestClient) -> None:
    csv_data = "工单,订单号\n1,SH0001\n".encode("utf-8-sig")
    uploaded = await app_upload(sandbox, csv_data, kind="file", filename="超时工单.csv")
    assert uploaded["errcode"] == 0 and uploaded["type"] == "file"
    document = {"msgtype": "file", "file": {"media_id": uploaded["media_id"]}}
    assert (await app_send(sandbox, document))["errcode"] == 0
    [recorded] = await messages(sandbox)
    assert (recorded["target_kind"], recorded["users"], recorded["msgtype"]) == (
        "user",
        ["zhang"],
        "file",
    )
    assert recorded["media"]["filename"] == "超时工单.csv"
    async with sandbox.get(recorded["media"]["url"]) as response:
        assert await response.read() == csv_data

    image_id = (await app_upload(sandbox, PNG))["media_id"]
    not_a_file = {"msgtype": "file", "file": {"media_id": image_id}}
    assert (await app_send(sandbox, not_a_file))["errcode"] == 40007
    assert (await app_send(sandbox, {"msgtype": "file", "file": {}}))["errcode"] == 40058


async def test_a_delay_fault_answers_late_then_serves_as_usual(sandbox: TestClient) -> None:
    await fault(sandbox, endpoint="webhook/send", kind="delay", seconds=0.3)
    started = time.monotonic()
    assert (await webhook(sandbox, text("slow")))["errcode"] == 0
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert (await webhook(sandbox, text("quick")))["errcode"] == 0
    assert time.monotonic() - started < 0.3
    assert [m["content"] for m in await messages(sandbox)] == ["slow", "quick"]
    assert (await stats(sandbox))["faults"] == {"webhook/send": {"delay": 1}}
