"""The train/eval split of a version: deterministic, grouped, stratified, eval-lineage preserving.

Pure functions over arrays, no database. Rows that must stay together (equal normalized inputs,
members of one duplicate cluster) form groups; a group goes to one side whole. A group holding
an example that an earlier version evaluated on goes to eval (eval items never move into train).
The other groups are ordered by a seeded hash of their content, not by id or arrival, and taken
into eval per stratum (the label, for classification) until the stratum's share is reached.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

Ints = npt.NDArray[np.int64]
MASK_64 = (1 << 64) - 1


@dataclass(frozen=True)
class SplitInput:
    """Per row: the content hash (hex), the normalized-input key, the stratum and whether an
    earlier version held it in eval; `linked`: (row, row) pairs that must share a side."""

    content_hashes: Sequence[str]
    input_keys: Sequence[str]
    strata: Sequence[str]
    pinned_eval: npt.NDArray[np.bool_]
    linked: Ints


def split_groups(rows: SplitInput) -> Ints:
    """A group number per row: rows with equal input keys or linked, directly or not, share one."""
    count = len(rows.input_keys)
    first_row: dict[str, int] = {}
    same_key = np.fromiter(
        (first_row.setdefault(key, row) for row, key in enumerate(rows.input_keys)),
        dtype=np.int64,
        count=count,
    )
    if not len(rows.linked):  # equal keys alone: no graph needed
        return np.unique(same_key, return_inverse=True)[1].astype(np.int64)
    pairs = np.concatenate([np.stack([np.arange(count), same_key], axis=1), rows.linked])
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(count, count))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def eval_mask(rows: SplitInput, *, eval_fraction: float, seed: int) -> npt.NDArray[np.bool_]:
    """True for the rows that go to eval."""
    count = len(rows.input_keys)
    if count == 0:
        return np.zeros(0, dtype=bool)
    groups = split_groups(rows)
    total = int(groups.max()) + 1
    sizes = np.bincount(groups, minlength=total)
    pinned = np.bincount(groups, weights=rows.pinned_eval.astype(np.float64), minlength=total) > 0
    order = np.full(total, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(order, groups, _seeded_keys(rows.content_hashes, seed))
    strata = _group_strata(groups, sizes, rows.strata)
    group_eval = np.zeros(total, dtype=bool)
    by_stratum: dict[str, list[int]] = {}
    for group, stratum in enumerate(strata):
        by_stratum.setdefault(stratum, []).append(group)
    stratum_sizes = {stratum: int(sizes[members].sum()) for stratum, members in by_stratum.items()}
    for stratum, target in _targets(stratum_sizes, eval_fraction).items():
        members = np.asarray(by_stratum[stratum], dtype=np.int64)
        members = members[np.lexsort((order[members], ~pinned[members]))]  # pinned first, then seeded
        _fill_eval(members.tolist(), sizes.tolist(), pinned.tolist(), target, group_eval)
    return group_eval[groups]


def _group_strata(groups: Ints, sizes: Ints, strata: Sequence[str]) -> list[str]:
    """Each group's stratum: its row's, or for groups of several rows their most common one
    (the first in name order on a tie)."""
    result: list[str] = [""] * len(sizes)
    members: dict[int, list[str]] = {}
    for row, group in enumerate(groups.tolist()):
        if sizes[group] == 1:
            result[group] = strata[row]
        else:
            members.setdefault(group, []).append(strata[row])
    for group, labels in members.items():
        counts = Counter(labels)
        result[group] = min(counts, key=lambda label: (-counts[label], label))
    return result


def _targets(sizes: dict[str, int], eval_fraction: float) -> dict[str, int]:
    """Eval rows per stratum: each its share rounded down, then the rows left to reach the
    overall share to the strata with the largest remainders (ties: in name order)."""
    exact = {stratum: eval_fraction * size for stratum, size in sizes.items()}
    targets = {stratum: int(share) for stratum, share in exact.items()}
    left = round(eval_fraction * sum(sizes.values())) - sum(targets.values())
    by_remainder = sorted(exact, key=lambda stratum: (-(exact[stratum] - targets[stratum]), stratum))
    for stratum in by_remainder[: max(left, 0)]:
        targets[stratum] += 1
    return targets


def _fill_eval(
    ordered: list[int], sizes: list[int], pinned: list[bool], target: int, group_eval: npt.NDArray[np.bool_]
) -> None:
    """Pinned groups all go to eval; then groups in order while they fit the stratum's target."""
    taken = 0
    for group in ordered:
        if pinned[group]:
            group_eval[group] = True
            taken += sizes[group]
        elif taken >= target:
            break
        elif taken + sizes[group] <= target:
            group_eval[group] = True
            taken += sizes[group]


def _seeded_keys(content_hashes: Sequence[str], seed: int) -> npt.NDArray[np.uint64]:
    """A 64-bit order key per row from its content and the seed (splitmix64 of the mix): the same
    content and seed give the same order on any database, whatever the ids."""
    prefixes = np.array([int(value[:16], 16) for value in content_hashes], dtype=np.uint64)
    with np.errstate(over="ignore"):
        mixed = prefixes ^ np.uint64((seed * 0x9E3779B97F4A7C15) & MASK_64)
        mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return mixed ^ (mixed >> np.uint64(31))
