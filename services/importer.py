"""``orderbot import``: CSV, JSONL or JSON files through the same validation as the HTTP API.

A JSON line, or a whole JSON file, may be a platform's own API answer (``trades_sold_get_response``
and the like, see channels.envelopes): its orders are imported, each refusal naming the line and
which of the line's orders it is.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from channels.address import RegionParser
from channels.envelopes import EnvelopeError, unwrap
from channels.registry import CSV_HEADERS
from channels.suggest import nearest
from rules.freshness import FILE_IMPORT
from services import jsonbody
from services.backfill import Backfill, tell_ops
from services.config import Config
from services.ingest import Ingestor, IngestReport, Rejection
from services.policy import Rules
from services.rulebook import policy_in_force
from storage.migrate import migrated_sessions

CHANNEL_REFERENCE = "docs/channels.md"  # the fields and CSV headers of each channel


class ImportFileError(Exception):
    """The file as a whole cannot be read; nothing was imported."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One record of the file, or the ``problem`` that keeps a line from holding any;
    ``within`` names the record among several on its line."""

    line: int
    record: Any = None
    within: str = ""
    problem: str | None = None


def _nest(row: dict[str | None, Any]) -> dict[str, Any] | str:
    """CSV headers like ``receiver.province`` become nested objects; empty cells are absent.

    A row with more cells than headers (an unquoted comma in an address, say) is refused.
    """
    if None in row:
        return f"比表头多出 {len(row[None])} 个单元格 (地址中是否有未加引号的逗号?)"
    record: dict[str, Any] = {}
    for header, value in row.items():
        if value is None or value == "":
            continue
        *parents, leaf = str(header).split(".")
        target = record
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return record


def check_headers(name: str, headers: Sequence[str], channel: str) -> None:
    """Refuse a CSV file whose header row has a column the channel does not know (it would be
    dropped without a word), is blank or appears twice; every such column is named, an unknown
    one with the known header nearest to it."""
    known = CSV_HEADERS[channel]
    problems = []
    for number, header in enumerate(headers, start=1):
        if not header:
            problems.append(f"第 {number} 列没有表头")
        elif headers.index(header) < number - 1:
            problems.append(f"表头 {header!r} 出现了两次")
        elif header not in known:
            guess = nearest(header, known)
            hint = f", 是否想写 {guess}?" if guess else ""
            problems.append(f"未知表头 {header!r}{hint}")
    if problems:
        raise ImportFileError(
            f"{name} 的表头有误, 未导入任何订单:\n  "
            + "\n  ".join(problems)
            + f"\n{channel} 渠道可用的表头 (详见 {CHANNEL_REFERENCE}): {', '.join(known)}"
        )


def read_records(path: Path, channel: str) -> list[Entry]:
    """Every record in the file, or why a line holds none."""
    try:
        return list(_records(path, channel))
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"{path.name} 不是 UTF-8 编码 (第 {error.start} 字节附近); "
            "请在 Excel 中另存为「CSV UTF-8」后再导入"
        ) from None
    except csv.Error as error:  # a cell over the csv module's size limit, say
        raise ImportFileError(f"{path.name} 不是合法的 CSV 文本: {error}") from None


def _records(path: Path, channel: str) -> Iterator[Entry]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            # Stray spaces around a header are a typing accident, not a different column.
            reader.fieldnames = [header.strip() for header in reader.fieldnames or []]
            check_headers(path.name, reader.fieldnames, channel)
            for row in reader:
                nested = _nest(row)
                if isinstance(nested, str):
                    yield Entry(reader.line_num, problem=nested)
                else:
                    yield Entry(reader.line_num, nested)
            return
        text = handle.read()
    try:  # one JSON document (an API answer saved whole, pretty-printed or not) ...
        whole = jsonbody.loads(text)
    except jsonbody.JsonError:  # ... or JSON lines
        pass
    else:
        yield from _unwrapped(1, whole, channel, whole_file=True)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found = jsonbody.loads(line)
        except jsonbody.JsonError as error:
            yield Entry(number, problem=f"不是合法的 JSON: {error}")
        else:
            yield from _unwrapped(number, found, channel, whole_file=False)


def _unwrapped(line: int, found: Any, channel: str, whole_file: bool) -> Iterator[Entry]:
    """The records of one JSON value: a platform's answer holding them, else a record; a whole
    file may also be a list of records or ``{"orders": [...]}``, as a request body may."""
    records = found if whole_file and isinstance(found, list) else None
    if isinstance(found, dict):
        try:
            records = unwrap(channel, found)
        except EnvelopeError as error:
            yield Entry(line, problem=str(error))
            return
        if whole_file and records is None and found.keys() == {"orders"}:
            records = found["orders"] if isinstance(found["orders"], list) else None
    if records is None:
        yield Entry(line, found)
        return
    for number, record in enumerate(records, start=1):
        yield Entry(line, record, f"第 {number} 条订单: " if len(records) > 1 else "")


async def import_orders(
    config: Config, path: Path, channel: str, backfill: Backfill | None = None
) -> IngestReport:
    """Import the file in batches. With ``backfill`` (history), orders already past their
    deadline open no ticket: they are counted there, and ops get one summary at the end."""
    async with migrated_sessions(config.database.url) as sessions:
        # The rules in force (published in the database), not the file's own.
        rules = Rules(await policy_in_force(sessions, config, datetime.now(UTC)))
        ingestor = Ingestor(sessions, rules, RegionParser())
        total = IngestReport()
        entries = await asyncio.to_thread(read_records, path, channel)
        batch_size = config.server.max_batch
        with tqdm(total=len(entries), unit="单", desc=path.name) as progress:
            for start in range(0, len(entries), batch_size):
                chunk = entries[start : start + batch_size]
                good = [e for e in chunk if e.problem is None]
                total.rejected += [Rejection(e.line, e.problem) for e in chunk if e.problem]
                records = [e.record for e in good]
                report = await ingestor.orders(
                    channel, records, datetime.now(UTC), backfill, source=FILE_IMPORT
                )
                total.created += report.created
                total.updated += report.updated
                total.unchanged += report.unchanged
                total.address_unparsed += report.address_unparsed
                total.tickets_resolved += report.tickets_resolved
                total.rejected += [
                    Rejection(
                        good[r.index].line,
                        good[r.index].within + r.reason,
                        None if r.duplicate_of is None else good[r.duplicate_of].line,
                    )
                    for r in report.rejected
                ]
                progress.update(len(chunk))
        total.rejected.sort(key=lambda r: r.index)
        if backfill is not None:
            backfill.told = await tell_ops(sessions, rules.current(), backfill, datetime.now(UTC))
        return total
