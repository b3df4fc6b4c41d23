"""rules.sms: quiet hours across midnight, our per-number limits, template variables."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules.sms import (
    aliyun_params,
    billed_parts,
    in_quiet_hours,
    next_allowed,
    release_time,
    tencent_params,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)  # 10:00 in Beijing


@pytest.mark.parametrize(
    ("local", "start", "end", "quiet"),
    [
        (time(21), time(21), time(8), True),
        (time(7, 59), time(21), time(8), True),
        (time(8), time(21), time(8), False),
        (time(13), time(12), time(14), True),  # a window within one day
        (time(14), time(12), time(14), False),
        (time(3), time(0), time(0), False),  # start == end: no quiet hours
    ],
)
def test_quiet_hours(local: time, start: time, end: time, quiet: bool) -> None:
    assert in_quiet_hours(local, start, end) is quiet


def test_release_time_is_the_next_end_of_quiet_hours_in_utc() -> None:
    night = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 in Beijing
    assert release_time(night, time(21), time(8), SHANGHAI) == datetime(2026, 3, 3, tzinfo=UTC)
    assert release_time(NOW, time(21), time(8), SHANGHAI) == NOW


def test_next_allowed_frees_up_when_the_oldest_text_leaves_the_window() -> None:
    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    assert next_allowed([], NOW) == NOW
    assert next_allowed([NOW - 30 * minute / 60], NOW) == NOW + 30 * minute / 60
    three = [NOW - 50 * minute, NOW - 20 * minute, NOW - 2 * minute]
    assert next_allowed(three, NOW) == NOW + 10 * minute  # the 4th in an hour
    day = [NOW - i * 2 * hour for i in range(1, 9)]  # 8 in the last 16 hours
    assert next_allowed(day, NOW) == NOW - 16 * hour + 24 * hour


def test_template_params_take_the_link_token_and_keep_the_order() -> None:
    params = {"carrier": "顺丰", "tracking_no": "SF1", "link": "https://h5.example.com/o/7.a.b"}
    base = "https://h5.example.com/o/"
    assert tencent_params("rejected", params, base) == ["顺丰", "SF1", "7.a.b"]
    assert aliyun_params("returned", params, base) == {
        "carrier": "顺丰",
        "tracking_no": "SF1",
        "link": "7.a.b",
    }
    with pytest.raises(KeyError):
        tencent_params("stall", params, base)
    place = "浙江省杭州市萧山区某某物流园区第三分拣转运中心"
    stall = {"place": place, "silence": "24小时", "link": base + "7.a.b"}
    assert tencent_params("stall", stall, base) == [place[:19] + "…", "24小时", "7.a.b"]


def test_billed_parts() -> None:
    assert [billed_parts("字" * n) for n in (70, 71, 134, 135)] == [1, 2, 2, 3]
