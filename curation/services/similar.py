"""Examples similar in meaning to one example: the embedding index (the cache that embedding
dedup jobs fill) searched by cosine similarity. Where the int8 copy of the model is available,
its embeddings (what dedup jobs cache for every example) rank the list."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.models import Example
from curation.services.embedding_cache import cached_vectors, fast_available, known_vectors, text_key

# Embedding on demand stays quick in a page; larger backlogs wait for an embedding dedup job.
EMBED_ON_DEMAND = 2000
SEARCHED_MAX = 200_000


@dataclass(frozen=True)
class SimilarExamples:
    matches: list[tuple[Example, float]]
    searched: int
    not_indexed: int


def similar_examples(example: Example, *, limit: int = 8) -> SimilarExamples:
    """The `limit` examples of the project whose inputs are nearest in meaning to this one's."""
    rows = list(
        example.project.examples.exclude(pk=example.pk)
        .order_by("-id")
        .values_list("id", "input")[:SEARCHED_MAX]
    )
    fast = fast_available()
    hashes = [text_key(text) for _, text in rows]
    known = known_vectors(sorted(set(hashes)), fast=fast)
    missing = [text for (_, text), key in zip(rows, hashes, strict=True) if key not in known]
    if 0 < len(missing) <= EMBED_ON_DEMAND:
        cached_vectors(missing, fast=fast)
        known = known_vectors(sorted(set(hashes)), fast=fast)
    indexed = [(pk, known[key]) for (pk, _), key in zip(rows, hashes, strict=True) if key in known]
    if not indexed:
        return SimilarExamples([], 0, len(rows))
    query = cached_vectors([example.input], fast=fast)[0]
    scores = np.stack([vector for _, vector in indexed]) @ query
    best = np.argsort(-scores)[:limit]
    by_id = Example.objects.in_bulk([indexed[i][0] for i in best])
    matches = [(by_id[indexed[i][0]], float(scores[i])) for i in best if indexed[i][0] in by_id]
    return SimilarExamples(matches, len(indexed), len(rows) - len(indexed))
