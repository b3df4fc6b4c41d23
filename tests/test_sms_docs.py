"""docs/sms.md shows the very template texts orderbot fills (rules.sms), for both providers,
and every [sms] key: the page to register templates from cannot fall behind the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.sms import PURPOSES, template_text
from services.config import SmsConfig

DOC = (Path(__file__).parent.parent / "docs" / "sms.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("provider", ["tencent", "aliyun"])
@pytest.mark.parametrize("purpose", PURPOSES)
def test_each_template_text_is_documented(provider: str, purpose: str) -> None:
    assert f"`{template_text(purpose, provider, 'https://h5.example.com/o/')}`" in DOC


def test_every_sms_key_and_receipt_route_is_documented() -> None:
    for key in SmsConfig.model_fields:
        assert f"`{key}`" in DOC, key
    for route in ("/sms/receipts/tencent", "/sms/receipts/aliyun"):
        assert route in DOC
