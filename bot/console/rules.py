"""规则: the rules in force as tables per kind, drafts edited a rule at a time (validated as a
whole, the messages beside the fields) or as TOML, routing rules reordered, a draft's preview,
publishing, the history with diffs, and rollback (services.rulebook does the work)."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from bot.console.pages import PREFIX, VIEWER, Refusal, Section, now, render
from bot.console.rule_forms import (
    KINDS,
    errors_by_field,
    form_values,
    rule_from_form,
    rules_of,
    with_rules,
)
from bot.keys import CONFIG, SESSIONS
from channels.registry import LABELS
from rules.stages import Stage
from services import rulebook
from services.config import ConfigError
from services.console.access import Access
from services.rule_document import document_of, from_toml, to_toml
from services.rulebook import RulesRefused, VersionView

BASE = PREFIX + "/rules"


def _needs(request: web.Request, access: Access) -> None:
    held = request[VIEWER].access
    if held < access:
        raise Refusal(403, f"这一操作需要「{access.label}」权限, 您的权限是「{held.label}」。")


def _number(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 9:
        raise Refusal(404, f"没有第 {raw[:20]} 版规则。")
    return int(raw)


async def _version(request: web.Request, name: str = "version") -> VersionView:
    try:
        return await rulebook.version_view(
            request.config_dict[SESSIONS], request.config_dict[CONFIG], _number(request, name)
        )
    except RulesRefused as refusal:
        raise Refusal(404, str(refusal)) from None


async def _draft(request: web.Request) -> VersionView:
    view = await _version(request, "draft")
    if view.status != "draft":
        raise Refusal(409, f"第 {view.id} 版已不是草稿 (已发布), 不能再改。")
    return view


async def _form(request: web.Request) -> dict[str, str]:
    return {key: str(value) for key, value in (await request.post()).items()}


def _to(path: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(BASE + path)


async def overview(request: web.Request) -> web.StreamResponse:
    sessions, config = request.config_dict[SESSIONS], request.config_dict[CONFIG]
    current = await rulebook.current_version(sessions, config)
    document = current.document if current else document_of(config)
    drafts = [v for v in await rulebook.history(sessions, config) if v.status == "draft"]
    context = {"current": current, "doc": document, "drafts": drafts, "editable": None}
    return render(request, "rules.html", context)


async def new_draft(request: web.Request) -> web.StreamResponse:
    _needs(request, Access.EDIT)
    sessions, config = request.config_dict[SESSIONS], request.config_dict[CONFIG]
    current = await rulebook.current_version(sessions, config)
    document = copy.deepcopy(current.document if current else document_of(config))
    note = (await _form(request)).get("note", "").strip()[:200] or None
    view = await rulebook.save_draft(
        sessions, config, document, author=request[VIEWER].user, note=note, now=now(request)
    )
    raise _to(f"/drafts/{view.id}")


async def draft_page(request: web.Request) -> web.StreamResponse:
    view = await _version(request, "draft")
    sessions, config = request.config_dict[SESSIONS], request.config_dict[CONFIG]
    effects = None
    if view.status == "draft" and view.problems is None:
        _, effects = await rulebook.preview_draft(sessions, config, view.id, now(request))
    current = await rulebook.current_version(sessions, config)
    context = {
        "draft": view,
        "doc": view.document,
        "effects": effects,
        "current": current,
        "editable": view.id if view.status == "draft" else None,
        "may_publish": request[VIEWER].access >= Access.PUBLISH,
    }
    return render(request, "rule_draft.html", context)


def _choices() -> dict[str, Any]:
    return {"stages": [(s.value, s.label) for s in Stage], "channels": LABELS}


async def rule_form(request: web.Request) -> web.StreamResponse:
    _needs(request, Access.EDIT)
    view, kind, index = await _draft(request), _kind(request), request.match_info["index"]
    rules = rules_of(view.document, kind)
    if index == "new":
        values = form_values(kind, {})
    else:
        values = form_values(kind, rules[_index(index, rules)])
    return _render_form(request, view, kind, index, values, {}, [])


def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise Refusal(404, "没有这类规则。")
    return kind


def _index(raw: str, rules: list[dict[str, Any]]) -> int:
    if not raw.isdigit() or int(raw) >= len(rules):
        raise Refusal(404, f"没有第 {raw[:10]} 条规则。")
    return int(raw)


def _render_form(
    request: web.Request,
    view: VersionView,
    kind: str,
    index: str,
    values: dict[str, Any],
    errors: dict[str, str],
    others: list[str],
    status: int = 200,
) -> web.Response:
    groups = request.config_dict[CONFIG].groups
    context = {
        "draft": view,
        "kind": kind,
        "title": KINDS[kind]["title"],
        "index": index,
        "values": values,
        "errors": errors,
        "others": others,
        "groups": view.document.get("groups", groups),
        **_choices(),
    }
    return render(request, f"rule_{kind}_form.html", context, status)


async def save_rule(request: web.Request) -> web.StreamResponse:
    """Save one rule into the draft when the draft as a whole is then valid; otherwise the
    form again, with check-config's messages beside the fields they are about."""
    _needs(request, Access.EDIT)
    view, kind, index = await _draft(request), _kind(request), request.match_info["index"]
    form = await _form(request)
    rules = rules_of(view.document, kind)
    position = len(rules) if index == "new" else _index(index, rules)
    before = rules[position] if position < len(rules) else {}
    rule = rule_from_form(kind, form, before)
    rules = [*rules[:position], rule, *rules[position + 1 :]]
    document = with_rules(view.document, kind, rules)
    config = request.config_dict[CONFIG]
    try:
        rulebook.checked(config, document)
    except RulesRefused as refusal:
        errors, others = errors_by_field(str(refusal), kind, position)
        values = form_values(kind, rule)
        return _render_form(request, view, kind, index, values, errors, others, 422)
    await _update(request, view, document)
    raise _to(f"/drafts/{view.id}#{kind}")


async def _update(request: web.Request, view: VersionView, document: dict[str, Any]) -> None:
    try:
        await rulebook.update_draft(
            request.config_dict[SESSIONS], request.config_dict[CONFIG], view.id, document
        )
    except RulesRefused as refusal:
        raise Refusal(409, str(refusal)) from None


async def delete_rule(request: web.Request) -> web.StreamResponse:
    _needs(request, Access.EDIT)
    view, kind = await _draft(request), _kind(request)
    rules = rules_of(view.document, kind)
    position = _index(request.match_info["index"], rules)
    await _update(
        request, view, with_rules(view.document, kind, rules[:position] + rules[position + 1 :])
    )
    raise _to(f"/drafts/{view.id}#{kind}")


async def move_rule(request: web.Request) -> web.StreamResponse:
    """A routing rule one place up or down (the first matching rule wins)."""
    _needs(request, Access.EDIT)
    view, kind = await _draft(request), _kind(request)
    rules = rules_of(view.document, kind)
    position = _index(request.match_info["index"], rules)
    other = position - 1 if request.match_info["way"] == "up" else position + 1
    if 0 <= other < len(rules):
        rules[position], rules[other] = rules[other], rules[position]
        await _update(request, view, with_rules(view.document, kind, rules))
    raise _to(f"/drafts/{view.id}#{kind}")


async def toml_form(request: web.Request) -> web.StreamResponse:
    _needs(request, Access.EDIT)
    view = await _draft(request)
    context = {"draft": view, "text": to_toml(view.document), "problems": None}
    return render(request, "rule_toml.html", context)


async def save_toml(request: web.Request) -> web.StreamResponse:
    """The whole draft as TOML (the kinds without a form of their own: groups, escalation,
    calendar, health thresholds, order types, categories, promotions)."""
    _needs(request, Access.EDIT)
    view = await _draft(request)
    text = (await _form(request)).get("rules", "")
    try:
        document = from_toml(text)
        rulebook.checked(request.config_dict[CONFIG], document)
    except (ConfigError, RulesRefused) as error:
        context = {"draft": view, "text": text, "problems": str(error)}
        return render(request, "rule_toml.html", context, 422)
    await _update(request, view, document)
    raise _to(f"/drafts/{view.id}")


async def publish(request: web.Request) -> web.StreamResponse:
    _needs(request, Access.PUBLISH)
    view = await _draft(request)
    try:
        published = await rulebook.publish(
            request.config_dict[SESSIONS],
            request.config_dict[CONFIG],
            view.id,
            author=request[VIEWER].user,
            now=now(request),
        )
    except RulesRefused as refusal:
        raise Refusal(422, f"不能发布: {refusal}") from None
    return render(request, "rule_published.html", {"published": published})


async def history(request: web.Request) -> web.StreamResponse:
    sessions, config = request.config_dict[SESSIONS], request.config_dict[CONFIG]
    views = await rulebook.history(sessions, config)
    context = {
        "versions": [v for v in views if v.status != "draft"],
        "may_publish": request[VIEWER].access >= Access.PUBLISH,
    }
    return render(request, "rule_history.html", context)


async def rollback(request: web.Request) -> web.StreamResponse:
    _needs(request, Access.PUBLISH)
    target = _number(request, "version")
    try:
        published = await rulebook.rollback(
            request.config_dict[SESSIONS],
            request.config_dict[CONFIG],
            target,
            author=request[VIEWER].user,
            now=now(request),
        )
    except RulesRefused as refusal:
        raise Refusal(422, f"不能回滚: {refusal}") from None
    return render(request, "rule_published.html", {"published": published})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/rules", overview)
    app.router.add_get("/rules/history", history)
    app.router.add_post("/rules/drafts", new_draft)
    app.router.add_get("/rules/drafts/{draft}", draft_page)
    app.router.add_get("/rules/drafts/{draft}/toml", toml_form)
    app.router.add_post("/rules/drafts/{draft}/toml", save_toml)
    app.router.add_post("/rules/drafts/{draft}/publish", publish)
    app.router.add_get("/rules/drafts/{draft}/{kind}/{index}", rule_form)
    app.router.add_post("/rules/drafts/{draft}/{kind}/{index}", save_rule)
    app.router.add_post("/rules/drafts/{draft}/{kind}/{index}/delete", delete_rule)
    app.router.add_post("/rules/drafts/{draft}/{kind}/{index}/{way:up|down}", move_rule)
    app.router.add_post("/rules/versions/{version}/rollback", rollback)


SECTION = Section("/rules", "规则", Access.VIEW, add_routes)
