"""Which queued inputs get the project's overlap when only a share of them should.

An input is in the sample when its hash falls in a window of the hash circle, [offset,
offset + share), where the offset comes from the project's seed. The rule reads the first 16 hex
digits of the input hash, so Python (one input) and SQL (a whole import, a settings change)
decide it the same way; the same seed always picks the same inputs. Another sample (the
suggestion blind sample, curation.services.suggestion_use) uses the same rule with its own salt.
"""

from __future__ import annotations

import hashlib

from curation.models import Project

DIGITS = 16
SPAN = 16**DIGITS
OVERLAP_SALT = "finch-overlap"


def _window(share: float, seed: int, salt: str = OVERLAP_SALT) -> tuple[str, str, bool]:
    """(low, high, wraps): hex bounds of the window; wraps when it crosses zero."""
    offset = int(hashlib.sha256(f"{salt}:{seed}".encode()).hexdigest()[:DIGITS], 16)
    width = round(share * SPAN)
    high = (offset + width) % SPAN
    return f"{offset:0{DIGITS}x}", f"{high:0{DIGITS}x}", offset + width >= SPAN


def target_overlap(project: Project, input_hash: str) -> int:
    """How many annotations an input with this hash gets in the project."""
    if project.labeling_overlap <= 1 or in_sample(
        input_hash, project.labeling_overlap_share, project.labeling_sample_seed
    ):
        return project.labeling_overlap
    return 1


def in_sample(input_hash: str, share: float, seed: int, salt: str = OVERLAP_SALT) -> bool:
    if share >= 1:
        return True
    low, high, wraps = _window(share, seed, salt)
    key = input_hash[:DIGITS]
    return (key >= low or key < high) if wraps else low <= key < high


def target_overlap_sql(project: Project, column: str = "input_hash") -> tuple[str, list[str | int]]:
    """An SQL expression of the target overlap for rows whose input hash is in `column`."""
    overlap = project.labeling_overlap
    if overlap <= 1 or project.labeling_overlap_share >= 1:
        return "%s", [overlap]
    low, high, wraps = _window(project.labeling_overlap_share, project.labeling_sample_seed)
    key = f"substr({column}, 1, {DIGITS})"
    joint = "OR" if wraps else "AND"
    # Equal-length lowercase hex strings compare in numeric order (tested on both databases).
    return (
        f"CASE WHEN ({key} >= %s {joint} {key} < %s) THEN %s ELSE 1 END",
        [low, high, overlap],
    )
