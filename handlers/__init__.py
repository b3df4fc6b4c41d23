"""Chat command handlers; every router is listed here by hand, nothing is discovered."""

from __future__ import annotations

from handlers import tickets
from handlers.registry import CommandRouter

ROUTERS: tuple[CommandRouter, ...] = (tickets.router,)
