"""Embeddings through a cache keyed by the text's hash: a re-run embeds only new texts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from django.conf import settings

from curation.dedup import int8
from curation.dedup.embeddings import Vectors, default_model_path, encode, native_bfloat16, similar_pairs
from curation.models import CachedEmbedding
from curation.services.lookups import matching


def model_path() -> str:
    return settings.FINCH_EMBEDDING_MODEL or default_model_path()


def model_label() -> str:
    """The embedding model's name as people know it, for reports and data cards."""
    configured = settings.FINCH_EMBEDDING_MODEL
    return Path(configured).name if configured else "all-MiniLM-L6-v2"


def _model_name(path: str, fast: bool = False) -> str:
    name = Path(path).name or path
    return f"{name}:int8" if fast else name


def fast_available() -> bool:
    """Whether the int8 copy of the model proposes candidates (see curation.dedup.int8).

    FINCH_EMBEDDING_INT8 `auto` (the default) uses it where the CPU lacks native bfloat16: where
    it has it, the model in bfloat16 alone is faster than int8 candidates plus their fp32 check
    (docs/benchmarks.md: 114 s against 201 s for 100,000 texts, same recall)."""
    wanted = settings.FINCH_EMBEDDING_INT8
    if wanted == "auto":
        wanted = not native_bfloat16()
    return bool(wanted) and int8.available(model_path())


# The int8 model's cosine differs from the model's by 0.03 at most on real text (mean 0.009).
INT8_MARGIN = 0.03
Pairs = npt.NDArray[np.int64]
PairFilter = Callable[[Pairs], npt.NDArray[np.bool_]]


def similar_text_pairs(
    texts: list[str], threshold: float, *, wanted: PairFilter | None = None
) -> tuple[Pairs, Callable[[int, int], float]]:
    """Row pairs of texts whose embeddings' cosine reaches the threshold, and the cosine of any
    two rows that appear in a pair.

    With the int8 copy of the model: candidates at the threshold less a margin that covers its
    error, each checked with the model itself (only the candidates' texts are embedded by it).
    Without: the model's own embeddings decide directly. `wanted` drops candidate pairs not
    worth checking (say, pairs within one split)."""
    fast = fast_available()
    vectors = cached_vectors(texts, fast=fast)
    candidates = np.array(
        similar_pairs(vectors, threshold - (INT8_MARGIN if fast else 0.0)), dtype=np.int64
    ).reshape(-1, 2)
    if wanted is not None:
        candidates = candidates[wanted(candidates)]
    rows = np.unique(candidates)
    # Without the int8 copy the vectors searched are the model's own: nothing to embed again.
    precise = cached_vectors([texts[row] for row in rows.tolist()]) if fast else vectors[rows]
    place = {row: index for index, row in enumerate(rows.tolist())}

    def cosine(a: int, b: int) -> float:
        return float(precise[place[a]] @ precise[place[b]])

    if not len(rows):
        return candidates, cosine
    left, right = np.searchsorted(rows, candidates[:, 0]), np.searchsorted(rows, candidates[:, 1])
    alike = np.einsum("ij,ij->i", precise[left], precise[right]) >= threshold
    return candidates[alike], cosine


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cached_vectors(texts: list[str], *, fast: bool = False) -> Vectors:
    """Unit-length embeddings of the texts, computing and storing only the missing ones; `fast`:
    by the int8 copy of the model (for candidates only)."""
    name = _model_name(model_path(), fast)
    keys = [text_key(text) for text in texts]
    known = _known(name, sorted(set(keys)))
    missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in known}
    known.update(_embed(name, missing, fast))
    if not keys:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([known[key] for key in keys])


def uncached_count(texts: list[str], *, limit: int | None = None) -> int:
    """How many distinct texts similar_text_pairs would have to embed for all of them. With a
    `limit`, when that is plainly more (more distinct texts than the cache holds, by more than
    the limit) the answer is that lower bound, found without hashing every text."""
    name = _model_name(model_path(), fast_available())
    if limit is not None:
        shortfall = len(set(texts)) - CachedEmbedding.objects.filter(model=name).count()
        if shortfall > limit:
            return shortfall
    wanted = sorted({text_key(text) for text in texts})
    present = 0
    for rows in matching(CachedEmbedding.objects.filter(model=name), "text_hash", wanted, sql_type="text"):
        present += rows.count()
    return len(wanted) - present


def embed_missing(texts: list[str], *, fast: bool = False) -> int:
    """Embed and store the texts not cached yet, without reading the cached vectors back (what
    a dedup chunk does: the merge reads them all once); returns how many were embedded."""
    name = _model_name(model_path(), fast)
    wanted = {text_key(text): text for text in texts}
    cached = CachedEmbedding.objects.filter(model=name)
    present: set[str] = set()
    for rows in matching(cached, "text_hash", sorted(wanted), sql_type="text"):
        present.update(rows.values_list("text_hash", flat=True))
    return len(_embed(name, {key: text for key, text in wanted.items() if key not in present}, fast))


def _embed(name: str, missing: dict[str, str], fast: bool = False) -> dict[str, Vectors]:
    if not missing:
        return {}
    keys = sorted(missing)
    texts = [missing[key] for key in keys]
    fresh = (
        int8.encode(texts, model_path(), settings.FINCH_MODELS_DIR) if fast else encode(texts, model_path())
    )
    CachedEmbedding.objects.bulk_create(
        [
            CachedEmbedding(model=name, text_hash=key, vector=vector.tobytes())
            for key, vector in zip(keys, fresh, strict=True)
        ],
        ignore_conflicts=True,
    )
    return dict(zip(keys, fresh, strict=True))


def known_vectors(keys: list[str], *, fast: bool = False) -> dict[str, Vectors]:
    """The cached embeddings (by the current model) of the texts with these keys, where cached."""
    return _known(_model_name(model_path(), fast), keys)


def _known(name: str, keys: list[str]) -> dict[str, Vectors]:
    found: dict[str, Vectors] = {}
    for rows in matching(CachedEmbedding.objects.filter(model=name), "text_hash", keys, sql_type="text"):
        for key, vector in rows.values_list("text_hash", "vector"):
            found[key] = np.frombuffer(bytes(vector), dtype=np.float32)
    return found
