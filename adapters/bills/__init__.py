"""The payment gateways' bill download APIs (WeChat Pay APIv3, Alipay open platform): one
bill of one day in, its verified bytes out, or an exception that says what the gateway did.

UnionPay has no download here: its files come by hand (``orderbot recon import``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Download:
    """A bill as the gateway gave it, checked: its file name (with the day) and bytes."""

    name: str
    data: bytes


class BillPending(Exception):
    """Not yet: the gateway is still generating the bill, or is down for now; try again later.
    The message says why (Chinese)."""


class NoBill(Exception):
    """The gateway says there is no bill for the day: no trades (nothing to import)."""


class BillRefused(Exception):
    """The download is refused for good: a bad signature, a hash that does not match, our
    credentials or request refused. Nothing may be stored; the message says why (Chinese)."""
