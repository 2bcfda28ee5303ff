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


@pytest.mark.django_db
def test_stored_vectors_read_back_exactly_and_a_text_stored_twice_keeps_its_first_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an embedder that returns these vectors in turn (PostgreSQL stores them by COPY)
    made = iter(np.random.default_rng(3).standard_normal((4, 384)).astype(np.float32))
    monkeypatch.setattr(embedding_cache, "encode", lambda texts, path: np.stack([next(made) for _ in texts]))

    # When two texts are stored, then one of them again with a new one, in one transaction
    first = embedding_cache.embed_stored({"key-a": "A", "key-b": "B"})
    second = embedding_cache.embed_stored({"key-b": "B", "key-c": "C"})

    # Then every vector reads back bit for bit, and the text stored twice keeps its first row
    stored = embedding_cache.known_vectors(["key-a", "key-b", "key-c"])
    assert stored["key-a"].tobytes() == first["key-a"].tobytes()
    assert stored["key-b"].tobytes() == first["key-b"].tobytes() != second["key-b"].tobytes()
    assert stored["key-c"].tobytes() == second["key-c"].tobytes()
    assert CachedEmbedding.objects.count() == 3


@pytest.mark.django_db
def test_the_int8_copys_vectors_are_stored_in_float16_and_read_back_as_first_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an int8 copy that returns these float32 vectors, and a row of the float32 era
    made = np.random.default_rng(5).standard_normal((2, 384)).astype(np.float32)
    monkeypatch.setattr(embedding_cache.int8, "encode", lambda texts, path, folder: made[: len(texts)])
    name = embedding_cache._model_name(embedding_cache.model_path(), fast=True)
    stale = name.removesuffix(embedding_cache.FAST_SUFFIX) + ":int8"
    CachedEmbedding.objects.create(
        model=stale, text_hash=embedding_cache.text_key("A"), vector=made[1].tobytes()
    )

    # When two texts are embedded by the int8 copy, then read from the cache
    first = cached_vectors(["A", "B"], fast=True)
    again = cached_vectors(["A", "B"], fast=True)

    # Then each row holds 2 bytes a value, the float32 row is not read for "A", and the vectors
    # read back are the ones the first run returned: float32, rounded as float16
    rows = CachedEmbedding.objects.filter(model=name)
    assert rows.count() == 2 and {len(bytes(row.vector)) for row in rows} == {384 * 2}
    assert first.dtype == again.dtype == np.float32
    assert first.tobytes() == again.tobytes()
    assert np.array_equal(first, made.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize(
    ("setting", "has_copy", "expected"), [(True, True, True), (True, False, False), (False, True, False)]
)
def test_int8_candidates_are_used_where_the_model_has_an_int8_copy_unless_turned_off(
    settings: Any, monkeypatch: pytest.MonkeyPatch, setting: bool, has_copy: bool, expected: bool
) -> None:
    settings.FINCH_EMBEDDING_INT8 = setting
    monkeypatch.setattr(embedding_cache.int8, "available", lambda path: has_copy)
    assert embedding_cache.fast_available() is expected


def _pair(index: int, cosine: float) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors with this cosine, orthogonal to every other pair's."""
    first, second = np.zeros(384, dtype=np.float32), np.zeros(384, dtype=np.float32)
    first[2 * index] = 1.0
    second[2 * index], second[2 * index + 1] = cosine, np.sqrt(1 - cosine**2)
    return first, second


@pytest.mark.django_db
def test_the_model_decides_only_the_int8_pairs_near_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given int8 cosines (model cosines): clear (0.99, never asked), near and in (0.94, 0.96),
    # near and out (0.955, 0.93), below the candidates' floor (0.90, never asked)
    cosines = {"clear": (0.99, 0.99), "near in": (0.94, 0.96), "near out": (0.955, 0.93), "far": (0.90, 0.99)}
    fast, model = {}, {}
    for index, (name, (fast_cosine, model_cosine)) in enumerate(cosines.items()):
        for side, text in enumerate([f"{name} a", f"{name} b"]):
            fast[text] = _pair(index, fast_cosine)[side]
            model[text] = _pair(index, model_cosine)[side]
    asked: list[str] = []

    def model_encode(texts: list[str], path: str) -> np.ndarray:
        asked.extend(texts)
        return np.stack([model[text] for text in texts])

    monkeypatch.setattr(embedding_cache, "fast_available", lambda: True)
    monkeypatch.setattr(
        embedding_cache.int8, "encode", lambda texts, path, folder: np.stack([fast[t] for t in texts])
    )
    monkeypatch.setattr(embedding_cache, "encode", model_encode)
    texts = list(fast)

    # When pairs at 0.95 are searched
    pairs, cosine = embedding_cache.similar_text_pairs(texts, 0.95)

    # Then the clear pair stands on its int8 cosine, the model decides the two near ones
    found = {(texts[a], texts[b]) for a, b in pairs.tolist()}
    assert found == {("clear a", "clear b"), ("near in a", "near in b")}
    assert sorted(asked) == ["near in a", "near in b", "near out a", "near out b"]
    # And a pair's cosine is the model's where it embedded both texts, else the int8 copy's
    # (its vectors rounded to float16, as the cache keeps them)
    assert cosine(2, 3) == pytest.approx(0.96, abs=1e-6)
    assert cosine(0, 1) == pytest.approx(0.99, abs=1e-3)
