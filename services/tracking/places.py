"""The province a carrier's place text names (``浙江,杭州市``, ``广东省深圳市``, ``上海``), by
its official name as orders carry it: where a parcel left from, for the ETA's lanes."""

from __future__ import annotations

_OFFICIAL = {
    **{short: f"{short}市" for short in ("北京", "天津", "上海", "重庆")},
    **{
        short: f"{short}省"
        for short in (
            "河北",
            "山西",
            "辽宁",
            "吉林",
            "黑龙江",
            "江苏",
            "浙江",
            "安徽",
            "福建",
            "江西",
            "山东",
            "河南",
            "湖北",
            "湖南",
            "广东",
            "海南",
            "四川",
            "贵州",
            "云南",
            "陕西",
            "甘肃",
            "青海",
            "台湾",
        )
    },
    "内蒙古": "内蒙古自治区",
    "广西": "广西壮族自治区",
    "西藏": "西藏自治区",
    "宁夏": "宁夏回族自治区",
    "新疆": "新疆维吾尔自治区",
    "香港": "香港特别行政区",
    "澳门": "澳门特别行政区",
}


def province_of(place: str | None) -> str | None:
    """The official name of the province ``place`` starts with; None when it names none."""
    text = (place or "").strip()
    for short, official in _OFFICIAL.items():
        if text.startswith(short):
            return official
    return None
