"""MinHash signatures for many texts in one compiled pass (numba), on every core.

Each text is read once: its shingles (character n-grams, or word n-grams of space-separated
words) are hashed with a polynomial rolling hash and splitmix64's finalizer, and fed to
one-permutation hashing: each hash falls into one of `num_perm` bins and each bin keeps its
minimum; empty bins borrow from the next filled bin to the right (rotation densification), so
one pass does the work of `num_perm` permutations. A pair's estimated Jaccard is the share of
equal bins. Building shingles as Python objects is what makes MinHash slow; here none is made.
"""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np
import numpy.typing as npt

from curation.dedup import exact_search
from curation.dedup.normalize import exact_keys

# numba's own thread pool: OpenMP's spinning threads would starve torch (20x slower embedding)
# in a worker that runs both kinds of job.
numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]

U64 = npt.NDArray[np.uint64]
BASE = np.uint64(0x100000001B3)
EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
SPACE = 32


@numba.njit(cache=True)
def _mix(value: np.uint64) -> np.uint64:  # pragma: no cover
    value = (value ^ (value >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    value = (value ^ (value >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return value ^ (value >> np.uint64(31))


@numba.njit(cache=True)
def _char_shingles(codes, begin, end, ngram, out):  # pragma: no cover
    length = end - begin
    if length < ngram:  # a short text is one shingle, padded with spaces
        value = np.uint64(0)
        for position in range(ngram):
            code = codes[begin + position] if position < length else SPACE
            value = value * BASE + np.uint64(code)
        out[0] = _mix(value)
        return 1
    for start in range(begin, end - ngram + 1):
        value = np.uint64(0)
        for position in range(ngram):
            value = value * BASE + np.uint64(codes[start + position])
        out[start - begin] = _mix(value)
    return end - ngram + 1 - begin


@numba.njit(cache=True)
def _word_shingles(codes, begin, end, ngram, out):  # pragma: no cover
    ring = np.zeros(ngram, dtype=np.uint64)
    words = 0
    count = 0
    word = np.uint64(0)
    in_word = False
    for index in range(begin, end + 1):
        code = codes[index] if index < end else SPACE
        if code != SPACE:
            word = word * BASE + np.uint64(code)
            in_word = True
            continue
        if not in_word:
            continue
        ring[words % ngram] = _mix(word)
        words += 1
        word = np.uint64(0)
        in_word = False
        if words >= ngram:
            value = np.uint64(0)
            for position in range(ngram):
                value = value * BASE + ring[(words + position) % ngram]
            out[count] = _mix(value)
            count += 1
    if words < ngram:  # fewer words than the n-gram: the words make one shingle
        value = np.uint64(0)
        for position in range(words):
            value = value * BASE + ring[position]
        out[0] = _mix(value)
        count = 1
    return count


@numba.njit(cache=True)
def _shingles(codes, offsets, text, ngram, words, buffer):  # pragma: no cover
    """Hash text `text`'s shingles into its own stretch of `buffer`; returns (start, count)."""
    begin, end = offsets[text], offsets[text + 1]
    start = begin + text  # each text has one more slot than characters: room for a padded shingle
    out = buffer[start : end + text + 1]
    count = (
        _word_shingles(codes, begin, end, ngram, out)
        if words
        else _char_shingles(codes, begin, end, ngram, out)
    )
    return start, count


@numba.njit(cache=True)
def _densify(row, num_perm):  # pragma: no cover
    """Each empty bin takes the next filled bin's value to the right (wrapping), shifted by the
    distance so that borrowed values only match values borrowed the same way."""
    first = -1
    for slot in range(num_perm):
        if row[slot] != EMPTY:
            first = slot
            break
    if first < 0:
        return
    nearest = first + num_perm
    for slot in range(num_perm - 1, -1, -1):
        if row[slot] != EMPTY:
            nearest = slot
        else:
            row[slot] = row[nearest % num_perm] + (np.uint64(nearest - slot) << np.uint64(32))


@numba.njit(parallel=True, nogil=True, cache=True)  # nogil: a freeze sketches while it copies
def _signatures(codes, offsets, ngram, num_perm, words):  # pragma: no cover
    count = offsets.size - 1
    matrix = np.full((count, num_perm), EMPTY, dtype=np.uint64)
    buffer = np.empty(codes.size + count, dtype=np.uint64)
    for text in numba.prange(count):
        row = matrix[text]
        start, shingles = _shingles(codes, offsets, text, ngram, words, buffer)
        for index in range(start, start + shingles):
            value = buffer[index]
            slot = ((value >> np.uint64(32)) * np.uint64(num_perm)) >> np.uint64(32)
            low = value & np.uint64(0xFFFFFFFF)
            if low < row[slot]:
                row[slot] = low
        _densify(row, num_perm)
    return matrix


@numba.njit(cache=True)
def _char_minimums(codes, begin, end, ngram, row, num_perm):  # pragma: no cover
    """The same hashes as _char_shingles, rolled (mod 2^64, so equal to recomputing each
    n-gram) and folded into the row's bins as they come: no buffer of hashes."""
    if end - begin < ngram:
        _keep_minimum(row, _char_padded(codes, begin, end, ngram), num_perm)
        return
    top = np.uint64(1)
    for _ in range(ngram):
        top *= BASE
    value = np.uint64(0)
    for index in range(begin, end):
        value = value * BASE + np.uint64(codes[index])
        if index - begin >= ngram:
            value -= top * np.uint64(codes[index - ngram])
        if index - begin >= ngram - 1:
            _keep_minimum(row, _mix(value), num_perm)


@numba.njit(cache=True)
def _char_padded(codes, begin, end, ngram):  # pragma: no cover
    value = np.uint64(0)
    for position in range(ngram):
        code = codes[begin + position] if position < end - begin else SPACE
        value = value * BASE + np.uint64(code)
    return _mix(value)


@numba.njit(cache=True)
def _keep_minimum(row, value, num_perm):  # pragma: no cover
    slot = ((value >> np.uint64(32)) * np.uint64(num_perm)) >> np.uint64(32)
    low = value & np.uint64(0xFFFFFFFF)
    if low < row[slot]:
        row[slot] = low


@numba.njit(parallel=True, nogil=True, cache=True)
def _sketch_rows(codes, offsets, ngram, num_perm, words, bands):  # pragma: no cover
    """Per text, straight from its characters: band keys (low 32 bits) and bins (low 8 bits)
    equal to band_keys(signatures(...)) and signatures(...), without the signature matrix."""
    count = offsets.size - 1
    keys = np.empty((count, bands), dtype=np.uint32)
    bins = np.empty((count, num_perm), dtype=np.uint8)
    per_band = num_perm // bands
    for text in numba.prange(count):
        row = np.full(num_perm, EMPTY, dtype=np.uint64)
        begin, end = offsets[text], offsets[text + 1]
        if words:
            scratch = np.empty(end - begin + 1, dtype=np.uint64)
            for index in range(_word_shingles(codes, begin, end, ngram, scratch)):
                _keep_minimum(row, scratch[index], num_perm)
        else:
            _char_minimums(codes, begin, end, ngram, row, num_perm)
        _densify(row, num_perm)
        for band in range(bands):
            key = np.uint64(0)
            for column in range(band * per_band, (band + 1) * per_band):
                key = key * BASE + row[column]
            keys[text, band] = np.uint32((key ^ (key >> np.uint64(29))) & np.uint64(0xFFFFFFFF))
        for column in range(num_perm):
            bins[text, column] = np.uint8(row[column] & np.uint64(0xFF))
    return keys, bins


@numba.njit(parallel=True, cache=True)
def _shingle_sets(codes, offsets, ngram, words):  # pragma: no cover
    """Each text's distinct shingle hashes, sorted, in its stretch of one buffer; and how many."""
    count = offsets.size - 1
    buffer = np.empty(codes.size + count, dtype=np.uint64)
    sizes = np.zeros(count, dtype=np.int64)
    for text in numba.prange(count):
        start, shingles = _shingles(codes, offsets, text, ngram, words, buffer)
        values = np.sort(buffer[start : start + shingles])
        distinct = 0
        for index in range(shingles):
            if index == 0 or values[index] != values[index - 1]:
                buffer[start + distinct] = values[index]
                distinct += 1
        sizes[text] = distinct
    return buffer, sizes


@numba.njit(cache=True)
def _one_jaccard(buffer, starts, sizes, a, b):  # pragma: no cover
    i, i_end = starts[a], starts[a] + sizes[a]
    j, j_end = starts[b], starts[b] + sizes[b]
    common = 0
    while i < i_end and j < j_end:
        if buffer[i] == buffer[j]:
            common += 1
            i += 1
            j += 1
        elif buffer[i] < buffer[j]:
            i += 1
        else:
            j += 1
    union = sizes[a] + sizes[b] - common
    return common / union if union else 1.0


@numba.njit(parallel=True, cache=True)
def _pair_jaccard(buffer, starts, sizes, left, right):  # pragma: no cover
    result = np.empty(left.size, dtype=np.float64)
    for pair in numba.prange(left.size):
        result[pair] = _one_jaccard(buffer, starts, sizes, left[pair], right[pair])
    return result


@numba.njit(cache=True)
def _fold_and_squeeze(data, table):  # pragma: no cover
    """Each byte through `table`, then runs of spaces made one and none left at either end of a
    text (texts end at NUL or at the end)."""
    out = np.empty_like(data)
    size = 0
    pending = False  # a space after a text's last character, written only if one follows
    for raw in data:
        byte = table[raw]
        if byte == SPACE:
            pending = size > 0 and out[size - 1] != 0
        else:
            if pending and byte != 0:
                out[size] = SPACE
                size += 1
            pending = False
            out[size] = byte
            size += 1
    return out[:size]


def fold_and_squeeze(data: bytes, table: bytes) -> bytes:
    """`data` (NUL-separated ASCII texts) translated by `table`, with each text's spaces as
    str.split then " ".join leave them: runs made one, none at the ends."""
    codes, lookup = np.frombuffer(data, dtype=np.uint8), np.frombuffer(table, dtype=np.uint8)
    folded: bytes = _fold_and_squeeze(codes, lookup).tobytes()
    return folded


def _codes(texts: list[str]) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    lengths = np.fromiter((len(text) for text in texts), dtype=np.int64, count=len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return codes, offsets


class ShingleSets:
    """The distinct shingle hashes of many texts, for exact Jaccard between any two of them
    (exact but for 64-bit hash collisions, about one in 10^19 per pair of shingles)."""

    def __init__(self, texts: list[str], *, ngram: int, words: bool = False) -> None:
        codes, offsets = _codes(texts)
        self._buffer, self._sizes = _shingle_sets(codes, offsets, ngram, words)
        self._starts = offsets[:-1] + np.arange(len(texts), dtype=np.int64)

    def jaccard(self, left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Jaccard of text left[k] and text right[k], for every k."""
        result: npt.NDArray[np.float64] = _pair_jaccard(
            self._buffer, self._starts, self._sizes, np.ascontiguousarray(left), np.ascontiguousarray(right)
        )
        return result

    def one(self, left: int, right: int) -> float:
        """Jaccard of two texts (no thread pool dispatch: for one pair at a time)."""
        return float(_one_jaccard(self._buffer, self._starts, self._sizes, left, right))


def signatures(texts: list[str], *, ngram: int, num_perm: int = 128, words: bool = False) -> U64:
    """A (len(texts), num_perm) signature matrix of character (or word) n-grams."""
    codes, offsets = _codes(texts)
    result: U64 = _signatures(codes, offsets, ngram, num_perm, words)
    return result


def sketch_rows(
    texts: list[str], *, ngram: int, num_perm: int, bands: int, words: bool = False
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint8]]:
    """What a MinHash job keeps per text, in one pass: band keys as band_keys(signatures(...))
    gives them (their low 32 bits) and each bin's low 8 bits. The full signature matrix, 1 KB a
    text at 128 bins, is never made."""
    codes, offsets = _codes(texts)
    keys, bins = _sketch_rows(codes, offsets, ngram, num_perm, words, bands)
    return keys, bins


def band_keys(matrix: U64, bands: int) -> U64:
    """One 64-bit key per band of `num_perm // bands` bins: rows sharing a key are candidates."""
    count, width = matrix.shape
    rows = width // bands
    keys = np.zeros((count, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            key = np.zeros(count, dtype=np.uint64)
            for column in range(band * rows, (band + 1) * rows):
                key = key * BASE + matrix[:, column]
            keys[:, band] = key ^ (key >> np.uint64(29))
    return keys


def compile_kernels() -> Path:
    """Compile the kernels dedup jobs call, for this CPU, into numba's cache, and name its
    folder: the first time on a CPU kind that takes seconds (6 s on a 2-core Zen 5 EPYC), which
    a first MinHash job would pay; a process later loads them from the cache in a fraction of a
    second. Two short texts through each entry point, with the argument types jobs pass."""
    texts = ["a text to compile the kernels with", "another text to compile them with"]
    sketch_rows(texts, ngram=5, num_perm=128, bands=16)
    sets = ShingleSets(texts, ngram=3)
    sets.jaccard(np.array([0], dtype=np.int64), np.array([1], dtype=np.int64))
    sets.one(0, 1)
    exact_keys(texts)  # fold_and_squeeze, with the table jobs use
    exact_search.compile_kernels()  # the exact searches of static and model vectors
    configured = numba.config.CACHE_DIR  # type: ignore[attr-defined]
    return Path(configured) if configured else Path(__file__).parent / "__pycache__"
