"""The contracted fee of a payment, in 1/1000 fen like the bills' ``fee_milli``.

A rate is given as a percentage (``"0.6%"``) and kept as parts per million (6000), so the fee
is exact integer arithmetic: amount_fen × ppm / 1000 in 1/1000 fen, rounded half away from zero
to the 1/1000 fen (WeChat Pay states fees to that precision; Alipay and UnionPay to the fen, so
their fees differ from the exact one by up to half a fen by their own rounding, which the
tolerance allows)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import polars as pl

PPM = Decimal(1_000_000)


def rate_ppm(text: str) -> int:
    """``"0.6%"`` → 6000 parts per million; ValueError for anything else, or a rate not whole
    in ppm (finer than 0.0001%)."""
    body = text.strip()
    if not body.endswith("%"):
        raise ValueError(f'费率须写成百分数, 如 "0.6%", 收到 {text!r}')
    try:
        value = Decimal(body[:-1]) / 100 * PPM
    except InvalidOperation:
        raise ValueError(f'费率须写成百分数, 如 "0.6%", 收到 {text!r}') from None
    if value < 0 or value > PPM or value != value.to_integral_value():
        raise ValueError(f"费率须在 0% 到 100% 之间, 最多 4 位小数, 收到 {text!r}")
    return int(value)


def expected_fee_milli(amount_fen: pl.Expr, ppm: int) -> pl.Expr:
    """The contracted fee of these amounts in 1/1000 fen, rounded half away from zero."""
    exact = amount_fen.abs() * ppm
    rounded = (exact + 500) // 1000
    return pl.when(amount_fen < 0).then(-rounded).otherwise(rounded)
