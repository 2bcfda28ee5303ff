"""Embedding pairs by static candidates (FINCH_EMBEDDING_STATIC): the transformer embeds only
the texts of candidate pairs, not every text.

1. Every text gets a static embedding (model2vec, distilled from the configured model).
2. An exact search (int8 products, up to 60,000 texts) or an HNSW index (usearch)
   gives each text's nearest texts by centered static cosine (curation.dedup.candidates),
   scored with the Jaccard of their character trigrams.
3. The model decides the pairs from the highest score down, a bin at a time, until a bin adds
   too few of its pairs (candidates.descend): the int8 copy embeds their texts (cached), the
   model itself decides those near the threshold, as in the int8 path: all at once, after the
   descent or where a step's count hangs on them. In a dedup job's merge a step's texts are
   embedded by every free worker (`embedder`: embedding_shares.sharing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings

from curation.dedup import candidates as search
from curation.dedup import static
from curation.dedup.embeddings import Pairs, Vectors, all_cores, pair_cosines
from curation.phases import phase
from curation.services import embedding_cache as cache

Cosine = Callable[[int, int], float]


logger = logging.getLogger(__name__)


# Where FINCH_EMBEDDING_STATIC is `auto`, static candidates serve thresholds from here up: at
# 0.9 they hold 0.975-0.98 of the model's pairs on the benchmark's corpora; below it the static
# copy misses paraphrases outright (docs/quality-jobs.md, "Choosing a threshold").
AUTO_FROM_THRESHOLD = 0.9


def enabled(threshold: float) -> bool:
    """Whether a job at `threshold` takes its embedding pairs from static candidates
    (FINCH_EMBEDDING_STATIC; needs model2vec and usearch)."""
    if settings.FINCH_EMBEDDING_STATIC == "auto" and threshold < AUTO_FROM_THRESHOLD - 1e-9:
        return False
    return in_use()


def in_use() -> bool:
    """Whether some job may use static candidates here (its static copy is worth making and
    loading ahead: prepare_models, preloading workers)."""
    return bool(settings.FINCH_EMBEDDING_STATIC) and static.available()  # `auto` or true


def preload() -> None:
    """Load what a job with static candidates first uses: the static copy, the exact search's
    session and the compiled code of it and of the trigrams (numba's cache, about 0.4 s to load
    into a process)."""
    static.encode(["a text"], cache.model_path(), settings.FINCH_MODELS_DIR)
    search.neighbour_pairs(np.eye(3, 8, dtype=np.float32), exact=True)
    search.pair_scores(["a text", "a text"], np.array([[0, 1]]), np.zeros(1, dtype=np.float32))


def static_text_pairs(
    texts: list[str],
    threshold: float,
    *,
    wanted: cache.PairFilter | None = None,
    embedder: cache.Embedder | None = None,
) -> tuple[Pairs, Cosine]:
    """Row pairs whose cosine by the model reaches the threshold, found among static candidates;
    and the cosine of any two rows the model embedded (KeyError for others). `embedder`: how
    texts missing from the cache are embedded (embedding_cache.embed_stored)."""
    with phase("sketch"):  # the static embeddings
        vectors = static.encode(texts, cache.model_path(), settings.FINCH_MODELS_DIR)
    with phase("candidates"):
        pairs, cosines = search.neighbour_pairs(vectors, overwrite=True)
        del vectors
        if wanted is not None and len(pairs):
            keep = wanted(pairs)
            pairs, cosines = pairs[keep], cosines[keep]
        scores = search.pair_scores(texts, pairs, cosines)
    judge = PairJudge(texts, threshold, embedder)
    with phase("verify"), all_cores():  # the model embeds the texts (phase "embed") and decides
        cutoff, verdicts = search.descend(
            scores,
            lambda at: judge.verdicts(pairs[at]),
            floor=search.SCORE_FLOOR,
            settle=lambda at: judge.settles(pairs[at]),
        )
        # Pairs below the cutoff whose two texts the descent embedded anyway cost no more texts
        below = np.flatnonzero(scores < cutoff)
        free = below[judge.has_embedded(pairs[below])]
        verdicts[free] = judge.verdicts(pairs[free])
        # The model decides the pairs still open at once: their texts in one call, not a few
        # dozen a step (on two cores 350 texts 0.87 s against 1.1-1.2 s as seven calls)
        kept = verdicts == search.KEPT
        unsettled = np.flatnonzero(verdicts == search.OPEN)
        kept[unsettled] = judge.settles(pairs[unsettled])
    logger.info(
        "static candidates: %d neighbour pairs, cutoff %.3f, %d decided over %d texts, %d kept",
        len(pairs), cutoff, int((scores >= cutoff).sum()) + len(free), judge.embedded, int(kept.sum()),
    )  # fmt: skip
    return pairs[kept], judge.cosine


class PairJudge:
    """The model's decisions on pairs of rows, each text embedded once (through the cache):
    with the int8 copy, pairs clear of the threshold are decided by it and the model itself
    decides those near it (see embedding_cache.INT8_BELOW); else the model alone."""

    def __init__(self, texts: list[str], threshold: float, embedder: cache.Embedder | None = None) -> None:
        self.texts, self.threshold, self._embedder = texts, threshold, embedder
        self.fast = cache.fast_available()
        # The int8 copy's vectors in float16: half the memory (750,000 of them at a million
        # texts) for an error a hundredth of the int8 copy's own; the model's stay float32.
        fast_dtype = np.float16 if self.fast else np.float32
        self._vectors = RowVectors(len(texts), fast_dtype)  # by the int8 copy where fast, else the model
        self._precise = RowVectors(len(texts), np.float32)  # by the model itself, near the threshold

    @property
    def embedded(self) -> int:
        return self._vectors.count

    def has_embedded(self, pairs: Pairs) -> npt.NDArray[np.bool_]:
        """Whether both texts of each pair are embedded already."""
        return np.asarray(self._vectors.holds(pairs).all(axis=1), dtype=np.bool_)

    def verdicts(self, pairs: Pairs) -> search.Verdicts:
        """The int8 copy's verdict on each pair: KEPT or DROPPED where it is clear of the threshold,
        OPEN near it (see cache.INT8_BELOW), for the model itself to settle. Without the int8
        copy, the model's own."""
        first = self._cosines(self._vectors, pairs, fast=self.fast)
        if not self.fast:
            return np.where(first >= self.threshold, search.KEPT, search.DROPPED).astype(np.int8)
        verdicts = np.full(len(pairs), search.DROPPED, dtype=np.int8)
        verdicts[first >= self.threshold - cache.INT8_BELOW] = search.OPEN
        verdicts[first >= self.threshold + cache.INT8_ABOVE] = search.KEPT
        return verdicts

    def settles(self, pairs: Pairs) -> npt.NDArray[np.bool_]:
        """Whether the model itself keeps each pair (its texts embedded by the model)."""
        return self._cosines(self._precise, pairs, fast=False) >= self.threshold

    def cosine(self, a: int, b: int) -> float:
        """The model's cosine where it embedded both rows, else the int8 copy's (KeyError for
        a row never embedded)."""
        pair = np.array([[a, b]])
        for store in (self._precise, self._vectors):
            if store.holds(pair).all():
                return float(store.cosines(pair)[0])
        raise KeyError((a, b))

    def _cosines(self, store: RowVectors, pairs: Pairs, *, fast: bool) -> npt.NDArray[np.float32]:
        rows = np.unique(pairs)
        missing = rows[~store.holds(rows)]
        if len(missing):
            texts = [self.texts[row] for row in missing.tolist()]
            store.add(missing, cache.cached_vectors(texts, fast=fast, embedder=self._embedder))
        return store.cosines(pairs)


class RowVectors:
    """Embeddings of some of a job's rows in one matrix, filled from the top, so that a step's
    pairs are compared in blocks: they can number hundreds of thousands (the pairs below the
    cutoff, at 100,000 texts), too many to gather at once. The matrix has room for every row
    from the first add: zeroed memory is only mapped, not resident, until a row is written, and
    a matrix grown by copying held its old and new copies at once at its peak."""

    def __init__(self, rows: int, dtype: type[np.floating[Any]] = np.float32) -> None:
        self._slot = np.full(rows, -1, dtype=np.int64)  # each row's row in the matrix, -1: none
        self._matrix: npt.NDArray[np.floating[Any]] = np.zeros((0, 0), dtype=dtype)
        self.count = 0

    def holds(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        held: npt.NDArray[np.bool_] = self._slot[rows] >= 0
        return held

    def add(self, rows: npt.NDArray[np.int64], vectors: Vectors) -> None:
        if not len(rows):
            return
        end = self.count + len(rows)
        if not self._matrix.size:
            self._matrix = np.zeros((len(self._slot), vectors.shape[1]), dtype=self._matrix.dtype)
        self._matrix[self.count : end] = vectors
        self._slot[rows] = np.arange(self.count, end)
        self.count = end

    def cosines(self, pairs: Pairs) -> npt.NDArray[np.float32]:
        if not len(pairs):
            return np.zeros(0, dtype=np.float32)
        return pair_cosines(self._matrix, self._slot[pairs])
