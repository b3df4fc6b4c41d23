"""Checks a message body the way WeCom does before accepting it: shape, msgtype and the
documented byte limits (wecom-facts.md §2 for robots, §4 for the app). Pure functions that raise
``Rejected``; what needs the sandbox's memory (media ids, rate windows) is left to the handlers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import orjson

from sandbox.errors import (
    INVALID_IMAGE_SIZE,
    INVALID_MEDIA_TYPE,
    INVALID_MSGTYPE,
    INVALID_PARAMETER,
    Rejected,
)

TEXT_MAX_BYTES = 2048
ROBOT_MARKDOWN_MAX_BYTES = 4096  # markdown and markdown_v2
APP_MARKDOWN_MAX_BYTES = 2048
TITLE_MAX_BYTES = 128  # textcard and news article
DESCRIPTION_MAX_BYTES = 512
NEWS_MAX_ARTICLES = 8
IMAGE_MAX_BYTES = 2 * 1024 * 1024
ROBOT_CARD_TYPES = ("text_notice", "news_notice")
ROBOT_MSGTYPES = (
    "text",
    "markdown",
    "markdown_v2",
    "image",
    "news",
    "file",
    "voice",
    "template_card",
)
APP_MSGTYPES = ("text", "markdown", "textcard", "template_card", "image", "file")
APPCHAT_MSGTYPES = ("text", "markdown", "textcard")
IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg"}


def parse_json(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object; WeCom's hint for broken JSON is in the errmsg."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Rejected(INVALID_PARAMETER, "Warning: wrong json format.") from None
    if not isinstance(body, dict):
        raise Rejected(INVALID_PARAMETER, "Warning: wrong json format.")
    return body


def check_robot(body: dict[str, Any]) -> str:
    """Check a webhook/send body; returns its msgtype. Media ids are the caller's to check."""
    msgtype = _msgtype(body, ROBOT_MSGTYPES)
    part = _part(body, msgtype)
    if msgtype == "text":
        _limited(part, "content", TEXT_MAX_BYTES)
        for name in ("mentioned_list", "mentioned_mobile_list"):
            mentions = part.get(name, [])
            if not (isinstance(mentions, list) and all(isinstance(m, str) for m in mentions)):
                raise Rejected(INVALID_PARAMETER, f"text.{name} must be a list of strings")
    elif msgtype in ("markdown", "markdown_v2"):
        _limited(part, "content", ROBOT_MARKDOWN_MAX_BYTES)
    elif msgtype == "news":
        articles = part.get("articles")
        if not (isinstance(articles, list) and 1 <= len(articles) <= NEWS_MAX_ARTICLES):
            raise Rejected(INVALID_PARAMETER, f"news needs 1 to {NEWS_MAX_ARTICLES} articles")
        for article in articles:
            if not isinstance(article, dict):
                raise Rejected(INVALID_PARAMETER, "news.articles must hold objects")
            _limited(article, "title", TITLE_MAX_BYTES)
            _limited(article, "url", None)
            _limited(article, "description", DESCRIPTION_MAX_BYTES, required=False)
    elif msgtype in ("file", "voice"):
        _limited(part, "media_id", None)
    elif msgtype == "template_card" and part.get("card_type") not in ROBOT_CARD_TYPES:
        raise Rejected(INVALID_PARAMETER, f"template_card.card_type must be {ROBOT_CARD_TYPES}")
    return msgtype


def check_app(body: dict[str, Any], msgtypes: tuple[str, ...]) -> str:
    """Check the content of a message/send or appchat/send body; returns its msgtype."""
    msgtype = _msgtype(body, msgtypes)
    part = _part(body, msgtype)
    if msgtype == "text":
        _limited(part, "content", TEXT_MAX_BYTES)
    elif msgtype == "markdown":
        _limited(part, "content", APP_MARKDOWN_MAX_BYTES)
    elif msgtype in ("image", "file") and not isinstance(part.get("media_id"), str):
        raise Rejected(INVALID_PARAMETER, f"{msgtype} needs a media_id")
    elif msgtype == "textcard":
        _limited(part, "title", TITLE_MAX_BYTES)
        _limited(part, "description", DESCRIPTION_MAX_BYTES)
        _limited(part, "url", None)
    return msgtype


def check_aibot_reply(body: dict[str, Any]) -> str:
    """Check an intelligent-robot active reply (markdown or template_card); returns its msgtype."""
    msgtype = _msgtype(body, ("markdown", "template_card"))
    part = _part(body, msgtype)
    if msgtype == "markdown":
        _limited(part, "content", None)
    return msgtype


def decode_image(part: dict[str, Any]) -> tuple[bytes, str]:
    """The raw bytes of a robot image and their file extension, once base64, md5, size and
    format check out."""
    encoded, md5 = part.get("base64"), part.get("md5")
    if not (isinstance(encoded, str) and isinstance(md5, str)):
        raise Rejected(INVALID_PARAMETER, "image needs base64 and md5")
    try:
        data = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise Rejected(INVALID_PARAMETER, "image.base64 is not base64") from None
    if hashlib.md5(data).hexdigest() != md5.lower():
        raise Rejected(INVALID_PARAMETER, "image.md5 does not match the image")
    if len(data) > IMAGE_MAX_BYTES:
        raise Rejected(INVALID_IMAGE_SIZE, f"image is {len(data)} bytes, at most {IMAGE_MAX_BYTES}")
    for magic, extension in IMAGE_MAGIC.items():
        if data.startswith(magic):
            return data, extension
    raise Rejected(INVALID_MEDIA_TYPE, "image must be JPG or PNG")


def summary(body: dict[str, Any]) -> str | None:
    """The human-readable text of an accepted message, for the record and the page."""
    part = body.get(str(body.get("msgtype")))
    if not isinstance(part, dict):
        return None
    if isinstance(part.get("content"), str):
        return str(part["content"])
    if "title" in part:  # textcard
        return f"{part['title']}\n{part.get('description', '')}"
    if isinstance(part.get("articles"), list):  # news
        return "\n".join(str(a.get("title", "")) for a in part["articles"])
    title = part.get("main_title")  # template_card
    if isinstance(title, dict):
        return "\n".join(str(title.get(k, "")) for k in ("title", "desc") if title.get(k))
    return None


def _msgtype(body: dict[str, Any], allowed: tuple[str, ...]) -> str:
    msgtype = body.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in allowed:
        raise Rejected(INVALID_MSGTYPE, f"msgtype must be one of {allowed}, not {msgtype!r}")
    return msgtype


def _part(body: dict[str, Any], msgtype: str) -> dict[str, Any]:
    part = body.get(msgtype)
    if not isinstance(part, dict):
        raise Rejected(INVALID_PARAMETER, f"missing the {msgtype!r} object")
    return part


def _limited(part: dict[str, Any], name: str, max_bytes: int | None, required: bool = True) -> None:
    """A string field, at most ``max_bytes`` of UTF-8 (WeCom counts bytes, not characters)."""
    value = part.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value:
        raise Rejected(INVALID_PARAMETER, f"{name} must be a non-empty string")
    size = len(value.encode())
    if max_bytes is not None and size > max_bytes:
        raise Rejected(INVALID_PARAMETER, f"{name} is {size} bytes, at most {max_bytes}")
