"""Chat command handlers; every router is listed here by hand, nothing is discovered.
The order is the order of the help text."""

from __future__ import annotations

from handlers import help, ops, recon, reports, tickets, views
from handlers.registry import CommandRouter

ROUTERS: tuple[CommandRouter, ...] = (
    tickets.router,
    views.router,
    reports.router,
    recon.router,
    ops.router,
    help.router,
)
