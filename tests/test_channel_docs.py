"""docs/channels.md is enough to send a first record of each channel, first try: its examples
and the platforms' whole answers are posted through the API and imported with the CLI exactly as
written, its tables (status values, stages, CSV headers) are the ones the adapters use, and the
fields it says to request from each platform are all the adapters need."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.keys import SESSIONS
from channels.base import RecordError
from channels.registry import ADAPTERS, CSV_HEADERS
from rules.stages import Stage
from storage.models import Order
from tests.support import T0, all_rows, auth, config_data
from tests.test_cli import no_crash, orderbot_here, orders_in, summary, write_config

DOC = Path(__file__).parent.parent / "docs" / "channels.md"
CHANNELS = list(ADAPTERS)
# Where each channel keeps its status (Douyin: main_status, else order_status).
STATUS_FIELD = {"taobao": "status", "jd": "orderState", "douyin": "main_status", "shop": "status"}


def block(name: str) -> str:
    """The fenced block whose info string ends with ``name`` (```json taobao-example)."""
    found = re.findall(rf"^```\w+ {re.escape(name)}\n(.*?)^```$", DOC.read_text(), re.M | re.S)
    assert len(found) == 1, f"{name}: {len(found)} blocks in {DOC.name}"
    return str(found[0])


def example(channel: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(block(f"{channel}-example"))
    return record


def section(channel: str) -> str:
    """The text of the channel's own section (from its heading to the next)."""
    [text] = re.findall(rf"^## [^\n]* {channel}\n(.*?)(?=^## )", DOC.read_text(), re.M | re.S)
    return str(text)


def table_rows(text: str) -> list[list[str]]:
    """Markdown table rows as cells, backticks removed."""
    return [
        [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| ---")
    ]


def documented_statuses(channel: str) -> dict[str, Stage]:
    """Status value → stage, from the channel's status table (rows whose second cell is a
    stage; the field table's second cell says whether a field is required)."""
    stages = {stage.value: stage for stage in Stage}
    return {row[0]: stages[row[1]] for row in table_rows(section(channel)) if row[1] in stages}


def with_status(channel: str, value: str) -> dict[str, Any]:
    record = example(channel)
    record[STATUS_FIELD[channel]] = int(value) if channel == "douyin" else value
    if channel == "taobao":
        record.pop("type")  # not a presale: WAIT_BUYER_PAY stays pending_payment
    return record


def accepted_statuses(channel: str, record: dict[str, Any]) -> list[str]:
    """The values a refusal of an unknown status lists as accepted."""
    with pytest.raises(RecordError) as refused:
        ADAPTERS[channel](record, T0)
    [listed] = re.findall(r"可选值: ([^;]+)", str(refused.value))
    return listed.split(", ")


# --- the examples, as a new user would send them ---------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
async def test_the_example_record_is_accepted_by_the_api(client: TestClient, channel: str) -> None:
    response = await client.post(
        f"/api/v1/orders/{channel}", json=example(channel), headers=auth("all")
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["created"], body["rejected"], body["address_unparsed"]) == (1, [], 0)


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_examples_import_with_the_cli(tmp_path: Path, database_url: str, channel: str) -> None:
    config_file = write_config(tmp_path / "orderbot.toml", config_data(database_url))
    jsonl = tmp_path / "orders.jsonl"
    jsonl.write_text(json.dumps(example(channel), ensure_ascii=False) + "\n", encoding="utf-8")
    csv = tmp_path / "orders.csv"
    csv.write_text(block(f"{channel}-csv"), encoding="utf-8")
    csv_rows = len(block(f"{channel}-csv").splitlines()) - 1

    for source, rows in [(jsonl, 1), (csv, csv_rows)]:
        result = orderbot_here(
            "import", source, "--channel", channel, "-c", config_file, cwd=tmp_path
        )
        no_crash(result)
        assert result.returncode == 0, result.stderr
        assert summary(result) == (rows, 0, 0, 0, 0)

    stored = orders_in(database_url)
    assert len(stored) == 1 + csv_rows
    assert all(order.channel == channel and order.province for order in stored.values())


# --- the tables are the adapters' -------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_csv_headers_listed_are_the_accepted_ones(channel: str) -> None:
    listed = [header.strip() for header in block(f"{channel}-csv-headers").split(",")]
    assert listed == list(CSV_HEADERS[channel])
    assert set(block(f"{channel}-csv").splitlines()[0].split(",")) <= set(listed)


@pytest.mark.parametrize("channel", CHANNELS)
def test_each_documented_status_maps_to_its_documented_stage(channel: str) -> None:
    documented = documented_statuses(channel)
    for value, stage in documented.items():
        assert ADAPTERS[channel](with_status(channel, value), T0).stage is stage, value
    assert sorted(accepted_statuses(channel, with_status(channel, "9999"))) == sorted(documented)


def test_douyin_order_status_alone_is_read_when_there_is_no_main_status() -> None:
    only_main = {"103", "21", "22", "39"}  # marked 仅 main_status in the table
    documented = documented_statuses("douyin")
    for value, stage in documented.items():
        record = with_status("douyin", value) | {"order_status": int(value)}
        del record["main_status"]
        if value in only_main:
            continue
        assert ADAPTERS["douyin"](record, T0).stage is stage, value
    record = example("douyin") | {"order_status": 9999}
    del record["main_status"]
    assert sorted(accepted_statuses("douyin", record)) == sorted(set(documented) - only_main)
    assert all(f"`{value}` | `" in section("douyin") for value in only_main)
    assert section("douyin").count("仅 `main_status`") == len(only_main)


def test_the_stage_table_lists_every_stage() -> None:
    [stages] = re.findall(r"^### 阶段\n(.*?)(?=^## )", DOC.read_text(), re.M | re.S)
    assert [row[0] for row in table_rows(stages)[1:]] == [stage.value for stage in Stage]


# --- what to ask the platforms for, and their whole answers ---------------------------------

FIELD_TABLE = "| 字段 | 必填 | 类型 | orderbot 用它做什么 |"


def field_table_names(channel: str) -> set[str]:
    """The top-level fields the channel's field table names (``orders.order[]`` → ``orders``)."""
    text = section(channel)
    table = text[text.index(FIELD_TABLE) :].split("\n\n", 1)[0]
    first_cells = [line.split(" | ")[0] for line in table.splitlines()[2:]]
    return {
        re.split(r"[.\[]", name)[0]
        for cell in first_cells
        for name in re.findall(r"`([^`]+)`", cell)
    }


def requested(channel: str) -> list[str]:
    return [name.strip() for name in block(f"{channel}-fields").split(",")]


class Watched(dict[str, Any]):
    """A record that notes which of its fields are read."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(record)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_field_orderbot_reads_is_in_the_field_table(channel: str) -> None:
    record = Watched(example(channel))
    ADAPTERS[channel](record, T0)
    assert record.read <= field_table_names(channel)


@pytest.mark.parametrize("channel", ["taobao", "jd"])
def test_the_fields_to_request_are_every_field_orderbot_reads(channel: str) -> None:
    """TOP and JD return only the fields asked for: every field orderbot reads must be in the
    documented request, and the example cut down to it reads the same."""
    assert field_table_names(channel) <= set(requested(channel))
    full = example(channel)
    asked = {key: value for key, value in full.items() if key in requested(channel)}
    read_full, read_asked = ADAPTERS[channel](full, T0), ADAPTERS[channel](asked, T0)
    read_full.raw = read_asked.raw = {}
    assert read_asked == read_full


@pytest.mark.parametrize(
    ("channel", "stages"),
    [
        ("taobao", {"3920481234567101": "shipped", "3920481234567201": "on_hold"}),
        ("jd", {"290012345301": "shipped"}),
        ("douyin", {"6919234567890123201": "paid"}),
    ],
)
async def test_the_platform_answer_is_accepted_as_it_is(
    client: TestClient, channel: str, stages: dict[str, str]
) -> None:
    answer = json.loads(block(f"{channel}-answer"))
    response = await client.post(f"/api/v1/orders/{channel}", json=answer, headers=auth("all"))
    assert response.status == 200, await response.text()
    assert (await response.json())["created"] == len(stages)
    stored = {o.channel_order_id: o for o in await all_rows(client.app[SESSIONS], Order)}
    assert {number: order.stage for number, order in stored.items()} == stages
    # Provinces and cities under their official names, whatever the platform's spelling.
    official = {"上海市", "江苏省", "广东省", "北京市"}
    assert {order.province for order in stored.values()} <= official
    assert "市辖区" not in {order.city for order in stored.values()}
