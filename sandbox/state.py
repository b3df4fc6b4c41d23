"""What the sandbox remembers: every accepted message, access tokens, rate windows, queued
faults, uploaded media, the app's group chats, used response codes, and counts for /stats."""

from __future__ import annotations

import asyncio
import mimetypes
import secrets
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from sandbox.config import SandboxConfig, robot_chat_id
from sandbox.errors import ACCESS_TOKEN_MISSING, EXPIRED_ACCESS_TOKEN, INVALID_ACCESS_TOKEN

MEDIA_VALID_SECONDS = 3 * 24 * 3600
MINUTE, HOUR = 60.0, 3600.0

Direction = Literal["out", "in"]
TargetKind = Literal["group", "user", "appchat"]
FaultKind = Literal["http500", "timeout", "errcode", "delay"]


@dataclass(frozen=True, slots=True)
class Media:
    """An uploaded file (or an image sent inline), kept whole so it can be read back."""

    media_id: str
    kind: str  # "file" | "voice" | "image"
    filename: str
    data: bytes
    uploaded_at: float
    webhook_key: str

    @property
    def content_type(self) -> str:
        return mimetypes.guess_type(self.filename)[0] or "application/octet-stream"

    def as_json(self) -> dict[str, Any]:
        return {
            "media_id": self.media_id,
            "kind": self.kind,
            "filename": self.filename,
            "size": len(self.data),
            "url": f"/sandbox/api/media/{self.media_id}",
        }


@dataclass(frozen=True, slots=True)
class Record:
    """One message that WeCom accepted (direction "out", from the bot) or that a member typed
    (direction "in", sent to the bot as a callback).

    ``target`` is the chat id for group and appchat targets, "a|b" of the members who got it
    for user targets; ``users`` lists those members.
    """

    id: int
    time: float
    direction: Direction
    endpoint: str
    target_kind: TargetKind
    target: str
    msgtype: str
    body: dict[str, Any]
    content: str | None = None
    chat_name: str | None = None
    users: tuple[str, ...] = ()
    from_user: str | None = None
    webhook_key: str | None = None
    agentid: int | None = None
    media: Media | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "direction": self.direction,
            "endpoint": self.endpoint,
            "target_kind": self.target_kind,
            "target": self.target,
            "chat_name": self.chat_name,
            "users": list(self.users),
            "from_user": self.from_user,
            "webhook_key": self.webhook_key,
            "agentid": self.agentid,
            "msgtype": self.msgtype,
            "content": self.content,
            "body": self.body,
            "media": self.media.as_json() if self.media else None,
        }


@dataclass(slots=True)
class Fault:
    """A queued failure for the next ``remaining`` calls to ``endpoint``: HTTP 500, an
    errcode, a request held past the client's timeout, or a ``delay`` (slow, then served)."""

    endpoint: str
    kind: FaultKind
    remaining: int
    errcode: int = 0  # for kind "errcode"
    seconds: float = 0.0  # for kinds "timeout" and "delay"

    def as_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "kind": self.kind,
            "count": self.remaining,
            "errcode": self.errcode,
            "seconds": self.seconds,
        }


@dataclass(frozen=True, slots=True)
class AppChat:
    """A group chat the app created with appchat/create."""

    chat_id: str
    name: str
    owner: str
    users: tuple[str, ...]


@dataclass(slots=True)
class Stats:
    """Counts per endpoint: accepted, refused per errcode, dropped per member, faults per kind;
    and the most messages each robot got accepted within one sliding minute."""

    accepted: Counter[str] = field(default_factory=Counter)
    refused: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    dropped: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    faults: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    robot_per_minute_max: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": dict(self.accepted),
            "refused": {
                ep: {str(c): n for c, n in codes.items()} for ep, codes in self.refused.items()
            },
            "dropped": {ep: dict(users) for ep, users in self.dropped.items()},
            "faults": {ep: dict(kinds) for ep, kinds in self.faults.items()},
            "robot_per_minute_max": dict(self.robot_per_minute_max),
        }


class SandboxState:
    """All mutable sandbox state. Handlers run on one event loop, so no locking is needed."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.records: list[Record] = []
        self.stats = Stats()
        self.media: dict[str, Media] = {}
        self.appchats: dict[str, AppChat] = {}
        self.used_response_codes: set[str] = set()
        # Set on shutdown so that requests held by a "timeout" fault end at once.
        self.closing = asyncio.Event()
        self._tokens: dict[str, float] = {}  # token -> expires at
        self._current_token: str | None = None
        self._faults: defaultdict[str, deque[Fault]] = defaultdict(deque)
        self._robot_windows: defaultdict[str, deque[float]] = defaultdict(deque)
        self._member_windows: defaultdict[str, deque[float]] = defaultdict(deque)

    # Messages

    def add_record(self, **fields: Any) -> Record:
        """Record an accepted message under the next id (ids start at 1, no gaps)."""
        record = Record(id=len(self.records) + 1, time=self.clock(), **fields)
        self.records.append(record)
        return record

    def records_since(self, since: int) -> list[Record]:
        return self.records[max(since, 0) :]

    # Chats

    def group_chats(self) -> list[dict[str, Any]]:
        """Every group chat: one per robot key, then those the app created."""
        robots = [
            {"chat_id": robot_chat_id(key), "name": name, "kind": "robot", "webhook_key": key}
            for key, name in self.config.webhook_keys.items()
        ]
        appchats = [
            {"chat_id": chat.chat_id, "name": chat.name, "kind": "appchat", "webhook_key": None}
            for chat in self.appchats.values()
        ]
        return robots + appchats

    def group_chat(self, chat_id: str) -> dict[str, Any] | None:
        return next((c for c in self.group_chats() if c["chat_id"] == chat_id), None)

    # Access tokens

    def issue_token(self) -> str:
        """The app's token: the same one until it expires (WeCom: one token per secret)."""
        now = self.clock()
        token = self._current_token
        if token is None or now >= self._tokens[token]:
            token = secrets.token_urlsafe(96)
            self._tokens[token] = now + self.config.token_ttl
            self._current_token = token
        return token

    def token_errcode(self, token: str) -> int:
        """0 for a live token, else the errcode WeCom gives for it."""
        if not token:
            return ACCESS_TOKEN_MISSING
        if token not in self._tokens:
            return INVALID_ACCESS_TOKEN
        if self.clock() >= self._tokens[token]:
            return EXPIRED_ACCESS_TOKEN
        return 0

    def expire_tokens(self) -> int:
        """Expire every issued token now (as WeCom may do early); returns how many were live."""
        now = self.clock()
        live = [token for token, expires_at in self._tokens.items() if expires_at > now]
        for token in live:
            self._tokens[token] = now
        return len(live)

    # Rate windows: sliding, counting only accepted messages.

    def take_robot_slot(self, key: str) -> bool:
        """Count one webhook message for ``key`` unless the robot's minute is full."""
        window = self._robot_windows[key]
        now = self.clock()
        _prune(window, now - MINUTE)
        if len(window) >= self.config.robot_per_minute:
            return False
        window.append(now)
        best = self.stats.robot_per_minute_max.get(key, 0)
        self.stats.robot_per_minute_max[key] = max(best, len(window))
        return True

    def take_member_slot(self, user: str) -> bool:
        """Count one app message to ``user`` unless their minute or hour is full."""
        window = self._member_windows[user.lower()]
        now = self.clock()
        _prune(window, now - HOUR)
        last_minute = sum(1 for at in reversed(window) if at > now - MINUTE)
        if (
            last_minute >= self.config.app_per_member_minute
            or len(window) >= self.config.app_per_member_hour
        ):
            return False
        window.append(now)
        return True

    # Faults

    def queue_fault(self, fault: Fault) -> None:
        self._faults[fault.endpoint].append(fault)

    def pending_faults(self, endpoint: str) -> list[Fault]:
        return list(self._faults[endpoint])

    def next_fault(self, endpoint: str) -> Fault | None:
        """Take one occurrence of the oldest fault queued for ``endpoint``."""
        queue = self._faults.get(endpoint)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    # Media

    def store_media(self, kind: str, filename: str, data: bytes, webhook_key: str) -> Media:
        media = Media(secrets.token_hex(24), kind, filename, data, self.clock(), webhook_key)
        self.media[media.media_id] = media
        return media

    def live_media(self, media_id: str) -> Media | None:
        """The media for a message, if it exists and is within its 3 days."""
        media = self.media.get(media_id)
        if media is None or self.clock() >= media.uploaded_at + MEDIA_VALID_SECONDS:
            return None
        return media


def _prune(window: deque[float], before: float) -> None:
    while window and window[0] <= before:
        window.popleft()


SANDBOX_STATE = web.AppKey("sandbox_state", SandboxState)
