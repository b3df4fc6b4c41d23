"""Pure builders for WeCom message payloads.

Each builder returns the msgtype part of a request, e.g. ``{"msgtype": "text", "text": {...}}``;
``WeComClient`` adds the addressing (touser/agentid, chatid, or the webhook key).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

# Markdown content limits in UTF-8 bytes: a group robot takes 4096, the app (message/send,
# appchat/send) 2048. WeCom truncates or rejects longer content.
WEBHOOK_MARKDOWN_MAX_BYTES = 4096
APP_MARKDOWN_MAX_BYTES = 2048
APP_TEXT_MAX_BYTES = 2048  # text content, app and robot alike


def text(
    content: str, mentioned_list: Sequence[str] = (), mentioned_mobile_list: Sequence[str] = ()
) -> dict[str, Any]:
    """A text message; the mention lists (userids or mobiles, "@all" allowed) are webhook-only."""
    body: dict[str, Any] = {"content": content}
    if mentioned_list:
        body["mentioned_list"] = list(mentioned_list)
    if mentioned_mobile_list:
        body["mentioned_mobile_list"] = list(mentioned_mobile_list)
    return {"msgtype": "text", "text": body}


def markdown(content: str) -> dict[str, Any]:
    """A markdown message; mention people inside it with ``<@userid>``."""
    return {"msgtype": "markdown", "markdown": {"content": content}}


def textcard(title: str, description: str, url: str, btntxt: str = "详情") -> dict[str, Any]:
    """An app text card (message/send, appchat/send) that opens ``url`` when tapped."""
    card = {"title": title, "description": description, "url": url, "btntxt": btntxt}
    return {"msgtype": "textcard", "textcard": card}


def image(data: bytes) -> dict[str, Any]:
    """A webhook image (JPG or PNG, at most 2 MB), sent inline with the MD5 of the raw bytes."""
    encoded = base64.b64encode(data).decode("ascii")
    return {"msgtype": "image", "image": {"base64": encoded, "md5": hashlib.md5(data).hexdigest()}}


def app_image(media_id: str) -> dict[str, Any]:
    """An app image message, for a media_id from ``WeComClient.upload_media``."""
    return {"msgtype": "image", "image": {"media_id": media_id}}


def file(media_id: str) -> dict[str, Any]:
    """A file message: a robot's with a media_id from ``WeComClient.upload_webhook_media``, the
    app's (message/send) with one from ``WeComClient.upload_media(..., kind="file")``."""
    return {"msgtype": "file", "file": {"media_id": media_id}}
