"""The sandbox page's payment-gateway bills in a real headless browser: the gateways' lines of
their yesterday, the injected differences in red with their words, a payment left out listed
too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright, expect

from sandbox import SandboxConfig, create_sandbox_app
from sandbox.pay_config import PaySandboxConfig
from tests.test_sandbox_page import CHROMIUM, CHROMIUM_FLAGS

NOW = datetime(2026, 3, 2, 3, tzinfo=UTC)  # 11:00 Beijing: the 1st's bills are out
PAID = datetime(2026, 3, 1, 2, tzinfo=UTC)


async def test_the_page_shows_each_gateways_bill_with_its_differences(aiohttp_server: Any) -> None:
    sandbox: TestServer = await aiohttp_server(
        create_sandbox_app(SandboxConfig(pay=PaySandboxConfig()), clock=NOW.timestamp)
    )
    payments = [
        {"gateway": "wechat", "order_no": "SH1", "amount_fen": 12900, "paid_at": PAID.isoformat()},
        {"gateway": "wechat", "order_no": "SH2", "amount_fen": 5000, "paid_at": PAID.isoformat()},
        {"gateway": "alipay", "order_no": "TB1", "amount_fen": 9900, "paid_at": PAID.isoformat()},
        {
            "gateway": "alipay",
            "order_no": "TB2",
            "amount_fen": 100,
            "paid_at": (PAID + timedelta(days=1)).isoformat(),  # the 2nd's: not shown
        },
    ]
    differences = [{"order_no": "SH2", "kind": "duplicate"}, {"order_no": "TB1", "kind": "missing"}]
    async with aiohttp.ClientSession() as http:
        for path, body in (
            ("/sandbox/api/payments", {"payments": payments}),
            ("/sandbox/api/bills/differences", {"differences": differences}),
        ):
            async with http.post(sandbox.make_url(path), json=body) as response:
                assert response.status == 200, await response.text()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = await browser.new_page()
        await page.goto(str(sandbox.make_url("/sandbox/")))
        await expect(page.get_by_test_id("bill-day")).to_have_text("2026-03-01")
        wechat = page.locator("[data-testid=bill][data-gateway=wechat]")
        await expect(wechat).to_contain_text("微信支付 交易账单 3 行")
        lines = wechat.get_by_test_id("bill-line")
        await expect(lines).to_have_count(3)
        await expect(lines.nth(0)).to_contain_text("SH1")
        await expect(lines.nth(0)).to_contain_text("10:00:00")  # Beijing time
        await expect(lines.nth(0)).to_contain_text("129.00")
        await expect(lines.nth(0)).to_contain_text("0.77400")  # 0.60%
        await expect(lines.nth(2)).to_contain_text("重复入账")
        await expect(lines.nth(2)).to_have_class("difference")
        alipay = page.locator("[data-testid=bill][data-gateway=alipay]")
        await expect(alipay).to_contain_text("支付宝 业务账单 0 行")
        await expect(alipay.get_by_test_id("bill-line")).to_have_text(
            ["TB199.00漏账: 付款未进账单"]
        )
        await browser.close()
