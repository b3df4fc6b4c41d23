"""WeComClient against a fake WeCom over real HTTP, and the message builders and splitter."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import unused_port

from adapters.wecom import messages
from adapters.wecom.client import WeComClient
from adapters.wecom.errors import (
    API_CONCURRENT_OUT_OF_LIMIT,
    API_FREQ_OUT_OF_LIMIT,
    EXPIRED_ACCESS_TOKEN,
    INVALID_ACCESS_TOKEN,
    INVALID_SECRET,
    INVALID_WEBHOOK_KEY,
    NO_VALID_RECIPIENT,
    SYSTEM_BUSY,
    WeComError,
)
from rules import text_split

CORP_ID = "ww-corp"
CORP_SECRET = "corp-secret-0123456789"
AGENT_ID = 1000002
WEBHOOK_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
RESPONSE_CODE = "one-shot-response-code"

Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]


def errcode(code: int, errmsg: str = "error", delay: float = 0.0) -> Reply:
    """A WeCom API error: HTTP 200 with an errcode, and an errmsg that echoes the request (as
    93000's hint does), both as a URL and as a bare query string, secrets included."""

    async def reply(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay)
        hint = f"hint: [{request.url}], query: [{request.query_string}]"
        return web.json_response({"errcode": code, "errmsg": f"{errmsg}, {hint}"})

    return reply


def http_status(status: int) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=f"gateway error for {request.url}")

    return reply


def not_json() -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")

    return reply


def slow(seconds: float) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    return reply


@dataclass
class Call:
    endpoint: str
    query: dict[str, str]
    body: Any


@dataclass
class FakeWeCom:
    """Just the endpoints WeComClient calls. Tokens are tok-1, tok-2, … in issue order; a
    scripted reply (one-shot, or a standing one in ``always``) replaces the normal answer."""

    token_ttl: int = 7200
    calls: list[Call] = field(default_factory=list)
    scripted: dict[str, deque[Reply]] = field(default_factory=dict)
    always: dict[str, Reply] = field(default_factory=dict)
    reply_extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    base_url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._handle)
        for endpoint in (
            "message/send",
            "appchat/send",
            "webhook/send",
            "webhook/upload_media",
            "aibot/response",
        ):
            app.router.add_post(f"/cgi-bin/{endpoint}", self._handle)
        return app

    def script(self, endpoint: str, *replies: Reply) -> None:
        self.scripted.setdefault(endpoint, deque()).extend(replies)

    def count(self, endpoint: str) -> int:
        return Counter(call.endpoint for call in self.calls)[endpoint]

    def last(self, endpoint: str) -> Call:
        return [call for call in self.calls if call.endpoint == endpoint][-1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.path.removeprefix("/cgi-bin/")
        self.calls.append(Call(endpoint, dict(request.query), await self._body(request)))
        queue = self.scripted.get(endpoint)
        if queue:
            return await queue.popleft()(request)
        if endpoint in self.always:
            return await self.always[endpoint](request)
        if endpoint == "gettoken":
            return await self._gettoken(request)
        body = {"errcode": 0, "errmsg": "ok", **self.reply_extra.get(endpoint, {})}
        return web.json_response(body)

    async def _gettoken(self, request: web.Request) -> web.StreamResponse:
        if (request.query.get("corpid"), request.query.get("corpsecret")) != (CORP_ID, CORP_SECRET):
            return await errcode(INVALID_SECRET, "invalid credential")(request)
        token = f"tok-{self.count('gettoken')}"
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}
        )

    @staticmethod
    async def _body(request: web.Request) -> Any:
        if request.method == "GET":
            return None
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            parts = []
            while (part := await reader.next()) is not None:
                assert isinstance(part, aiohttp.BodyPartReader)
                parts.append((part.name, part.filename, await part.read()))
            return parts
        return await request.json()


class FakeClock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeWeCom:
    fake = FakeWeCom()
    server = await aiohttp_server(fake.app())  # ephemeral port
    fake.base_url = str(server.make_url("/cgi-bin/"))
    return fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(
    fake: FakeWeCom, session: aiohttp.ClientSession, clock: FakeClock
) -> Callable[..., WeComClient]:
    def make(**overrides: Any) -> WeComClient:
        options: dict[str, Any] = {
            "base_url": fake.base_url,
            "corp_id": CORP_ID,
            "corp_secret": CORP_SECRET,
            "agent_id": AGENT_ID,
            "clock": clock,
        }
        return WeComClient(session, **(options | overrides))

    return make


@pytest.fixture
def client(make_client: Callable[..., WeComClient]) -> WeComClient:
    return make_client()


HELLO = messages.text("hello")


# --- access token -------------------------------------------------------------------------------


async def test_token_is_fetched_once_and_reused(client: WeComClient, fake: FakeWeCom) -> None:
    for _ in range(3):
        await client.send_app_message(["alice"], HELLO)
    assert fake.count("gettoken") == 1
    assert fake.last("gettoken").query == {"corpid": CORP_ID, "corpsecret": CORP_SECRET}
    assert [call.query for call in fake.calls if call.endpoint == "message/send"] == [
        {"access_token": "tok-1"}
    ] * 3


@pytest.mark.parametrize(
    ("ttl", "still_cached_at", "refreshed_at"),
    [(7200, 6899.0, 6900.0), (60, 53.9, 54.0)],
    ids=["7200s-minus-5min", "short-ttl-minus-10pct"],
)
async def test_token_is_refreshed_when_the_clock_passes_expiry_minus_margin(
    client: WeComClient,
    fake: FakeWeCom,
    clock: FakeClock,
    ttl: int,
    still_cached_at: float,
    refreshed_at: float,
) -> None:
    fake.token_ttl = ttl
    start = clock.now
    assert await client.access_token() == "tok-1"
    clock.now = start + still_cached_at
    assert await client.access_token() == "tok-1"
    clock.now = start + refreshed_at
    assert await client.access_token() == "tok-2"
    assert fake.count("gettoken") == 2


async def test_expired_token_mid_run_refreshes_once_and_retries_once(
    client: WeComClient, fake: FakeWeCom
) -> None:
    await client.send_app_message(["alice"], HELLO)
    fake.script("message/send", errcode(EXPIRED_ACCESS_TOKEN, "access_token expired"))

    await client.send_app_message(["alice"], messages.text("again"))

    assert fake.count("gettoken") == 2
    assert fake.count("message/send") == 3
    retry = fake.last("message/send")
    assert retry.query == {"access_token": "tok-2"}
    assert retry.body["text"]["content"] == "again"


async def test_token_rejected_every_time_gives_up_after_one_retry(
    client: WeComClient, fake: FakeWeCom
) -> None:
    fake.always["message/send"] = errcode(INVALID_ACCESS_TOKEN, "invalid access_token")

    with pytest.raises(WeComError) as caught:
        await client.send_app_message(["alice"], HELLO)

    assert (fake.count("message/send"), fake.count("gettoken")) == (2, 2)
    assert caught.value.errcode == INVALID_ACCESS_TOKEN
    assert caught.value.retryable


async def test_concurrent_sends_on_a_cold_cache_fetch_one_token(
    client: WeComClient, fake: FakeWeCom
) -> None:
    await asyncio.gather(*(client.send_app_message([f"u{i}"], HELLO) for i in range(10)))
    assert fake.count("gettoken") == 1
    assert fake.count("message/send") == 10


async def test_concurrent_token_errors_refresh_once(client: WeComClient, fake: FakeWeCom) -> None:
    """The second rejection of tok-1 arrives after tok-2 is cached; it must not drop tok-2."""
    await client.access_token()
    fake.script(
        "message/send",
        errcode(EXPIRED_ACCESS_TOKEN),
        errcode(EXPIRED_ACCESS_TOKEN, delay=0.05),
    )

    await asyncio.gather(*(client.send_app_message([f"u{i}"], HELLO) for i in range(2)))

    assert fake.count("gettoken") == 2
    assert fake.count("message/send") == 4


async def test_gettoken_errcode_is_raised_not_cached(
    make_client: Callable[..., WeComClient], fake: FakeWeCom
) -> None:
    client = make_client(corp_secret="wrong-secret")
    with pytest.raises(WeComError) as caught:
        await client.send_app_message(["alice"], HELLO)
    assert (caught.value.endpoint, caught.value.errcode) == ("gettoken", INVALID_SECRET)
    assert caught.value.permanent
    assert fake.count("message/send") == 0


# --- error classification -----------------------------------------------------------------------


async def send_webhook(client: WeComClient) -> None:
    await client.send_webhook(WEBHOOK_KEY, HELLO)


async def send_app(client: WeComClient) -> None:
    await client.send_app_message(["alice"], HELLO)


@pytest.mark.parametrize(
    ("endpoint", "call", "reply", "expected_errcode", "retryable"),
    [
        ("webhook/send", send_webhook, errcode(API_FREQ_OUT_OF_LIMIT), API_FREQ_OUT_OF_LIMIT, True),
        ("webhook/send", send_webhook, errcode(SYSTEM_BUSY), SYSTEM_BUSY, True),
        (
            "message/send",
            send_app,
            errcode(API_CONCURRENT_OUT_OF_LIMIT),
            API_CONCURRENT_OUT_OF_LIMIT,
            True,
        ),
        ("webhook/send", send_webhook, errcode(INVALID_WEBHOOK_KEY), INVALID_WEBHOOK_KEY, False),
        ("message/send", send_app, errcode(NO_VALID_RECIPIENT), NO_VALID_RECIPIENT, False),
        ("message/send", send_app, errcode(48002), 48002, False),
        ("message/send", send_app, errcode(77777), 77777, False),
        ("webhook/send", send_webhook, http_status(500), None, True),
        ("webhook/send", send_webhook, http_status(502), None, True),
        ("webhook/send", send_webhook, http_status(429), None, True),
        ("webhook/send", send_webhook, http_status(404), None, False),
        ("webhook/send", send_webhook, not_json(), None, True),
    ],
    ids=[
        "45009-rate-limited",
        "-1-system-busy",
        "45033-too-many-concurrent",
        "93000-bad-key",
        "81013-no-valid-recipient",
        "48002-api-forbidden",
        "unknown-errcode-is-permanent",
        "http-500",
        "http-502",
        "http-429",
        "http-404",
        "html-body",
    ],
)
async def test_error_classification(
    client: WeComClient,
    fake: FakeWeCom,
    endpoint: str,
    call: Callable[[WeComClient], Awaitable[None]],
    reply: Reply,
    expected_errcode: int | None,
    retryable: bool,
) -> None:
    fake.script(endpoint, reply)
    with pytest.raises(WeComError) as caught:
        await call(client)
    error = caught.value
    assert (error.endpoint, error.errcode, error.retryable) == (
        endpoint,
        expected_errcode,
        retryable,
    )
    assert error.permanent is not retryable
    assert fake.count(endpoint) == 1  # the client never retries these itself


async def test_timeout_is_retryable(
    make_client: Callable[..., WeComClient], fake: FakeWeCom
) -> None:
    client = make_client(timeout=0.1)
    fake.script("webhook/send", slow(0.3))
    with pytest.raises(WeComError) as caught:
        await client.send_webhook(WEBHOOK_KEY, HELLO)
    assert caught.value.retryable
    assert caught.value.errcode is None


async def test_connection_refused_is_retryable(session: aiohttp.ClientSession) -> None:
    client = WeComClient(session, base_url=f"http://127.0.0.1:{unused_port()}/cgi-bin/")
    with pytest.raises(WeComError) as caught:
        await client.send_webhook(WEBHOOK_KEY, HELLO)
    assert caught.value.retryable
    assert WEBHOOK_KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("endpoint", "reply"),
    [
        ("message/send", errcode(INVALID_ACCESS_TOKEN)),
        ("webhook/send", errcode(INVALID_WEBHOOK_KEY)),
        ("webhook/upload_media", errcode(INVALID_WEBHOOK_KEY)),
        ("aibot/response", errcode(INVALID_WEBHOOK_KEY)),
        ("gettoken", errcode(SYSTEM_BUSY)),
        ("webhook/send", http_status(500)),
        ("webhook/send", slow(0.3)),
    ],
    ids=[
        "token-echoed",
        "key-echoed",
        "upload-key-echoed",
        "response-code-echoed",
        "secret-echoed",
        "http-500",
        "timeout",
    ],
)
async def test_errors_never_reveal_token_key_or_secret(
    make_client: Callable[..., WeComClient], fake: FakeWeCom, endpoint: str, reply: Reply
) -> None:
    client = make_client(timeout=0.1)
    fake.always[endpoint] = reply
    calls = {
        "message/send": lambda: client.send_app_message(["alice"], HELLO),
        "gettoken": client.access_token,
        "webhook/send": lambda: client.send_webhook(WEBHOOK_KEY, HELLO),
        "webhook/upload_media": lambda: client.upload_webhook_media(WEBHOOK_KEY, "a.txt", b"x" * 9),
        "aibot/response": lambda: client.respond_aibot(
            f"{fake.base_url}aibot/response?response_code={RESPONSE_CODE}", HELLO
        ),
    }
    with pytest.raises(WeComError) as caught:
        await calls[endpoint]()
    shown = f"{caught.value} {caught.value!r} {caught.value.args}"
    for secret in ("tok-", WEBHOOK_KEY, CORP_SECRET, RESPONSE_CODE):
        assert secret not in shown


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        (INVALID_WEBHOOK_KEY, "(permanent)"),
        (77777, "(permanent, unclassified errcode)"),
        (API_FREQ_OUT_OF_LIMIT, "(retryable)"),
    ],
    ids=["known-permanent", "unknown-says-so", "retryable"],
)
def test_error_message_names_its_classification(code: int, shown: str) -> None:
    error = WeComError.from_errcode("webhook/send", code, "nope")
    assert str(error) == f"webhook/send: errcode {code} nope {shown}"


def test_error_redacts_urls_in_its_message_and_endpoint() -> None:
    error = WeComError(
        "https://qyapi.example/cgi-bin/aibot/response?response_code=SECRET",
        "failed POST https://user:pw@qyapi.example/cgi-bin/webhook/send?key=SECRET#x",
        retryable=True,
    )
    assert "SECRET" not in str(error)
    assert "pw@" not in str(error)
    assert error.endpoint == "https://qyapi.example/cgi-bin/aibot/response"


# --- calls and payloads -------------------------------------------------------------------------


async def test_app_message_payload_and_invalid_users(client: WeComClient, fake: FakeWeCom) -> None:
    fake.reply_extra["message/send"] = {"invaliduser": "bob|carol", "msgid": "MSG-1"}

    result = await client.send_app_message(["alice", "Bob", "carol"], messages.text("超时"))

    assert fake.last("message/send").body == {
        "touser": "alice|Bob|carol",
        "agentid": AGENT_ID,
        "msgtype": "text",
        "text": {"content": "超时"},
    }
    assert result.invalid_users == ("bob", "carol")
    assert result.msgid == "MSG-1"


async def test_app_message_all_valid_has_no_invalid_users(client: WeComClient) -> None:
    result = await client.send_app_message(["alice"], HELLO)
    assert result.invalid_users == ()


async def test_appchat_send_uses_token_and_chatid(client: WeComClient, fake: FakeWeCom) -> None:
    await client.send_appchat("ops-east", messages.markdown("**超时**"))
    call = fake.last("appchat/send")
    assert call.query == {"access_token": "tok-1"}
    assert call.body == {
        "chatid": "ops-east",
        "msgtype": "markdown",
        "markdown": {"content": "**超时**"},
    }


async def test_webhook_send_uses_key_and_no_token(client: WeComClient, fake: FakeWeCom) -> None:
    msg = messages.text("超时", mentioned_list=["zhang", "@all"])
    await client.send_webhook(WEBHOOK_KEY, msg)
    call = fake.last("webhook/send")
    assert call.query == {"key": WEBHOOK_KEY}
    assert call.body == msg
    assert fake.count("gettoken") == 0


async def test_upload_webhook_media_sends_multipart_media_field(
    client: WeComClient, fake: FakeWeCom
) -> None:
    fake.reply_extra["webhook/upload_media"] = {"type": "file", "media_id": "MEDIA-1"}

    media_id = await client.upload_webhook_media(WEBHOOK_KEY, "超时订单.csv", b"order,age\n1,3h\n")

    assert media_id == "MEDIA-1"
    call = fake.last("webhook/upload_media")
    assert call.query == {"key": WEBHOOK_KEY, "type": "file"}
    assert call.body == [("media", "超时订单.csv", b"order,age\n1,3h\n")]


async def test_upload_reply_without_media_id_is_retryable(client: WeComClient) -> None:
    with pytest.raises(WeComError) as caught:
        await client.upload_webhook_media(WEBHOOK_KEY, "a.txt", b"123456")
    assert caught.value.retryable


async def test_respond_aibot_posts_to_the_response_url(
    client: WeComClient, fake: FakeWeCom
) -> None:
    msg = messages.markdown("已认领")
    await client.respond_aibot(f"{fake.base_url}aibot/response?response_code={RESPONSE_CODE}", msg)
    call = fake.last("aibot/response")
    assert call.query == {"response_code": RESPONSE_CODE}
    assert call.body == msg
    assert fake.count("gettoken") == 0


async def test_app_message_without_agent_id_is_permanent(
    make_client: Callable[..., WeComClient], fake: FakeWeCom
) -> None:
    client = make_client(agent_id=None)
    with pytest.raises(WeComError) as caught:
        await client.send_app_message(["alice"], HELLO)
    assert caught.value.permanent
    assert fake.calls == []


# --- message builders ---------------------------------------------------------------------------


def test_text_builder_leaves_out_empty_mention_lists() -> None:
    assert messages.text("hi") == {"msgtype": "text", "text": {"content": "hi"}}
    assert messages.text("hi", mentioned_mobile_list=("13800000000",))["text"] == {
        "content": "hi",
        "mentioned_mobile_list": ["13800000000"],
    }


def test_textcard_builder() -> None:
    assert messages.textcard("订单超时", "3 单", "https://shop.example/o") == {
        "msgtype": "textcard",
        "textcard": {
            "title": "订单超时",
            "description": "3 单",
            "url": "https://shop.example/o",
            "btntxt": "详情",
        },
    }


def test_image_builder_carries_base64_and_md5_of_raw_bytes() -> None:
    data = b"\x89PNG\r\n\x1a\n fake"
    payload = messages.image(data)["image"]
    assert base64.b64decode(payload["base64"]) == data
    assert payload["md5"] == hashlib.md5(data).hexdigest()


def test_file_builder() -> None:
    assert messages.file("MEDIA-1") == {"msgtype": "file", "file": {"media_id": "MEDIA-1"}}


# --- split_text ---------------------------------------------------------------------------------


def assert_split_invariants(text: str, chunks: list[str], limit: int) -> None:
    """Every chunk fits; no chunk is empty or starts/ends with a newline; putting newlines back
    between the chunks (and at the ends) gives the text, and nothing but newlines is dropped."""
    assert all(0 < text_split.utf8_len(chunk) <= limit for chunk in chunks)
    assert not any(chunk.startswith("\n") or chunk.endswith("\n") for chunk in chunks)
    position = 0
    for chunk in chunks:
        while text[position] == "\n":  # dropped at the start or at a cut between lines
            position += 1
        assert text.startswith(chunk, position)
        position += len(chunk)
    assert text[position:].strip("\n") == ""


URL = "https://shop.example/o/42"  # 25 bytes
SPLIT_CASES = [
    ("hello", 10, ["hello"]),
    ("aaa\nbbb\nccc", 7, ["aaa\nbbb", "ccc"]),
    ("aaaa\nbbbb", 9, ["aaaa\nbbbb"]),
    ("aaaa\nbbbb", 8, ["aaaa", "bbbb"]),
    ("你好世界", 12, ["你好世界"]),
    ("你好世界", 7, ["你好", "世界"]),
    ("订单\n超时了", 9, ["订单", "超时了"]),
    ("😀😀😀", 8, ["😀😀", "😀"]),
    ("a😀b", 4, ["a", "😀", "b"]),
    ("ab\n" + "x" * 8 + "\ncd", 6, ["ab", "xxxxxx", "xx\ncd"]),
    (f"订单超时 {URL} 请处理", 30, ["订单超时 ", f"{URL} 请", "处理"]),
    (f"see {URL}", 10, ["see ", URL[:10], URL[10:20], URL[20:]]),
    (
        "到 [订单 42](https://s.example/42) 看",
        36,
        ["到 ", "[订单 42](https://s.example/42) ", "看"],
    ),
    ("请 <@zhangsan> 处理", 12, ["请 ", "<@zhangsan> ", "处理"]),
    ('状态 <font color="warning">超时</font>', 40, ["状态 ", '<font color="warning">超时</font>']),
    ("aaaa\n\n\nbbbb", 5, ["aaaa", "bbbb"]),
    ("aaaa\n\nbb\ncc", 5, ["aaaa", "bb\ncc"]),
    ("a\n\nb", 10, ["a\n\nb"]),
    ("\nhi\n", 10, ["hi"]),
    ("", 10, []),
    ("\n\n", 10, []),
]
SPLIT_IDS = [
    "ascii-fits",
    "ascii-packs-lines",
    "exactly-at-limit",
    "one-byte-over-cuts-between-lines",
    "chinese-exactly-at-limit",
    "chinese-never-cut-inside-a-character",
    "chinese-lines",
    "emoji-4-bytes",
    "emoji-alone-fills-limit-4",
    "long-line-cut-then-tail-packs-with-next-line",
    "url-straddling-limit-moves-whole",
    "url-longer-than-limit-cut-as-last-resort",
    "markdown-link-whole",
    "mention-whole",
    "font-span-whole",
    "blank-lines-at-cut-dropped",
    "blank-line-before-cut-dropped",
    "inner-blank-line-kept",
    "outer-newlines-dropped",
    "empty",
    "newlines-only",
]


@pytest.mark.parametrize(("text", "limit", "expected"), SPLIT_CASES, ids=SPLIT_IDS)
def test_split_text(text: str, limit: int, expected: list[str]) -> None:
    chunks = text_split.split_text(text, limit)
    assert chunks == expected
    assert_split_invariants(text, chunks, limit)


MIXED = "\n".join(
    [
        "# 超时订单 (3)",
        "",
        f'<font color="warning">TB-1001</font> 超时 3h，<@zhangsan> 请处理 {URL}',
        "[订单 TB-1002](https://shop.example/o/TB-1002) 😀 " + "拣货中" * 20,
        "x" * 300,
        "",
        "",
        "end",
    ]
)


@pytest.mark.parametrize("limit", [4, 5, 7, 16, 33, 64, 100, 2048], ids=lambda limit: f"{limit}B")
def test_split_text_invariants_on_mixed_content(limit: int) -> None:
    assert_split_invariants(MIXED, text_split.split_text(MIXED, limit), limit)


@pytest.mark.parametrize("limit", [48, 64, 100], ids=lambda limit: f"{limit}B")
def test_split_text_keeps_tokens_that_fit_whole(limit: int) -> None:
    chunks = text_split.split_text(MIXED, limit)
    for token in (URL, "<@zhangsan>", "[订单 TB-1002](https://shop.example/o/TB-1002)"):
        assert any(token in chunk for chunk in chunks), token


def test_split_text_rejects_a_limit_below_one_character() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        text_split.split_text("abc", 3)
