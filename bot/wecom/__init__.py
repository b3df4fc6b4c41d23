"""Outbound WeCom (企业微信): the async HTTP client, its errors and message payload builders."""

from bot.wecom.client import AppSendResult, WeComClient
from bot.wecom.errors import WeComError

__all__ = ["AppSendResult", "WeComClient", "WeComError"]
