"""The async WeCom HTTP client: app messages, app group chats, group-robot webhooks and
intelligent-robot replies, over one injected aiohttp session.

It is a thin transport. It raises a classified ``WeComError`` and leaves retries and backoff to
the sender, with one exception: a rejected access token is refreshed and the call retried once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from yarl import URL

from adapters.wecom.errors import REDACTED, WeComError

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/"
# Refresh this long before WeCom's expires_in runs out (7200 s in practice), so a token is not
# sent just as it lapses; short lifetimes lose a tenth instead of the whole of them.
TOKEN_MARGIN_SECONDS = 300.0
TOKEN_MARGIN_FRACTION = 0.1
# Query parameters whose values must never reach an error message or a log line.
_SECRET_PARAMS = frozenset({"access_token", "corpsecret", "key", "response_code", "code"})
_MEDIA_KINDS = ("file", "voice")


@dataclass(frozen=True, slots=True)
class AppSendResult:
    """What message/send accepted: WeCom still delivers to the valid users when some are not.

    ``invalid_users`` come back as WeCom reports them, which is lower-cased.
    """

    msgid: str
    invalid_users: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float  # on the client's clock


class WeComClient:
    """Calls WeCom's server API; one instance per app, sharing the app-scoped session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str = DEFAULT_BASE_URL,
        corp_id: str | None = None,
        corp_secret: str | None = None,
        agent_id: int | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``corp_id``/``corp_secret``/``agent_id`` are only needed for app messages; webhook
        and intelligent-robot calls carry their own credentials."""
        self._session = session
        self._base_url = base_url.rstrip("/") + "/"
        self._corp_id = corp_id
        self._corp_secret = corp_secret
        self._agent_id = agent_id
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()

    async def access_token(self) -> str:
        """The app's access token: cached until shortly before expiry, fetched once however many
        callers find the cache empty at the same time."""
        if (token := self._cached_token()) is not None:
            return token
        async with self._token_lock:
            # Whoever held the lock before us has probably just fetched one.
            if (token := self._cached_token()) is not None:
                return token
            return await self._fetch_token()

    async def send_app_message(self, users: Sequence[str], msg: Mapping[str, Any]) -> AppSendResult:
        """Send ``msg`` (the msgtype part, e.g. ``messages.text(...)``) to users by userid.

        Raises WeComError with errcode 81013 when none of the users is valid.
        """
        if isinstance(users, str):
            raise TypeError("users must be a sequence of userids, not one string")
        if not users:
            raise ValueError("send_app_message needs at least one userid")
        if self._agent_id is None:
            raise WeComError("message/send", "agent_id is not configured", retryable=False)
        payload = {**msg, "touser": "|".join(users), "agentid": self._agent_id}
        body = await self._call_with_token("message/send", payload)
        invalid = str(body.get("invaliduser") or "")
        return AppSendResult(
            msgid=str(body.get("msgid") or ""),
            invalid_users=tuple(user for user in invalid.split("|") if user),
        )

    async def send_appchat(self, chat_id: str, msg: Mapping[str, Any]) -> None:
        """Send ``msg`` into a group chat that this app created with appchat/create."""
        await self._call_with_token("appchat/send", {**msg, "chatid": chat_id})

    async def send_webhook(self, key: str, msg: Mapping[str, Any]) -> None:
        """Push ``msg`` through a group robot (20 messages per minute per robot)."""
        await self._request(
            "POST", self._base_url + "webhook/send", "webhook/send", {"key": key}, json=msg
        )

    async def upload_webhook_media(
        self, key: str, filename: str, data: bytes, kind: str = "file"
    ) -> str:
        """Upload a file (or AMR voice) for a robot's file message; the media_id lasts 3 days."""
        if kind not in _MEDIA_KINDS:
            raise ValueError(f"kind must be one of {_MEDIA_KINDS}, not {kind!r}")
        # Raw UTF-8 filename, as browsers send it; quoted, 超时.csv would arrive as %E8%B6%85….
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("media", data, filename=filename, content_type="application/octet-stream")
        endpoint = "webhook/upload_media"
        body = await self._request(
            "POST", self._base_url + endpoint, endpoint, {"key": key, "type": kind}, form=form
        )
        media_id = body.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise WeComError(endpoint, "reply has no media_id", retryable=True)
        return media_id

    async def upload_media(self, filename: str, data: bytes, kind: str = "image") -> str:
        """Upload the app's temporary media (an image for ``messages.app_image``, a file for
        ``messages.file``); 3 days."""

        def form() -> aiohttp.FormData:
            built = aiohttp.FormData(quote_fields=False)
            built.add_field(
                "media", data, filename=filename, content_type="application/octet-stream"
            )
            return built

        body = await self._call_with_token("media/upload", None, params={"type": kind}, form=form)
        media_id = body.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise WeComError("media/upload", "reply has no media_id", retryable=True)
        return media_id

    async def user_of_login_code(self, code: str) -> str | None:
        """The member a web-login code (OAuth2 or 企业微信 Web 登录) belongs to: its userid, or
        None for someone outside the corp (WeCom answers an openid then). A code is single-use
        and lasts 5 minutes: a spent or stale one is WeComError 40029; a code whose redirect
        host is not the app's trusted domain is 50001."""
        body = await self._call_with_token("auth/getuserinfo", None, params={"code": code})
        user = body.get("userid") or body.get("UserId")  # the old capitalised spelling too
        return user if isinstance(user, str) and user else None

    async def respond_aibot(self, response_url: str, msg: Mapping[str, Any]) -> None:
        """Answer an intelligent-robot message through its response_url (usable once, 1 hour)."""
        await self._request("POST", response_url, response_url, {}, json=msg)

    def _cached_token(self) -> str | None:
        if self._token is not None and self._clock() < self._token.expires_at:
            return self._token.value
        return None

    async def _fetch_token(self) -> str:
        if not (self._corp_id and self._corp_secret):
            message = "corp_id and corp_secret are not configured"
            raise WeComError("gettoken", message, retryable=False)
        fetched_at = self._clock()
        params = {"corpid": self._corp_id, "corpsecret": self._corp_secret}
        body = await self._request("GET", self._base_url + "gettoken", "gettoken", params)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not (
            isinstance(token, str) and token and isinstance(expires_in, int) and expires_in > 0
        ):
            raise WeComError("gettoken", "reply has no access_token or expires_in", retryable=True)
        margin = min(TOKEN_MARGIN_SECONDS, expires_in * TOKEN_MARGIN_FRACTION)
        self._token = _Token(token, fetched_at + expires_in - margin)
        logger.info("fetched a WeCom access token valid for %d s", expires_in)
        return token

    async def _call_with_token(
        self,
        endpoint: str,
        payload: Mapping[str, Any] | None,
        *,
        params: Mapping[str, str] | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> dict[str, Any]:
        """POST JSON (or a fresh ``form()``: a form body can be sent once) with the app token;
        GET when there is neither. A token errcode gets one refresh and one retry, never more:
        wechatpy's unbounded retry sent 275 requests against a server that always said 40014."""
        url = self._base_url + endpoint
        method = "GET" if payload is None and form is None else "POST"

        async def post(token: str) -> dict[str, Any]:
            query = {**(params or {}), "access_token": token}
            body = form() if form is not None else None
            return await self._request(method, url, endpoint, query, json=payload, form=body)

        token = await self.access_token()
        try:
            return await post(token)
        except WeComError as error:
            if not error.token_error:
                raise
            # WeCom may revoke a token before its expires_in; refetch, per the gettoken doc.
            logger.warning("WeCom rejected the access token on %s: %s", endpoint, error)
            self._forget_token(token)
        return await post(await self.access_token())

    def _forget_token(self, rejected: str) -> None:
        # Only the token that was rejected: a concurrent caller may already have replaced it.
        if self._token is not None and self._token.value == rejected:
            self._token = None

    async def _request(
        self,
        method: str,
        url: str,
        endpoint: str,
        params: Mapping[str, str],
        *,
        json: Mapping[str, Any] | None = None,
        form: aiohttp.FormData | None = None,
    ) -> dict[str, Any]:
        """One HTTP round trip, returning the reply body when its errcode is 0.

        ``endpoint`` names the call in errors; ``url`` and ``params`` never appear there.
        """
        query = {**URL(url).query, **params}
        secrets = [value for name, value in query.items() if name in _SECRET_PARAMS and value]
        data: bytes | aiohttp.FormData | None = form
        headers: dict[str, str] = {}
        if json is not None:
            data = orjson.dumps(dict(json))  # UTF-8 as it is, not \u escapes
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,  # a redirect would carry the token in the query elsewhere
            ) as response:
                status, raw = response.status, await response.read()
        except TimeoutError:
            # `from None` here and below: aiohttp's exception may print the URL, token included.
            message = f"no reply within {self._timeout.total} s"
            raise WeComError(endpoint, message, retryable=True) from None
        except aiohttp.ClientError as error:
            message = _scrub(f"{type(error).__name__}: {error}", secrets)
            raise WeComError(endpoint, message, retryable=True) from None
        if status != 200:
            # WeCom reports API errors as HTTP 200 with an errcode; anything else is the gateway.
            retryable = status >= 500 or status == 429
            raise WeComError(endpoint, f"HTTP {status}", retryable=retryable)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("errcode", 0), int):
            # An HTML error page from a proxy or gateway, most likely: worth another try later.
            message = f"HTTP 200 with a body that is not a WeCom reply ({len(raw)} bytes)"
            raise WeComError(endpoint, message, retryable=True)
        errcode = body.get("errcode", 0)
        if errcode != 0:
            errmsg = _scrub(str(body.get("errmsg", "")), secrets)
            raise WeComError.from_errcode(endpoint, errcode, errmsg)
        return body


def _scrub(text: str, secrets: Sequence[str]) -> str:
    """Replace every secret we sent, raw or percent-encoded, e.g. when WeCom echoes the URL."""
    for secret in secrets:
        text = text.replace(secret, REDACTED).replace(quote(secret, safe=""), REDACTED)
    return text
