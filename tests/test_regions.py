"""Channel spellings of provinces, cities and districts map to the official names."""

from __future__ import annotations

import pytest

from channels.regions import LazyRegionNames, Region

NAMES = LazyRegionNames()


@pytest.mark.parametrize(
    ("sent", "official"),
    [
        # Tmall: short province, full municipality city
        (("上海", "上海市", "浦东新区"), ("上海市", "上海市", "浦东新区")),
        # Douyin and JD: the municipality's placeholder prefecture
        (("北京市", "市辖区", "朝阳区"), ("北京市", "北京市", "朝阳区")),
        (("重庆", "县", "巫溪县"), ("重庆市", "重庆市", "巫溪县")),
        # JD: short province and city, short district
        (("广东", "深圳", "南山"), ("广东省", "深圳市", "南山区")),
        (("内蒙古", "呼和浩特", "新城区"), ("内蒙古自治区", "呼和浩特市", "新城区")),
        (("广西", "南宁市", "青秀区"), ("广西壮族自治区", "南宁市", "青秀区")),
        # 省直辖县级: Taobao sends it as the district with no city
        (("河南", "", "济源市"), ("河南省", "济源市", "济源市")),
        (("河南省", "直辖县", "济源市"), ("河南省", "济源市", "济源市")),
        (("新疆", None, "石河子市"), ("新疆维吾尔自治区", "石河子市", "石河子市")),
        # a prefecture with no county level
        (("广东", "东莞", None), ("广东省", "东莞市", None)),
    ],
)
def test_platform_spellings_become_official_names(
    sent: tuple[str | None, str | None, str | None], official: tuple[str, str, str | None]
) -> None:
    assert NAMES.normalize(*sent) == Region(*official)


def test_what_the_table_does_not_know_is_kept_as_sent() -> None:
    assert NAMES.normalize("火星", "某市", "某区") == Region("火星", "某市", "某区")
    assert NAMES.normalize("浙江", "杭州", "未来新区") == Region("浙江省", "杭州市", "未来新区")
    assert NAMES.normalize(None, None, None) == Region(None, None, None)
