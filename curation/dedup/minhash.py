"""Near-duplicate detection by MinHash: compact per-text sketches, LSH candidates, verification.

The per-text work (`sketch`) runs in chunks, on any worker; what it keeps per text is small
(one 64-bit key per LSH band and 16 bits per bin for estimates, about 420 bytes at the
defaults), so the merge step holds a million texts in well under a gigabyte. The merge finds
candidate pairs from equal band keys, drops those whose estimated Jaccard is clearly too low,
and verifies the rest by their exact Jaccard: an estimate from 128 bins misses about half of
the pairs that sit right at the threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from curation.dedup import short_texts
from curation.dedup import sketch as compiled
from curation.dedup.unionfind import groups
from curation.phases import phase

Ints = npt.NDArray[np.int64]
RECALL_AT_THRESHOLD = 0.995
# Four standard deviations of a 128-bin estimate near 0.8: below this a candidate cannot pass.
ESTIMATE_SLACK = 0.15
CHAR_NGRAM, WORD_NGRAM = 5, 3
# Texts this long (median, normalized) are shingled by words: long texts share many character
# n-grams by chance, and word n-grams are fewer to hash.
WORD_SHINGLES_FROM = 500
ESTIMATE_CHUNK = 100_000


@dataclass(frozen=True)
class Shingling:
    words: bool
    ngram: int

    @classmethod
    def choose(cls, kind: str = "auto", ngram: int = 0, typical_length: int = 0) -> Shingling:
        """`kind` "char" or "word", or "auto" to pick by the texts' typical length."""
        if kind == "auto":
            kind = "word" if typical_length >= WORD_SHINGLES_FROM else "char"
        words = kind == "word"
        return cls(words=words, ngram=ngram or (WORD_NGRAM if words else CHAR_NGRAM))

    def sets(self, texts: list[str]) -> compiled.ShingleSets:
        """The texts' shingle sets, for exact Jaccard: the counterpart of what `sketch` hashes."""
        return compiled.ShingleSets(texts, ngram=self.ngram, words=self.words)


@dataclass(frozen=True)
class Sketches:
    """Per text: a 32-bit key per LSH band, and the low 8 bits of each signature bin. Chance
    equalities of 8 bits (1 in 256) only nudge estimates up; equal 32-bit keys by chance make a
    few thousand extra candidates in a million texts, which the estimate discards."""

    keys: npt.NDArray[np.uint32]
    bins: npt.NDArray[np.uint8]

    @classmethod
    def empty(cls, count: int, bands: int, num_perm: int) -> Sketches:
        return cls(np.empty((count, bands), dtype=np.uint32), np.empty((count, num_perm), dtype=np.uint8))

    @classmethod
    def join(cls, parts: list[Sketches]) -> Sketches:
        return cls(
            np.concatenate([part.keys for part in parts]), np.concatenate([part.bins for part in parts])
        )

    def __len__(self) -> int:
        return len(self.keys)


def bands_for(threshold: float, num_perm: int) -> int:
    """The fewest bands (so the fewest chance candidates) that still make a pair exactly at the
    threshold a candidate with probability RECALL_AT_THRESHOLD."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= RECALL_AT_THRESHOLD:
            return bands
    return num_perm


def sketch(texts: list[str], shingling: Shingling, *, threshold: float, num_perm: int) -> Sketches:
    with phase("sketch"):
        keys, bins = compiled.sketch_rows(
            texts,
            ngram=shingling.ngram,
            num_perm=num_perm,
            bands=bands_for(threshold, num_perm),
            words=shingling.words,
        )
        return Sketches(keys, bins)


def candidate_pairs(
    keys: npt.NDArray[np.uint32] | npt.NDArray[np.uint64], window: int = 1, threads: int = 1
) -> Ints:
    """Row pairs that share a key in at least one band (column); each pair once, sorted.

    Within a run of rows sharing a key, each row pairs with the run's first row and with the
    `window` rows before it: every pair of a run no longer than window + 1, and enough to join
    the rest into groups, without a quadratic blow-up on big runs. Bands are sorted on `threads`
    threads at once (numpy's sorts release the GIL).
    """
    count = len(keys)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        found = list(pool.map(lambda band: _equal_key_pairs(keys[:, band], window), range(keys.shape[1])))
    pairs = np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)
    if not pairs.size:
        return pairs
    codes = _distinct(pairs[:, 0] * count + pairs[:, 1])  # one number per pair: a 1-D unique
    return np.stack([codes // count, codes % count], axis=1)


def _distinct(values: Ints) -> Ints:
    """np.unique of a 1-D array by sorting in place (several times faster on millions of numbers
    than numpy 2's hash-based unique)."""
    values.sort()
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if values.size else values


def candidate_pairs_across(
    keys: npt.NDArray[np.uint32], side: npt.NDArray[np.bool_], per_row: int = 4
) -> Ints:
    """Candidate pairs joining each row of one side (`side` true) to rows of the other that share
    one of its band keys: per band, up to `per_row` of them. Sorting the other side's keys once
    per band and looking the rows up in it never makes the pairs within a side, which in real
    data (shared boilerplate sentences) outnumber the pairs across by far."""
    rows, others = np.flatnonzero(side), np.flatnonzero(~side)
    found = []
    for band in range(keys.shape[1]):
        order = others[np.argsort(keys[others, band], kind="stable")]
        ordered = keys[order, band]
        wanted = keys[rows, band]
        first = np.searchsorted(ordered, wanted, side="left")
        last = np.searchsorted(ordered, wanted, side="right")
        for step in range(per_row):
            hit = first + step < last
            found.append(np.stack([order[first[hit] + step], rows[hit]], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(found), axis=1)
    codes = _distinct(pairs[:, 0] * len(keys) + pairs[:, 1])
    return np.stack([codes // len(keys), codes % len(keys)], axis=1)


def bucket_pairs(buckets: Iterable[list[int]], window: int = 1) -> Ints:
    """The pairs candidate_pairs would make, from buckets (rows sharing a key) listed directly."""
    found = set()
    for bucket in buckets:
        for index in range(1, len(bucket)):
            found.add((bucket[0], bucket[index]))
            found.update(
                (bucket[max(index - window, 0) + step], bucket[index]) for step in range(min(window, index))
            )
    pairs = np.array(sorted((min(a, b), max(a, b)) for a, b in found if a != b), dtype=np.int64)
    return pairs.reshape(-1, 2)


def _equal_key_pairs(key: npt.NDArray[np.uint32] | npt.NDArray[np.uint64], window: int) -> Ints:
    order = np.argsort(key, kind="stable")  # rows in order within a run (radix sort for 32 bits)
    ordered = key[order]
    same = np.concatenate(([False], ordered[1:] == ordered[:-1]))
    if not same.any():
        return np.empty((0, 2), dtype=np.int64)
    run = np.cumsum(~same)  # the run each sorted position belongs to
    run_start = np.maximum.accumulate(np.where(same, 0, np.arange(key.size)))
    later = np.nonzero(same)[0]
    found = [np.stack([order[run_start[later]], order[later]], axis=1)]
    for distance in range(1, window + 1):
        near = np.nonzero(run[distance:] == run[:-distance])[0]
        found.append(np.stack([order[near], order[near + distance]], axis=1))
    return np.sort(np.concatenate(found), axis=1)


def estimated_jaccard(
    bins: npt.NDArray[np.uint8] | npt.NDArray[np.uint64], pairs: Ints
) -> npt.NDArray[np.float64]:
    """The share of equal bins for each (row, row) pair, a chunk of pairs at a time."""
    estimates = np.empty(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), ESTIMATE_CHUNK):
        chunk = pairs[start : start + ESTIMATE_CHUNK]
        estimates[start : start + len(chunk)] = (bins[chunk[:, 0]] == bins[chunk[:, 1]]).mean(axis=1)
    return estimates


Similarity = Callable[[int, int], float]


def verified_groups(
    sketches: Sketches,
    texts_of: Callable[[list[int]], list[str]],
    shingling: Shingling,
    threshold: float,
    candidates: Ints | None = None,
    words: WordChannel | None = None,
) -> Verified:
    """Groups of row indexes whose members reach the threshold by exact Jaccard (or, for two
    short texts, by the word rule of `words`), a function giving that similarity for any two
    rows in a group, and each row's number of verified pairs. `texts_of` returns the normalized
    texts of the given rows: only candidates' texts are ever needed. `candidates`: pairs found
    by an index elsewhere (else from the sketches' band keys)."""
    with phase("candidates"):
        pairs = candidate_pairs(sketches.keys) if candidates is None else candidates
    with phase("verify"):
        verified, _, similarity = _verify(sketches, pairs, texts_of, shingling, threshold, words)
        return grouped(verified, similarity)


class Verified(NamedTuple):
    groups: list[list[int]]
    similarity: Similarity
    links: dict[int, int]  # row -> how many verified pairs it is in


def grouped(pairs: Ints, similarity: Similarity) -> Verified:
    """The groups that verified pairs of rows connect, their similarity, and each row's number
    of pairs (the example most of its group is like is kept)."""
    rows, counts = np.unique(pairs, return_counts=True)
    return Verified(
        groups(pairs.tolist()), similarity, dict(zip(rows.tolist(), counts.tolist(), strict=True))
    )


@dataclass(frozen=True)
class WordChannel:
    """Short texts compared word by word beside their shingles: the rule, and the candidate
    pairs its keys found (rows of the same sketches)."""

    rule: short_texts.WordRule
    pairs: Ints
    meaning: short_texts.Meaning | None = None


def verified_pairs(
    sketches: Sketches,
    pairs: Ints,
    texts_of: Callable[[list[int]], list[str]],
    shingling: Shingling,
    threshold: float,
) -> tuple[Ints, npt.NDArray[np.float64]]:
    """The candidate pairs that reach the threshold by exact Jaccard, with their Jaccard."""
    verified, similarity, _ = _verify(sketches, pairs, texts_of, shingling, threshold)
    return verified, similarity


def _verify(
    sketches: Sketches,
    pairs: Ints,
    texts_of: Callable[[list[int]], list[str]],
    shingling: Shingling,
    threshold: float,
    words: WordChannel | None = None,
) -> tuple[Ints, npt.NDArray[np.float64], Similarity]:
    if len(pairs):
        pairs = pairs[estimated_jaccard(sketches.bins, pairs) >= threshold - ESTIMATE_SLACK]
    if words is not None and len(words.pairs):  # no estimate: a typo costs short texts half their bins
        pairs = np.unique(np.concatenate([pairs.reshape(-1, 2), words.pairs]), axis=0)
    rows = np.unique(pairs)
    texts = texts_of(rows.tolist())
    sets = shingling.sets(texts)
    judge = words.rule.judge(texts, rows.tolist(), words.meaning, threshold) if words is not None else None
    place = {row: index for index, row in enumerate(rows.tolist())}
    known: dict[tuple[int, int], float] = {}  # writing a job's clusters asks of a pair twice or more

    def similarity(a: int, b: int) -> float:
        a, b = place[a], place[b]
        if (a, b) not in known:
            known[a, b] = sets.one(a, b) if judge is None else judge.similarity(a, b, sets.one(a, b))
        return known[a, b]

    position = np.searchsorted(rows, pairs).reshape(-1, 2)
    found = sets.jaccard(position[:, 0], position[:, 1])
    if judge is not None:
        found = judge.similarities(position, found)
    alike = found >= threshold
    return pairs[alike], found[alike], similarity


def near_duplicate_groups(
    texts: list[str],
    *,
    threshold: float,
    num_perm: int = 128,
    shingle: str = "auto",
    ngram: int = 0,
    folding: short_texts.Folding | None = None,
    meaning: short_texts.Meaning | None = None,
) -> tuple[list[list[int]], Similarity]:
    """All of the above in memory, for texts already normalized; with a `folding`, short texts
    are compared word by word too (their weights from these texts; `meaning` the model's
    cosine for a dropped word)."""
    lengths = sorted(len(text) for text in texts)
    shingling = Shingling.choose(shingle, ngram, lengths[len(lengths) // 2] if lengths else 0)
    if len(texts) < 2:
        return [], lambda a, b: 1.0
    sketches = sketch(texts, shingling, threshold=threshold, num_perm=num_perm)
    words = None
    if folding is not None:
        with phase("candidates"):
            rule = short_texts.WordRule.over(texts, folding)
            pairs = short_texts.candidate_pairs(*short_texts.key_rows(folding.short(texts)))
            words = WordChannel(rule, pairs, meaning)
    found = verified_groups(
        sketches, lambda rows: [texts[row] for row in rows], shingling, threshold, words=words
    )
    return found.groups, found.similarity
