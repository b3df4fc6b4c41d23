"""Money is integer fen inside orderbot; these render it for people."""

from __future__ import annotations

from decimal import Decimal


def format_fen(fen: int) -> str:
    """``123456`` → ``¥1,234.56``; exact, no float."""
    return f"¥{Decimal(fen).scaleb(-2):,.2f}"
