"""The WeChat Pay bill file: a header line, the detail lines, a summary header and one summary
line, every value after the header prefixed with a backtick; read with polars' CSV reader."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from polars.exceptions import ComputeError, SchemaError

from rules.statements.checks import LINE, columns_where, once, single_valued
from rules.statements.shape import StatementRefused

TICK = "`"


def names(columns: str) -> tuple[str, ...]:
    """A header written as the file writes it, comma-separated."""
    return tuple(columns.split(","))


@dataclass(frozen=True)
class Layout:
    """One accepted bill layout: its name in words, its header and summary header."""

    name: str
    header: tuple[str, ...]
    summary: tuple[str, ...]


@dataclass(frozen=True)
class Bill:
    """A bill file cut in its parts: the detail lines (all text, backticks gone, with their
    file line numbers in ``_line``) and the summary, by column name."""

    details: pl.DataFrame
    summary: dict[str, str]
    summary_line: int  # the file line of the summary values


def first_line(body: bytes) -> bytes:
    """The first line, without copying the rest of a large file."""
    end = body.find(b"\n")
    return (body if end < 0 else body[:end]).rstrip(b"\r")


def header_of(body: bytes) -> list[str]:
    return first_line(body).decode("utf-8", errors="replace").split(",")


def cut(body: bytes, layout: Layout, what: str, used: Sequence[str]) -> Bill:
    """The bill's parts, of its detail columns those ``used``; refuses a file that is cut
    short, has lines of the wrong width or is not UTF-8, naming the line."""
    marker = ("\n" + ",".join(layout.summary)).encode()
    at = body.rfind(marker)
    if at < 0:
        raise StatementRefused(
            f"{what}不完整: 找不到汇总表头「{','.join(layout.summary)}」(账单应以两行汇总结尾), "
            "可能下载中断, 未导入任何内容"
        )
    start = body.find(b"\n") + 1
    details = _projected(body, start, at + 1, layout.header, used)
    if details is None:  # something is wrong with a line: read them all to say which
        details = _details(body[start : at + 1], layout, what, used)
    summary_line = details.height + 3  # the header, the details, the summary header, this
    tail = body[at + len(marker) :].strip(b"\r\n").split(b"\n")
    if len(tail) != 1 or not tail[0].strip():
        problem = "汇总行之后还有内容" if len(tail) > 1 else "汇总表头之后没有汇总数值"
        raise StatementRefused(f"{what}不完整或有多余内容: {problem}, 未导入任何内容")
    values = _decoded(tail[0], summary_line, what).rstrip("\r").split(",")
    if len(values) != len(layout.summary):
        raise StatementRefused(
            f"{what}汇总行 (第 {summary_line} 行) 有 {len(values)} 个值, 应为 "
            f"{len(layout.summary)} 个, 未导入任何内容"
        )
    summary = {k: v.removeprefix(TICK).strip() for k, v in zip(layout.summary, values, strict=True)}
    return Bill(details, summary, summary_line)


def _decoded(raw: bytes, line: int, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StatementRefused(
            f"{what}第 {line} 行不是 UTF-8 编码 (微信支付账单是 UTF-8), 未导入任何内容"
        ) from None


def _read(source: bytes, header: Sequence[str], **options: object) -> pl.DataFrame:
    return pl.read_csv(
        source,
        has_header=False,
        schema=dict.fromkeys(header, pl.String()),
        quote_char=None,
        empty_string_is_null=False,
        raise_if_empty=False,
        **options,  # type: ignore[arg-type]
    )


def _numbered(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64))


def _ticked(columns: Sequence[str]) -> pl.Expr:
    """A line cut short reads as empty cells at its end: its last cell has no backtick."""
    return pl.col(columns[0]).str.starts_with(TICK) & pl.col(columns[-1]).str.starts_with(TICK)


def _projected(
    body: bytes, start: int, end: int, columns: Sequence[str], used: Sequence[str]
) -> pl.DataFrame | None:
    """The detail lines ``body[start:end]`` as ``_details`` reads them, faster: in place (no
    copy of the file), the columns not ``used`` skipped. None when a line may be wrong, for
    ``_details`` to find and name.

    Skipping columns, polars no longer sees a line too wide: every line having a ticked last
    cell and all of them together exactly one comma fewer than cells each says none is. The
    summary lines are read along and dropped: read alone, they tell how many rows they gave."""
    wanted = [columns[0], *used, columns[-1]]
    picked = [i for i, c in enumerate(columns) if c in wanted]
    try:
        frame = _read(body, columns, skip_rows=1, columns=picked)
        summary = pl.read_csv(
            body[end:], has_header=False, infer_schema=False, quote_char=None,
            truncate_ragged_lines=True, raise_if_empty=False,
        )  # fmt: skip
    except (SchemaError, ComputeError):  # a line too narrow first, or bytes not UTF-8
        return None
    lines = frame.height - summary.height
    frame = frame.head(lines)
    if (
        lines < 0
        or body.count(b",", start, end) != lines * (len(columns) - 1)
        or not frame.select(_ticked(columns).all()).item()
    ):
        return None
    return _unticked(_numbered(frame), used)


def _details(detail: bytes, layout: Layout, what: str, used: Sequence[str]) -> pl.DataFrame:
    columns = layout.header
    try:
        frame = _read(detail, columns)
    except (SchemaError, ComputeError):  # a line too wide, or bytes that are not UTF-8
        _refuse_line_by_line(detail, len(columns), what)
        raise StatementRefused(  # polars saw something the lines' widths do not show
            f"{what}明细行读不出 (不是逗号分隔的 {len(columns)} 列), 未导入任何内容"
        ) from None
    frame = _numbered(frame)
    bad = frame.filter(~_ticked(columns)).head(1)
    if not bad.is_empty():
        row = bad.row(0, named=True)
        number, column = next(
            (i, c) for i, c in enumerate(columns, 1) if not row[c].startswith(TICK)
        )
        raise StatementRefused(
            f"{what}第 {row[LINE]} 行第 {number} 列「{column}」没有 ` 前缀 "
            "(账单每个值都以 ` 开头): 该行被截断、列数不对, 或文件被 Excel 另存过, 未导入任何内容"
        )
    return _unticked(frame, used)


def _unticked(frame: pl.DataFrame, used: Sequence[str]) -> pl.DataFrame:
    """The ``used`` columns without their backtick; one holding a single value throughout
    (many do: the merchant, the status, the refund columns of a day without refunds) is cut
    once, one whose every cell has it is sliced (half the work of stripping)."""
    single = single_valued(frame, used)
    varied = [c for c in used if c not in single]
    sliced = columns_where(frame, varied, lambda c: pl.col(c).str.starts_with(TICK).all())
    return frame.select(
        LINE,
        *(
            pl.col(c).str.slice(1) if c in sliced else once(c, single).str.strip_prefix(TICK)
            for c in used
        ),
    )


def _refuse_line_by_line(detail: bytes, width: int, what: str) -> None:
    """Why polars could not read the detail lines, by line (only once the file is refused)."""
    *lines, _ = detail.split(b"\n")  # the details end with a line end
    for number, raw in enumerate(lines, start=2):
        text = _decoded(raw, number, what)
        if not text.strip():
            raise StatementRefused(
                f"{what}第 {number} 行是空行 (明细行之间不应有空行), 未导入任何内容"
            )
        if (count := text.count(",") + 1) != width:
            raise StatementRefused(
                f"{what}第 {number} 行有 {count} 列, 应为 {width} 列, 未导入任何内容"
            )
