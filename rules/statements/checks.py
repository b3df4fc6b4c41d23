"""Checks shared by the layouts: each finds the first line that breaks a rule and refuses the
file naming it, or lets it through. All vectorised; a file is only looked at line by line
once it is already refused, to say where."""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta

import polars as pl

from rules.statements.money import money_pattern, parse_units, yuan
from rules.statements.shape import StatementRefused

LINE = "_line"  # the file line number column every checked frame carries
BEIJING = "Asia/Shanghai"
_OFFSET = timedelta(hours=8)
_FIXED_OFFSET_SINCE = datetime(1992, 1, 1)  # noqa: DTZ001 (a Beijing wall time)
_NAME_DATE = re.compile(r"(20\d{2})-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])")


def first_failing(frame: pl.DataFrame, ok: pl.Expr) -> dict[str, object] | None:
    """The first row (as a dict, with its ``_line``) where ``ok`` is false or null."""
    bad = frame.filter(~ok.fill_null(False)).head(1)
    return None if bad.is_empty() else bad.row(0, named=True)


def single_valued(frame: pl.DataFrame, columns: Iterable[str]) -> list[str]:
    """Those of ``columns`` that hold one value on every line (none when there are no lines)."""
    if frame.is_empty():
        return []
    maybe = columns_where(frame, columns, lambda c: pl.col(c).first() == pl.col(c).last())
    return columns_where(
        frame, maybe, lambda c: (pl.col(c) == pl.col(c).first()).all(ignore_nulls=False)
    )


def columns_where(
    frame: pl.DataFrame, columns: Iterable[str], holds: Callable[[str], pl.Expr]
) -> list[str]:
    """Those of ``columns`` for which ``holds`` (one boolean) is true, found in one pass."""
    columns = list(columns)
    if not columns:
        return []
    found = frame.select(holds(c).alias(c) for c in columns).row(0)
    return [c for c, true in zip(columns, found, strict=True) if true]


def once(column: str, single: Container[str]) -> pl.Expr:
    """The column, or its first value (for polars to broadcast) when it holds only that."""
    return pl.col(column).first() if column in single else pl.col(column)


def refuse_bad_money(frame: pl.DataFrame, columns: Mapping[str, int], what: str) -> None:
    """Every cell of ``columns`` (name → decimals allowed) is a plain amount: all are checked
    together, a column of one value once."""
    single = single_valued(frame, columns)
    plain = frame.select(
        once(c, single).str.contains(money_pattern(d)).fill_null(False).all()
        for c, d in columns.items()
    ).row(0)
    for (column, decimals), ok in zip(columns.items(), plain, strict=True):
        if ok:
            continue
        row = first_failing(frame, pl.col(column).str.contains(money_pattern(decimals)))
        if row is not None:
            raise StatementRefused(
                f"{what}第 {row[LINE]} 行的「{column}」是 {row[column]!r}, 不是金额 "
                f"(应为最多 {decimals} 位小数的元), 未导入任何内容"
            )


def beijing_times(frame: pl.DataFrame, column: str, fmt: str, what: str) -> pl.Series:
    """The column's Beijing wall times as UTC; refuses the file at the first unreadable one.

    Beijing has kept UTC+8 without summer time since 1991: times since are shifted by 8 hours
    instead of looked up in the time zone database one by one."""
    naive = frame.select(pl.col(column).str.to_datetime(fmt, strict=False, time_unit="us"))
    plain = naive.to_series()
    if not plain.null_count() and (plain.is_empty() or plain.min() >= _FIXED_OFFSET_SINCE):  # type: ignore[operator]
        return (plain - _OFFSET).dt.replace_time_zone("UTC")
    moments = frame.select(
        pl.col(column)
        # A wall time that came twice as summer time ended (1986-1991): the first of the two.
        .str.to_datetime(fmt, strict=False, time_zone=BEIJING, time_unit="us", ambiguous="earliest")
        .dt.convert_time_zone("UTC")
    ).to_series()
    if moments.null_count():
        row = frame.row(int(moments.is_null().arg_max() or 0), named=True)
        raise StatementRefused(
            f"{what}第 {row[LINE]} 行的「{column}」是 {row[column]!r}, 不是时间, 未导入任何内容"
        )
    return moments


def check_total(
    what: str, line: int, label: str, stated: str, found: int, decimals: int = 2
) -> None:
    """A summary value against the sum (or count, with ``decimals`` 0) of the detail lines."""
    expected = parse_units(stated, decimals)
    if expected is None:
        raise StatementRefused(
            f"{what}汇总行 (第 {line} 行) 的「{label}」是 {stated!r}, 读不出数值, 未导入任何内容"
        )
    if expected == found:
        return
    if decimals == 0:
        told, counted, gap = str(expected), str(found), f"{found - expected:+d}"
        unit = " 笔"
    else:
        told, counted = yuan(expected, decimals), yuan(found, decimals)
        gap, unit = (
            f"{'+' if found > expected else '-'}{yuan(abs(found - expected), decimals)}",
            " 元",
        )
    raise StatementRefused(
        f"{what}明细与汇总不符: 汇总行 (第 {line} 行)「{label}」为 {told}{unit}, "
        f"明细合计 {counted}{unit} (相差 {gap}{unit}); 文件可能不完整或被改动过, 未导入任何内容"
    )


def bill_date_of(name: str, moments: pl.Series, what: str) -> date:
    """The bill's day: the date in its file name when it has one (as downloaded, e.g.
    ``tradebill_20240301.csv``), else the Beijing day most of its lines fall on."""
    if (found := _NAME_DATE.search(name)) is not None:
        return date(int(found[1]), int(found[2]), int(found[3]))
    if moments.is_empty():
        raise StatementRefused(
            f"{what}没有明细, 文件名中也没有日期 (如 20240301), 无法确定账单日期, 未导入任何内容"
        )
    days = moments.dt.convert_time_zone(BEIJING).dt.date()
    day: date = days.mode().sort().item(0)
    return day


def header_refusal(what: str, found: Sequence[str], expected: Sequence[str]) -> StatementRefused:
    """The header line is not the layout's: say which column differs first."""
    for number, (have, want) in enumerate(zip(found, expected, strict=False), start=1):
        if have != want:
            return StatementRefused(
                f"不是{what}: 表头第 {number} 列是「{have}」, 应为「{want}」, 未导入任何内容"
            )
    return StatementRefused(
        f"不是{what}: 表头有 {len(found)} 列, 应为 {len(expected)} 列, 未导入任何内容"
    )
