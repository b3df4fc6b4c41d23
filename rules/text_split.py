"""Splitting text that is over WeCom's byte limits without cutting a character, a line, a
link or a mention in half. Pure."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from itertools import accumulate

_MAX_CHAR_BYTES = 4  # the longest UTF-8 encoding of one character

# Tokens that a cut must not split, unless one alone is over the limit. All stay within a line.
_UNSPLITTABLE = re.compile(
    r"<font\b[^>\n]*>[^\n]*?</font>"  # markdown colour span
    r"|!?\[[^\]\n]*\]\([^)\s]*\)"  # markdown link or image
    r"|<@[^>\s]+>"  # @mention in text or markdown
    r"|https?://\S+",  # bare URL, up to whitespace
    re.IGNORECASE,
)


def utf8_len(text: str) -> int:
    """The length WeCom's limits count: UTF-8 bytes, so 3 per Chinese character."""
    return len(text.encode("utf-8"))


def split_text(text: str, limit_bytes: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit_bytes`` UTF-8 bytes each.

    Lines are packed greedily, and a chunk is cut between lines. A line longer than the limit is
    cut inside as late as fits, but never inside a URL, a markdown link, a ``<@userid>`` mention
    or a ``<font>…</font>`` span (those recognised within one line): the cut moves to just
    before such a token, which then starts the next chunk. A token longer than the limit by
    itself is the last resort and is cut at a character boundary. No character is ever cut.

    Only newlines are dropped: the line break at each cut between lines, blank lines next to a
    cut, and newlines at the start and end of ``text``. So no chunk starts or ends with a
    newline, no chunk is empty, and putting the dropped newlines back between the chunks gives
    ``text`` again. Empty or newline-only content gives ``[]``.
    """
    if limit_bytes < _MAX_CHAR_BYTES:
        raise ValueError(f"limit_bytes must be at least {_MAX_CHAR_BYTES}, not {limit_bytes}")
    lines = text.split("\n")
    *chunks, current = _split_line(lines[0], limit_bytes)
    size = utf8_len(current)
    for line in lines[1:]:
        line_size = utf8_len(line)
        if size + 1 + line_size <= limit_bytes:
            current, size = f"{current}\n{line}", size + 1 + line_size
            continue
        chunks.append(current)
        *full, current = _split_line(line, limit_bytes)
        chunks.extend(full)
        size = utf8_len(current)
    chunks.append(current)
    return [stripped for chunk in chunks if (stripped := chunk.strip("\n"))]


def _split_line(line: str, limit_bytes: int) -> list[str]:
    """Cut one line into pieces of at most ``limit_bytes`` that concatenate back to ``line``."""
    # offsets[i] is the UTF-8 size of line[:i], so a piece's size is a difference of two.
    offsets = [0, *accumulate(utf8_len(char) for char in line)]
    if offsets[-1] <= limit_bytes:
        return [line]
    tokens = [match.span() for match in _UNSPLITTABLE.finditer(line)]
    token_starts = [token_start for token_start, _ in tokens]
    pieces = []
    start = 0
    while offsets[-1] - offsets[start] > limit_bytes:
        cut = bisect_right(offsets, offsets[start] + limit_bytes) - 1  # as far as fits
        # Tokens don't overlap, so only the last one starting before the cut can straddle it.
        index = bisect_left(token_starts, cut) - 1
        if index >= 0 and start < tokens[index][0] and cut < tokens[index][1]:
            cut = tokens[index][0]  # keep the token whole for the next piece
        pieces.append(line[start:cut])
        start = cut
    pieces.append(line[start:])
    return pieces


def shorten(text: str, limit_bytes: int, note: str) -> str:
    """``text`` if it fits in ``limit_bytes``, else as much of it as fits, cut where
    ``split_text`` would cut, followed by ``note`` (e.g. where to read the rest)."""
    if utf8_len(text) <= limit_bytes:
        return text
    return split_text(text, limit_bytes - utf8_len(note) - 1)[0] + "\n" + note
