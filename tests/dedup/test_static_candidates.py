"""Static candidates for embedding dedup (curation/dedup/candidates.py, static.py): the cutoff's
calibration, pinned, and on real messages a candidate stage that never loses a pair the model
keeps at a margin above its threshold."""

from __future__ import annotations

import csv
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


def test_the_cutoff_holds_the_recall_and_two_bins_more_for_what_a_sample_cannot_see() -> None:
    # Given 10 pairs in each bin of 0.025 from 0.50 to 1.00, every pair sampled; the model keeps
    # all at 0.90 and above, half of those in the bin from 0.85 to 0.875, none below
    cosines = _bin_centres({round(0.5125 + 0.025 * b, 4): 10 for b in range(20)})
    in_bin = np.abs(cosines - 0.8625) < 1e-3
    kept = (cosines >= 0.9) | (in_bin & (np.arange(len(cosines)) % 2 == 0))
    sampled = candidates.calibration_sample(cosines)
    assert len(sampled) == len(cosines)

    # Then the bin holding the last of the model's pairs (0.85 to 0.875) is searched, and two below
    assert candidates.static_cutoff(cosines, sampled, kept[sampled]) == pytest.approx(0.80)


def test_the_estimate_weighs_each_bin_by_its_pairs_not_by_its_sample() -> None:
    # Given 10 of 1,000 pairs sampled in the 0.70 bin, one kept by the model (an estimated 100
    # pairs of the model there), against 10 pairs, all kept, at 0.95
    cosines = _bin_centres({0.7125: 1000, 0.9625: 10})
    sampled = candidates.calibration_sample(cosines)
    kept = np.zeros(len(sampled), dtype=bool)
    kept[0] = True
    assert len(sampled) == 20 and cosines[sampled[0]] == pytest.approx(0.7125)

    # Then the cutoff goes down to that bin's edge (no pair lies below it)
    assert candidates.static_cutoff(cosines, sampled, kept) == pytest.approx(0.70)


def test_with_nothing_kept_in_the_sample_the_whole_range_is_searched() -> None:
    cosines = _bin_centres({0.7625: 5, 0.9875: 5})
    sampled = candidates.calibration_sample(cosines)
    assert candidates.static_cutoff(cosines, sampled, np.zeros(len(sampled), dtype=bool)) == pytest.approx(
        0.75
    )


def test_neighbour_pairs_are_each_rows_nearest_once_with_their_centered_cosines() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((500, 32)).astype(np.float32)
    vectors[250:] = vectors[:250] + 0.1 * rng.standard_normal((250, 32)).astype(np.float32)
    vectors += 3.0  # a component every row shares, which centering takes away
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    pairs, cosines = candidates.neighbour_pairs(vectors, floor=0.9, neighbours=4)

    assert {(a, b) for a, b in pairs.tolist()} >= {(row, row + 250) for row in range(250)}
    assert (pairs[:, 0] < pairs[:, 1]).all() and len(np.unique(pairs, axis=0)) == len(pairs)
    centered = candidates.centered(vectors)  # the search compares the vectors less their mean
    assert np.allclose(cosines, np.einsum("ij,ij->i", centered[pairs[:, 0]], centered[pairs[:, 1]]))
    assert (cosines >= 0.9 - 1e-3).all()


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
def embedded() -> tuple[np.ndarray, np.ndarray]:
    texts = _messages()
    model = encode(texts, default_model_path(), fp32=True)
    return model, static.encode(texts, default_model_path(), settings.FINCH_MODELS_DIR)


# Below 0.9 the static copy misses paraphrases outright (the model puts "I want a restaurant with
# a rating superior to 1." and "I am looking for a restaurant that has a rating better than ..."
# at 0.88, the static copy at 0.64): no margin is promised there (docs/quality-jobs.md).
@pytest.mark.parametrize(("threshold", "margin"), [(0.9, 0.05), (0.95, 0.03)])
def test_candidates_never_lose_a_pair_the_model_keeps_above_the_margin(
    embedded: tuple[np.ndarray, np.ndarray], threshold: float, margin: float
) -> None:
    # Given real messages, their model embeddings and their static ones
    model, vectors = embedded
    pairs, cosines = candidates.neighbour_pairs(vectors)
    model_cosines = np.einsum("ij,ij->i", model[pairs[:, 0]], model[pairs[:, 1]])
    sampled = candidates.calibration_sample(cosines)

    # When the cutoff is calibrated on the model's decisions of the sample
    cutoff = candidates.static_cutoff(cosines, sampled, model_cosines[sampled] >= threshold)
    chosen = cosines >= cutoff
    chosen[sampled] = True
    found = {tuple(pair) for pair in pairs[chosen].tolist()}

    # Then every pair of the model's at the threshold plus the margin is a candidate
    rows, columns = np.nonzero(np.triu(model @ model.T, 1) >= threshold + margin)
    assert len(rows) > 20
    assert set(zip(rows.tolist(), columns.tolist(), strict=True)) <= found
    # And at the threshold itself they hold 0.95 of its pairs; the candidates above the cutoff
    # (the sample's ~200 pairs aside, a fixed cost) touch fewer than all the texts: a third of
    # these texts (251 at 0.9, 209 at 0.95) are in one of the model's pairs
    rows, columns = np.nonzero(np.triu(model @ model.T, 1) >= threshold)
    held = sum((a, b) in found for a, b in zip(rows.tolist(), columns.tolist(), strict=True))
    assert held >= 0.95 * len(rows)
    assert len(np.unique(pairs[cosines >= cutoff])) < (0.8 if threshold < 0.95 else 0.6) * len(model)


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
