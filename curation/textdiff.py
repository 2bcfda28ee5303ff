"""Word-level differences between two texts, for history and side-by-side views."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class Piece:
    kind: str  # "same", "removed" or "added"
    text: str


def word_diff(old: str, new: str) -> list[Piece]:
    """The pieces that turn `old` into `new`: kept, removed and added runs of words."""
    before, after = TOKENS.findall(old), TOKENS.findall(new)
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(Piece("same", "".join(before[a1:a2])))
            continue
        if a2 > a1:
            pieces.append(Piece("removed", "".join(before[a1:a2])))
        if b2 > b1:
            pieces.append(Piece("added", "".join(after[b1:b2])))
    return pieces


def side_by_side(left: str, right: str) -> tuple[list[Piece], list[Piece]]:
    """The left text with what only it has marked, and the same for the right."""
    pieces = word_diff(left, right)
    return (
        [piece for piece in pieces if piece.kind != "added"],
        [piece for piece in pieces if piece.kind != "removed"],
    )
