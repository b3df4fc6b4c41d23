"""未结工单: open tickets per group counted by age, a group's open tickets (the most overdue
first), and one ticket with its order (状态's view: stage, parcels, notes, timeline)."""

from __future__ import annotations

from aiohttp import web

from bot.console.pages import Refusal, Section, now, policy, render
from bot.keys import SESSIONS
from services.console.access import Access
from services.console.tickets import AGE_LABELS, ages_by_group, group_tickets, ticket_detail


async def overview(request: web.Request) -> web.StreamResponse:
    rules = policy(request)
    sessions = request.config_dict[SESSIONS]
    ages = await ages_by_group(sessions, rules, now(request))
    chosen = request.query.get("group")
    known = [group.key for group in ages]
    if chosen not in known:
        chosen = next((group.key for group in ages if group.total), None)
    listed = await group_tickets(sessions, rules, [chosen]) if chosen else ()
    context = {
        "ages": ages,
        "labels": AGE_LABELS,
        "totals": [sum(g.by_age[i] for g in ages) for i in range(len(AGE_LABELS))],
        "chosen": listed[0] if listed else None,
    }
    return render(request, "tickets.html", context)


async def detail(request: web.Request) -> web.StreamResponse:
    raw = request.match_info["ticket"].lstrip("#")
    ticket_id = int(raw) if raw.isdigit() and len(raw) < 19 else None
    view = None
    if ticket_id is not None:
        view = await ticket_detail(
            request.config_dict[SESSIONS], policy(request), ticket_id, now(request)
        )
    if view is None:
        raise Refusal(404, f"没有工单 {raw[:20]}。")
    return render(request, "ticket.html", {"view": view})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/tickets", overview)
    app.router.add_get("/tickets/{ticket}", detail)


SECTION = Section("/tickets", "未结工单", Access.VIEW, add_routes)
