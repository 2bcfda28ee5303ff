"""MinHash signatures for many texts at once, vectorized with numpy.

Shingles are hashed with a polynomial rolling hash over code points (64-bit wraparound), so no
Python object is made per shingle. Signatures use one-permutation hashing: each shingle hash
falls into one of `num_perm` bins and each bin keeps its minimum; empty bins borrow from the next
filled bin to the right (rotation densification), so one pass over the shingles does the work of
`num_perm` permutations. A pair's estimated Jaccard is the share of equal bins.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
BASE = np.uint64(0x100000001B3)
EMPTY = np.uint64(np.iinfo(np.uint64).max)


def _mix(values: U64) -> U64:
    """splitmix64's finalizer: spreads similar hashes over all 64 bits."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def char_shingles(texts: list[str], ngram: int) -> tuple[U64, npt.NDArray[np.int64]]:
    """Hashes of every character n-gram, and the text each belongs to (texts shorter than
    `ngram` are padded, so each has at least one shingle)."""
    padded = [text if len(text) >= ngram else text.ljust(ngram) for text in texts]
    lengths = np.fromiter((len(text) for text in padded), dtype=np.int64, count=len(padded))
    codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    windows = codes.size - ngram + 1
    hashes = np.zeros(windows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(ngram):
            hashes = hashes * BASE + codes[offset : offset + windows]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    owner = np.repeat(np.arange(len(padded), dtype=np.int64), lengths)[:windows]
    within = np.arange(windows, dtype=np.int64) - starts[owner]
    keep = within <= lengths[owner] - ngram  # drop windows that run into the next text
    return _mix(hashes[keep]), owner[keep]


def signatures(hashes: U64, owner: npt.NDArray[np.int64], count: int, num_perm: int = 128) -> U64:
    """A (count, num_perm) signature matrix; `owner` must be sorted (texts in order)."""
    bins = ((hashes >> np.uint64(32)) * np.uint64(num_perm)) >> np.uint64(32)
    values = hashes & np.uint64(0xFFFFFFFF)
    flat = np.full(count * num_perm, EMPTY, dtype=np.uint64)
    np.minimum.at(flat, owner * num_perm + bins.astype(np.int64), values)
    return _densify(flat.reshape(count, num_perm))


def _densify(matrix: U64) -> U64:
    """Fill each empty bin from the next filled bin to the right (wrapping), shifted by the
    distance so that borrowed values only match values borrowed the same way."""
    width = matrix.shape[1]
    filled = matrix != EMPTY
    if filled.all():
        return matrix
    columns = np.arange(2 * width)
    twice = np.where(np.concatenate([filled, filled], axis=1), columns, 2 * width)
    nearest = np.minimum.accumulate(twice[:, ::-1], axis=1)[:, ::-1][:, :width]
    distance = (nearest - columns[:width]).astype(np.uint64)
    source = np.take_along_axis(matrix, nearest % width, axis=1)
    return np.where(filled, matrix, source + (distance << np.uint64(32)))


def estimated_jaccard(matrix: U64, pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The share of equal bins for each (row, row) pair."""
    return (matrix[pairs[:, 0]] == matrix[pairs[:, 1]]).mean(axis=1)


def candidate_pairs(matrix: U64, bands: int) -> npt.NDArray[np.int64]:
    """Row pairs that agree on every bin of at least one band (LSH); each pair once, sorted."""
    count, width = matrix.shape
    rows = width // bands
    found = []
    for band in range(bands):
        block = matrix[:, band * rows : (band + 1) * rows]
        key = np.zeros(count, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for column in range(rows):
                key = _mix(key * BASE + block[:, column])
        found.append(_equal_key_pairs(key))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    return np.unique(pairs, axis=0) if pairs.size else pairs


def _equal_key_pairs(key: U64) -> npt.NDArray[np.int64]:
    """Pairs of rows with the same key: each row of a run with the run's first row and with its
    predecessor (enough for the groups, without a quadratic blow-up on big runs)."""
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.empty((0, 2), dtype=np.int64)
    run_start = np.maximum.accumulate(np.where(np.concatenate(([False], same)), 0, np.arange(key.size)))
    later = np.nonzero(np.concatenate(([False], same)))[0]
    with_first = np.stack([order[run_start[later]], order[later]], axis=1)
    with_previous = np.stack([order[later - 1], order[later]], axis=1)
    pairs = np.concatenate([with_first, with_previous])
    return np.sort(pairs, axis=1)
