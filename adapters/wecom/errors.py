"""WeCom errcodes by meaning, and the one exception the client raises, classified for retry.

Branch on errcode, never on errmsg (https://developer.work.weixin.qq.com/document/path/90455).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

SYSTEM_BUSY = -1  # "retry at most 3 times" per the global error-code page
INVALID_SECRET = 40001
INVALID_CORPID = 40013
INVALID_CODE = 40029  # a web-login code spent, older than 5 minutes, or made up
INVALID_ACCESS_TOKEN = 40014
INVALID_PARAMETER = 40058
ACCESS_TOKEN_MISSING = 41001
EXPIRED_ACCESS_TOKEN = 42001
API_FREQ_OUT_OF_LIMIT = 45009  # also the webhook's 20 msgs/min/robot limit
API_CONCURRENT_OUT_OF_LIMIT = 45033
API_FORBIDDEN = 48002
NO_PRIVILEGE = 60011
IP_NOT_TRUSTED = 60020  # 企业可信IP missing; required for apps created from 2022-06-20
REDIRECT_NOT_TRUSTED = 50001  # web login: the redirect host is not the app's trusted domain
NO_VALID_RECIPIENT = 81013  # message/send: every touser/toparty/totag was invalid
INVALID_WEBHOOK_KEY = 93000  # robot key wrong or the robot was removed

# The client drops its cached token and retries once on these; they only reach the caller when
# a freshly fetched token is rejected too.
TOKEN_ERRCODES = frozenset({INVALID_ACCESS_TOKEN, ACCESS_TOKEN_MISSING, EXPIRED_ACCESS_TOKEN})
# Transient by nature: the same request may succeed after a backoff.
RETRYABLE_ERRCODES = frozenset({SYSTEM_BUSY, API_FREQ_OUT_OF_LIMIT, API_CONCURRENT_OUT_OF_LIMIT})
# Known to fail the same way until someone changes config or the message. Codes in none of these
# sets are treated as permanent too, and the error says so: retrying a request WeCom rejected
# for an unknown reason mostly burns rate limit, and a dead letter gets a human to look.
PERMANENT_ERRCODES = frozenset(
    {
        INVALID_SECRET,
        INVALID_CORPID,
        INVALID_CODE,
        INVALID_PARAMETER,
        REDIRECT_NOT_TRUSTED,
        API_FORBIDDEN,
        NO_PRIVILEGE,
        IP_NOT_TRUSTED,
        NO_VALID_RECIPIENT,
        INVALID_WEBHOOK_KEY,
    }
)

_KNOWN_ERRCODES = TOKEN_ERRCODES | RETRYABLE_ERRCODES | PERMANENT_ERRCODES

REDACTED = "<redacted>"
_URL = re.compile(r"https?://\S+", re.IGNORECASE)


def is_retryable(errcode: int) -> bool:
    """Whether a non-zero errcode is worth another attempt after a backoff.

    A token error that survives the client's one refresh counts as retryable: the next attempt
    starts with another refresh, and the sender's bounded backoff caps the gettoken calls.
    """
    return errcode in RETRYABLE_ERRCODES or errcode in TOKEN_ERRCODES


def redact_url(url: str) -> str:
    """Drop query, fragment and credentials: that is where access_token, key and codes live.

    Alertmanager's RedactURL does the same for the URL inside Go's ``*url.Error``.
    """
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class WeComError(Exception):
    """A failed WeCom call: errcode (None for HTTP and transport failures) and whether to retry.

    The message never carries an access_token or webhook key: any URL inside ``errmsg`` is
    redacted here, and the client scrubs the secrets it sent before building the error.
    """

    def __init__(
        self, endpoint: str, errmsg: str, *, errcode: int | None = None, retryable: bool
    ) -> None:
        self.endpoint = redact_url(endpoint) if _URL.match(endpoint) else endpoint
        self.errmsg = _URL.sub(lambda m: redact_url(m.group()), errmsg)
        self.errcode = errcode
        self.retryable = retryable
        code = "" if errcode is None else f" errcode {errcode}"
        kind = "retryable" if retryable else "permanent"
        if errcode is not None and errcode not in _KNOWN_ERRCODES:
            kind += ", unclassified errcode"
        super().__init__(f"{self.endpoint}:{code} {self.errmsg} ({kind})")

    @classmethod
    def from_errcode(cls, endpoint: str, errcode: int, errmsg: str) -> WeComError:
        """Classify a non-zero errcode from a WeCom JSON reply."""
        return cls(endpoint, errmsg, errcode=errcode, retryable=is_retryable(errcode))

    @property
    def permanent(self) -> bool:
        """Retrying the same request will fail the same way; dead-letter it."""
        return not self.retryable

    @property
    def token_error(self) -> bool:
        """WeCom rejected the access token; the client refreshes it and retries once."""
        return self.errcode in TOKEN_ERRCODES
