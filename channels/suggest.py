"""The known name a user most likely meant, for "did you mean …?" in refusals."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def nearest(word: str, known: Sequence[str]) -> str | None:
    """The entry of ``known`` closest to ``word``: the same name in another case, a dotted name
    whose last part is ``word`` (``province`` → ``receiver.province``), else difflib's best
    close match; None when nothing is close."""
    folded = word.casefold()
    for name in known:
        if name.casefold() == folded:
            return name
    for name in known:
        if name.rpartition(".")[2].casefold() == folded:
            return name
    matches = difflib.get_close_matches(folded, [n.casefold() for n in known], n=1)
    if not matches:
        return None
    return next(n for n in known if n.casefold() == matches[0])
