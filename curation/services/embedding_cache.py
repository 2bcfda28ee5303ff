"""Embeddings through a cache keyed by the text's hash: a re-run embeds only new texts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from django.conf import settings

from curation.dedup.embeddings import Vectors, default_model_path, encode
from curation.models import CachedEmbedding
from curation.services.lookups import matching


def model_path() -> str:
    return settings.FINCH_EMBEDDING_MODEL or default_model_path()


def _model_name(path: str) -> str:
    return Path(path).name or path


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cached_vectors(texts: list[str]) -> Vectors:
    """Unit-length embeddings of the texts, computing and storing only the missing ones."""
    name = _model_name(model_path())
    keys = [text_key(text) for text in texts]
    known = _known(name, sorted(set(keys)))
    known.update(_embed(name, {key: text for key, text in zip(keys, texts, strict=True) if key not in known}))
    if not keys:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([known[key] for key in keys])


def embed_missing(texts: list[str]) -> int:
    """Embed and store the texts not cached yet, without reading the cached vectors back (what
    a dedup chunk does: the merge reads them all once); returns how many were embedded."""
    name = _model_name(model_path())
    wanted = {text_key(text): text for text in texts}
    cached = CachedEmbedding.objects.filter(model=name)
    present: set[str] = set()
    for rows in matching(cached, "text_hash", sorted(wanted), sql_type="text"):
        present.update(rows.values_list("text_hash", flat=True))
    return len(_embed(name, {key: text for key, text in wanted.items() if key not in present}))


def _embed(name: str, missing: dict[str, str]) -> dict[str, Vectors]:
    if not missing:
        return {}
    keys = sorted(missing)
    fresh = encode([missing[key] for key in keys], model_path())
    CachedEmbedding.objects.bulk_create(
        [
            CachedEmbedding(model=name, text_hash=key, vector=vector.tobytes())
            for key, vector in zip(keys, fresh, strict=True)
        ],
        ignore_conflicts=True,
    )
    return dict(zip(keys, fresh, strict=True))


def known_vectors(keys: list[str]) -> dict[str, Vectors]:
    """The cached embeddings (by the current model) of the texts with these keys, where cached."""
    return _known(_model_name(model_path()), keys)


def _known(name: str, keys: list[str]) -> dict[str, Vectors]:
    found: dict[str, Vectors] = {}
    for rows in matching(CachedEmbedding.objects.filter(model=name), "text_hash", keys, sql_type="text"):
        for key, vector in rows.values_list("text_hash", "vector"):
            found[key] = np.frombuffer(bytes(vector), dtype=np.float32)
    return found
