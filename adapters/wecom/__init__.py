"""Outbound WeCom (企业微信): the async HTTP client, its errors and message payload builders."""

from adapters.wecom.client import AppSendResult, WeComClient
from adapters.wecom.errors import WeComError

__all__ = ["AppSendResult", "WeComClient", "WeComError"]
