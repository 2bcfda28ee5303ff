"""Embeddings through a cache keyed by the text's hash: a re-run embeds only new texts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from django.conf import settings

from curation.dedup.embeddings import Vectors, default_model_path, encode
from curation.models import CachedEmbedding

LOOKUP_CHUNK = 5000


def model_path() -> str:
    return settings.FINCH_EMBEDDING_MODEL or default_model_path()


def cached_vectors(texts: list[str]) -> Vectors:
    """Unit-length embeddings of the texts, computing and storing only the missing ones."""
    path = model_path()
    name = Path(path).name or path
    keys = [hashlib.sha256(text.encode("utf-8")).hexdigest() for text in texts]
    known = _known(name, sorted(set(keys)))
    missing = sorted({key: text for key, text in zip(keys, texts, strict=True) if key not in known}.items())
    if missing:
        fresh = encode([text for _, text in missing], path)
        CachedEmbedding.objects.bulk_create(
            [
                CachedEmbedding(model=name, text_hash=key, vector=vector.tobytes())
                for (key, _), vector in zip(missing, fresh, strict=True)
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        known.update({key: vector for (key, _), vector in zip(missing, fresh, strict=True)})
    if not keys:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([known[key] for key in keys])


def _known(name: str, keys: list[str]) -> dict[str, Vectors]:
    found: dict[str, Vectors] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        rows = CachedEmbedding.objects.filter(model=name, text_hash__in=keys[start : start + LOOKUP_CHUNK])
        for key, vector in rows.values_list("text_hash", "vector"):
            found[key] = np.frombuffer(bytes(vector), dtype=np.float32)
    return found
