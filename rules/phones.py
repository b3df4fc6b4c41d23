"""Phone numbers are shown masked wherever more than one person can read them."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str:
    """``13812345678`` → ``138****5678``; short or missing numbers are hidden entirely."""
    if not phone:
        return "-"
    digits = phone.strip()
    if len(digits) < 7:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"
