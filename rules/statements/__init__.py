"""Payment statements (对账单) read into one line shape: pure, bytes in, a ``Statement`` or a
``StatementRefused`` out (see docs/reconciliation.md).

Parsing lives here, below storage, because nothing in it touches the world: the by-hand import
(services), the gateways' bill download (an adapter, later) and the sandbox that plays the
gateways (which may import only ``rules`` and ``channels``) all read the same layouts.
"""

from rules.statements.detect import parse_statement
from rules.statements.shape import (
    GATEWAYS,
    KINDS,
    LINE_SCHEMA,
    Statement,
    StatementRefused,
)

__all__ = [
    "GATEWAYS",
    "KINDS",
    "LINE_SCHEMA",
    "Statement",
    "StatementRefused",
    "parse_statement",
]
