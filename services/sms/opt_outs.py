"""The opt-out list from the command line: a customer who asks for no more texts (or asks for
them again)."""

from __future__ import annotations

import re
from datetime import datetime

from rules.phones import canonical_phone
from services.config import Config
from storage.migrate import migrated_sessions
from storage.sms import opt_in, opt_out

_MOBILE = re.compile(r"1\d{10}")


class NotAMobile(ValueError):
    """Not a mainland mobile number; the message says so in Chinese."""


def mobile(phone: str) -> str:
    """The 11 digits of a mainland mobile number (``+86 138-1234-5678`` too)."""
    number = canonical_phone(phone)
    if number is None or not _MOBILE.fullmatch(number):
        raise NotAMobile("不是有效的大陆手机号码 (11 位, 以 1 开头)")
    return number


async def set_opted_out(config: Config, phone: str, wanted: bool, now: datetime) -> bool:
    """Put ``phone`` on the opt-out list (its pending texts stop) or take it off; False when
    it was already so."""
    number = mobile(phone)
    async with migrated_sessions(config.database.url) as sessions, sessions.begin() as session:
        if wanted:
            return await opt_out(session, number, "命令行", now)
        return await opt_in(session, number)
