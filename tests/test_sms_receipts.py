"""Delivery receipts at the bot: recorded by serial, idempotent, garbage refused in each
provider's answer shape; and a text whose answer was lost in flight (the provider took it, the
answer came after our timeout): with Aliyun its receipt, matched by OutId, keeps it from going
twice; with Tencent (no reference in its receipts) it goes again once, at most."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.sms_side import SmsWorld, add_order, sms_world, texts, utc
from tests.support import FakeClock

MORNING = utc(2026, 3, 2, 2)
PHONE = "13812345678"


@pytest.fixture(params=["tencent", "aliyun"])
async def world(
    request: pytest.FixtureRequest,
    aiohttp_client: Any,
    aiohttp_server: Any,
    unused_tcp_port: int,
    database_url: str,
) -> SmsWorld:
    return await sms_world(
        aiohttp_client,
        aiohttp_server,
        unused_tcp_port,
        database_url,
        request.param,
        FakeClock(MORNING),
        timeout="1s",
    )


OK = {"tencent": {"result": 0, "errmsg": "OK"}, "aliyun": {"code": 0, "msg": "接收成功"}}


def receipt(provider: str, serial: str, delivered: bool) -> list[dict[str, Any]]:
    if provider == "tencent":
        return [
            {
                "user_receive_time": "2026-03-02 10:00:09",
                "nationcode": "86",
                "mobile": PHONE,
                "report_status": "SUCCESS" if delivered else "FAIL",
                "errmsg": "DELIVRD" if delivered else "MK:0001",
                "description": "用户短信送达成功" if delivered else "关机",
                "sid": serial,
            }
        ]
    return [
        {
            "phone_number": PHONE,
            "send_time": "2026-03-02 10:00:00",
            "report_time": "2026-03-02 10:00:09",
            "success": delivered,
            "err_code": "DELIVERED" if delivered else "MK:0001",
            "err_msg": "用户接收成功" if delivered else "关机",
            "sms_size": "1",
            "biz_id": serial,
            "out_id": "",
        }
    ]


async def test_receipts_are_recorded_once_and_garbage_is_refused(world: SmsWorld) -> None:
    order = await add_order(world.bot, "SH1", PHONE)
    assert await world.notify(order, "sms:1")
    assert (await world.tick()).sent == 1
    [text] = await world.receipts_in(1)
    path = f"/sms/receipts/{world.provider}"

    # A later FAIL for the same text (the carrier's final word) and a replay of it.
    for _ in range(2):
        response = await world.bot.post(path, json=receipt(world.provider, text.serial, False))
        assert response.status == 200
        assert await response.json() == OK[world.provider]
    [text] = await texts(world.bot)
    assert text.status == "undelivered"
    assert text.error == "未送达: MK:0001 关机"
    assert text.receipt_at == utc(2026, 3, 2, 2, 0, 9)

    # Not one of ours: acknowledged (else the provider retries forever), nothing changes.
    response = await world.bot.post(path, json=receipt(world.provider, "unknown", True))
    assert (response.status, await response.json()) == (200, OK[world.provider])

    fail_key = "result" if world.provider == "tencent" else "code"
    words_key = "errmsg" if world.provider == "tencent" else "msg"
    for garbage in (b"not json", b"{}", b"[]", b"[1]", b'[{"sid": 1}]', b'[{"biz_id": "x"}]'):
        response = await world.bot.post(path, data=garbage)
        assert response.status == 400
        answer = await response.json()
        assert answer[fail_key] == 1
        assert answer[words_key].startswith("回执无法识别")
    [again] = await texts(world.bot)
    assert (again.status, again.error) == ("undelivered", "未送达: MK:0001 关机")


async def test_a_text_whose_answer_was_lost_is_not_sent_twice_when_a_receipt_says(
    world: SmsWorld,
) -> None:
    order = await add_order(world.bot, "SH1", PHONE)
    assert await world.notify(order, "sms:1")
    await world.slow(2.5)  # the provider takes it, its answer comes after our 1 s timeout
    result = await world.tick()
    assert result.sent == 0 and result.paused_until == MORNING + timedelta(minutes=1)
    [phone] = await world.phones()
    assert len(phone["texts"]) == 1  # the customer has it
    if world.provider == "aliyun":
        [text] = await world.receipts_in(1)
    else:
        [text] = await texts(world.bot)
    world.clock.advance(timedelta(minutes=1))
    sent_again = (await world.tick()).sent
    [phone] = await world.phones()
    if world.provider == "aliyun":
        # The receipt carried our reference (OutId): the text counts as sent and delivered.
        assert (text.status, text.serial, sent_again) == (
            "delivered",
            phone["texts"][0]["serial"],
            0,
        )
        assert len(phone["texts"]) == 1
    else:
        # Tencent's receipt names only its serial, which we never learnt: at most one repeat.
        assert (text.status, sent_again) == ("pending", 1)
        assert len(phone["texts"]) == 2
        [text] = await texts(world.bot)
        assert (text.status, text.attempts) == ("sent", 2)
