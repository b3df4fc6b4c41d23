"""The console's rules pages over HTTP: tables per kind, a draft edited a rule at a time with
check-config's messages beside the fields, routing rules reordered, the preview's counts,
publishing (publishers only), the history with its diff, rollback."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.keys import CLOCK, RULES, SESSIONS
from jobs import watch
from tests.console_side import SandboxClock, console_bot, csrf_of, login_sandbox, sign_in
from tests.support import auth, shop_order


@pytest.fixture
async def login(aiohttp_server: Any) -> TestServer:
    return await login_sandbox(aiohttp_server, SandboxClock())


@pytest.fixture
async def bot(aiohttp_client: Any, database_url: str, login: TestServer) -> TestClient:
    return await console_bot(aiohttp_client, database_url, login)


async def _post(bot: TestClient, path: str, form: dict[str, str] | None = None) -> Any:
    data = {"csrf": await csrf_of(bot)} | (form or {})
    return await bot.post(path, data=data, allow_redirects=False)


async def _new_draft(bot: TestClient) -> str:
    made = await _post(bot, "/console/rules/drafts", {"note": "双11"})
    assert made.status == 303, await made.text()
    return str(made.headers["Location"])


SLA_FORM = {
    "name": "普通待拣货",
    "stage": "paid",
    "limit": "6h",
    "deadline": "limit",
    "before": "",
    "order_types": "normal",
    "channels": "",
}


async def test_an_editor_drafts_a_limit_sees_the_preview_and_cannot_publish(
    bot: TestClient, login: TestServer
) -> None:
    now = bot.app[CLOCK].now()
    orders = [shop_order(f"SH{n}", paid_at=now - timedelta(minutes=30)) for n in range(3)]
    response = await bot.post("/api/v1/orders/shop", json=orders, headers=auth("all"))
    assert response.status == 200

    await sign_in(bot, login, "li")  # edits drafts
    page = await (await bot.get("/console/rules")).text()
    assert 'data-name="普通待拣货"' in page and "2h" in page and "新建草稿" in page
    draft = await _new_draft(bot)

    bad = await _post(bot, f"{draft}/sla/0", SLA_FORM | {"limit": "6", "channels": "tmall"})
    assert bad.status == 422
    text = await bad.text()
    assert 'data-testid="error-limit">时长须带单位, 例如 &#34;2h&#34;' in text
    assert 'value="6"' in text  # what was typed stays

    saved = await _post(bot, f"{draft}/sla/0", SLA_FORM)
    assert saved.status == 303
    page = await (await bot.get(draft)).text()
    assert "sla[普通待拣货].limit: 2h → 6h" in page
    assert re.search(r'data-testid="new-deadlines">3<', page)
    assert re.search(r'data-testid="overdue-at-once">0<', page)
    assert 'data-testid="publish"' not in page  # li may not publish
    refused = await _post(bot, f"{draft}/publish")
    assert refused.status == 403
    assert "需要「发布」权限" in await refused.text()


async def test_a_publisher_reorders_routing_publishes_and_rolls_back(
    bot: TestClient, login: TestServer
) -> None:
    now = bot.app[CLOCK].now()
    big = shop_order("BIG", paid_at=now - timedelta(hours=3), total_fen=900000)
    response = await bot.post("/api/v1/orders/shop", json=[big], headers=auth("all"))
    assert response.status == 200
    await watch.run(bot.app[SESSIONS], bot.app[RULES].current(), now)  # BIG → 大额组

    await sign_in(bot, login, "wang")  # publishes
    draft = await _new_draft(bot)
    moved = await _post(bot, f"{draft}/routing/1/up")  # 华东 before 大额
    assert moved.status == 303
    page = await (await bot.get(draft)).text()
    assert "routing.rules: [大额, 华东] → [华东, 大额]" in page
    assert re.search(r'data-testid="rerouted">1 / 1 ', page)
    assert "vip</td><td>east (华东)" in page

    published = await _post(bot, f"{draft}/publish")
    assert published.status == 200, await published.text()
    assert "第 2 版已生效" in await published.text()
    history = await (await bot.get("/console/rules/history")).text()
    assert "routing.rules: [大额, 华东] → [华东, 大额]" in history
    back = await _post(bot, "/console/rules/versions/1/rollback")
    assert "第 3 版已生效" in await back.text()
    again = await _post(bot, f"{draft}/publish")  # no longer a draft
    assert again.status == 409


async def test_the_whole_draft_as_toml_is_validated_before_it_is_saved(
    bot: TestClient, login: TestServer
) -> None:
    await sign_in(bot, login, "li")
    draft = await _new_draft(bot)
    text = await (await bot.get(f"{draft}/toml")).text()
    toml = re.search(r'data-testid="toml">(.*?)</textarea>', text, re.S)
    assert toml is not None
    rules = html.unescape(toml.group(1))
    typo = rules.replace("default_group", "default_grup", 1)
    refused = await _post(bot, f"{draft}/toml", {"rules": typo})
    assert refused.status == 422
    assert "routing.default_grup: 未知配置项, 是否想写 default_group?" in await refused.text()
    more = rules.replace('name = "综合组"', 'name = "综合处理组"', 1)
    assert (await _post(bot, f"{draft}/toml", {"rules": more})).status == 303
    assert "groups.general.name: 综合组 → 综合处理组" in await (await bot.get(draft)).text()
