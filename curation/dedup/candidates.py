"""Candidate pairs from static embeddings: each text's nearest (an exact search or an HNSW index),
ranked with the texts' character trigrams, and a cutoff found by descent.

The static vectors are centered first (the job's mean vector subtracted): texts that share a
vocabulary share a large common component (the mean of their tokens' vectors), which squeezes
every static cosine into 0.6-0.8 whether the texts are duplicates or not. Centered, the cosines
spread out: on the embedding benchmark's 20,000 messages, candidates holding 0.97 of the model's
pairs at 0.9 touch 4,300 texts instead of 7,800. Every text's NEIGHBOURS nearest by centered
static cosine, down to FLOOR, form the pairs the model may be asked to decide.

The descent takes them in the order of a score: the mean of the centered static cosine and the
Jaccard of the two texts' character trigrams (pair_scores). The two fail in opposite places: a
typo or a run-together word turns a common word into rare word pieces, which move a static
vector far (static weighs rare pieces most) but change three trigrams; a paraphrase shares few
trigrams but keeps its words' meaning. On the benchmark's 20,000 messages at 0.9, 0.97 of the
model's pairs lie among the top pairs touching 2,900 texts by the score, 4,100 by the static
cosine alone; the descent below decides 3,200 texts instead of 5,250, and holds more pairs.

How far down to go is found per job (so per model, per threshold and per data) by descending:
the model decides every pair scoring START or above, then the pairs a bin of BIN_WIDTH lower at
a time (bins merged until a step holds MIN_STEP pairs), and the descent stops after a step that
adds no more than STOP_SHARE of the model's pairs found so far (or at SCORE_FLOOR, the lowest
score a candidate can have). The model's pairs thin out steadily as the score falls, so the
last step's yield bounds what lies below: on two corpora of 20,000 messages at 0.9 the descent
stopped at 0.575 and the clusters held 0.975-0.980 of the model's pairs. STOP_SHARE is 0.0075,
not 0.01, for a step of margin (about 300 texts at 20,000): the int8 copy's noise moves a
stop by a step, and with 0.01 a variant of the score stopped one corpus a step early, at 0.956
of the pairs. Every decision is the model's own, measured, not estimated from a sample: a
sample of ten pairs cannot see a keep rate of one in a thousand in a bin of ten thousand pairs,
and the sampled estimate this replaced set cutoffs anywhere from 0.62 to 0.80 on the same texts.

The nearest texts come from an exact search up to EXACT_ROWS texts (EXACT_ROWS_AMX where the CPU
has AMX), where it is faster than the index (curation.dedup.exact_search: every pair by int8
matrix products, or AMX's bfloat16 tiles). On a Zen 4 EPYC's two
cores, the search with the centering and the float32 cosines of its pairs: on AVX2 code 0.62 s
at 20,000 texts against the index's 1.41 s, 2.2 against 3.4 s at 40,000, 4.7 against 5.7 s at
60,000; with VNNI 0.67 against 1.31, 1.8 against 3.5, 3.3 against 7.5, 5.9 against 7.4 s at
80,000. Exact, a job's candidates are the same on every run.

The index keeps each vector in int8 (usearch's scaling of unit vectors): on an AVX2-only EPYC
(Zen 3) the candidates phase of a 20,000-text job took 1.35-1.45 s against 2.15-2.3 s with
float16 vectors, and the descent kept the same pairs (955-956), though the index finds 0.993-0.996
of the pairs above 0.7 that an exhaustive search finds against float16's 0.999.

Memory at 1M texts: the index keeps each vector in int8 (256 bytes at 256 dimensions) and
about 2 x CONNECTIVITY neighbour ids on its base layer (4 bytes each, 96 bytes); the float32
vectors, centered in place, 1,024 bytes; a search batch 12 bytes a neighbour (20 MB for
SEARCH_BATCH rows): about 1.4 KB a text, 1.4 GB at 1M; the trigram sets of a block of pairs'
texts 160-800 MB more (TRIGRAM_CHARS).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from curation.dedup import exact_search
from curation.dedup.embeddings import pair_cosines, unit_rows
from curation.dedup.sketch import ShingleSets

NEIGHBOURS = 16
FLOOR = 0.5
BIN_WIDTH = 0.025
START = 0.85
STOP_SHARE = 0.0075
MIN_STEP = 200
TRIGRAM_WEIGHT = 0.5
# Of each text, the characters compared by trigrams (where near-copies differ shows early), and
# the pairs whose texts are shingled at once: at most 2 x SCORE_BLOCK x TRIGRAM_CHARS x 8 bytes
# (800 MB) whatever the texts' lengths, 160 MB for texts of 100 characters.
TRIGRAM_CHARS = 500
SCORE_BLOCK = 100_000
SCORE_FLOOR = (1 - TRIGRAM_WEIGHT) * FLOOR  # a candidate at FLOOR with no trigram in common
# HNSW graph: on the benchmark's texts these find every pair above 0.7 that an exhaustive search
# finds, in 1.2 s at 20,000 texts on 2 cores (16 and 64: the same pairs in 1.8 s).
CONNECTIVITY = 12
EXPANSION = 48
CENTERING_PRIOR = 200
SEARCH_BATCH = 100_000
EXACT_ROWS = 60_000  # texts searched exactly (exact_search) rather than by the index
# Where AMX multiplies bfloat16 tiles: on a Xeon's two cores the search with its cosines took 3.1
# against the index's 5.4 s at 60,000 texts, 6.9 against 10.9 s at 100,000, 15.4 against 19.2 s
# at 150,000 (the exact search grows with the square of the texts, the index about linearly).
EXACT_ROWS_AMX = 150_000
Pairs = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]


def centered(vectors: Floats, *, overwrite: bool = False) -> Floats:
    """The vectors less their mean, at unit length (a zero vector stays zero); `overwrite`: in
    `vectors` itself, for a caller that needs them no more (a GB less at a million texts). In a
    small job one group of duplicates can make most of the mean, and subtracting it would pull
    the group apart: the mean is shrunk by n / (n + CENTERING_PRIOR) (4% of it at 8 texts, 99%
    at 20,000)."""
    shrink = len(vectors) / (len(vectors) + CENTERING_PRIOR)
    shift = (shrink * vectors.mean(axis=0, keepdims=True, dtype=np.float64)).astype(np.float32)
    if overwrite:
        vectors -= shift
        return unit_rows(vectors)
    return unit_rows(vectors - shift)


def neighbour_pairs(
    vectors: Floats,
    floor: float = FLOOR,
    neighbours: int = NEIGHBOURS,
    *,
    exact: bool | None = None,
    overwrite: bool = False,
) -> tuple[Pairs, Floats]:
    """Row pairs (each once, lower row first) of each row's nearest rows by centered cosine
    down to `floor`, and their centered cosines (float32). `exact`: an exact search rather than
    the HNSW index (None: where it is faster, see exact_rows); `overwrite`: center `vectors` in
    place (see centered)."""
    if len(vectors) < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
    vectors = centered(vectors, overwrite=overwrite)
    if exact is None:
        exact = len(vectors) <= exact_rows()
    if exact:
        pairs = exact_search.nearest_pairs(vectors, neighbours, floor)
    else:
        count = min(neighbours + 1, len(vectors))  # each row finds itself too
        pairs = exact_search.distinct(_index_pairs(vectors, count, floor), len(vectors))
    cosines = pair_cosines(vectors, pairs)
    near = cosines >= floor  # the searches' own similarities are int8
    return pairs[near], cosines[near]


def exact_rows() -> int:
    """Texts up to which the exact search is the faster on this CPU."""
    return EXACT_ROWS_AMX if exact_search.amx_available() else EXACT_ROWS


def _index_pairs(vectors: Floats, count: int, floor: float) -> Pairs:
    from usearch.index import Index

    threads = os.cpu_count() or 1
    index = Index(
        ndim=vectors.shape[1], metric="cos", dtype="i8", connectivity=CONNECTIVITY,
        expansion_add=EXPANSION, expansion_search=max(EXPANSION, 2 * count),
    )  # fmt: skip
    index.add(np.arange(len(vectors), dtype=np.uint64), vectors, threads=threads)
    found = []
    for start in range(0, len(vectors), SEARCH_BATCH):
        matches: Any = index.search(vectors[start : start + SEARCH_BATCH], count, threads=threads)
        valid = np.arange(count)[None, :] < matches.counts[:, None]
        found.append(_row_pairs(start, matches.keys.astype(np.int64), 1 - matches.distances, valid, floor))
    return np.concatenate(found)


def _row_pairs(
    start: int, keys: Pairs, similarities: Floats, valid: npt.NDArray[np.bool_], floor: float
) -> Pairs:
    """The pairs (lower row first) of rows start, start + 1, ... with their found rows at `floor` or
    more, a row never with itself."""
    rows = np.broadcast_to(np.arange(start, start + len(keys))[:, None], keys.shape)
    near = valid & (similarities >= floor) & (keys != rows)
    left, right = rows[near], keys[near]
    return np.stack([np.minimum(left, right), np.maximum(left, right)], axis=1)


def pair_scores(texts: list[str], pairs: Pairs, cosines: Floats) -> Floats:
    """The descent's order: each pair's centered static cosine and the Jaccard of its two texts'
    character trigrams (case and runs of spaces aside, the first TRIGRAM_CHARS characters),
    weighed by TRIGRAM_WEIGHT. The texts of SCORE_BLOCK pairs at a time are shingled."""
    jaccard = np.zeros(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), SCORE_BLOCK):
        block = pairs[start : start + SCORE_BLOCK]
        rows, local = np.unique(block, return_inverse=True)
        local = local.reshape(block.shape)
        trigrams = ShingleSets([_folded(texts[row]) for row in rows.tolist()], ngram=3)
        jaccard[start : start + SCORE_BLOCK] = trigrams.jaccard(local[:, 0], local[:, 1])
    return ((1 - TRIGRAM_WEIGHT) * cosines + TRIGRAM_WEIGHT * jaccard).astype(np.float32)


def _folded(text: str) -> str:
    return " ".join(text[: 2 * TRIGRAM_CHARS].casefold().split())[:TRIGRAM_CHARS]


# A judge's verdicts on pairs: kept, dropped, or open (near the threshold, where a costlier
# judgement, `settle`, decides: the model itself after its int8 copy).
DROPPED, KEPT, OPEN = 0, 1, 2
Verdicts = npt.NDArray[np.int8]
Judge = Callable[[npt.NDArray[np.intp]], npt.NDArray[np.bool_] | Verdicts]
Settle = Callable[[npt.NDArray[np.intp]], npt.NDArray[np.bool_]]


def descend(
    scores: Floats,
    judge: Judge,
    start: float = START,
    stop_share: float = STOP_SHARE,
    floor: float = FLOOR,
    settle: Settle | None = None,
) -> tuple[float, Verdicts]:
    """The cutoff the descent reached, and each pair's verdict (DROPPED for pairs below the
    cutoff, never decided). `judge` gives the verdicts of the pairs at the indices it is given
    (True / False for KEPT / DROPPED, or Verdicts with OPEN ones for `settle` to decide). Open
    pairs are settled, all at once, only when a step's count could fall either side of the stop
    rule: the descent stops where it would with every pair settled, and the pairs still open
    are left for the caller to settle in one call. Nothing kept in the first step: the static
    stage sees no duplicates, and stops there."""
    verdicts = np.zeros(len(scores), dtype=np.int8)
    cutoff, band = _step(scores, 2.0, start, floor)
    while True:
        if len(band):
            verdicts[band] = judge(band)
        stops = _stops(verdicts, band, stop_share)
        if stops is None:
            assert settle is not None, "a judge gave open verdicts and no way to settle them"
            unsettled = np.flatnonzero(verdicts == OPEN)
            verdicts[unsettled] = np.where(settle(unsettled), KEPT, DROPPED)
            stops = _stops(verdicts, band, stop_share)
        if stops or cutoff <= floor + 1e-9:
            return cutoff, verdicts
        cutoff, band = _step(scores, cutoff, cutoff - BIN_WIDTH, floor)


def _stops(verdicts: Verdicts, band: npt.NDArray[np.intp], stop_share: float) -> bool | None:
    """Whether the step of `band` adds `stop_share` or less of the pairs kept so far: True or
    False whatever the open pairs' verdicts turn out to be, None where they decide it."""
    added = int(np.count_nonzero(verdicts[band] == KEPT))
    added_open = int(np.count_nonzero(verdicts[band] == OPEN))
    before = int(np.count_nonzero(verdicts == KEPT)) - added
    before_open = int(np.count_nonzero(verdicts == OPEN)) - added_open

    def stop(added: int, before: int) -> bool:  # later finds make a stop likelier, this step's less
        return added <= stop_share * (before + added)

    if stop(added + added_open, before):
        return True
    if not stop(added, before + before_open):
        return False
    return None


def _step(scores: Floats, upper: float, lower: float, floor: float) -> tuple[float, npt.NDArray[np.intp]]:
    """The pairs from `lower` up to (not including) `upper`, the bound lowered a bin at a time
    until they are MIN_STEP or more (or the floor is reached): a yield counted over a handful of
    pairs says nothing (a small job's bins hold a few pairs each, many none)."""
    while True:
        lower = max(round(lower, 6), floor)
        band = np.flatnonzero((scores >= lower) & (scores < upper))
        if len(band) >= MIN_STEP or lower <= floor + 1e-9:
            return lower, band
        lower -= BIN_WIDTH
