"""Embeddings are cached by text: a second pass embeds only what is new."""

from typing import Any

import numpy as np
import pytest

from curation.models import CachedEmbedding
from curation.services import embedding_cache
from curation.services.embedding_cache import cached_vectors


@pytest.mark.django_db
def test_a_rerun_embeds_only_the_new_texts(monkeypatch: Any) -> None:
    encoded: list[list[str]] = []
    real_encode = embedding_cache.encode

    def counting_encode(texts: list[str], path: str) -> Any:
        encoded.append(list(texts))
        return real_encode(texts, path)

    monkeypatch.setattr(embedding_cache, "encode", counting_encode)
    first = cached_vectors(["Where is my card?", "Refund please", "Where is my card?"])
    second = cached_vectors(["Refund please", "Where is my card?", "How do I top up?"])

    assert [sorted(batch) for batch in encoded] == [
        ["Refund please", "Where is my card?"],
        ["How do I top up?"],
    ]
    assert CachedEmbedding.objects.count() == 3
    assert first.shape == (3, 384) and np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-4)
    assert np.allclose(first[0], first[2]) and np.allclose(second[1], first[0])


@pytest.mark.parametrize(
    ("setting", "native_bf16", "expected"),
    [("auto", True, False), ("auto", False, True), (True, True, True), (False, False, False)],
)
def test_int8_candidates_are_used_where_bfloat16_is_not_native_unless_set(
    settings: Any, monkeypatch: pytest.MonkeyPatch, setting: Any, native_bf16: bool, expected: bool
) -> None:
    settings.FINCH_EMBEDDING_INT8 = setting
    monkeypatch.setattr(embedding_cache, "native_bfloat16", lambda: native_bf16)
    assert embedding_cache.fast_available() is expected
