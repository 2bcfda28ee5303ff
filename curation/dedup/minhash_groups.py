"""Near-duplicate groups of texts by MinHash: LSH bands tuned to the threshold, then each
candidate pair verified by its estimated Jaccard before it joins a group."""

from __future__ import annotations

from collections.abc import Callable

from curation.dedup.minhash import candidate_pairs, char_shingles, estimated_jaccard, signatures
from curation.dedup.unionfind import groups

Similarity = Callable[[int, int], float]
RECALL_AT_THRESHOLD = 0.995
DEFAULT_NGRAM = 5


def bands_for(threshold: float, num_perm: int) -> int:
    """The fewest bands (so the fewest chance candidates) that still make a pair exactly at the
    threshold a candidate with probability RECALL_AT_THRESHOLD."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= RECALL_AT_THRESHOLD:
            return bands
    return num_perm


def near_duplicate_groups(
    texts: list[str], *, threshold: float, num_perm: int = 128, ngram: int = 0
) -> tuple[list[list[int]], Similarity]:
    """Groups of text indexes, and a function giving the estimated Jaccard of any two texts."""
    if len(texts) < 2:
        return [], lambda a, b: 1.0 if a == b else 0.0
    hashes, owner = char_shingles(texts, ngram or DEFAULT_NGRAM)
    matrix = signatures(hashes, owner, len(texts), num_perm)
    pairs = candidate_pairs(matrix, bands_for(threshold, num_perm))

    def similarity(a: int, b: int) -> float:
        return float((matrix[a] == matrix[b]).mean())

    if pairs.size == 0:
        return [], similarity
    verified = pairs[estimated_jaccard(matrix, pairs) >= threshold]
    return groups((int(a), int(b)) for a, b in verified), similarity
