"""Login attempts per client address within a sliding window, in this process: each attempt
that reaches WeCom costs a getuserinfo call, under the same corp-wide API limits as the
notifications, so a loop of made-up codes must not use them up."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

FORGET_AT = 10_000  # addresses remembered before the quiet ones are dropped


class Attempts:
    def __init__(self, limit: int, window: timedelta) -> None:
        self._limit = limit
        self._window = window
        self._seen: dict[str, deque[datetime]] = {}

    def take(self, who: str, now: datetime) -> bool:
        """Count an attempt by ``who``; False (not counted) when it has had its ``limit``
        within the window."""
        since = now - self._window
        if len(self._seen) >= FORGET_AT:
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > since}
        times = self._seen.setdefault(who, deque())
        while times and times[0] <= since:
            times.popleft()
        if len(times) >= self._limit:
            return False
        times.append(now)
        return True
