"""The ingest API: auth, bad batches, idempotency, limits and stage events."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.keys import SESSIONS
from storage.models import Order, OrderEvent
from tests.support import T0, all_rows, auth, shop_order, stage_event


async def orders(client: TestClient) -> list[Order]:
    return await all_rows(client.app[SESSIONS], Order)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "tok-all"}],
    ids=["no-token", "wrong-token", "not-bearer"],
)
async def test_without_a_valid_token_nothing_is_written(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = await client.post("/api/v1/orders/shop", json=[shop_order("SH1")], headers=headers)
    assert response.status == 401
    assert "token" in (await response.json())["error"]
    assert await orders(client) == []


async def test_a_source_may_only_write_its_own_channels(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/orders/shop", json=[shop_order("SH1")], headers=auth("taobao")
    )
    assert response.status == 403
    response = await client.post("/api/v1/events", json=[], headers=auth("taobao"))
    assert response.status == 403
    assert await orders(client) == []


async def test_bad_records_are_rejected_by_index_and_good_ones_land(client: TestClient) -> None:
    batch: list[Any] = [
        shop_order("SH1"),
        shop_order("SH2") | {"total_fen": "12.5"},
        "not an object",
        shop_order("SH3") | {"status": "TELEPORTED"},
        shop_order("SH4"),
        shop_order("SH1"),
        {k: v for k, v in shop_order("SH5").items() if k != "order_no"},
    ]
    response = await client.post("/api/v1/orders/shop", json={"orders": batch}, headers=auth("all"))
    assert response.status == 207
    body = await response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 0, 0)
    rejected = {r["index"]: r["reason"] for r in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 5, 6]
    assert "total_fen" in rejected[1]
    assert "JSON 对象" in rejected[2]
    assert "status" in rejected[3] and "TELEPORTED" in rejected[3]
    assert "重复" in rejected[5]
    assert body["rejected"][3]["duplicate_of"] == 0
    assert "order_no" in rejected[6]
    assert sorted(o.channel_order_id for o in await orders(client)) == ["SH1", "SH4"]


async def test_resending_the_same_batch_changes_nothing(client: TestClient) -> None:
    batch = [shop_order(f"SH{i}") for i in range(5)]
    first = await (await client.post("/api/v1/orders/shop", json=batch, headers=auth("all"))).json()
    before = [(o.id, o.updated_at, o.next_check_at) for o in await orders(client)]
    again = await client.post("/api/v1/orders/shop", json=batch, headers=auth("all"))
    assert again.status == 200
    second = await again.json()
    assert first["created"] == 5
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 5)
    assert [(o.id, o.updated_at, o.next_check_at) for o in await orders(client)] == before


async def test_a_changed_order_is_updated_in_place(client: TestClient) -> None:
    await client.post("/api/v1/orders/shop", json=shop_order("SH1"), headers=auth("all"))
    response = await client.post(
        "/api/v1/orders/shop", json=shop_order("SH1", total_fen=99), headers=auth("all")
    )
    assert (await response.json())["updated"] == 1
    [order] = await orders(client)
    assert order.amount_fen == 99


async def test_a_batch_over_the_limit_is_refused_whole(client: TestClient) -> None:
    batch = [shop_order(f"SH{i}") for i in range(1001)]
    response = await client.post("/api/v1/orders/shop", json=batch, headers=auth("all"))
    assert response.status == 413
    assert "1000" in (await response.json())["error"]
    assert await orders(client) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"{not json", "JSON"), (b'{"orders": 5}', "orders 必须是数组")],
    ids=["broken-json", "orders-not-a-list"],
)
async def test_a_malformed_body_is_a_400(client: TestClient, body: bytes, message: str) -> None:
    response = await client.post(
        "/api/v1/orders/shop", data=body, headers=auth("all") | {"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert message in (await response.json())["error"]


async def test_an_all_bad_batch_is_a_422(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/orders/shop", json=[{"order_no": "X"}], headers=auth("all")
    )
    assert response.status == 422
    assert (await response.json())["rejected"][0]["index"] == 0


async def test_stage_events_are_idempotent_and_never_move_an_order_back(client: TestClient) -> None:
    await client.post("/api/v1/orders/shop", json=shop_order("SH1"), headers=auth("all"))
    picking = stage_event("SH1", "picking", T0)
    events = [
        picking,
        picking | {"event_id": "late-paid", "stage": "paid"},
        stage_event("NOPE", "picking", T0),
        picking | {"stage": "flying"},
    ]
    response = await client.post("/api/v1/events", json={"events": events}, headers=auth("wms"))
    body = await response.json()
    assert (body["updated"], body["unchanged"]) == (1, 0)
    [late] = body["not_applied"]
    assert late["index"] == 1
    assert "picking" in late["reason"] and "paid" in late["reason"]
    assert [(r["index"], r["reason"][:5]) for r in body["rejected"]] == [
        (2, "订单不存在"),
        (3, "stage"),
    ]
    again = await (await client.post("/api/v1/events", json=[picking], headers=auth("wms"))).json()
    assert (again["updated"], again["unchanged"]) == (0, 1)
    [order] = await orders(client)
    assert (order.stage, order.stage_entered_at) == ("picking", T0)
    applied = [
        (e.source, e.stage, e.applied) for e in await all_rows(client.app[SESSIONS], OrderEvent)
    ]
    assert ("wms", "picking", True) in applied and ("wms", "paid", False) in applied


async def test_a_channel_resending_an_older_status_does_not_undo_picking(
    client: TestClient,
) -> None:
    await client.post("/api/v1/orders/shop", json=shop_order("SH1"), headers=auth("all"))
    await client.post("/api/v1/events", json=stage_event("SH1", "picking", T0), headers=auth("wms"))
    await client.post(
        "/api/v1/orders/shop", json=shop_order("SH1", total_fen=1), headers=auth("all")
    )
    [order] = await orders(client)
    assert (order.stage, order.amount_fen) == ("picking", 1)
