"""docs/channels.md is enough to send a first record of each channel, first try: its examples
are posted through the API and imported with the CLI exactly as written, and its tables (status
values, stages, CSV headers) are the ones the adapters use."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels.base import RecordError
from channels.registry import ADAPTERS, CSV_HEADERS
from rules.stages import Stage
from tests.support import T0, auth, config_data
from tests.test_cli import no_crash, orderbot, orders_in, summary, write_config

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
        result = orderbot("import", source, "--channel", channel, "-c", config_file, cwd=tmp_path)
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
