"""Decimal yuan text to exact integers, in polars expressions: no float ever holds money.

The fee rounding rule (docs/reconciliation.md): a fee kept in 1/1000 fen (``fee_milli``) becomes
fen rounded half away from zero, line by line (0.05940 元 = 5.940 分 → 6 分; 0.00500 元 → 1 分;
-0.00500 元 → -1 分). Totals are compared and kept in 1/1000 fen, so rounding never makes a file
look wrong.
"""

from __future__ import annotations

import re
from decimal import Decimal

import polars as pl

FEN_DECIMALS = 2  # yuan to fen
MILLI_DECIMALS = 5  # yuan to 1/1000 fen: WeChat Pay's fee precision


def money_pattern(decimals: int) -> str:
    """Plain decimal yuan with at most ``decimals`` places: ``12``, ``-0.5``, ``0.05940``. ASCII
    digits only (``\\d`` would take full-width ones, which no cast reads), and at most 13 of
    them before the point, so that 10^-decimals yuan (5 places for WeChat Pay's fees) fit in
    an Int64."""
    return rf"^[-+]?[0-9]{{1,13}}(\.[0-9]{{0,{decimals}}})?$"


def units(text: pl.Expr, decimals: int) -> pl.Expr:
    """Decimal yuan text as an Int64 count of 10^-decimals yuan, exactly: polars' decimal
    holds the unscaled integer (text that does not match ``money_pattern`` must have been
    refused before: a longer fraction would be rounded)."""
    return text.cast(pl.Decimal(20, decimals)).to_physical().cast(pl.Int64)


def fen_of_milli(milli: pl.Expr) -> pl.Expr:
    """1/1000 fen to fen, rounded half away from zero."""
    rounded = (milli.abs() + 500) // 1000
    return pl.when(milli < 0).then(-rounded).otherwise(rounded)


def yuan(amount: int, decimals: int = FEN_DECIMALS) -> str:
    """An integer count of 10^-decimals yuan, written as the bill writes it: ``576`` → ``5.76``."""
    return f"{Decimal(amount).scaleb(-decimals):.{decimals}f}"


def parse_units(text: str, decimals: int) -> int | None:
    """One summary value as an integer count of 10^-decimals yuan; None if it is no amount."""
    if re.fullmatch(money_pattern(decimals), text) is None:
        return None
    return int(Decimal(text).scaleb(decimals))
