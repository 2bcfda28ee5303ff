"""The looser identity used by exact dedup: case, spacing, punctuation and Unicode forms ignored."""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable

SPACES = re.compile(r"\s+")


@functools.cache
def _punctuation_to_space() -> dict[int, str]:
    """Every punctuation code point to a space: built once, applied by str.translate in C."""
    return {
        code: " " for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)).startswith("P")
    }


def exact_key(text: str) -> str:
    """`"Hello,  WORLD!"` and `"hello world"` share a key; different words never do."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return SPACES.sub(" ", folded.translate(_punctuation_to_space())).strip()


def same_key_groups(keys: Iterable[str]) -> list[list[int]]:
    """Indexes grouped by equal key, in first-seen order; single members make groups too."""
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return list(groups.values())
