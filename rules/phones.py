"""Phone numbers: one canonical form for matching, masked wherever more than one person reads."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-.()（）]")
_MOBILE = re.compile(r"(?:\+?86|0086)?(1\d{10})")


def canonical_phone(phone: str | None) -> str | None:
    """A mainland mobile as its 11 digits (``+86 138-1234-5678`` → ``13812345678``), so a
    number typed by customer service matches the one a channel sent; anything else (landlines,
    numbers the platform masked, see :func:`is_masked`) is kept with separators removed."""
    if phone is None:
        return None
    compact = _SEPARATORS.sub("", phone)
    mobile = _MOBILE.fullmatch(compact)
    return mobile[1] if mobile else compact or None


def is_masked(phone: str) -> bool:
    """Whether the platform masked the number (``151********``, ``*******8650``): what is left
    is not a phone number, so it must be neither searched nor matched."""
    return "*" in phone


def mask_phone(phone: str | None) -> str:
    """``13812345678`` → ``138****5678``; short or missing numbers are hidden entirely."""
    if not phone:
        return "-"
    digits = phone.strip()
    if len(digits) < 7:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"
