"""Static candidates in a job (curation/services/embedding_candidates.py): what the descent
leaves below its cutoff is still decided where it costs no more texts, and which thresholds
take them by default."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from curation.dedup import candidates
from curation.services import embedding_cache as cache
from curation.services import embedding_candidates

TEXTS = [
    "Where is my new card? It still has not arrived.",
    "where is my new card, it still has not arrived",
    "WHERE IS MY NEW CARD?! It still has not arrived!!",
    "What is the exchange rate for euros today?",
    "My card was stolen, please block it.",
]


@pytest.mark.django_db
def test_a_pair_below_the_cutoff_whose_texts_were_embedded_anyway_is_decided(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given candidates whose scores put two variant pairs at the top, an unrelated pair next
    # (the model keeps nothing there, so the descent stops after it) and the third variant pair
    # far below, both of its texts among the ones the first step embeds (the model alone)
    settings.FINCH_EMBEDDING_INT8 = False
    pairs = np.array([[0, 1], [1, 2], [3, 4], [0, 2]])
    scores = np.array([0.95, 0.9, 0.8, 0.3], dtype=np.float32)
    monkeypatch.setattr(candidates, "MIN_STEP", 1)
    monkeypatch.setattr(candidates, "neighbour_pairs", lambda vectors, **_: (pairs, scores))
    monkeypatch.setattr(candidates, "pair_scores", lambda texts, found, cosines: cosines)

    # When the pairs at 0.9 are found
    found, cosine = embedding_candidates.static_text_pairs(TEXTS, 0.9)

    # Then the descent stopped at 0.8, yet the pair at 0.3 was decided by the model and kept
    assert {tuple(pair) for pair in found.tolist()} == {(0, 1), (1, 2), (0, 2)}
    assert cosine(0, 2) >= 0.9 and cosine(3, 4) < 0.9


@pytest.mark.django_db
def test_the_model_decides_the_pairs_near_the_threshold_in_one_call_after_the_descent(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the int8 copy, every pair below the threshold plus INT8_ABOVE open (near it), and
    # candidates all in the descent's first step, with one pair clear of the threshold (two
    # spellings of one message), so that the descent goes on whatever the open ones turn out
    settings.FINCH_EMBEDDING_INT8 = True
    monkeypatch.setattr(cache, "INT8_BELOW", 1.0)
    pairs = np.array([[0, 1], [1, 2], [3, 4], [0, 2]])
    scores = np.array([0.95, 0.9, 0.9, 0.9], dtype=np.float32)
    monkeypatch.setattr(candidates, "neighbour_pairs", lambda vectors, **_: (pairs, scores))
    monkeypatch.setattr(candidates, "pair_scores", lambda texts, found, cosines: cosines)
    calls: list[tuple[int, bool]] = []
    embed = cache.cached_vectors

    def counted(texts: list[str], *, fast: bool = False, **options: Any) -> Any:
        calls.append((len(texts), fast))
        return embed(texts, fast=fast, **options)

    monkeypatch.setattr(cache, "cached_vectors", counted)

    # When the pairs at 0.9 are found
    found, cosine = embedding_candidates.static_text_pairs(TEXTS, 0.9)

    # Then the int8 copy embedded the texts, the model the open pairs' texts in one call after
    # the descent, and the model's cosines decided
    assert calls[0] == (5, True) and len(calls) == 2 and calls[1][1] is False
    model = cache.model_cosines([(TEXTS[a], TEXTS[b]) for a, b in pairs.tolist()])
    expected = {tuple(pair) for pair, value in zip(pairs.tolist(), model, strict=True) if value >= 0.9}
    assert {tuple(pair) for pair in found.tolist()} == expected == {(0, 1), (1, 2), (0, 2)}
    assert cosine(3, 4) == pytest.approx(model[2], abs=1e-6)


@pytest.mark.parametrize(
    ("setting", "threshold", "expected"),
    [
        ("auto", 0.95, True),
        ("auto", 0.9, True),
        ("auto", 0.85, False),
        (True, 0.5, True),
        (False, 0.95, False),
    ],
)
def test_static_candidates_serve_thresholds_of_0_9_and_more_by_default(
    settings: Any, setting: bool | str, threshold: float, expected: bool
) -> None:
    settings.FINCH_EMBEDDING_STATIC = setting
    assert embedding_candidates.enabled(threshold) is expected
    assert embedding_candidates.in_use() is (setting is not False)


def test_the_default_setting_is_auto() -> None:
    from config.settings import base

    assert base.FINCH_EMBEDDING_STATIC == "auto"


def test_row_vectors_hold_rows_added_over_several_steps_and_compare_pairs_in_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a store grown over three steps, and blocks far smaller than the pairs compared
    from curation.dedup import embeddings

    monkeypatch.setattr(embeddings, "PAIR_BLOCK", 3)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((10, 4)).astype(np.float32)
    store = embedding_candidates.RowVectors(10)
    for rows in ([7, 2], [0, 9, 4, 5], [1, 3, 6]):
        store.add(np.array(rows), vectors[rows])

    # Then it holds exactly the rows added, and each pair's dot product is its rows' own
    assert store.count == 9 and store.holds(np.arange(10)).tolist() == [True] * 8 + [False, True]
    pairs = np.array([[a, b] for a in range(10) for b in range(10) if a != 8 and b != 8])
    expected = np.einsum("ij,ij->i", vectors[pairs[:, 0]], vectors[pairs[:, 1]])
    np.testing.assert_allclose(store.cosines(pairs), expected, rtol=1e-6)


def test_row_vectors_in_float16_give_the_float32_cosines_to_a_thousandth() -> None:
    """The int8 copy's vectors are kept in float16 (its own error sd is 0.011); the products
    are summed in float32."""
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((50, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[1] = vectors[0] + 0.05 * vectors[1]  # one pair near 1.0, the others near 0
    vectors[1] /= np.linalg.norm(vectors[1])
    half = embedding_candidates.RowVectors(50, np.float16)
    half.add(np.arange(50), vectors)
    pairs = np.array([[a, b] for a in range(50) for b in range(a + 1, 50)])

    cosines = half.cosines(pairs)

    expected = np.einsum("ij,ij->i", vectors[pairs[:, 0]], vectors[pairs[:, 1]])
    np.testing.assert_allclose(cosines, expected, atol=1e-3)
    assert cosines.dtype == np.float32 and cosines[0] > 0.99


@pytest.mark.django_db
def test_the_judge_names_a_pair_it_never_embedded(settings: Any) -> None:
    settings.FINCH_EMBEDDING_INT8 = False
    judge = embedding_candidates.PairJudge(TEXTS, 0.9)
    judge.verdicts(np.array([[0, 1]]))
    assert judge.embedded == 2 and judge.has_embedded(np.array([[0, 1], [0, 2]])).tolist() == [True, False]
    with pytest.raises(KeyError):
        judge.cosine(0, 2)
