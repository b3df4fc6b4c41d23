"""A member's chat message as WeCom delivered it (decrypted), and where to answer it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Inbound:
    """A member's text, and how to answer it."""

    source: str  # app | aibot
    msg_id: str
    user: str
    chat: Literal["direct", "group"]
    text: str
    response_url: str | None = None
