"""Embeddings through a cache keyed by the text's hash: a re-run embeds only new texts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection, transaction

from curation.dedup import embeddings, int8
from curation.dedup.embeddings import (
    Pairs,
    Vectors,
    all_cores,
    default_model_path,
    native_bfloat16,
    pair_cosines,
    similar_pairs,
)
from curation.models import CachedEmbedding, VersionItem
from curation.phases import phase
from curation.services.lookups import matching

# Inputs of a version compared against (monitoring's out-of-distribution test, the queue's
# novelty order): a seeded sample beyond this many.
MAX_REFERENCE_ROWS = 50_000
# Where new cache rows wait for their INSERT on PostgreSQL (dropped in the same transaction).
STAGED_TABLE = "finch_staged_embedding"


def reference_inputs(version_id: int, split: str) -> list[str]:
    """The inputs (stored form) of a version's split, in example order; a seeded sample of
    MAX_REFERENCE_ROWS beyond that, the same on every call."""
    inputs = list(
        VersionItem.objects.filter(version_id=version_id, split=split)
        .order_by("example_id")
        .values_list("input", flat=True)
    )
    if len(inputs) > MAX_REFERENCE_ROWS:
        rng = np.random.default_rng(0)
        inputs = [inputs[i] for i in sorted(rng.choice(len(inputs), MAX_REFERENCE_ROWS, replace=False))]
    return inputs


def model_path() -> str:
    return settings.FINCH_EMBEDDING_MODEL or default_model_path()


def model_label() -> str:
    """The embedding model's name as people know it, for reports and data cards."""
    configured = settings.FINCH_EMBEDDING_MODEL
    return Path(configured).name if configured else "all-MiniLM-L6-v2"


# How the cache stores a vector: the model's own in float32 (they decide pairs at the
# threshold), the int8 copy's in float16 (half the bytes: 768 a text at 384 dimensions, 0.58 GB
# less written at a million texts; the rounding, under 0.001 in a cosine, is a hundredth of the
# int8 copy's own error). The suffix keys the format: rows of the float32 era (`:int8`) are
# never read as float16 (migration 0030 deletes them).
STORED_DTYPES = {False: np.float32, True: np.float16}
FAST_SUFFIX = ":int8-f16"


def _model_name(path: str, fast: bool = False) -> str:
    name = Path(path).name or path
    return f"{name}{FAST_SUFFIX}" if fast else name


def fast_available() -> bool:
    """Whether the int8 copy of the model proposes candidates (see curation.dedup.int8).

    On by default (FINCH_EMBEDDING_INT8) wherever the model has one: with batches of one token
    length a core embeds 1.5x as many texts a second with it as with the model in bfloat16, and
    about 3x as many as in fp32 (docs/benchmarks.md)."""
    return bool(settings.FINCH_EMBEDDING_INT8) and int8.available(model_path())


def encode(texts: list[str], path: str) -> Vectors:
    """The model's own embeddings: by its fp32 ONNX export where the CPU has no native bfloat16
    (the same vectors, twice torch's speed in a merge's small batches), else by the model in
    torch (bfloat16 where native)."""
    if model_by_export(path):
        return int8.encode(texts, path, settings.FINCH_MODELS_DIR, exact=True)
    return embeddings.encode(texts, path)


def model_by_export(path: str) -> bool:
    """Whether the model's own embeddings come from its fp32 ONNX export here (see `encode`)."""
    return not native_bfloat16() and int8.exact_available(path)


def preload_models() -> None:
    """Load the models an embedding job uses here: the model (in torch, or its fp32 export: see
    `encode`), its int8 copy's sessions (int8.preload), the static copy where on."""
    from curation.services import embedding_candidates

    path, folder = model_path(), settings.FINCH_MODELS_DIR
    if model_by_export(path):  # a session per thread count, as the int8 copy's
        int8.preload(path, folder, exact=True)
    else:  # torch follows a change of threads at once
        encode(["a text"], path)
    if fast_available():
        int8.preload(path, folder)
    if embedding_candidates.in_use():
        embedding_candidates.preload()


def model_loaded() -> bool:
    """Whether this process already holds the embedding model that a similarity search uses
    (its first use in a process loads it: seconds, which the page says while it waits)."""
    if fast_available() or model_by_export(model_path()):
        return int8.session_loaded()
    return embeddings.model_loaded()


# The int8 copy's cosine of a pair runs lower than the model's (its rounding errors differ
# between the two texts): by 0.009 at the median, by more than 0.03 for 0.5% of pairs. It runs
# higher by 0.01 at most for pairs near 0.95, by 0.035 at most below that (banking77,
# restaurant8k and generated messages: 94,284 pairs). So candidates come from the threshold less
# INT8_BELOW, and the model decides all but those at the threshold plus INT8_ABOVE or more.
INT8_BELOW = 0.03
INT8_ABOVE = 0.015
PairFilter = Callable[[Pairs], npt.NDArray[np.bool_]]


class Embedder(Protocol):
    """Embeds texts (by text_key) and stores them in the cache, returning their embeddings by
    key: embed_stored here, or shared with other workers in a dedup merge
    (curation.services.embedding_shares)."""

    def __call__(self, missing: dict[str, str], *, fast: bool = False) -> dict[str, Vectors]: ...


def similar_text_pairs(
    texts: list[str], threshold: float, *, wanted: PairFilter | None = None, embedder: Embedder | None = None
) -> tuple[Pairs, Callable[[int, int], float]]:
    """Row pairs of texts whose embeddings' cosine reaches the threshold, and the cosine of any
    two rows that appear in a pair.

    With the int8 copy of the model: candidates at the threshold less INT8_BELOW; those at the
    threshold plus INT8_ABOVE or more are kept as they are, and the model itself, embedding only
    their texts, decides those in between. Without: the model's own embeddings decide directly.
    `wanted` drops candidate pairs not worth checking (say, pairs within one split). With static
    candidates (FINCH_EMBEDDING_STATIC; by default at thresholds of 0.9 and more), candidates
    come from static embeddings instead (only their texts are embedded:
    curation.services.embedding_candidates). `embedder`: how texts missing from the cache are
    embedded (embed_stored)."""
    from curation.services import embedding_candidates

    if embedding_candidates.enabled(threshold):
        return embedding_candidates.static_text_pairs(texts, threshold, wanted=wanted, embedder=embedder)
    fast = fast_available()
    vectors = cached_vectors(texts, fast=fast, embedder=embedder)
    with all_cores():
        found = similar_pairs(vectors, threshold - (INT8_BELOW if fast else 0.0))
    candidates = np.array(found, dtype=np.int64).reshape(-1, 2)
    if wanted is not None:
        candidates = candidates[wanted(candidates)]

    def cosine(a: int, b: int) -> float:
        return float(vectors[a] @ vectors[b])

    if not fast or not len(candidates):
        return candidates, cosine
    with phase("verify"):  # the model's own embeddings of the near pairs' texts: embed
        fast_cosine = pair_cosines(vectors, candidates)
        keep = fast_cosine >= threshold + INT8_ABOVE  # clear of the threshold: int8 decides
        near = candidates[~keep]
        keep[~keep], model_cosine = model_decides(texts, near, threshold, embedder)

    def best_cosine(a: int, b: int) -> float:
        """The model's cosine where it embedded both texts, else the int8 copy's."""
        by_model = model_cosine(a, b)
        return by_model if by_model is not None else cosine(a, b)

    return candidates[keep], best_cosine


def model_decides(
    texts: list[str], pairs: Pairs, threshold: float, embedder: Embedder | None = None
) -> tuple[npt.NDArray[np.bool_], Callable[[int, int], float | None]]:
    """Whether each pair's cosine by the model itself reaches the threshold (only the pairs'
    texts embedded, on every core), and that cosine for any two of those rows (else None)."""
    rows = np.unique(pairs)
    with all_cores():
        precise = cached_vectors([texts[row] for row in rows.tolist()], embedder=embedder)
    place = {row: index for index, row in enumerate(rows.tolist())}

    def cosine(a: int, b: int) -> float | None:
        if a in place and b in place:
            return float(precise[place[a]] @ precise[place[b]])
        return None

    if not len(rows):
        return np.zeros(0, dtype=np.bool_), cosine
    local = np.searchsorted(rows, pairs)  # each pair's two rows, as rows of `precise`
    return pair_cosines(precise, local) >= threshold, cosine


def model_cosines(pairs: list[tuple[str, str]], *, embedder: Embedder | None = None) -> list[float]:
    """The model's cosine of each pair of texts (each distinct text embedded once, through the
    cache, on every core; `embedder`: how the texts missing from it are embedded). Not the
    int8 copy's: on short texts its cosine strays from the model's by more than 0.03 for 2% of
    pairs, and where the CPU lacks VNNI it embeds only 1.6x as fast (743 against 466 texts/s,
    AMD EPYC Zen 3), so screening by it first cost more than it saved (docs/quality-jobs.md)."""
    texts = sorted({text for pair in pairs for text in pair})
    if not texts:
        return []
    with all_cores():
        vectors = cached_vectors(texts, embedder=embedder)
    row = {text: index for index, text in enumerate(texts)}
    rows = np.array([(row[first], row[second]) for first, second in pairs], dtype=np.int64)
    return pair_cosines(vectors, rows).tolist()


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cached_vectors(texts: list[str], *, fast: bool = False, embedder: Embedder | None = None) -> Vectors:
    """Unit-length embeddings of the texts, computing and storing only the missing ones; `fast`:
    by the int8 copy of the model (for candidates only); `embedder`: how the missing ones are
    made and stored (embed_stored)."""
    name = _model_name(model_path(), fast)
    with phase("read"):
        keys = [text_key(text) for text in texts]
        known = _known(name, sorted(set(keys)), fast=fast)
    missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in known}
    known.update((embedder or embed_stored)(missing, fast=fast))
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
    return len(embed_stored(uncached(texts, fast=fast), fast=fast))


def uncached(texts: list[str], *, fast: bool = False) -> dict[str, str]:
    """The distinct texts the cache lacks, by text_key."""
    name = _model_name(model_path(), fast)
    with phase("read"):  # which texts the cache has already
        wanted = {text_key(text): text for text in texts}
        cached = CachedEmbedding.objects.filter(model=name)
        present: set[str] = set()
        for rows in matching(cached, "text_hash", sorted(wanted), sql_type="text"):
            present.update(rows.values_list("text_hash", flat=True))
    return {key: text for key, text in wanted.items() if key not in present}


def embed_stored(missing: dict[str, str], *, fast: bool = False) -> dict[str, Vectors]:
    """Embed the texts (by text_key) and store their embeddings in the cache."""
    if not missing:
        return {}
    name = _model_name(model_path(), fast)
    keys = sorted(missing)
    texts = [missing[key] for key in keys]
    with phase("embed"):  # the model, and the cache rows of what it made
        made = (
            int8.encode(texts, model_path(), settings.FINCH_MODELS_DIR)
            if fast
            else encode(texts, model_path())
        )
        stored = made.astype(STORED_DTYPES[fast], copy=False)
        _store(name, keys, stored)
    # As the cache gives them back (float32, rounded as stored): a text's vector is the same on
    # the run that embedded it as on every later one.
    return dict(zip(keys, stored.astype(np.float32, copy=False), strict=True))


def _store(name: str, keys: list[str], vectors: Vectors) -> None:
    """Cache rows for the vectors (by text_key), rows already there kept. On PostgreSQL by COPY
    into a temporary table and one INSERT ... SELECT: Django's bulk_create binds each value in
    the client (psycopg's client-side binding), 55-70 us a row for the model's 1.5 KB rows against 17
    by COPY (3,400 rows, a dedup job's: 0.18-0.23 s against 0.06)."""
    if connection.vendor != "postgresql":
        CachedEmbedding.objects.bulk_create(
            [
                CachedEmbedding(model=name, text_hash=key, vector=vector.tobytes())
                for key, vector in zip(keys, vectors, strict=True)
            ],
            ignore_conflicts=True,
        )
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {STAGED_TABLE} (model text, text_hash text, vector bytea)")
        with cursor.cursor.copy(
            f"COPY {STAGED_TABLE} (model, text_hash, vector) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "text", "bytea"])
            for key, vector in zip(keys, vectors, strict=True):
                copy.write_row((name, key, vector.tobytes()))
        cursor.execute(
            f"INSERT INTO {CachedEmbedding._meta.db_table} (model, text_hash, vector)"
            f" SELECT model, text_hash, vector FROM {STAGED_TABLE} ON CONFLICT DO NOTHING"
        )
        cursor.execute(f"DROP TABLE {STAGED_TABLE}")


def known_vectors(keys: list[str], *, fast: bool = False) -> dict[str, Vectors]:
    """The cached embeddings (by the current model) of the texts with these keys, where cached."""
    return _known(_model_name(model_path(), fast), keys, fast=fast)


def _known(name: str, keys: list[str], *, fast: bool) -> dict[str, Vectors]:
    """The cached vectors (float32) of the keys cached under `name`."""
    dtype = STORED_DTYPES[fast]
    found: dict[str, Vectors] = {}
    for rows in matching(CachedEmbedding.objects.filter(model=name), "text_hash", keys, sql_type="text"):
        for key, vector in rows.values_list("text_hash", "vector"):
            found[key] = np.frombuffer(bytes(vector), dtype=dtype).astype(np.float32)
    return found
