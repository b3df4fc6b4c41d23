from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from channels.address import Region, RegionParser
from channels.shop import normalize
from rules.stages import Stage
from sandbox.samples import sample_record


@pytest.fixture(scope="module")
def parser() -> RegionParser:
    """One parser for the module, so cnloc's ~2.5 s load is paid once."""
    return RegionParser()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "广东省深圳市南山区科技园路1号", Region("广东省", "深圳市", "南山区"), id="full"
        ),
        pytest.param(
            "上海浦东新区张江路100号",
            Region("上海市", "上海市", "浦东新区"),
            id="municipality-short-name",
        ),
        pytest.param(
            "重庆城口县葛城街道1号", Region("重庆市", "重庆市", "城口县"), id="municipality-county"
        ),
        pytest.param(
            "河南省济源市玉泉街道1号", Region("河南省", "济源市", "济源市"), id="direct-county"
        ),
        pytest.param("广东省东莞市长安镇1号", Region("广东省", "东莞市", None), id="no-county"),
        pytest.param(
            "深圳市南山区科技园路1号", Region("广东省", "深圳市", "南山区"), id="no-province"
        ),
        pytest.param("火星路1号", None, id="nowhere"),
        pytest.param("朝阳区建国路88号", None, id="ambiguous-district"),
        pytest.param("香港特别行政区中环1号", None, id="no-city-level"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse(parser: RegionParser, text: str, expected: Region | None) -> None:
    assert parser.parse(text) == expected


def test_sample_free_text_addresses_resolve(parser: RegionParser) -> None:
    rng = random.Random(3)
    now = datetime(2024, 11, 11, tzinfo=UTC)
    texts = set()
    for i in range(300):
        native = sample_record(
            "shop", rng, now, order_no=f"S{i}", stage=Stage.PAID, stage_age=timedelta(hours=1)
        )
        order = normalize(native, now)
        if order.address_text:
            texts.add(order.address_text)
            assert parser.parse(order.address_text) is not None, order.address_text
    assert len(texts) > 50
