"""Near-duplicate groups of texts by MinHash: LSH bands tuned to the threshold, then each
candidate pair verified by its estimated Jaccard before it joins a group."""

from __future__ import annotations

from collections.abc import Callable

from curation.dedup.minhash import candidate_pairs, char_shingles, estimated_jaccard, signatures
from curation.dedup.unionfind import groups

Similarity = Callable[[int, int], float]
RECALL_AT_THRESHOLD = 0.995
# Four standard deviations of a 128-bin estimate near 0.8: below this a candidate cannot pass.
ESTIMATE_SLACK = 0.15
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
    """Groups of text indexes, and a function giving the true Jaccard of any two texts.

    LSH finds the candidates; the estimate only discards the clearly dissimilar ones, and the
    rest are verified by their exact Jaccard, since an estimate from `num_perm` bins misses
    about half of the pairs that sit right at the threshold.
    """
    size = ngram or DEFAULT_NGRAM
    shingles: dict[int, frozenset[str]] = {}

    def similarity(a: int, b: int) -> float:
        left = shingles.setdefault(a, shingle_set(texts[a], size))
        right = shingles.setdefault(b, shingle_set(texts[b], size))
        return jaccard(left, right)

    if len(texts) < 2:
        return [], similarity
    hashes, owner = char_shingles(texts, size)
    matrix = signatures(hashes, owner, len(texts), num_perm)
    pairs = candidate_pairs(matrix, bands_for(threshold, num_perm))
    if pairs.size == 0:
        return [], similarity
    plausible = pairs[estimated_jaccard(matrix, pairs) >= threshold - ESTIMATE_SLACK]
    verified = [(int(a), int(b)) for a, b in plausible if similarity(int(a), int(b)) >= threshold]
    return groups(verified), similarity


def shingle_set(text: str, size: int = DEFAULT_NGRAM) -> frozenset[str]:
    """The character n-grams of a text (a shorter text is padded to one n-gram)."""
    padded = text if len(text) >= size else text.ljust(size)
    return frozenset(padded[i : i + size] for i in range(len(padded) - size + 1))


def jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    return len(left & right) / len(left | right) if left or right else 1.0
