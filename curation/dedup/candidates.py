"""Candidate pairs from static embeddings: an HNSW index (usearch) and a cutoff found by descent.

The static vectors are centered first (the job's mean vector subtracted): texts that share a
vocabulary share a large common component (the mean of their tokens' vectors), which squeezes
every static cosine into 0.6-0.8 whether the texts are duplicates or not. Centered, the cosines
spread out: on the embedding benchmark's 20,000 messages, candidates holding 0.97 of the model's
pairs at 0.9 touch 4,300 texts instead of 7,800. Every text's NEIGHBOURS nearest by centered
static cosine, down to FLOOR, form the pairs the model may be asked to decide.

How far down to go is found per job (so per model, per threshold and per data) by descending:
the model decides every pair at START or above, then the pairs a bin of BIN_WIDTH lower at a
time (bins merged until a step holds MIN_STEP pairs), and the descent stops after a step that
adds no more than STOP_SHARE of the model's pairs found so far (or at FLOOR). The model's pairs
thin out steadily as static cosine falls (on the benchmark's texts at 0.9, each bin below 0.85
yields about two thirds of the one above), so the last step's yield bounds what lies below:
STOP_SHARE 0.01 left 2-3% of the model's pairs unseen on two corpora of 20,000 messages. Every
decision is the model's own, measured, not estimated from a sample: a sample of ten pairs
cannot see a keep rate of one in a thousand in a bin of ten thousand pairs, and the sampled
estimate this replaced set cutoffs anywhere from 0.62 to 0.80 on the same texts.

Memory at 1M texts: the index keeps each vector in float16 (512 bytes at 256 dimensions) and
about 2 x CONNECTIVITY neighbour ids on its base layer (4 bytes each, 96 bytes); the float32
vectors and their centered copy 2,048 bytes; a search batch 12 bytes a neighbour (20 MB for
SEARCH_BATCH rows): about 2.7 KB a text, 2.7 GB at 1M.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

NEIGHBOURS = 16
FLOOR = 0.5
BIN_WIDTH = 0.025
START = 0.85
STOP_SHARE = 0.01
MIN_STEP = 200
# HNSW graph: on the benchmark's texts these find every pair above 0.7 that an exhaustive search
# finds, in 1.2 s at 20,000 texts on 2 cores (16 and 64: the same pairs in 1.8 s).
CONNECTIVITY = 12
EXPANSION = 48
CENTERING_PRIOR = 200
SEARCH_BATCH = 100_000
Pairs = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]


def centered(vectors: Floats) -> Floats:
    """The vectors less their mean, at unit length (a zero vector stays zero). In a small job
    one group of duplicates can make most of the mean, and subtracting it would pull the group
    apart: the mean is shrunk by n / (n + CENTERING_PRIOR) (4% of it at 8 texts, 99% at 20,000)."""
    shrink = len(vectors) / (len(vectors) + CENTERING_PRIOR)
    shifted = vectors - shrink * vectors.mean(axis=0, keepdims=True)
    return (shifted / np.maximum(np.linalg.norm(shifted, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def neighbour_pairs(
    vectors: Floats, floor: float = FLOOR, neighbours: int = NEIGHBOURS
) -> tuple[Pairs, Floats]:
    """Row pairs (each once, lower row first) of each row's nearest rows by centered cosine
    down to `floor`, by an approximate (HNSW) index, and their exact centered cosines."""
    from usearch.index import Index

    if len(vectors) < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
    vectors = centered(vectors)
    threads = os.cpu_count() or 1
    index = Index(
        ndim=vectors.shape[1], metric="cos", dtype="f16", connectivity=CONNECTIVITY,
        expansion_add=EXPANSION, expansion_search=max(EXPANSION, 2 * neighbours),
    )  # fmt: skip
    index.add(np.arange(len(vectors), dtype=np.uint64), vectors, threads=threads)
    found = [
        _batch_pairs(index, vectors, start, min(neighbours + 1, len(vectors)), floor, threads)
        for start in range(0, len(vectors), SEARCH_BATCH)
    ]
    pairs = np.unique(np.concatenate(found), axis=0)
    return pairs, np.einsum("ij,ij->i", vectors[pairs[:, 0]], vectors[pairs[:, 1]])


def _batch_pairs(index: object, vectors: Floats, start: int, count: int, floor: float, threads: int) -> Pairs:
    matches = index.search(vectors[start : start + SEARCH_BATCH], count, threads=threads)  # type: ignore[attr-defined]
    keys, distances = matches.keys.astype(np.int64), matches.distances
    rows = np.broadcast_to(np.arange(start, start + len(keys))[:, None], keys.shape)
    valid = np.arange(keys.shape[1])[None, :] < matches.counts[:, None]
    near = valid & (distances <= 1 - floor) & (keys != rows)
    left, right = rows[near], keys[near]
    return np.stack([np.minimum(left, right), np.maximum(left, right)], axis=1)


Judge = Callable[[npt.NDArray[np.intp]], npt.NDArray[np.bool_]]


def descend(
    cosines: Floats, judge: Judge, start: float = START, stop_share: float = STOP_SHARE
) -> tuple[float, npt.NDArray[np.bool_]]:
    """The cutoff the descent reached, and whether the model keeps each pair (False for pairs
    below the cutoff, never decided). `judge` decides the pairs at the indices it is given.
    Nothing kept in the first step: the static stage sees no duplicates, and stops there."""
    kept = np.zeros(len(cosines), dtype=np.bool_)
    cutoff, band = _step(cosines, 2.0, start)
    found = 0
    while True:
        if len(band):
            kept[band] = judge(band)
        added = int(kept[band].sum())
        found += added
        if added <= stop_share * found or cutoff <= FLOOR + 1e-9:
            return cutoff, kept
        cutoff, band = _step(cosines, cutoff, cutoff - BIN_WIDTH)


def _step(cosines: Floats, upper: float, lower: float) -> tuple[float, npt.NDArray[np.intp]]:
    """The pairs from `lower` up to (not including) `upper`, the bound lowered a bin at a time
    until they are MIN_STEP or more (or FLOOR is reached): a yield counted over a handful of
    pairs says nothing (a small job's bins hold a few pairs each, many none)."""
    while True:
        lower = max(round(lower, 6), FLOOR)
        band = np.flatnonzero((cosines >= lower) & (cosines < upper))
        if len(band) >= MIN_STEP or lower <= FLOOR + 1e-9:
            return lower, band
        lower -= BIN_WIDTH
