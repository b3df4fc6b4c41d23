"""The errcodes the sandbox answers with, and the exception handlers raise to answer with one.

Kept apart from ``adapters.wecom.errors`` on purpose: a fake that shares constants with the client
under test would agree with it even where both are wrong.
"""

from __future__ import annotations

import secrets
from typing import Any

# wecom-facts.md §2 and §4, and the global table https://developer.work.weixin.qq.com/document/path/90455
SYSTEM_BUSY = -1
INVALID_SECRET = 40001
INVALID_MEDIA_TYPE = 40004
INVALID_UPLOAD_TYPE = 40005
INVALID_FILE_SIZE = 40006
INVALID_MEDIA_ID = 40007
INVALID_MSGTYPE = 40008
INVALID_IMAGE_SIZE = 40009
INVALID_CORPID = 40013
INVALID_CODE = 40029
INVALID_ACCESS_TOKEN = 40014
INVALID_PARAMETER = 40058
ACCESS_TOKEN_MISSING = 41001
EXPIRED_ACCESS_TOKEN = 42001
API_FREQ_OUT_OF_LIMIT = 45009
REDIRECT_NOT_TRUSTED = 50001  # tracking-sms-login-pay-facts.md §3.3
NO_VALID_RECIPIENT = 81013
INVALID_WEBHOOK_KEY = 93000
# Not in wecom-facts.md: remembered from the global table, unverified.
INVALID_AGENTID = 40056
APPCHAT_NOT_FOUND = 86003
APPCHAT_EXISTS = 86215

ERRMSG = {
    SYSTEM_BUSY: "system busy",
    INVALID_SECRET: "invalid credential",
    INVALID_MEDIA_TYPE: "invalid media type",
    INVALID_UPLOAD_TYPE: "invalid type",
    INVALID_FILE_SIZE: "invalid file size",
    INVALID_MEDIA_ID: "invalid media_id",
    INVALID_MSGTYPE: "invalid message type",
    INVALID_IMAGE_SIZE: "invalid image size",
    INVALID_CORPID: "invalid corpid",
    INVALID_CODE: "invalid code",
    REDIRECT_NOT_TRUSTED: "redirect_url domain unmatched",
    INVALID_ACCESS_TOKEN: "invalid access_token",
    INVALID_PARAMETER: "invalid parameter",
    ACCESS_TOKEN_MISSING: "access_token missing",
    EXPIRED_ACCESS_TOKEN: "access_token expired",
    API_FREQ_OUT_OF_LIMIT: "api freq out of limit",
    NO_VALID_RECIPIENT: "all touser & toparty & totag invalid",
    INVALID_WEBHOOK_KEY: "invalid webhook url",
    INVALID_AGENTID: "invalid agentid",
    APPCHAT_NOT_FOUND: "invalid chatid",
    APPCHAT_EXISTS: "chatid already exists",
}


class Rejected(Exception):
    """Answer the request with this errcode (HTTP 200, as WeCom does); ``extra`` fields are
    added to the reply, e.g. invaliduser next to 81013."""

    def __init__(self, errcode: int, detail: str = "", **extra: Any) -> None:
        super().__init__(f"errcode {errcode}: {detail}")
        self.errcode = errcode
        self.detail = detail
        self.extra = extra


def errmsg(errcode: int, detail: str, remote: str | None, now: float) -> str:
    """An errmsg shaped like WeCom's: reason, hint, caller IP and the errcode lookup link."""
    reason = ERRMSG.get(errcode, "sandbox error")
    if detail:
        reason += f": {detail}"
    hint = f"{int(now)}_{secrets.token_hex(16)}"
    return (
        f"{reason}, hint: [{hint}], from ip: {remote or 'unknown'}, "
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
    )
