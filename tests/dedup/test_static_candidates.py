"""Static candidates for embedding dedup (curation/dedup/candidates.py, static.py): the descent
that sets how far down the model decides, pinned, and on real messages a candidate stage that
never loses a pair the model keeps at a margin above its threshold."""

from __future__ import annotations

import csv
import os
import random
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command

from curation.dedup import candidates, static
from curation.dedup.embeddings import default_model_path, encode

SAMPLE = Path(__file__).resolve().parents[2] / "curation" / "sample_data"


def _bin_centres(per_bin: dict[float, int]) -> np.ndarray:
    return np.concatenate([np.full(count, centre, dtype=np.float32) for centre, count in per_bin.items()])


class Model:
    """A judge that keeps the pairs marked kept, recording which pairs it was asked about."""

    def __init__(self, kept: np.ndarray) -> None:
        self.kept, self.asked = kept, np.zeros(len(kept), dtype=int)

    def __call__(self, at: np.ndarray) -> np.ndarray:
        self.asked[at] += 1
        return self.kept[at]


def test_the_descent_stops_after_a_step_that_adds_three_quarters_of_a_percent_or_less_of_the_pairs_found() -> (
    None
):
    # Given 200 pairs at 0.95 the model keeps, then bins below 0.85 of 200 pairs each (a step
    # each: MIN_STEP) keeping 20, 10, 5, 2 (0.84% of the 237 then found), 1 (0.42%), 1
    assert candidates.MIN_STEP == 200 and candidates.STOP_SHARE == 0.0075
    kept_per_bin = [20, 10, 5, 2, 1, 1]
    cosines = _bin_centres({0.95: 200} | {round(0.8375 - 0.025 * b, 4): 200 for b in range(6)})
    kept = np.zeros(len(cosines), dtype=bool)
    kept[:200] = True
    for b, count in enumerate(kept_per_bin):
        kept[200 + 200 * b : 200 + 200 * b + count] = True
    model = Model(kept)

    # When the descent runs
    cutoff, found = candidates.descend(cosines, model)

    # Then it decided everything down to the bin that added 1 (0.725 to 0.75), each pair once,
    # nothing below, and reports the model's decisions
    assert cutoff == pytest.approx(0.725)
    assert (model.asked[:1200] == 1).all() and (model.asked[1200:] == 0).all()
    assert found.sum() == 238 and (found == (kept & (cosines >= 0.725))).all()


def test_open_pairs_are_settled_at_once_only_where_a_step_hangs_on_them() -> None:
    # Given 200 pairs at 0.95 kept outright and 10 open, then steps of 200 pairs: 20 kept and 5
    # open (the descent goes on however they turn out), then 1 kept and 2 open (it stops with
    # both dropped, not with both kept), then 200 pairs with 1 kept
    cosines = _bin_centres({0.95: 210} | {round(0.8375 - 0.025 * b, 4): 200 for b in range(3)})
    verdicts = np.zeros(len(cosines), dtype=np.int8)
    verdicts[:200], verdicts[200:210] = candidates.KEPT, candidates.OPEN
    verdicts[210:230], verdicts[230:235] = candidates.KEPT, candidates.OPEN
    verdicts[410], verdicts[411:413] = candidates.KEPT, candidates.OPEN
    verdicts[610] = candidates.KEPT
    settled: list[list[int]] = []

    def settle(at: np.ndarray) -> np.ndarray:
        settled.append(at.tolist())
        return np.isin(at, [411, 412])  # the model keeps the last step's two open pairs

    # When the descent runs
    cutoff, found = candidates.descend(cosines, lambda at: verdicts[at], settle=settle)

    # Then the open pairs were settled once, in the step whose count hung on them, all of them
    # at once; it went on (3 added to 220), and stopped after the next step (1 added)
    assert settled == [[*range(200, 210), *range(230, 235), 411, 412]]
    assert cutoff == pytest.approx(0.775)
    assert found[411] == found[412] == candidates.KEPT and (found[200:210] == candidates.DROPPED).all()
    assert (found == candidates.OPEN).sum() == 0 and found.sum() == 200 + 20 + 3 + 1


def test_open_pairs_left_when_the_stop_is_clear_whatever_they_turn_out() -> None:
    # Given a first step of 200 pairs kept and 5 open, and a second of 200 pairs with 1 open
    cosines = _bin_centres({0.95: 205, 0.8375: 200})
    verdicts = np.zeros(len(cosines), dtype=np.int8)
    verdicts[:200], verdicts[200:205], verdicts[205] = candidates.KEPT, candidates.OPEN, candidates.OPEN

    # When the descent runs, then it never settles: kept or not, one pair is 0.5% of 200 or more
    def settle(at: np.ndarray) -> np.ndarray:
        raise AssertionError("settled")

    cutoff, found = candidates.descend(cosines, lambda at: verdicts[at], settle=settle)
    assert cutoff == pytest.approx(0.825)
    assert (np.flatnonzero(found == candidates.OPEN) == [200, 201, 202, 203, 204, 205]).all()


def test_sparse_bins_merge_into_steps_of_enough_pairs() -> None:
    # Given a small job: 30 pairs kept at 0.95, and bins below holding 5 pairs each, one kept
    # in the bin from 0.70 to 0.725 (alone in its bin, a step of 5 pairs would stop before it)
    cosines = _bin_centres({0.95: 30} | {round(0.8375 - 0.025 * b, 4): 5 for b in range(14)})
    kept = cosines >= 0.9
    kept[np.flatnonzero(np.abs(cosines - 0.7125) < 1e-3)[0]] = True

    # When the descent runs, then the second step takes every bin down to the floor (fewer than
    # MIN_STEP pairs), so the pair at 0.71 is found
    cutoff, found = candidates.descend(cosines, Model(kept))
    assert cutoff == pytest.approx(candidates.FLOOR)
    assert found.sum() == 31


def test_with_nothing_kept_in_the_first_step_the_descent_goes_no_lower() -> None:
    cosines = _bin_centres({0.9: 300, 0.8: 1000})
    model = Model(np.zeros(len(cosines), dtype=bool))
    assert candidates.descend(cosines, model)[0] == pytest.approx(candidates.START)
    assert model.asked[:300].all() and model.asked[300:].sum() == 0


def test_the_descent_ends_at_the_floor() -> None:
    # Given pairs the model keeps in every bin, all the way down
    cosines = _bin_centres({round(0.5125 + 0.025 * b, 4): 10 for b in range(20)})
    model = Model(np.ones(len(cosines), dtype=bool))
    cutoff, found = candidates.descend(cosines, model)
    assert cutoff == pytest.approx(candidates.FLOOR) and found.all()


def _planted_pairs() -> np.ndarray:
    """500 unit vectors: row r and row r + 250 close, all sharing a common component."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((500, 32)).astype(np.float32)
    vectors[250:] = vectors[:250] + 0.1 * rng.standard_normal((250, 32)).astype(np.float32)
    vectors += 3.0  # a component every row shares, which centering takes away
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "hnsw"])
def test_neighbour_pairs_are_each_rows_nearest_once_with_their_centered_cosines(exact: bool) -> None:
    vectors = _planted_pairs()

    pairs, cosines = candidates.neighbour_pairs(vectors, floor=0.9, neighbours=4, exact=exact)

    assert {(a, b) for a, b in pairs.tolist()} >= {(row, row + 250) for row in range(250)}
    assert (pairs[:, 0] < pairs[:, 1]).all() and len(np.unique(pairs, axis=0)) == len(pairs)
    centered = candidates.centered(vectors)  # the search compares the vectors less their mean
    assert np.allclose(cosines, np.einsum("ij,ij->i", centered[pairs[:, 0]], centered[pairs[:, 1]]))
    assert (cosines >= 0.9).all()


def test_centering_in_place_gives_the_same_vectors_in_the_callers_array() -> None:
    vectors = _planted_pairs()
    expected = candidates.centered(vectors)

    result = candidates.centered(vectors, overwrite=True)

    assert result is vectors and np.allclose(result, expected, atol=1e-6)
    assert np.allclose(np.linalg.norm(result, axis=1), 1, atol=1e-5)


def test_the_exact_search_finds_each_rows_nearest_rows_as_float32_ranks_them() -> None:
    # Given rows with several near rows each (groups of five around a centre)
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((60, 32)).astype(np.float32)
    vectors = np.repeat(centres, 5, axis=0) + 0.3 * rng.standard_normal((300, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    # When each row's 3 nearest are searched exactly (by int8 products)
    pairs, _ = candidates.neighbour_pairs(vectors, floor=0.0, neighbours=3, exact=True)

    # Then they are the 3 nearest by float32 cosine, but for near ties (int8 rounds ranks within
    # 0.02): each row's 3 nearest clear of its 4th are found, and nothing found is further
    # from both rows than their 3rd nearest
    centered = candidates.centered(vectors)
    similar = centered @ centered.T
    np.fill_diagonal(similar, -np.inf)
    ranked = -np.sort(-similar, axis=1)
    found = {(a, b) for a, b in pairs.tolist()}
    for row in range(300):
        for near in np.flatnonzero(similar[row] > ranked[row, 3] + 0.02).tolist():
            assert (min(row, near), max(row, near)) in found
    third = ranked[:, 2]
    assert all(similar[a, b] >= min(third[a], third[b]) - 0.02 for a, b in found)


@pytest.mark.parametrize(
    ("amx", "rows", "exact"),
    [
        (False, 500, True),
        (False, candidates.EXACT_ROWS + 1, False),
        (True, candidates.EXACT_ROWS + 1, True),  # AMX's bfloat16 tiles stay the faster further
        (True, candidates.EXACT_ROWS_AMX + 1, False),
    ],
)
def test_the_exact_search_serves_jobs_up_to_exact_rows(
    monkeypatch: pytest.MonkeyPatch, amx: bool, rows: int, exact: bool
) -> None:
    monkeypatch.setattr(candidates.exact_search, "amx_available", lambda: amx)
    searched: list[str] = []

    def search(name: str) -> Any:
        def record(*args: Any) -> np.ndarray:
            searched.append(name)
            return np.zeros((0, 2), np.int64)

        return record

    monkeypatch.setattr(candidates.exact_search, "nearest_pairs", search("exact"))
    monkeypatch.setattr(candidates, "_index_pairs", search("index"))

    candidates.neighbour_pairs(np.eye(rows, 8, dtype=np.float32))

    assert searched == ["exact" if exact else "index"]


def test_pair_scores_weigh_the_static_cosine_with_the_texts_character_trigrams() -> None:
    # Given a copy in other case and spacing, and an unrelated text, both at the same static
    # cosine to a question
    texts = ["How do I change my PIN?", "Where is my new card?", "HOW DO I  CHANGE MY PIN?"]
    pairs = np.array([[0, 1], [0, 2]])
    cosines = np.array([0.6, 0.6], dtype=np.float32)

    # When the pairs are scored
    scores = candidates.pair_scores(texts, pairs, cosines)

    # Then the copy (every trigram shared, case and runs of spaces aside) ranks above the
    # unrelated text
    assert candidates.TRIGRAM_WEIGHT == 0.5
    assert scores[1] == pytest.approx(0.5 * 0.6 + 0.5 * 1.0)
    assert 0.3 <= scores[0] < 0.4
    assert candidates.pair_scores(texts, np.zeros((0, 2), dtype=np.int64), cosines[:0]).shape == (0,)


def test_pair_scores_compare_the_beginnings_of_long_texts_a_block_of_pairs_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given long texts alike in their first TRIGRAM_CHARS characters, and blocks of one pair
    monkeypatch.setattr(candidates, "SCORE_BLOCK", 1)
    start = "Where is my card? " * (candidates.TRIGRAM_CHARS // 18 + 1)
    texts = [start + "It never came.", start + "Please cancel the order", "How do I top up?"]
    pairs = np.array([[0, 1], [0, 2]])

    # When scored, then the two long texts share every trigram that is compared
    scores = candidates.pair_scores(texts, pairs, np.array([0.2, 0.2], dtype=np.float32))
    assert scores[0] == pytest.approx(0.5 * 0.2 + 0.5 * 1.0) and scores[1] < 0.2


def _messages() -> list[str]:
    """The shipped banking77 and restaurant8k samples, and a planted variant of every fifth."""
    with (SAMPLE / "banking77_sample.csv").open(newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    texts += [line for line in (SAMPLE / "restaurant8k_sample.txt").read_text().splitlines() if line]
    rng = random.Random(0)
    variants = [
        rng.choice([text.lower(), text.rstrip("?.!") + "!", f"please {text}", f"{text} thanks"])
        for text in texts[::5]
    ]
    return list(dict.fromkeys(texts + variants))


@pytest.fixture(scope="module")
def embedded() -> tuple[list[str], np.ndarray, np.ndarray]:
    texts = _messages()
    model = encode(texts, default_model_path(), fp32=True)
    return texts, model, static.encode(texts, default_model_path(), settings.FINCH_MODELS_DIR)


# Below 0.9 the static copy misses paraphrases outright (the model puts "I want a restaurant with
# a rating superior to 1." and "I am looking for a restaurant that has a rating better than ..."
# at 0.88, the static copy at 0.64): no margin is promised there (docs/quality-jobs.md).
@pytest.mark.parametrize("exact", [True, False], ids=["exact", "hnsw"])
@pytest.mark.parametrize(("threshold", "margin"), [(0.9, 0.05), (0.95, 0.03)])
def test_candidates_never_lose_a_pair_the_model_keeps_above_the_margin(
    embedded: tuple[list[str], np.ndarray, np.ndarray], threshold: float, margin: float, exact: bool
) -> None:
    # Given real messages, their model embeddings and their static ones (nearest found either way)
    texts, model, vectors = embedded
    pairs, cosines = candidates.neighbour_pairs(vectors, exact=exact)
    scores = candidates.pair_scores(texts, pairs, cosines)
    model_cosines = np.einsum("ij,ij->i", model[pairs[:, 0]], model[pairs[:, 1]])

    # When the model decides them from the highest score down, as a job does
    cutoff, kept = candidates.descend(
        scores, lambda at: model_cosines[at] >= threshold, floor=candidates.SCORE_FLOOR
    )
    found = {tuple(pair) for pair in pairs[kept == candidates.KEPT].tolist()}

    # Then every pair of the model's at the threshold plus the margin is found
    rows, columns = np.nonzero(np.triu(model @ model.T, 1) >= threshold + margin)
    assert len(rows) > 20
    assert set(zip(rows.tolist(), columns.tolist(), strict=True)) <= found
    # And at the threshold itself 0.95 of its pairs. The pairs decided touch fewer than all the
    # texts, though many of them (581 of 718 at both thresholds): a third of these texts (251
    # at 0.9, 209 at 0.95) are in one of the model's pairs, and a job this small decides steps
    # of MIN_STEP pairs at least (bench/embedding.py measures what a job of 20,000 texts decides)
    rows, columns = np.nonzero(np.triu(model @ model.T, 1) >= threshold)
    held = sum((a, b) in found for a, b in zip(rows.tolist(), columns.tolist(), strict=True))
    assert held >= 0.95 * len(rows)
    assert len(np.unique(pairs[scores >= cutoff])) < 0.85 * len(model)


@pytest.mark.parametrize("before", [None, "true"])
def test_static_embeddings_of_many_texts_leave_the_tokenizers_parallelism_as_it_was(
    before: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the process's TOKENIZERS_PARALLELISM unset, or set to true
    if before is None:
        monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    else:
        monkeypatch.setenv("TOKENIZERS_PARALLELISM", before)

    # When more texts than model2vec's own encode tokenizes in one thread are embedded (it turned
    # the tokenizers' own parallelism off for the whole process to use a thread pool instead)
    texts = [f"message number {number} about my card" for number in range(10_001)]
    vectors = static.encode(texts, default_model_path(), settings.FINCH_MODELS_DIR)

    # Then every text has its vector (the last, past the first block, as if embedded alone), and
    # the setting is as it was (later tokenizers keep every core)
    assert len(texts) > static.ENCODE_BLOCK
    assert vectors.shape == (10_001, static.PCA_DIMS)
    alone = static.encode(texts[-1:], default_model_path(), settings.FINCH_MODELS_DIR)
    assert np.allclose(vectors[-1], alone[0], atol=1e-6)
    assert os.environ.get("TOKENIZERS_PARALLELISM") == before


def test_static_embeddings_are_model2vecs_own() -> None:
    from model2vec import StaticModel

    # Given messages, an empty text and one of a single unknown piece (model2vec drops those)
    texts = [*_messages()[:200], "", "\u2603"]

    # When embedded by Finch and by model2vec's own encode of the same distilled model
    ours = static.encode(texts, default_model_path(), settings.FINCH_MODELS_DIR)
    folder = static.distilled_path(default_model_path(), settings.FINCH_MODELS_DIR)
    reference = np.asarray(StaticModel.from_pretrained(str(folder)).encode(texts), dtype=np.float32)

    # Then each text has model2vec's vector (it averages in float16: within 1e-3), texts with no
    # known token a zero one
    assert np.abs(ours - reference).max() < 1e-3
    assert np.allclose(np.linalg.norm(ours[:-2], axis=1), 1.0, atol=1e-5)
    assert not ours[-2:].any()


def test_prepare_models_makes_the_static_copy_once_and_reports_where(settings: Any) -> None:
    # Given the static copy exists (made here if no earlier test made it), static candidates on
    settings.FINCH_EMBEDDING_STATIC, settings.FINCH_EMBEDDING_INT8 = True, False
    made = static.distilled_path(default_model_path(), settings.FINCH_MODELS_DIR)
    assert not [path for path in made.parent.iterdir() if path.name.startswith(".")]
    stamp = (made / "model.safetensors").stat().st_mtime_ns

    # When the command runs
    output = StringIO()
    call_command("prepare_models", stdout=output)

    # Then it names that folder and did not make it again; no temporary folder is left behind
    assert f"static embedding model: {made}" in output.getvalue()
    assert (made / "model.safetensors").stat().st_mtime_ns == stamp
    assert not [path for path in made.parent.iterdir() if path.name.startswith(".")]
