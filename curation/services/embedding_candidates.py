"""Embedding pairs by static candidates (FINCH_EMBEDDING_STATIC): the transformer embeds only
the texts of candidate pairs, not every text.

1. Every text gets a static embedding (model2vec, distilled from the configured model).
2. An HNSW index (usearch) gives each text's nearest texts by static cosine
   (curation.dedup.candidates).
3. Calibration: a sample of those pairs across the range of static cosine is decided by the
   model; the cutoff is set so that candidates hold an estimated 0.99 of the model's pairs.
4. The model decides the candidates at or above the cutoff, as in the int8 path: the int8 copy
   embeds their texts (cached), the model itself decides those near the threshold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from django.conf import settings

from curation.dedup import candidates as search
from curation.dedup import static
from curation.dedup.embeddings import Pairs, all_cores
from curation.phases import phase
from curation.services import embedding_cache as cache

Cosine = Callable[[int, int], float]


logger = logging.getLogger(__name__)


def enabled() -> bool:
    """Whether embedding pairs come from static candidates (off by default; needs model2vec and usearch)."""
    return bool(settings.FINCH_EMBEDDING_STATIC) and static.available()


def static_text_pairs(
    texts: list[str], threshold: float, *, wanted: cache.PairFilter | None = None
) -> tuple[Pairs, Cosine]:
    """Row pairs whose cosine by the model reaches the threshold, found among static candidates;
    and the cosine of any two rows the model embedded (KeyError for others)."""
    with phase("sketch"):  # the static embeddings
        vectors = static.encode(texts, cache.model_path(), settings.FINCH_MODELS_DIR)
    with phase("candidates"):
        pairs, cosines = search.neighbour_pairs(vectors)
        del vectors
        if wanted is not None and len(pairs):
            keep = wanted(pairs)
            pairs, cosines = pairs[keep], cosines[keep]
        sampled = search.calibration_sample(cosines)
    with phase("verify"):  # the model embeds the texts (phase "embed") and decides the pairs
        sample_kept, _ = decide(texts, pairs[sampled], threshold)
        cutoff = search.static_cutoff(cosines, sampled, sample_kept)
        chosen = cosines >= cutoff
        chosen[sampled] = True  # decided already: the cache makes them free
        kept, cosine = decide(texts, pairs[chosen], threshold)
    logger.info(
        "static candidates: %d neighbour pairs, %d sampled, cutoff %.2f, %d candidates over %d texts",
        len(pairs), len(sampled), cutoff, int(chosen.sum()), len(np.unique(pairs[chosen])),
    )  # fmt: skip
    return pairs[chosen][kept], cosine


def decide(texts: list[str], pairs: Pairs, threshold: float) -> tuple[npt.NDArray[np.bool_], Cosine]:
    """Whether the model keeps each pair, embedding only the pairs' texts (through the cache):
    with the int8 copy, pairs clear of the threshold are decided by it and the model itself
    decides those near it (see embedding_cache.INT8_BELOW); else the model alone."""
    rows = np.unique(pairs)
    fast = cache.fast_available()
    with all_cores():
        vectors = cache.cached_vectors([texts[row] for row in rows.tolist()], fast=fast)
    place = {row: index for index, row in enumerate(rows.tolist())}

    def cosine(a: int, b: int) -> float:
        return float(vectors[place[a]] @ vectors[place[b]])

    if not len(pairs):
        return np.zeros(0, dtype=np.bool_), cosine
    left, right = np.searchsorted(rows, pairs[:, 0]), np.searchsorted(rows, pairs[:, 1])
    first = np.einsum("ij,ij->i", vectors[left], vectors[right])
    if not fast:
        return first >= threshold, cosine
    kept = first >= threshold + cache.INT8_ABOVE
    near = ~kept & (first >= threshold - cache.INT8_BELOW)
    kept[near], model_cosine = cache.model_decides(texts, pairs[near], threshold)

    def best_cosine(a: int, b: int) -> float:
        by_model = model_cosine(a, b)
        return by_model if by_model is not None else cosine(a, b)

    return kept, best_cosine
