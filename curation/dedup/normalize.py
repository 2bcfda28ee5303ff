"""The looser identity used by exact dedup: case, spacing, punctuation and Unicode forms ignored."""

from __future__ import annotations

import re
import unicodedata

SPACES = re.compile(r"\s+")


def exact_key(text: str) -> str:
    """`"Hello,  WORLD!"` and `"hello world"` share a key; different words never do."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(" " if unicodedata.category(char).startswith("P") else char for char in folded)
    return SPACES.sub(" ", kept).strip()
