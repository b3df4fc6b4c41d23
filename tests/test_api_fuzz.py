"""A fuzzer of the ingest API, its cases derived from docs/openapi.yaml by schemathesis (requests
the schema allows, and ones it does not), plus any JSON at all (lone surrogates and NUL too).
Whatever arrives, the answer is never a 5xx, its status and body are what the schema documents
for the operation, and the good record of a batch is kept.

Cases are drawn inside hypothesis tests and sent through the app's own test client, so they run
on the selected database (ORDERBOT_TEST_DB=postgresql too); bounded to a few seconds.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
import yaml
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from bot.keys import SESSIONS
from storage.models import Order
from tests.support import T0, all_rows, auth, shop_order, stage_event
from tests.test_channel_docs import example

SPEC_PATH = Path(__file__).parent.parent / "docs" / "openapi.yaml"
SPEC = yaml.safe_load(SPEC_PATH.read_text())
OPERATIONS = schemathesis.openapi.from_path(SPEC_PATH)
CHANNELS = ["taobao", "jd", "douyin", "shop"]
PATHS = [*(f"/api/v1/orders/{channel}" for channel in CHANNELS), "/api/v1/events"]
ID_FIELDS = {
    "taobao": ("tid", "tid_str"),
    "jd": ("orderId",),
    "douyin": ("order_id",),
    "shop": ("order_no",),
}
FUZZ = settings(
    max_examples=15,
    deadline=None,
    database=None,  # nothing written to .hypothesis/
    suppress_health_check=list(HealthCheck),  # the client fixture is shared by the examples
)
JSON_HEADERS = {"Content-Type": "application/json"}
serial = itertools.count()


def requests(path: str, *modes: GenerationMode) -> st.SearchStrategy[Any]:
    """schemathesis' cases of the operation at ``path``, of the given generation modes."""
    operation = OPERATIONS[path]["POST"]
    return st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))


def payload(case: Any) -> bytes:
    """A case's body as sent: bytes as they are (a negative case may be no JSON at all)."""
    if isinstance(case.body, bytes):
        return case.body
    if isinstance(case.body, list | dict | str | int | float | bool) or case.body is None:
        return json.dumps(case.body).encode()
    return b""  # no body at all


def token(path: str) -> dict[str, str]:
    return auth("wms" if path.endswith("events") else "all") | JSON_HEADERS


def resolvable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the spec's components beside it, so its ``$ref``s resolve."""
    return {**schema, "components": SPEC["components"]}


async def answer_as_documented(path: str, response: Any) -> dict[str, Any]:
    """The answer's body, after checking its status and shape against the spec."""
    assert response.status < 500, await response.text()
    documented = SPEC["paths"][path]["post"]["responses"]
    assert str(response.status) in documented, (response.status, await response.text())
    ref = documented[str(response.status)]["$ref"].rsplit("/", 1)[1]
    schema = SPEC["components"]["responses"][ref]["content"]["application/json"]["schema"]
    body: dict[str, Any] = await response.json()
    jsonschema.validate(body, resolvable(schema))
    return body


def records_of(body: Any, key: str) -> list[Any]:
    """The records of a body the schema allows: one, a list, or wrapped under ``key``."""
    if isinstance(body, dict) and set(body) == {key}:
        body = body[key]
    return body if isinstance(body, list) else [body]


def around(others: list[Any], good: Any, position: int) -> tuple[list[Any], int]:
    at = min(position, len(others))
    return [*others[:at], good, *others[at:]], at


def good_record(channel: str) -> tuple[str, dict[str, Any]]:
    """The channel's documented example under an order number no other record has."""
    order_no = f"GOOD{next(serial)}"
    record = example(channel)
    for name in ID_FIELDS[channel]:
        record[name] = order_no
    return order_no, record


async def stored(client: TestClient) -> dict[str, Order]:
    return {o.channel_order_id: o for o in await all_rows(client.app[SESSIONS], Order)}


characters = st.characters(exclude_categories=())  # lone surrogates and NUL included
any_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(characters),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(characters, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("path", PATHS)
@FUZZ
@given(data=st.data())
async def test_generated_requests_get_documented_answers(
    client: TestClient, path: str, data: st.DataObject
) -> None:
    case = data.draw(requests(path, GenerationMode.POSITIVE, GenerationMode.NEGATIVE))
    response = await client.post(path, data=payload(case), headers=token(path))
    await answer_as_documented(path, response)


@pytest.mark.parametrize("path", PATHS)
@FUZZ
@given(body=any_json)
async def test_any_json_at_all_gets_a_documented_answer(
    client: TestClient, path: str, body: Any
) -> None:
    response = await client.post(path, data=json.dumps(body), headers=token(path))
    await answer_as_documented(path, response)


@pytest.mark.parametrize("channel", CHANNELS)
@FUZZ
@given(data=st.data(), position=st.integers(min_value=0, max_value=4))
async def test_a_good_record_among_generated_ones_is_kept(
    client: TestClient, channel: str, data: st.DataObject, position: int
) -> None:
    path = f"/api/v1/orders/{channel}"
    case = data.draw(requests(path, GenerationMode.POSITIVE))
    junk = data.draw(st.lists(any_json, max_size=2))
    order_no, good = good_record(channel)
    batch, at = around([*records_of(case.body, "orders"), *junk], good, position)
    response = await client.post(path, data=json.dumps({"orders": batch}), headers=token(path))
    body = await answer_as_documented(path, response)
    assert at not in {r["index"] for r in body["rejected"]}, body["rejected"]
    assert order_no in await stored(client)


@FUZZ
@given(data=st.data(), position=st.integers(min_value=0, max_value=4))
async def test_a_good_event_among_generated_ones_is_applied(
    client: TestClient, data: st.DataObject, position: int
) -> None:
    path = "/api/v1/events"
    case = data.draw(requests(path, GenerationMode.POSITIVE))
    junk = data.draw(st.lists(any_json, max_size=2))
    order_no = f"EV{next(serial)}"
    await client.post("/api/v1/orders/shop", json=shop_order(order_no), headers=auth("all"))
    good = stage_event(order_no, "picking", T0)
    batch, at = around([*records_of(case.body, "events"), *junk], good, position)
    response = await client.post(path, data=json.dumps(batch), headers=token(path))
    body = await answer_as_documented(path, response)
    assert at not in {r["index"] for r in body["rejected"]}, body["rejected"]
    assert (await stored(client))[order_no].stage == "picking"
