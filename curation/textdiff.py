"""Word-level differences between two texts, for history and side-by-side views."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)

Hunk = tuple[str, int, int, int, int]  # difflib's opcode: (op, a1, a2, b1, b2)


@dataclass(frozen=True)
class Piece:
    kind: str  # "same", "removed" or "added"
    text: str
    # An added run that replaces the removed run just before it with no whitespace between
    # them: shown with a space, or "cat" replaced by "dog" would read as "catdog".
    after_removed: bool = False


def word_diff(old: str, new: str) -> list[Piece]:
    """The pieces that turn `old` into `new`: kept, removed and added runs of words."""
    before, after = TOKENS.findall(old), TOKENS.findall(new)
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for op, a1, a2, b1, b2 in _merged(matcher.get_opcodes(), before):
        if op == "equal":
            pieces.append(Piece("same", "".join(before[a1:a2])))
            continue
        removed, added = "".join(before[a1:a2]), "".join(after[b1:b2])
        if removed:
            pieces.append(Piece("removed", removed))
        if added:
            pieces.append(Piece("added", added, after_removed=_run_together(removed, added)))
    return pieces


def _merged(hunks: Sequence[Hunk], tokens: list[str]) -> list[Hunk]:
    """Changes apart by whitespace only become one change, so that replaced words read as one
    removal then one insertion ("big red" then "small blue"), not interleaved word by word."""
    merged: list[Hunk] = []
    for hunk in hunks:
        if (
            hunk[0] != "equal"
            and len(merged) >= 2
            and merged[-2][0] != "equal"
            and _blank(merged[-1], tokens)
        ):
            merged.pop()
            _, a1, _, b1, _ = merged.pop()
            hunk = ("replace", a1, hunk[2], b1, hunk[4])
        merged.append(hunk)
    return merged


def _blank(hunk: Hunk, tokens: list[str]) -> bool:
    op, a1, a2, _, _ = hunk
    return op == "equal" and all(token.isspace() for token in tokens[a1:a2])


def _run_together(removed: str, added: str) -> bool:
    return bool(removed) and not removed[-1].isspace() and not added[0].isspace()


def side_by_side(left: str, right: str) -> tuple[list[Piece], list[Piece]]:
    """The left text with what only it has marked, and the same for the right."""
    pieces = word_diff(left, right)
    return (
        [piece for piece in pieces if piece.kind != "added"],
        # Each side shows one text: no removed run precedes an added one there.
        [replace(piece, after_removed=False) for piece in pieces if piece.kind != "removed"],
    )
