"""The looser identity used by exact dedup: case, spacing, punctuation and Unicode forms ignored."""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Iterable


@functools.cache
def _punctuation_to_space() -> dict[int, str]:
    """Every punctuation code point to a space: built once, applied by str.translate in C."""
    return {
        code: " " for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)).startswith("P")
    }


@functools.cache
def _ascii_punctuation_to_space() -> bytes:
    """The same mapping for ASCII as a bytes.translate table (whitespace too, so bytes.split()
    splits where str.split() would)."""
    spaced = _punctuation_to_space()
    return bytes(32 if code in spaced or chr(code).isspace() else code for code in range(256))


def exact_key(text: str) -> str:
    """`"Hello,  WORLD!"` and `"hello world"` share a key; different words never do."""
    if text.isascii():  # most text: NFKC changes no ASCII and casefold is lower; 3x faster
        return b" ".join(text.lower().encode().translate(_ascii_punctuation_to_space()).split()).decode()
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.translate(_punctuation_to_space()).split())


def same_key_groups(keys: Iterable[str]) -> list[list[int]]:
    """Indexes grouped by equal key, in first-seen order; single members make groups too."""
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return list(groups.values())
