"""Candidate pairs from static embeddings: an HNSW index (usearch) and a calibrated cutoff.

The static vectors are centered first (the job's mean vector subtracted): texts that share a
vocabulary share a large common component (the mean of their tokens' vectors), which squeezes
every static cosine into 0.6-0.8 whether the texts are duplicates or not. Centered, the cosines
spread out: on the embedding benchmark's 20,000 messages, candidates holding 0.97 of the model's
pairs at 0.9 touch 4,300 texts instead of 7,800. Every text's NEIGHBOURS nearest by centered
static cosine, down to FLOOR, form the pairs the calibration samples from; those at or above the
calibrated cutoff are the candidates the model decides.

Calibration (per job, so per model, per threshold and per data): the pairs are put in bins of
BIN_WIDTH static cosine; up to PER_BIN pairs of each bin are decided by the model; each bin's
share of the model's pairs is estimated as its pair count times the share of its sampled pairs
the model keeps. The cutoff is the highest bin edge above which the estimate holds RECALL of
the model's pairs, lowered by SAFETY_BINS more for what a sample cannot see.

Memory at 1M texts: the index keeps each vector in float16 (512 bytes at 256 dimensions) and
about 2 x CONNECTIVITY neighbour ids on its base layer (4 bytes each, 96 bytes); the float32
vectors and their centered copy 2,048 bytes; a search batch 12 bytes a neighbour (20 MB for
SEARCH_BATCH rows): about 2.7 KB a text, 2.7 GB at 1M.
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt

NEIGHBOURS = 16
FLOOR = 0.5
BIN_WIDTH = 0.025
PER_BIN = 10
RECALL = 0.99
SAFETY_BINS = 2  # the cutoff goes this many bins lower than the estimate asks
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


def calibration_sample(cosines: Floats, per_bin: int = PER_BIN, seed: int = 0) -> npt.NDArray[np.intp]:
    """Indices of up to `per_bin` pairs from each bin of static cosine (seeded)."""
    rng = np.random.default_rng(seed)
    bins = _bins(cosines)
    chosen = [
        rng.choice(members, min(per_bin, len(members)), replace=False)
        for members in (np.flatnonzero(bins == b) for b in np.unique(bins))
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.intp)


def static_cutoff(
    cosines: Floats, sampled: npt.NDArray[np.intp], kept: npt.NDArray[np.bool_], recall: float = RECALL
) -> float:
    """The static cosine from which candidates hold `recall` of the model's pairs, estimated
    from the sampled pairs (`kept`: whether the model keeps each), SAFETY_BINS lower.
    With no pair kept in the sample the lowest bin's edge: nothing to go by, so search widely."""
    bins = _bins(cosines)
    count = np.bincount(bins)
    sampled_count = np.bincount(bins[sampled], minlength=len(count))
    kept_count = np.bincount(bins[sampled][kept], minlength=len(count))
    estimate = np.where(sampled_count > 0, count * kept_count / np.maximum(sampled_count, 1), 0.0)
    if estimate.sum() == 0:
        return float(_edge(int(bins.min()))) if len(bins) else 1.0
    from_top = np.cumsum(estimate[::-1])[::-1] / estimate.sum()  # share at or above each bin
    enough = int(np.flatnonzero(from_top >= recall - 1e-9).max())
    return float(_edge(max(enough - SAFETY_BINS, int(bins.min()))))


def _bins(cosines: Floats) -> npt.NDArray[np.intp]:
    return np.floor((np.clip(cosines, FLOOR, 1.0) - FLOOR) / BIN_WIDTH + 1e-6).astype(np.intp)


def _edge(bin_number: int) -> float:
    return round(FLOOR + bin_number * BIN_WIDTH, 6)
